// Crash-safe checkpoint folders: files written under temporary names into a temporary folder, a manifest (sizes and
// SHA-256 of every file) written last, the folder renamed into place, then the run's LATEST pointer replaced by an
// atomic rename. At every instant LATEST names a complete, verified checkpoint; an interrupted save leaves only a
// temporary folder that readers ignore and the next save removes.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Recurrent.Cli.Checkpoints;

/// <summary>One file of a checkpoint: its name inside the folder and a callback that writes its bytes.</summary>
/// <param name="Name">A plain file name (no directory part).</param>
/// <param name="Write">Writes the whole content to the stream it is given.</param>
public sealed record CheckpointFile(string Name, Action<Stream> Write);

/// <summary>The manifest of a checkpoint folder: what it holds, written after everything else.</summary>
public sealed class CheckpointManifest
{
    /// <summary>Always <see cref="CheckpointStore.FormatName"/>.</summary>
    [JsonPropertyName("format")] public string Format { get; set; } = CheckpointStore.FormatName;

    /// <summary>The folder layout version (see <see cref="CheckpointStore.FormatVersion"/>).</summary>
    [JsonPropertyName("format_version")] public int FormatVersion { get; set; }

    /// <summary>The training step the checkpoint was taken after.</summary>
    [JsonPropertyName("step")] public long Step { get; set; }

    /// <summary>When it was written (UTC, ISO 8601).</summary>
    [JsonPropertyName("created")] public string Created { get; set; } = "";

    /// <summary>Every other file of the folder.</summary>
    [JsonPropertyName("files")] public List<ManifestEntry> Files { get; set; } = [];
}

/// <summary>One file listed in a manifest.</summary>
public sealed class ManifestEntry
{
    /// <summary>File name.</summary>
    [JsonPropertyName("name")] public string Name { get; set; } = "";

    /// <summary>Size in bytes.</summary>
    [JsonPropertyName("bytes")] public long Bytes { get; set; }

    /// <summary>SHA-256 of the content, lower-case hex.</summary>
    [JsonPropertyName("sha256")] public string Sha256 { get; set; } = "";
}

/// <summary>Writes and finds checkpoint folders inside a run folder.</summary>
/// <remarks>
/// Layout of a run folder: <c>checkpoint-000001200/</c> (one complete checkpoint, files plus <c>manifest.json</c>)
/// and <c>LATEST</c> (a one-line text file naming that folder). Older checkpoints are deleted after LATEST moves on.
/// </remarks>
public sealed class CheckpointStore
{
    /// <summary>The manifest's format name.</summary>
    public const string FormatName = "recurrent-checkpoint";

    /// <summary>The folder layout version this build writes and reads.</summary>
    public const int FormatVersion = 1;

    /// <summary>The pointer file of a run folder.</summary>
    public const string PointerFileName = "LATEST";

    /// <summary>The manifest file of a checkpoint folder.</summary>
    public const string ManifestFileName = "manifest.json";

    private const string FolderPrefix = "checkpoint-";
    private const string TempPrefix = ".tmp-";

    /// <summary>
    /// Test hook: called with each file name just before it is written (the manifest and the pointer included).
    /// Throwing from it simulates a crash at that point.
    /// </summary>
    internal Action<string>? BeforeWrite { get; set; }

    /// <summary>
    /// Saves a checkpoint into <paramref name="runDir"/> (created if needed) and points LATEST at it. Returns the new
    /// checkpoint folder. On any failure the previous checkpoint and LATEST are left exactly as they were.
    /// </summary>
    /// <param name="runDir">The run folder.</param>
    /// <param name="step">The step number (names the folder).</param>
    /// <param name="files">The files to write; names must be distinct plain file names.</param>
    /// <param name="keep">How many checkpoints to keep (the newest; at least 1).</param>
    public string Save(string runDir, long step, IReadOnlyList<CheckpointFile> files, int keep = 1)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDir);
        ArgumentNullException.ThrowIfNull(files);
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep), keep, "keep must be at least 1");
        foreach (CheckpointFile f in files)
            if (f.Name != Path.GetFileName(f.Name) || f.Name is ManifestFileName or "" || f.Name.StartsWith('.'))
                throw new ArgumentException($"Bad checkpoint file name '{f.Name}'.", nameof(files));
        if (files.Select(f => f.Name).Distinct(StringComparer.Ordinal).Count() != files.Count)
            throw new ArgumentException("Checkpoint file names must be distinct.", nameof(files));

        runDir = Path.GetFullPath(runDir);
        Directory.CreateDirectory(runDir);
        string? previous = TryResolveLatest(runDir);
        string temp = Path.Combine(runDir, $"{TempPrefix}{FolderPrefix}{step:D9}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        string final;
        try
        {
            var manifest = new CheckpointManifest
            {
                FormatVersion = FormatVersion,
                Step = step,
                Created = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"),
            };
            foreach (CheckpointFile f in files)
                manifest.Files.Add(WriteFile(Path.Combine(temp, f.Name), f.Name, f.Write));
            WriteFile(Path.Combine(temp, ManifestFileName), ManifestFileName,
                s => JsonSerializer.Serialize(s, manifest, JsonOptions));

            final = Path.Combine(runDir, $"{FolderPrefix}{step:D9}");
            if (previous is not null && PathsEqual(previous, final))
                final = Path.Combine(runDir, $"{FolderPrefix}{step:D9}-{Guid.NewGuid():N}"[..(FolderPrefix.Length + 9 + 9)]);
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true); // a leftover that LATEST never named
            Directory.Move(temp, final);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }

        // Switch the pointer: until this rename completes, LATEST still names the previous, intact checkpoint.
        try
        {
            WriteFile(Path.Combine(runDir, PointerFileName), PointerFileName,
                s => s.Write(Encoding.UTF8.GetBytes(Path.GetFileName(final) + "\n")));
        }
        catch
        {
            TryDelete(final);
            throw;
        }
        Prune(runDir, final, keep);
        return final;
    }

    /// <summary>
    /// The checkpoint folder that <paramref name="path"/> means: the folder itself if it has a manifest, or the folder
    /// named by its LATEST pointer if it is a run folder. Returns null if <paramref name="path"/> holds no checkpoint
    /// at all (no manifest, no LATEST).
    /// </summary>
    /// <exception cref="CliException">LATEST exists but names a folder that is missing.</exception>
    public static string? TryResolve(string path)
    {
        string full = Path.GetFullPath(path);
        if (!Directory.Exists(full)) return null;
        if (File.Exists(Path.Combine(full, ManifestFileName))) return full;
        return TryResolveLatest(full);
    }

    /// <summary>Like <see cref="TryResolve"/>, but a path without a checkpoint is an error.</summary>
    /// <exception cref="CliException">No checkpoint at <paramref name="path"/>.</exception>
    public static string Resolve(string path)
    {
        if (!Directory.Exists(path))
            throw new CliException(File.Exists(path)
                ? $"'{path}' is a file; give a checkpoint folder (or the run folder that holds one)."
                : $"the checkpoint folder '{path}' does not exist.");
        return TryResolve(path) ?? throw new CliException(
            $"'{path}' holds no checkpoint: it has neither {ManifestFileName} nor a {PointerFileName} file (an interrupted first save leaves none; train again).");
    }

    /// <summary>
    /// Reads and checks the manifest of <paramref name="folder"/>: a supported format version, and every listed
    /// file present with the recorded size and SHA-256. Returns the manifest.
    /// </summary>
    /// <exception cref="CliException">The folder is incomplete, damaged or from an incompatible version.</exception>
    public static CheckpointManifest Verify(string folder)
    {
        string manifestPath = Path.Combine(folder, ManifestFileName);
        if (!File.Exists(manifestPath))
            throw new CliException($"the checkpoint '{folder}' is incomplete: {ManifestFileName} is missing.");
        CheckpointManifest? manifest;
        try { manifest = JsonSerializer.Deserialize<CheckpointManifest>(File.ReadAllText(manifestPath), JsonOptions); }
        catch (JsonException e) { throw new CliException($"the checkpoint '{folder}' has a damaged {ManifestFileName}: {e.Message}", e); }
        if (manifest is null || manifest.Format != FormatName)
            throw new CliException($"'{folder}' is not a {CliApp.Name} checkpoint ({ManifestFileName} has format '{manifest?.Format}', expected '{FormatName}').");
        if (manifest.FormatVersion != FormatVersion)
            throw new CliException(manifest.FormatVersion > FormatVersion
                ? $"the checkpoint '{folder}' was written by a newer version of {CliApp.Name} (format {manifest.FormatVersion}; this build reads format {FormatVersion}); update {CliApp.Name}."
                : $"the checkpoint '{folder}' has the old format {manifest.FormatVersion}, which this build (format {FormatVersion}) cannot read; train again.");
        foreach (ManifestEntry entry in manifest.Files)
        {
            string file = Path.Combine(folder, entry.Name);
            if (entry.Name != Path.GetFileName(entry.Name))
                throw new CliException($"the checkpoint '{folder}' has a damaged {ManifestFileName}: bad file name '{entry.Name}'.");
            if (!File.Exists(file))
                throw new CliException($"the checkpoint '{folder}' is missing {entry.Name}; restore the file or use another checkpoint.");
            long length = new FileInfo(file).Length;
            if (length != entry.Bytes)
                throw new CliException($"the checkpoint file '{file}' has {length} bytes, but {entry.Bytes} were written; it is damaged.");
            if (Sha256(file) != entry.Sha256)
                throw new CliException($"the checkpoint file '{file}' does not match its SHA-256 in {ManifestFileName}; it is damaged.");
        }
        return manifest;
    }

    internal static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

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

    private static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    private static string? TryResolveLatest(string runDir)
    {
        string pointer = Path.Combine(runDir, PointerFileName);
        if (!File.Exists(pointer)) return null;
        string name = File.ReadAllText(pointer).Trim();
        if (name.Length == 0 || name != Path.GetFileName(name) || !name.StartsWith(FolderPrefix, StringComparison.Ordinal))
            throw new CliException($"'{pointer}' is damaged: it should name a {FolderPrefix}* folder, but holds \"{name}\".");
        string folder = Path.Combine(runDir, name);
        if (!Directory.Exists(folder))
            throw new CliException($"'{pointer}' names the checkpoint folder '{name}', which is missing.");
        return folder;
    }

    private static void Prune(string runDir, string current, int keep)
    {
        // Only after LATEST names the new folder: stale temporaries, and checkpoints beyond the newest `keep`.
        try
        {
            foreach (string dir in Directory.EnumerateDirectories(runDir, TempPrefix + FolderPrefix + "*"))
                TryDelete(dir);
            var old = Directory.EnumerateDirectories(runDir, FolderPrefix + "*")
                .Where(d => !PathsEqual(d, current))
                .OrderByDescending(d => Path.GetFileName(d), StringComparer.Ordinal)
                .Skip(keep - 1);
            foreach (string dir in old) TryDelete(dir);
        }
        catch (IOException) { } // pruning is best effort: a leftover folder is harmless
    }

    private static bool PathsEqual(string a, string b) =>
        string.Equals(Path.GetFullPath(a).TrimEnd(Path.DirectorySeparatorChar), Path.GetFullPath(b).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal);

    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
