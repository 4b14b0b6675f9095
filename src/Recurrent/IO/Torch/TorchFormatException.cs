// The exceptions the PyTorch reader throws for malformed, hostile or unsupported input.
namespace Recurrent.IO.Torch;

/// <summary>
/// Thrown when a PyTorch <c>.pt</c>/<c>.pth</c>/<c>.ckpt</c> file is truncated, corrupt, hostile or uses
/// a feature this reader does not support. It is the only exception type the reader lets escape for bad
/// file contents (I/O errors such as a missing file keep their own types). It derives from
/// <see cref="IOException"/> (<see cref="InvalidDataException"/> is sealed), so code that handles a bad
/// file with <c>catch (IOException)</c> handles this too.
/// </summary>
public class TorchFormatException : IOException
{
    /// <summary>Creates the exception with a message that names the file, the place and the problem.</summary>
    public TorchFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the exception that revealed the problem.</summary>
    public TorchFormatException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>
    /// True when the input made the reader fail in a way it did not anticipate (an internal consistency
    /// error was caught and wrapped). The input is still malformed, but such a case is worth reporting.
    /// </summary>
    public bool IsInternalError { get; init; }
}

/// <summary>
/// Thrown when a pickle asks for a global (a Python class or function) outside the reader's allowlist,
/// e.g. <c>os.system</c> or <c>builtins.eval</c>. Nothing named in the file is ever executed.
/// </summary>
public sealed class TorchUnsupportedGlobalException : TorchFormatException
{
    /// <summary>Creates the exception for the refused global <paramref name="globalName"/> (<c>module.name</c>).</summary>
    public TorchUnsupportedGlobalException(string globalName, string message) : base(message)
    {
        GlobalName = globalName;
    }

    /// <summary>The refused global as <c>module.name</c>, e.g. <c>os.system</c>.</summary>
    public string GlobalName { get; }
}
