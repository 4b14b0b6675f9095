// The one exception type the checkpoint store raises for a checkpoint that is missing, incomplete, damaged, from an
// incompatible version, or that does not fit the objects it is restored into.
namespace Recurrent.Training;

/// <summary>What is wrong with a checkpoint (see <see cref="CheckpointException.Problem"/>).</summary>
public enum CheckpointProblem
{
    /// <summary>There is no checkpoint at the path: it does not exist, or holds neither a manifest nor a LATEST pointer.</summary>
    NotFound,

    /// <summary>The checkpoint lacks a file: its manifest, a file the manifest lists, or a file the caller needs.</summary>
    Incomplete,

    /// <summary>
    /// A file does not match the size or SHA-256 its manifest records (changed after it was written), or a file the
    /// store reads (manifest, LATEST, training.json, a safetensors file) cannot be parsed.
    /// </summary>
    Damaged,

    /// <summary>Not a Recurrent checkpoint, or written in a format version this build does not read.</summary>
    Incompatible,

    /// <summary>The checkpoint is intact but does not fit what it is restored into (other keys, shapes, optimizer or generators).</summary>
    Mismatch,
}

/// <summary>
/// A checkpoint cannot be found, read or restored. The message is one line naming the checkpoint folder (or file) and
/// what to do. Derives from <see cref="IOException"/>, as the safetensors and PyTorch readers' exceptions do, so code
/// that handles I/O failures of a load also handles a bad checkpoint. Restoring never changes the module, optimizer
/// or generators when it throws.
/// </summary>
public sealed class CheckpointException : IOException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointException(CheckpointProblem problem, string path, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Problem = problem;
        Path = path;
    }

    /// <summary>What is wrong.</summary>
    public CheckpointProblem Problem { get; }

    /// <summary>The checkpoint folder, store folder or file concerned (full path).</summary>
    public string Path { get; }
}
