// Crash-safe training checkpoints for any Module + Optimizer. A save writes every file under a temporary name into a
// temporary folder, then a manifest (sizes and SHA-256 of every file), renames the folder into place, and only then
// replaces the store's LATEST pointer by an atomic rename. At every instant LATEST names a complete checkpoint; an
// interrupted save leaves only a temporary folder that readers ignore and the next save removes. Loading verifies the
// manifest, so a truncated, edited or half-copied checkpoint is refused instead of resuming from wrong numbers.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Recurrent.IO;
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Training;

/// <summary>
/// A folder of training checkpoints: <c>store.Save(step, model, optimizer)</c> during training,
/// <c>store.LoadLatest().Restore(model, optimizer)</c> to resume, bit for bit.
/// </summary>
/// <remarks>
/// <para>Layout of the store's folder:</para>
/// <code>
/// LATEST                        one line: the name of the current checkpoint folder
/// checkpoint-000001200/
///   model.safetensors           module.StateDict(), PyTorch's keys
///   optimizer.safetensors       optimizer.StateDict() (state.{i}.exp_avg, param_groups.0.lr, ...), when saved
///   training.json               step, kernel threads, generator states, the caller's metadata
///   (the caller's files)
///   manifest.json               written last: format, format_version, step, size and SHA-256 of every file
/// </code>
/// <para>
/// Older checkpoints are deleted once LATEST names the new one (<see cref="Keep"/> sets how many stay). Bit-for-bit
/// resume also needs the same kernel thread count (<see cref="Checkpoint.Threads"/>) and every random generator the
/// loop draws from: <see cref="Generator.Default"/> is always saved (as "default"); pass the others by name.
/// </para>
/// </remarks>
public sealed class CheckpointStore
{
    /// <summary>The manifest's format name.</summary>
    public const string FormatName = "recurrent-checkpoint";

    /// <summary>
    /// The folder layout version this build writes. It also reads version 1 (the CLI's folders before the store moved
    /// into the library: no training.json; the step comes from the manifest and no generator states are restored).
    /// </summary>
    public const int FormatVersion = 2;

    /// <summary>The oldest layout version this build reads.</summary>
    public const int MinFormatVersion = 1;

    /// <summary>The pointer file of the store's folder.</summary>
    public const string PointerFileName = "LATEST";

    /// <summary>The manifest of a checkpoint folder.</summary>
    public const string ManifestFileName = "manifest.json";

    /// <summary>The module's weights.</summary>
    public const string ModelFileName = "model.safetensors";

    /// <summary>The optimizer's state.</summary>
    public const string OptimizerFileName = "optimizer.safetensors";

    /// <summary>The learning-rate scheduler's state.</summary>
    public const string SchedulerFileName = "scheduler.safetensors";

    /// <summary>Step, threads, generator states and metadata.</summary>
    public const string StateFileName = "training.json";

    /// <summary>The name under which <see cref="Generator.Default"/> is saved.</summary>
    public const string DefaultGeneratorName = "default";

    internal const string FolderPrefix = "checkpoint-";
    private const string TempPrefix = ".tmp-";

    /// <summary>A scheduler goes with the optimizer it schedules.</summary>
    internal static void CheckScheduler(ILrScheduler? scheduler, Optimizer? optimizer)
    {
        if (scheduler is not null && (optimizer is null || !ReferenceEquals(scheduler.Optimizer, optimizer)))
            throw new ArgumentException(optimizer is null
                ? "a scheduler is saved and restored with its optimizer: pass the optimizer too"
                : "the scheduler schedules another optimizer than the one passed", nameof(scheduler));
    }

    /// <summary>A store in <paramref name="directory"/> (created at the first save).</summary>
    /// <param name="directory">The store's folder.</param>
    /// <param name="keep">How many checkpoints to keep, the newest (at least 1).</param>
    public CheckpointStore(string directory, int keep = 1)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep), keep, $"keep must be at least 1, got {keep}");
        Directory = Path.GetFullPath(directory);
        Keep = keep;
    }

    /// <summary>The store's folder (full path).</summary>
    public string Directory { get; }

    /// <summary>How many checkpoints a save keeps (the newest).</summary>
    public int Keep { get; }

    /// <summary>
    /// Test hook: called with each file name just before it is written (the manifest and the pointer included).
    /// Throwing from it simulates a crash at that point.
    /// </summary>
    internal Action<string>? BeforeWrite { get; set; }

    /// <summary>The folder LATEST names, or null when the store holds no checkpoint yet.</summary>
    /// <exception cref="CheckpointException">LATEST is damaged or names a missing folder.</exception>
    public string? LatestFolder => TryResolve(Directory);

    /// <summary>
    /// Saves <paramref name="module"/>'s weights, <paramref name="optimizer"/>'s state, the states of
    /// <see cref="Generator.Default"/> and of <paramref name="generators"/>, <paramref name="step"/>, the kernel thread
    /// count and <paramref name="metadata"/>, plus the caller's <paramref name="files"/>, as a new checkpoint, and
    /// points LATEST at it. Returns the new checkpoint folder. On any failure the previous checkpoint and LATEST are
    /// left exactly as they were.
    /// </summary>
    /// <param name="step">The step the checkpoint is taken after (names the folder; zero or more).</param>
    /// <param name="module">The model.</param>
    /// <param name="optimizer">Its optimizer, or null.</param>
    /// <param name="generators">Other generators the training loop draws from (data order, dropout), by name.</param>
    /// <param name="metadata">The caller's string key/values (a JSON document fits in a value).</param>
    /// <param name="files">Extra files to store with the checkpoint.</param>
    /// <param name="scheduler">The learning-rate scheduler of <paramref name="optimizer"/>, or null.</param>
    /// <exception cref="ArgumentException">
    /// A bad generator name ("default" is reserved) or file name, or a scheduler of another optimizer.
    /// </exception>
    public string Save(long step, Module module, Optimizer? optimizer = null,
        IReadOnlyDictionary<string, Generator>? generators = null, IReadOnlyDictionary<string, string>? metadata = null,
        IEnumerable<CheckpointFile>? files = null, ILrScheduler? scheduler = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, $"step must be zero or more, got {step}");
        CheckScheduler(scheduler, optimizer);
        var states = new Dictionary<string, ulong[]>(StringComparer.Ordinal) { [DefaultGeneratorName] = Generator.Default.GetState() };
        foreach (var (name, g) in generators ?? new Dictionary<string, Generator>())
        {
            if (string.IsNullOrEmpty(name) || name == DefaultGeneratorName)
                throw new ArgumentException($"generator names must be non-empty and not \"{DefaultGeneratorName}\" (Generator.Default is always saved under it), got \"{name}\"", nameof(generators));
            ArgumentNullException.ThrowIfNull(g, nameof(generators));
            states[name] = g.GetState();
        }
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>())
        {
            if (v is null) throw new ArgumentException($"metadata value for key '{k}' is null", nameof(metadata));
            meta[k] = v;
        }
        var state = new TrainingStateFile
        {
            Step = step,
            Threads = Kernels.Parallelism.MaxThreads,
            Module = module.TypeName,
            Optimizer = optimizer?.GetType().Name,
            Scheduler = scheduler?.GetType().Name,
            Generators = states,
            Metadata = meta,
        };

        // Snapshot the tensors now (copies), so the files hold the state at this step whatever happens later.
        // A dynamically quantized model keeps its int8 weights (Quantizer.SaveQuantized's layout).
        var weightsMeta = new Dictionary<string, string> { ["format"] = "pt" };
        byte[] weights = Quantization.Quantizer.IsQuantized(module)
            ? Quantization.Quantizer.Serialize(module, weightsMeta)
            : TensorIO.Serialize(ModuleIO.FileStateDict(module, weightsMeta), weightsMeta);   // tied weights once, as model.Save
        byte[]? optimizerState = optimizer is null ? null
            : TensorIO.Serialize(optimizer.StateDict(), new Dictionary<string, string> { ["optimizer"] = optimizer.GetType().Name });
        var all = new List<CheckpointFile> { CheckpointFile.FromBytes(ModelFileName, weights) };
        if (optimizerState is not null) all.Add(CheckpointFile.FromBytes(OptimizerFileName, optimizerState));
        if (scheduler is not null)
        {
            // Only a state that loads back is written (a rate made negative by a negative gamma does not).
            var schedulerState = scheduler.StateDict();
            try { scheduler.PrepareLoad(schedulerState); }
            catch (ArgumentException e) { throw new ArgumentException($"the scheduler's state could not be restored from the checkpoint, so it is not saved: {e.Message}", nameof(scheduler), e); }
            all.Add(CheckpointFile.FromBytes(SchedulerFileName,
                TensorIO.Serialize(schedulerState, new Dictionary<string, string> { ["scheduler"] = scheduler.GetType().Name })));
        }
        all.Add(new CheckpointFile(StateFileName, s => JsonSerializer.Serialize(s, state, CheckpointJson.Default.TrainingStateFile)));
        foreach (CheckpointFile f in files ?? [])
        {
            ArgumentNullException.ThrowIfNull(f, nameof(files));
            if (f.Name is ModelFileName or OptimizerFileName or SchedulerFileName or StateFileName)
                throw new ArgumentException($"the file name '{f.Name}' is the store's own; choose another", nameof(files));
            all.Add(f);
        }
        return SaveFiles(step, all);
    }

    /// <summary>The newest checkpoint, verified, or null when the store holds none.</summary>
    /// <exception cref="CheckpointException">The store's newest checkpoint is incomplete, damaged or incompatible.</exception>
    public Checkpoint? TryLoadLatest() => LatestFolder is { } folder ? Checkpoint.Read(folder) : null;

    /// <summary>The newest checkpoint, verified.</summary>
    /// <exception cref="CheckpointException">There is none (<see cref="CheckpointProblem.NotFound"/>), or it is unusable.</exception>
    public Checkpoint LoadLatest() => Load(Directory);

    /// <summary>
    /// Reads and verifies the checkpoint at <paramref name="path"/>: a checkpoint folder, or a store's folder (its
    /// LATEST checkpoint).
    /// </summary>
    /// <exception cref="CheckpointException">Missing, incomplete, damaged or incompatible (the message says which file).</exception>
    public static Checkpoint Load(string path) => Checkpoint.Read(Resolve(path));

    /// <summary>
    /// The checkpoint folder that <paramref name="path"/> means: the folder itself if it has a manifest, or the folder
    /// named by its LATEST pointer. Null when <paramref name="path"/> is not a folder or holds no checkpoint.
    /// </summary>
    /// <exception cref="CheckpointException">LATEST exists but is damaged or names a missing folder.</exception>
    public static string? TryResolve(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (!System.IO.Directory.Exists(full)) return null;
        if (File.Exists(Path.Combine(full, ManifestFileName))) return full;
        return TryResolveLatest(full);
    }

    /// <summary>Like <see cref="TryResolve"/>, but a path without a checkpoint is an error.</summary>
    /// <exception cref="CheckpointException">No checkpoint at <paramref name="path"/>, or a damaged LATEST.</exception>
    public static string Resolve(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (!System.IO.Directory.Exists(full))
            throw new CheckpointException(CheckpointProblem.NotFound, full, File.Exists(full)
                ? $"'{path}' is a file; give a checkpoint folder (or the folder that holds its LATEST pointer)."
                : $"the checkpoint folder '{path}' does not exist.");
        return TryResolve(full) ?? throw new CheckpointException(CheckpointProblem.NotFound, full,
            $"'{path}' holds no checkpoint: it has neither {ManifestFileName} nor a {PointerFileName} file (an interrupted first save leaves none).");
    }

    /// <summary>
    /// Reads and checks the manifest of <paramref name="folder"/>: the format, a readable version, and every listed file
    /// present with the recorded size and SHA-256.
    /// </summary>
    /// <exception cref="CheckpointException">The folder is incomplete, damaged or from an incompatible version.</exception>
    public static CheckpointManifest Verify(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        folder = Path.GetFullPath(folder);
        string manifestPath = Path.Combine(folder, ManifestFileName);
        if (!File.Exists(manifestPath))
            throw new CheckpointException(CheckpointProblem.Incomplete, folder, $"the checkpoint '{folder}' is incomplete: {ManifestFileName} is missing.");
        CheckpointManifest? manifest;
        try { manifest = JsonSerializer.Deserialize(File.ReadAllBytes(manifestPath), CheckpointJson.Default.CheckpointManifest); }
        catch (JsonException e)
        {
            throw new CheckpointException(CheckpointProblem.Damaged, folder, $"the checkpoint '{folder}' has a damaged {ManifestFileName}: {e.Message}", e);
        }
        if (manifest is null || manifest.Format != FormatName)
            throw new CheckpointException(CheckpointProblem.Incompatible, folder,
                $"'{folder}' is not a Recurrent checkpoint ({ManifestFileName} has format '{manifest?.Format}', expected '{FormatName}').");
        if (manifest.FormatVersion > FormatVersion)
            throw new CheckpointException(CheckpointProblem.Incompatible, folder,
                $"the checkpoint '{folder}' was written by a newer version of Recurrent (format {manifest.FormatVersion}; this build reads formats {MinFormatVersion} to {FormatVersion}); update Recurrent.");
        if (manifest.FormatVersion < MinFormatVersion)
            throw new CheckpointException(CheckpointProblem.Incompatible, folder,
                $"the checkpoint '{folder}' has the unknown format version {manifest.FormatVersion} (this build reads formats {MinFormatVersion} to {FormatVersion}).");
        if (manifest.Files is null)
            throw new CheckpointException(CheckpointProblem.Damaged, folder, $"the checkpoint '{folder}' has a damaged {ManifestFileName}: \"files\" is null, expected the list of files.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (ManifestEntry entry in manifest.Files)
        {
            if (entry is null || !IsPlainName(entry.Name) || entry.Name == ManifestFileName || !seen.Add(entry.Name))
                throw new CheckpointException(CheckpointProblem.Damaged, folder, $"the checkpoint '{folder}' has a damaged {ManifestFileName}: bad file entry '{entry?.Name}'.");
            string file = Path.Combine(folder, entry.Name);
            if (!File.Exists(file))
                throw new CheckpointException(CheckpointProblem.Incomplete, folder, $"the checkpoint '{folder}' is missing {entry.Name}; restore the file or use another checkpoint.");
            long length = new FileInfo(file).Length;
            if (length != entry.Bytes)
                throw new CheckpointException(CheckpointProblem.Damaged, folder, $"the checkpoint file '{file}' has {length} bytes, but {entry.Bytes} were written; it is damaged.");
            if (!string.Equals(Sha256(file), entry.Sha256, StringComparison.Ordinal))
                throw new CheckpointException(CheckpointProblem.Damaged, folder, $"the checkpoint file '{file}' does not match its SHA-256 in {ManifestFileName}; it is damaged.");
        }
        return manifest;
    }

    /// <summary>
    /// Writes <paramref name="files"/> as a new checkpoint folder for <paramref name="step"/> (manifest last), then
    /// points LATEST at it and prunes. Returns the folder.
    /// </summary>
    internal string SaveFiles(long step, IReadOnlyList<CheckpointFile> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (CheckpointFile f in files)
        {
            if (!IsPlainName(f.Name) || f.Name == ManifestFileName)
                throw new ArgumentException($"bad checkpoint file name '{f.Name}': expected a plain file name, not starting with '.', other than {ManifestFileName}", nameof(files));
            if (!names.Add(f.Name)) throw new ArgumentException($"the checkpoint file name '{f.Name}' is given twice", nameof(files));
        }

        System.IO.Directory.CreateDirectory(Directory);
        string? previous = TryResolveLatest(Directory);
        string temp = Path.Combine(Directory, $"{TempPrefix}{FolderPrefix}{step:D9}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(temp);
        string final;
        try
        {
            var entries = new List<ManifestEntry>();
            foreach (CheckpointFile f in files)
                entries.Add(WriteFile(Path.Combine(temp, f.Name), f.Name, f.Write));
            var manifest = new CheckpointManifest
            {
                FormatVersion = FormatVersion,
                Step = step,
                Created = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
                Files = entries,
            };
            WriteFile(Path.Combine(temp, ManifestFileName), ManifestFileName,
                s => JsonSerializer.Serialize(s, manifest, CheckpointJson.Default.CheckpointManifest));

            final = Path.Combine(Directory, $"{FolderPrefix}{step:D9}");
            if (previous is not null && PathsEqual(previous, final))
                final = Path.Combine(Directory, $"{FolderPrefix}{step:D9}-{Guid.NewGuid():N}"[..(FolderPrefix.Length + 9 + 9)]);
            if (System.IO.Directory.Exists(final))
            {
                // A leftover of ours that LATEST never named is replaced; a folder of that name that is not a checkpoint
                // of ours (no manifest) is someone else's, and stays.
                if (File.Exists(Path.Combine(final, ManifestFileName))) System.IO.Directory.Delete(final, recursive: true);
                else final = Path.Combine(Directory, $"{FolderPrefix}{step:D9}-{Guid.NewGuid():N}"[..(FolderPrefix.Length + 9 + 9)]);
            }
            System.IO.Directory.Move(temp, final);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }

        // Switch the pointer: until this rename completes, LATEST still names the previous, intact checkpoint.
        try
        {
            WriteFile(Path.Combine(Directory, PointerFileName), PointerFileName,
                s => s.Write(Encoding.UTF8.GetBytes(Path.GetFileName(final) + "\n")));
        }
        catch
        {
            TryDelete(final);
            throw;
        }
        Prune(final);
        return final;
    }

    internal static bool IsPlainName(string? name) =>
        !string.IsNullOrEmpty(name) && name == Path.GetFileName(name) && !name.StartsWith('.') && name.IndexOfAny(['/', '\\', '\0']) < 0;

    internal static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    private ManifestEntry WriteFile(string path, string name, Action<Stream> write)
    {
        BeforeWrite?.Invoke(name);
        string dir = Path.GetDirectoryName(path)!;
        string tmp = Path.Combine(dir, $".{name}.{Guid.NewGuid():N}.partial");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            var entry = new ManifestEntry { Name = name, Bytes = new FileInfo(tmp).Length, Sha256 = Sha256(tmp) };
            File.Move(tmp, path, overwrite: true);
            return entry;
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    private static string? TryResolveLatest(string directory)
    {
        string pointer = Path.Combine(directory, PointerFileName);
        if (!File.Exists(pointer)) return null;
        string name;
        try { name = File.ReadAllText(pointer).Trim(); }
        catch (DecoderFallbackException) { name = "(not text)"; }
        if (name.Length > 200) name = name[..200] + "...";
        if (!IsPlainName(name) || !name.StartsWith(FolderPrefix, StringComparison.Ordinal))
            throw new CheckpointException(CheckpointProblem.Damaged, directory, $"'{pointer}' is damaged: it should name a {FolderPrefix}* folder, but holds \"{name}\".");
        string folder = Path.Combine(directory, name);
        if (!System.IO.Directory.Exists(folder))
            throw new CheckpointException(CheckpointProblem.Incomplete, directory, $"'{pointer}' names the checkpoint folder '{name}', which is missing.");
        return folder;
    }

    private void Prune(string current)
    {
        // Only after LATEST names the new folder: stale temporaries, and checkpoints beyond the newest Keep.
        try
        {
            // Only folders of this store's own names: another tool's "checkpoint-500" (a HuggingFace Trainer run in the
            // same folder) is not ours to delete, nor a folder of our name without our manifest.
            foreach (string dir in System.IO.Directory.EnumerateDirectories(Directory, TempPrefix + FolderPrefix + "*"))
                if (IsOwnName(Path.GetFileName(dir), temporary: true)) TryDelete(dir);
            var old = System.IO.Directory.EnumerateDirectories(Directory, FolderPrefix + "*")
                .Where(d => IsOwnName(Path.GetFileName(d), temporary: false) && File.Exists(Path.Combine(d, ManifestFileName)))
                .Where(d => !PathsEqual(d, current))
                .OrderByDescending(d => Path.GetFileName(d), StringComparer.Ordinal)
                .Skip(Keep - 1)
                .ToList();
            foreach (string dir in old) TryDelete(dir);
        }
        catch (IOException) { } // pruning is best effort: a leftover folder is harmless
        catch (UnauthorizedAccessException) { }
    }

    // checkpoint-<9+ digits>[-<8 hex>] (a final folder), .tmp-checkpoint-<9+ digits>-<8+ hex> (one being written).
    internal static bool IsOwnName(string name, bool temporary)
    {
        var rest = name.AsSpan();
        if (temporary)
        {
            if (!rest.StartsWith(TempPrefix, StringComparison.Ordinal)) return false;
            rest = rest[TempPrefix.Length..];
        }
        if (!rest.StartsWith(FolderPrefix, StringComparison.Ordinal)) return false;
        rest = rest[FolderPrefix.Length..];
        int digits = 0;
        while (digits < rest.Length && char.IsAsciiDigit(rest[digits])) digits++;
        if (digits < 9) return false;                      // the step, {step:D9}: nine digits or more
        rest = rest[digits..];
        bool hexTail = rest.Length > 1 && rest[0] == '-' && rest[1..].IndexOfAnyExcept("0123456789abcdef") < 0;
        return temporary ? hexTail && rest.Length >= 9 : rest.Length == 0 || (hexTail && rest.Length == 9);
    }

    private static bool PathsEqual(string a, string b) =>
        string.Equals(Path.GetFullPath(a).TrimEnd(Path.DirectorySeparatorChar), Path.GetFullPath(b).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal);

    private static void TryDelete(string dir)
    {
        try { if (System.IO.Directory.Exists(dir)) System.IO.Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
