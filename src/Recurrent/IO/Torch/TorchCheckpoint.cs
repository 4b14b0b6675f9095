// Loading PyTorch .pt/.pth/.ckpt files (torch.save output) safely, and finding their tensors.
using System.Globalization;
using System.Text;

namespace Recurrent.IO.Torch;

/// <summary>
/// A file written by <c>torch.save</c>, read without Python and without executing anything from it:
/// the object tree (<see cref="Root"/>), its storages, and helpers to pick a sub-dict and list its tensors.
/// </summary>
/// <example>
/// <code>
/// var ckpt = TorchCheckpoint.Load("model.ckpt");
/// var weights = ckpt.Tensors("state_dict");                  // "lstm.weight_ih_l0" -> TorchTensor
/// var noPrefix = TorchCheckpoint.StripPrefix(ckpt.StateDict(), "model.");
/// float[] w = weights["lstm.weight_ih_l0"].ToFloat32Array();
/// </code>
/// </example>
public sealed class TorchCheckpoint
{
    /// <summary>Keys under which checkpoints commonly keep the model's state_dict, tried in order by <see cref="FindStateDictPath"/>.</summary>
    public static readonly IReadOnlyList<string> StateDictKeys = new[] { "state_dict", "model_state_dict", "model_state", "model", "net", "module", "network", "params" };

    /// <summary>
    /// Bytes a name costs in a flattened state dict beyond its characters: the dictionary's entry with its share of the
    /// grown table, the string's header, the walk's prefixes. Measured 116-123 for 12-character names reached through
    /// shared lists (153,664 and 384,160 names, fuzz inputs f1 and f2); the margin covers other nestings.
    /// </summary>
    private const long NameOverheadBytes = 160;

    /// <summary>
    /// Bytes per name that <see cref="ListTensors"/> adds to <see cref="Tensors(string?, bool)"/>'s besides the shape's
    /// 8 per dimension (a <see cref="TorchTensorInfo"/>, its shape array's header, the list's slot; measured 104 with one
    /// dimension).
    /// </summary>
    private const long ListEntryBytes = 160;

    /// <summary>Bytes per name that <see cref="TorchModuleLoading.ToStateDict"/> adds (its dictionary's entry and bucket; measured 29).</summary>
    internal const long StateDictEntryBytes = 64;

    internal TorchCheckpoint(TorchFileFormat format, object? root, IReadOnlyList<TorchStorage> storages, IReadOnlyDictionary<string, string> records,
        long allocationBudget)
    {
        Format = format;
        Root = root;
        Storages = storages;
        Records = records;
        AllocationBudget = allocationBudget;
    }

    /// <summary>
    /// The allocation budget the file was read with (<see cref="TorchReaderOptions.AllocationBudget"/>), in bytes.
    /// Each call that flattens or converts tensors (<see cref="Tensors(string?, bool)"/>, <see cref="StateDict"/>,
    /// <see cref="ListTensors"/>, <see cref="Describe"/>, <see cref="TorchModuleLoading.ToStateDict"/>) may allocate
    /// at most this much, and <see cref="Tensors(string?, bool)"/> refuses a result whose names and converted elements would take
    /// more, since shared references can make a few bytes of pickle name millions of tensors.
    /// </summary>
    public long AllocationBudget { get; }

    internal AllocationMeter NewMeter() => TorchFileReader.NewMeter(AllocationBudget);

    /// <summary>Bytes <see cref="TorchModuleLoading.ToTensor"/> allocates for the elements of <paramref name="t"/>.</summary>
    internal static long ConvertedBytes(TorchTensor t) =>
        t.ElementCount * (TorchModuleLoading.TargetDType(t.DType) == DType.Float32 ? 4 : 8);

    /// <summary>The container format of the file.</summary>
    public TorchFileFormat Format { get; }

    /// <summary>
    /// The object torch.save was given: usually a <see cref="TorchDict"/>. Values are null (None), bool, long,
    /// BigInteger, double, Complex, string, byte[], <see cref="TorchDType"/>, <see cref="TorchDevice"/>,
    /// <see cref="TorchDict"/>, <see cref="TorchList"/>, <see cref="TorchTuple"/>, <see cref="TorchSet"/>,
    /// <see cref="TorchTensor"/>, <see cref="TorchStorage"/> or <see cref="TorchGlobal"/>.
    /// </summary>
    public object? Root { get; }

    /// <summary>Every storage the file's tensors use, each once.</summary>
    public IReadOnlyList<TorchStorage> Storages { get; }

    /// <summary>
    /// Format records: for zip files <c>prefix</c> and, when present, <c>byteorder</c>, <c>version</c>,
    /// <c>.format_version</c>, <c>.storage_alignment</c>; for legacy files <c>protocol_version</c> and sys_info scalars.
    /// </summary>
    public IReadOnlyDictionary<string, string> Records { get; }

    /// <summary>
    /// Reads a file. Bad contents raise <see cref="TorchFormatException"/>; nothing in the file is executed. The
    /// read allocates at most <see cref="TorchReaderOptions.AllocationBudget"/> bytes (by default 32 per file byte
    /// plus 64 MiB), and every zip record's CRC-32 is verified unless <see cref="TorchReaderOptions.VerifyCrc32"/> is false.
    /// </summary>
    /// <exception cref="TorchFormatException">The file is truncated, corrupt, hostile, over a limit of
    /// <paramref name="options"/> or uses an unsupported feature; the message names the field and its value.</exception>
    /// <exception cref="IOException">The file cannot be opened or read (<see cref="FileNotFoundException"/>, ...).</exception>
    /// <exception cref="UnauthorizedAccessException">No permission to read the file.</exception>
    public static TorchCheckpoint Load(string path, TorchReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return Load(stream, options);
    }

    /// <summary>
    /// Reads from a stream (left open). A stream that cannot seek, or is not at its start, is first copied
    /// into memory.
    /// </summary>
    public static TorchCheckpoint Load(Stream stream, TorchReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
            throw new ArgumentException("stream must be readable.", nameof(stream));
        options ??= TorchReaderOptions.Default;
        if (!stream.CanSeek || stream.Position != 0)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            return TorchFileReader.Read(copy, options);
        }
        return TorchFileReader.Read(stream, options);
    }

    /// <summary>Reads a file held in memory.</summary>
    public static TorchCheckpoint Load(byte[] bytes, TorchReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var stream = new MemoryStream(bytes, writable: false);
        return Load(stream, options);
    }

    /// <summary>
    /// The value at a dotted key path (<c>"state_dict"</c>, <c>"model.state_dict"</c>,
    /// <c>"optimizer_states.0"</c>); null or empty gives <see cref="Root"/>. Keys that contain dots are
    /// matched whole (the longest matching key wins). Throws <see cref="KeyNotFoundException"/> naming the
    /// available keys when the path does not exist.
    /// </summary>
    public object? Get(string? keyPath = null) =>
        TorchTree.TryResolve(Root, keyPath, out var node, out var error) ? node : throw new KeyNotFoundException(error);

    /// <summary>Like <see cref="Get"/> without throwing.</summary>
    public bool TryGet(string? keyPath, out object? value) => TorchTree.TryResolve(Root, keyPath, out value, out _);

    /// <summary>The dict at a key path; throws <see cref="KeyNotFoundException"/> or <see cref="InvalidCastException"/> with a clear message.</summary>
    public TorchDict GetDict(string? keyPath = null)
    {
        var node = Get(keyPath);
        return node as TorchDict
            ?? throw new InvalidCastException($"key path '{keyPath}' holds a {PythonRepr.TypeName(node)}, not a dict.");
    }

    /// <summary>
    /// The tensors of the container at <paramref name="keyPath"/> as name -> tensor, in file order. With
    /// <paramref name="flatten"/> (the default), nested dicts, lists and tuples are walked and names are
    /// dotted paths relative to <paramref name="keyPath"/> (<c>"lstm.weight_ih_l0"</c>,
    /// <c>"optimizer_states.0.state.0.exp_avg"</c>); otherwise only direct children that are tensors count.
    /// Non-tensor values are skipped. This is the flat state_dict a module loader wants. A tensor reached
    /// through several names (tied weights) appears under each, as the same <see cref="TorchTensor"/>.
    /// </summary>
    /// <exception cref="KeyNotFoundException"><paramref name="keyPath"/> does not exist in the file.</exception>
    /// <exception cref="TorchFormatException">Two tensors flatten to the same name, or the names and the converted
    /// elements of the result would take more than <see cref="AllocationBudget"/> bytes (shared references can
    /// multiply them).</exception>
    public IReadOnlyDictionary<string, TorchTensor> Tensors(string? keyPath = null, bool flatten = true) => Tensors(keyPath, flatten, null, 1);

    /// <summary>
    /// <see cref="Tensors(string?, bool)"/> for a caller that builds more per name: its check against the budget, made
    /// before anything is built, also counts <paramref name="extraBytesPerName"/> of each name's tensor for every name
    /// and the names <paramref name="nameCopies"/> times (2 when the caller copies them, as <see cref="StripPrefix"/>
    /// does), so that the caller's whole result stays within <see cref="AllocationBudget"/>.
    /// </summary>
    internal IReadOnlyDictionary<string, TorchTensor> Tensors(string? keyPath, bool flatten, Func<TorchTensor, long>? extraBytesPerName, int nameCopies)
    {
        var node = Get(keyPath);
        var result = new OrderedDictionary<string, TorchTensor>(StringComparer.Ordinal);
        if (node is TorchTensor single)
        {
            result.Add(keyPath ?? "", single);
            return result;
        }
        if (!TorchTree.IsWalkable(node))
            return result;
        var counter = new TorchTree.LeafCounter(flatten ? static _ => true : static _ => false,
            extraBytesPerName is null ? ConvertedBytes : t => AddSat(ConvertedBytes(t), extraBytesPerName(t)));
        var stats = counter.Of(node!);
        long cost = AddSat(AddSat(MulSat(stats.Tensors, MulSat(NameOverheadBytes, nameCopies)), MulSat(stats.TensorNameChars, 2L * nameCopies)),
            stats.TensorBytes);
        if (cost > AllocationBudget)
            throw new TorchFormatException(
                $"key path '{keyPath}': the tensors flatten to {stats.Tensors} names of {stats.TensorNameChars} characters in all, " +
                (extraBytesPerName is null ? $"with {stats.TensorBytes} bytes of elements once converted" : $"which with the elements once converted and what this call builds per name take {stats.TensorBytes} bytes") +
                $": more than the allocation budget of {AllocationBudget} bytes (shared references multiply them; " +
                "TorchReaderOptions.MaxAllocationBytes raises the budget for a file you trust).");
        var meter = NewMeter();
        TorchTree.Walk(node!, c => counter.Descends(c) ? (counter.Of(c).Tensors > 0 ? TorchTree.Step.Enter : TorchTree.Step.Skip) : TorchTree.Step.Leaf,
            (prefix, container, index, value) =>
            {
                if (value is TorchTensor t)
                {
                    string name = TorchTree.Join(prefix, TorchTree.KeyAt(container, index));
                    if (!result.TryAdd(name, t))
                        throw new TorchFormatException($"two tensors flatten to the same name '{name}'; read them with Get() instead.");
                }
                return true;
            }, meter);
        return result;
    }

    private static long MulSat(long a, long b) => b != 0 && a > long.MaxValue / b ? long.MaxValue : a * b;

    private static long AddSat(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    /// <summary>
    /// Where the model weights probably are: "" when the root itself is a dict of tensors (a plain
    /// state_dict), else the first of <see cref="StateDictKeys"/> that holds a dict with tensors
    /// (<c>state_dict</c> in Lightning checkpoints), else null.
    /// </summary>
    public string? FindStateDictPath()
    {
        if (Root is not TorchDict root)
            return null;
        if (root.Count > 0 && root.Values.All(v => v is TorchTensor))
            return "";
        foreach (string key in StateDictKeys)
        {
            if (root.TryGetValue(key, out var value) && value is TorchDict d && d.Values.Any(v => v is TorchTensor))
                return key;
        }
        return root.Values.Any(v => v is TorchTensor) ? "" : null;
    }

    /// <summary>The model's flat state_dict: <see cref="Tensors(string?, bool)"/> at <see cref="FindStateDictPath"/> (everything when no state_dict is recognised).</summary>
    public IReadOnlyDictionary<string, TorchTensor> StateDict() => Tensors(FindStateDictPath() ?? "");

    /// <summary>
    /// Removes <paramref name="prefix"/> (e.g. <c>"model."</c> or DataParallel's <c>"module."</c>) from the
    /// names that start with it. Names without it are kept as they are, or dropped when
    /// <paramref name="dropOthers"/> is true. Throws <see cref="ArgumentException"/> if stripping makes two names equal.
    /// </summary>
    public static IReadOnlyDictionary<string, TorchTensor> StripPrefix(IReadOnlyDictionary<string, TorchTensor> tensors, string prefix, bool dropOthers = false)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(prefix);
        var result = new OrderedDictionary<string, TorchTensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            bool has = name.StartsWith(prefix, StringComparison.Ordinal);
            if (!has && dropOthers)
                continue;
            string stripped = has ? name[prefix.Length..] : name;
            if (!result.TryAdd(stripped, tensor))
                throw new ArgumentException($"stripping '{prefix}' makes two tensors named '{stripped}'.", nameof(prefix));
        }
        return result;
    }

    /// <summary>One line per tensor: name, dtype, shape and where it lives.</summary>
    /// <exception cref="TorchFormatException">The lines would take more than <see cref="AllocationBudget"/> bytes
    /// (shared references can multiply the names).</exception>
    public IReadOnlyList<TorchTensorInfo> ListTensors(string? keyPath = null) =>
        Tensors(keyPath, true, static t => ListEntryBytes + 8L * t.Shape.Count, 1).Select(kv => new TorchTensorInfo(kv.Key, kv.Value.DType, kv.Value.GetShape(), kv.Value.Storage.Key,
            kv.Value.StorageOffset, kv.Value.Storage.Location, kv.Value.RequiresGrad)).ToList();

    /// <summary>
    /// A human-readable summary for a CLI <c>info</c> command: format, top-level structure, every tensor
    /// (name, dtype, shape; the first <paramref name="maxTensors"/>) and the other scalar values (the first
    /// <paramref name="maxValues"/>). Counts cover everything; names are built only for the lines shown, so a
    /// file whose shared references flatten to millions of leaves is summarised at once.
    /// </summary>
    /// <exception cref="KeyNotFoundException"><paramref name="keyPath"/> does not exist in the file.</exception>
    /// <exception cref="TorchFormatException">The summary would allocate more than <see cref="AllocationBudget"/> bytes.</exception>
    public string Describe(string? keyPath = null, int maxValues = 50, int maxTensors = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValues);
        ArgumentOutOfRangeException.ThrowIfNegative(maxTensors);
        var node = Get(keyPath);
        var meter = NewMeter();
        var sb = new StringBuilder();
        sb.Append("format: ").Append(Format == TorchFileFormat.Zip ? "zip" : "legacy");
        foreach (var (k, v) in Records)
            sb.Append(", ").Append(k).Append('=').Append(v.Length == 0 ? "''" : v);
        sb.AppendLine();
        sb.Append("root: ").Append(PythonRepr.TypeName(Root));
        if (Root is TorchDict rootDict)
            sb.Append(" with ").Append(rootDict.Count).Append(" keys");
        sb.AppendLine();
        string? stateDict = FindStateDictPath();
        if (stateDict is not null)
            sb.Append("state_dict: ").AppendLine(stateDict.Length == 0 ? "(root)" : stateDict);
        long totalBytes = Storages.Where(s => s.ViewRoot is null).Sum(s => s.ByteLength);
        sb.Append("storages: ").Append(Storages.Count).Append(" (").Append(totalBytes.ToString("N0", CultureInfo.InvariantCulture)).AppendLine(" bytes)");

        var tensors = new List<(string Name, TorchTensor Tensor)>();
        var values = new List<(string Name, object? Value)>();
        long tensorCount = 0, valueCount = 0, elements = 0;
        if (node is TorchTensor single)
        {
            tensors.Add((keyPath ?? "", single));
            (tensorCount, elements) = (1, single.ElementCount);
        }
        else if (TorchTree.IsWalkable(node))
        {
            // Dicts are walked; a list or tuple is walked only when it holds containers or tensors, so that
            // e.g. a vocabulary tuple prints as one value.
            var counter = new TorchTree.LeafCounter(
                c => c is TorchDict || ((IEnumerable<object?>)c).Any(x => x is TorchTensor || TorchTree.IsContainer(x)), ConvertedBytes);
            var stats = counter.Of(node!);
            (tensorCount, valueCount, elements) = (stats.Tensors, stats.Values, stats.Elements);
            TorchTree.Walk(node!, c =>
            {
                if (!counter.Descends(c))
                    return values.Count < maxValues ? TorchTree.Step.Leaf : TorchTree.Step.Skip;
                var inside = counter.Of(c);
                return (inside.Tensors > 0 && tensors.Count < maxTensors) || (inside.Values > 0 && values.Count < maxValues)
                    ? TorchTree.Step.Enter : TorchTree.Step.Skip;
            }, (prefix, container, index, value) =>
            {
                if (value is TorchTensor t ? tensors.Count < maxTensors : values.Count < maxValues)
                {
                    string name = TorchTree.Join(prefix, TorchTree.KeyAt(container, index));
                    if (value is TorchTensor tensor)
                        tensors.Add((name, tensor));
                    else
                        values.Add((name, value));
                }
                return tensors.Count < Math.Min(maxTensors, tensorCount) || values.Count < Math.Min(maxValues, valueCount);
            }, meter);
        }
        sb.Append("tensors: ").Append(tensorCount).Append(" (").Append(elements.ToString("N0", CultureInfo.InvariantCulture)).AppendLine(" elements)");
        int nameWidth = Math.Min(60, tensors.Count == 0 ? 0 : tensors.Max(t => t.Name.Length));
        foreach (var (name, t) in tensors)
        {
            meter.Check("describing the tensors");
            sb.Append("  ").Append(name.PadRight(nameWidth)).Append("  ").Append(t.DType.ShortName().PadRight(8))
              .Append(" [").Append(string.Join(", ", t.Shape)).Append(']');
            if (!t.IsContiguous)
                sb.Append(" non-contiguous");
            if (t.RequiresGrad)
                sb.Append(" requires_grad");
            sb.AppendLine();
        }
        if (tensorCount > tensors.Count)
            sb.Append("  ... ").Append(tensorCount - tensors.Count).AppendLine(" more");
        if (valueCount > 0)
        {
            sb.Append("other values: ").Append(valueCount).AppendLine();
            foreach (var (name, value) in values)
            {
                meter.Check("describing the values");
                sb.Append("  ").Append(name).Append(" = ").AppendLine(PythonRepr.Format(value));
            }
            if (valueCount > values.Count)
                sb.Append("  ... ").Append(valueCount - values.Count).AppendLine(" more");
        }
        return sb.ToString();
    }
}

/// <summary>A listing line for one tensor (see <see cref="TorchCheckpoint.ListTensors"/>).</summary>
public sealed record TorchTensorInfo(string Name, TorchDType DType, long[] Shape, string StorageKey, long StorageOffset, string Location, bool RequiresGrad)
{
    /// <summary>One listing line: name, dtype and shape.</summary>
    public override string ToString() => $"{Name}  {DType.ShortName()}  [{string.Join(", ", Shape)}]";
}
