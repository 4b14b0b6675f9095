// The program's exit codes and the exceptions that carry a one-line, user-facing message.
namespace Recurrent.Cli;

/// <summary>Exit codes of the <c>recurrent</c> program.</summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Success = 0;

    /// <summary>Bad input: a missing or unusable file, a checkpoint that cannot be read, a failed operation.</summary>
    public const int Failure = 1;

    /// <summary>Bad command line: unknown or nonsensical options.</summary>
    public const int Usage = 2;

    /// <summary>Stopped by Ctrl+C or SIGTERM after saving a checkpoint (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;
}

/// <summary>A nonsensical command line (exit code 2). The message names the option and says what to give instead.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Input the program cannot use (exit code 1). The message is one line that says what to fix.</summary>
public sealed class CliException(string message, Exception? inner = null) : Exception(message, inner);
