// Reading safetensors files (and static shortcuts for writing them).
using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Recurrent.IO;

/// <summary>
/// A validated safetensors file held in memory: <see cref="Metadata"/>, the tensor <see cref="Entries"/>
/// in header order, and accessors for each tensor's raw bytes or its values as float32 / float64 / int64.
/// </summary>
/// <remarks>
/// Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes of UTF-8
/// JSON (an object: optional <c>"__metadata__"</c> string→string map, then
/// <c>name: {"dtype", "shape", "data_offsets": [begin, end]}</c>), then the byte buffer, offsets being relative
/// to its start. Every check of the reference implementation is applied before anything is trusted; any
/// violation raises <see cref="SafeTensorsFormatException"/>.
/// </remarks>
public sealed class SafeTensorsFile
{
    /// <summary>Largest header accepted (and written), in bytes; the reference implementation's limit.</summary>
    public const long MaxHeaderLength = 100_000_000;

    private readonly ReadOnlyMemory<byte> _buffer;
    private readonly Dictionary<string, SafeTensorsEntry> _byName;

    private SafeTensorsFile(ReadOnlyMemory<byte> data, string? source)
    {
        SafeTensorsHeaderParser.Result r = SafeTensorsHeaderParser.Parse(data, source);
        Source = source;
        HeaderLength = r.HeaderLength;
        _buffer = data.Slice((int)r.BufferOffset);
        Entries = new ReadOnlyCollection<SafeTensorsEntry>(r.Entries);
        Metadata = new ReadOnlyDictionary<string, string>(r.Metadata);
        _byName = new Dictionary<string, SafeTensorsEntry>(r.Entries.Count, StringComparer.Ordinal);
        foreach (SafeTensorsEntry e in r.Entries) _byName.Add(e.Name, e);
    }

    /// <summary>The file path this was read from, or null when read from a stream or memory.</summary>
    public string? Source { get; }

    /// <summary>The <c>"__metadata__"</c> map (empty when absent or null).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors, in the order the header lists them.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }

    /// <summary>Length N of the JSON header in bytes (including any padding).</summary>
    public long HeaderLength { get; }

    /// <summary>Length of the byte buffer after the header (the sum of the tensors' byte lengths).</summary>
    public long BufferLength => _buffer.Length;

    /// <summary>The tensor names, in header order.</summary>
    public IEnumerable<string> Names => Entries.Select(e => e.Name);

    // ------------------------------------------------------------------ reading

    /// <summary>Reads and validates a safetensors file. The header length is checked against the file's size before the file is loaded.</summary>
    /// <exception cref="SafeTensorsFormatException">The file is not a valid safetensors file.</exception>
    /// <exception cref="NotSupportedException">The file is larger than the largest .NET array.</exception>
    public static SafeTensorsFile Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        return ReadStream(fs, path);
    }

    /// <summary>Reads and validates safetensors data from the current position of <paramref name="stream"/> to its end.</summary>
    /// <exception cref="SafeTensorsFormatException">The data is not valid safetensors.</exception>
    /// <exception cref="NotSupportedException">The data is larger than the largest .NET array.</exception>
    public static SafeTensorsFile Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return ReadStream(stream, null);
    }

    private static SafeTensorsFile ReadStream(Stream stream, string? source)
    {
        string where = SafeTensorsHeaderParser.Where(source);
        if (stream.CanSeek)
        {
            // Known size: check the 8-byte prefix against it before allocating anything, then load exactly that size.
            long remaining = Math.Max(0, stream.Length - stream.Position);
            Span<byte> prefix = stackalloc byte[8];
            int got = stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
            SafeTensorsHeaderParser.CheckPrefix(prefix[..got], remaining, source);
            if (remaining > Array.MaxLength)
                throw new NotSupportedException($"{where} holds {remaining} bytes; more than {Array.MaxLength} bytes is not supported.");
            var data = new byte[remaining];
            prefix.CopyTo(data);
            int read = 8 + stream.ReadAtLeast(data.AsSpan(8), data.Length - 8, throwOnEndOfStream: false);
            if (read != remaining)
                throw new SafeTensorsFormatException($"{where}: expected {remaining} bytes but the data ended after {read} (changed while reading?).");
            return new SafeTensorsFile(data, source);
        }
        // Unknown length (pipe, network): buffer what is actually there; growth is driven by real data, never by the header.
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        if (ms.Length > Array.MaxLength)
            throw new NotSupportedException($"{where} holds {ms.Length} bytes; more than {Array.MaxLength} bytes is not supported.");
        return new SafeTensorsFile(new ReadOnlyMemory<byte>(ms.GetBuffer(), 0, (int)ms.Length), source);
    }

    /// <summary>
    /// Validates safetensors data already in memory. The memory is referenced, not copied: the accessors
    /// read from it, so it should not be modified afterwards.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">The data is not valid safetensors.</exception>
    public static SafeTensorsFile Read(ReadOnlyMemory<byte> data) => new(data, null);

    // ------------------------------------------------------------------ lookup

    /// <summary>True when a tensor named <paramref name="name"/> exists.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGet(string name, [MaybeNullWhen(false)] out SafeTensorsEntry entry) => _byName.TryGetValue(name, out entry);

    /// <summary>The entry named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public SafeTensorsEntry GetEntry(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out SafeTensorsEntry? e)) return e;
        throw new KeyNotFoundException(
            $"{SafeTensorsHeaderParser.Where(Source)}: no tensor named '{name}' (it has {_byName.Count} tensor(s)).");
    }

    /// <summary>Same as <see cref="GetEntry"/>.</summary>
    public SafeTensorsEntry this[string name] => GetEntry(name);

    // ------------------------------------------------------------------ data

    /// <summary>The raw little-endian bytes of a tensor (a view into the file's memory, no copy).</summary>
    public ReadOnlySpan<byte> GetBytes(string name) => GetMemory(name).Span;

    /// <summary>The raw little-endian bytes of an entry of this file.</summary>
    public ReadOnlySpan<byte> GetBytes(SafeTensorsEntry entry) => GetMemory(entry).Span;

    /// <summary>The raw little-endian bytes of a tensor as memory (a view into the file's memory, no copy).</summary>
    public ReadOnlyMemory<byte> GetMemory(string name) => GetMemory(GetEntry(name));

    /// <summary>The raw little-endian bytes of an entry of this file as memory.</summary>
    public ReadOnlyMemory<byte> GetMemory(SafeTensorsEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!_byName.TryGetValue(entry.Name, out SafeTensorsEntry? own) || !ReferenceEquals(own, entry))
            throw new ArgumentException($"Tensor entry '{entry.Name}' does not belong to this file.", nameof(entry));
        return _buffer.Slice((int)entry.DataBegin, (int)entry.ByteLength);
    }

    /// <summary>
    /// The values of a tensor as float32, row-major. Supports F32, and widens F16 and BF16 exactly.
    /// </summary>
    /// <exception cref="NotSupportedException">The tensor has another dtype.</exception>
    public float[] GetFloat32(string name)
    {
        SafeTensorsEntry e = GetEntry(name);
        ReadOnlySpan<byte> src = GetBytes(e);
        var result = new float[e.ElementCount];
        switch (e.DType)
        {
            case SafeTensorsDType.F32:
                if (BitConverter.IsLittleEndian) src.CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
                else for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < result.Length; i++) result[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]);
                break;
            case SafeTensorsDType.BF16:
                for (int i = 0; i < result.Length; i++)
                    result[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]) << 16);
                break;
            default:
                throw Unsupported(e, "float32", "F32, F16 or BF16");
        }
        return result;
    }

    /// <summary>The values of an F64 tensor, row-major.</summary>
    /// <exception cref="NotSupportedException">The tensor is not F64.</exception>
    public double[] GetFloat64(string name)
    {
        SafeTensorsEntry e = GetEntry(name);
        if (e.DType != SafeTensorsDType.F64) throw Unsupported(e, "float64", "F64");
        ReadOnlySpan<byte> src = GetBytes(e);
        var result = new double[e.ElementCount];
        if (BitConverter.IsLittleEndian) src.CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
        else for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]);
        return result;
    }

    /// <summary>The values of an I64 tensor, row-major.</summary>
    /// <exception cref="NotSupportedException">The tensor is not I64.</exception>
    public long[] GetInt64(string name)
    {
        SafeTensorsEntry e = GetEntry(name);
        if (e.DType != SafeTensorsDType.I64) throw Unsupported(e, "int64", "I64");
        ReadOnlySpan<byte> src = GetBytes(e);
        var result = new long[e.ElementCount];
        if (BitConverter.IsLittleEndian) src.CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
        else for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadInt64LittleEndian(src[(8 * i)..]);
        return result;
    }

    private NotSupportedException Unsupported(SafeTensorsEntry e, string wanted, string supported) =>
        new($"{SafeTensorsHeaderParser.Where(Source)}: tensor '{e.Name}' has dtype {e.DType.ToHeaderName()}, which cannot be read as {wanted} (supported: {supported}).");

    // ------------------------------------------------------------------ writing shortcuts

    /// <summary>
    /// Writes tensors (raw little-endian bytes) and optional metadata to <paramref name="path"/> atomically;
    /// see <see cref="SafeTensorsWriter"/>. All inputs are validated before anything is written.
    /// </summary>
    public static void Write(string path,
        IEnumerable<(string Name, SafeTensorsDType DType, long[] Shape, ReadOnlyMemory<byte> Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
        => Build(tensors, metadata).Save(path);

    /// <summary>Writes float32 tensors (dtype F32) and optional metadata to <paramref name="path"/> atomically.</summary>
    public static void Write(string path,
        IEnumerable<(string Name, long[] Shape, float[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
        => WriteTyped(path, tensors, metadata, static (w, name, shape, data) => w.Add(name, shape, data));

    /// <summary>Writes float64 tensors (dtype F64) and optional metadata to <paramref name="path"/> atomically.</summary>
    public static void Write(string path,
        IEnumerable<(string Name, long[] Shape, double[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
        => WriteTyped(path, tensors, metadata, static (w, name, shape, data) => w.Add(name, shape, data));

    /// <summary>Writes int64 tensors (dtype I64) and optional metadata to <paramref name="path"/> atomically.</summary>
    public static void Write(string path,
        IEnumerable<(string Name, long[] Shape, long[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
        => WriteTyped(path, tensors, metadata, static (w, name, shape, data) => w.Add(name, shape, data));

    // One writer for the typed overloads above: each adds its tensors with the matching Add.
    private static void WriteTyped<T>(string path, IEnumerable<(string Name, long[] Shape, T[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata, Func<SafeTensorsWriter, string, long[], T[], SafeTensorsWriter> add)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var w = new SafeTensorsWriter();
        foreach (var (name, shape, data) in tensors) add(w, name, shape, data);
        w.AddMetadata(metadata);
        w.Save(path);
    }

    /// <summary>Serializes tensors (raw little-endian bytes) and optional metadata to a safetensors byte array.</summary>
    public static byte[] Serialize(
        IEnumerable<(string Name, SafeTensorsDType DType, long[] Shape, ReadOnlyMemory<byte> Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
        => Build(tensors, metadata).ToArray();

    private static SafeTensorsWriter Build(
        IEnumerable<(string Name, SafeTensorsDType DType, long[] Shape, ReadOnlyMemory<byte> Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var w = new SafeTensorsWriter();
        foreach (var (name, dtype, shape, data) in tensors) w.Add(name, dtype, shape, data);
        w.AddMetadata(metadata);
        return w;
    }
}
