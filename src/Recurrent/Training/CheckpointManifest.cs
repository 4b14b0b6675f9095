// manifest.json of a checkpoint folder and training.json (step, generator states, user metadata), with the
// source-generated JSON contracts the store reads and writes them through (no reflection: trimming- and AOT-safe).
using System.Text.Json.Serialization;

namespace Recurrent.Training;

/// <summary>The manifest of a checkpoint folder: what it holds, written after every other file.</summary>
public sealed class CheckpointManifest
{
    /// <summary>Always <see cref="CheckpointStore.FormatName"/>.</summary>
    [JsonPropertyName("format")] public string Format { get; init; } = CheckpointStore.FormatName;

    /// <summary>The folder layout version (see <see cref="CheckpointStore.FormatVersion"/>).</summary>
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; }

    /// <summary>The training step the checkpoint was taken after.</summary>
    [JsonPropertyName("step")] public long Step { get; init; }

    /// <summary>When it was written (UTC, ISO 8601).</summary>
    [JsonPropertyName("created")] public string Created { get; init; } = "";

    /// <summary>Every other file of the folder, in the order written.</summary>
    [JsonPropertyName("files")] public IReadOnlyList<ManifestEntry> Files { get; init; } = [];

    /// <summary>Whether the manifest lists a file named <paramref name="name"/>.</summary>
    public bool Contains(string name) => Files.Any(f => f.Name == name);
}

/// <summary>One file listed in a manifest.</summary>
public sealed class ManifestEntry
{
    /// <summary>File name (no directory part).</summary>
    [JsonPropertyName("name")] public string Name { get; init; } = "";

    /// <summary>Size in bytes.</summary>
    [JsonPropertyName("bytes")] public long Bytes { get; init; }

    /// <summary>SHA-256 of the content, lower-case hex.</summary>
    [JsonPropertyName("sha256")] public string Sha256 { get; init; } = "";
}

/// <summary>training.json: what a checkpoint holds besides the tensors.</summary>
internal sealed class TrainingStateFile
{
    [JsonPropertyName("step")] public long Step { get; init; }

    /// <summary>Kernel threads when saved (results are bit-identical for a given count).</summary>
    [JsonPropertyName("threads")] public int Threads { get; init; }

    /// <summary>The module's type name, for information.</summary>
    [JsonPropertyName("module")] public string? Module { get; init; }

    /// <summary>The optimizer's .NET type name (checked on restore), or null when none was saved.</summary>
    [JsonPropertyName("optimizer")] public string? Optimizer { get; init; }

    /// <summary>The learning-rate scheduler's .NET type name (checked on restore), or null when none was saved.</summary>
    [JsonPropertyName("scheduler")] public string? Scheduler { get; init; }

    /// <summary>Generator states by name (<see cref="Generator.GetState"/>); "default" is <see cref="Generator.Default"/>.</summary>
    [JsonPropertyName("generators")] public Dictionary<string, ulong[]> Generators { get; init; } = [];

    /// <summary>The caller's metadata.</summary>
    [JsonPropertyName("metadata")] public Dictionary<string, string> Metadata { get; init; } = [];
}

/// <summary>Source-generated JSON contracts of the checkpoint files.</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(CheckpointManifest))]
[JsonSerializable(typeof(TrainingStateFile))]
internal sealed partial class CheckpointJson : JsonSerializerContext;
