// What a command needs from its surroundings: where to write, whether that is a terminal, and when to stop.
namespace Recurrent.Cli;

/// <summary>
/// The environment of one invocation of the program: its output and error writers, whether the output is an
/// interactive terminal (progress bars) or redirected (plain periodic lines), and the token that Ctrl+C/SIGTERM cancel.
/// Tests build one around string writers and their own token to run commands in-process.
/// </summary>
public sealed class CliContext
{
    /// <summary>Creates a context.</summary>
    public CliContext(TextWriter output, TextWriter error, bool isTerminal = false, CancellationToken cancellation = default,
        bool isErrorTerminal = false)
    {
        Out = output;
        Error = error;
        IsTerminal = isTerminal;
        IsErrorTerminal = isErrorTerminal;
        Cancellation = cancellation;
    }

    /// <summary>Standard output: results and progress.</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error: warnings and the one-line error.</summary>
    public TextWriter Error { get; }

    /// <summary>True when <see cref="Out"/> is an interactive terminal (draw a progress bar in place).</summary>
    public bool IsTerminal { get; }

    /// <summary>True when <see cref="Error"/> is an interactive terminal (progress of eval and convert is redrawn in place there).</summary>
    public bool IsErrorTerminal { get; }

    /// <summary>Cancelled by Ctrl+C or SIGTERM: long commands save their work and stop.</summary>
    public CancellationToken Cancellation { get; }

    private int _observers;

    /// <summary>
    /// True while a command watches <see cref="Cancellation"/> (training, evaluation, sampling): a first Ctrl+C or
    /// SIGTERM then asks it to stop. At any other time a signal ends the process as usual (a command that never looks
    /// at the token must not swallow it).
    /// </summary>
    public bool ObservesCancellation => Volatile.Read(ref _observers) > 0;

    /// <summary>Marks the span in which the caller watches <see cref="Cancellation"/> (see <see cref="ObservesCancellation"/>).</summary>
    public CancellationScope ObserveCancellation()
    {
        Interlocked.Increment(ref _observers);
        return new CancellationScope(this);
    }

    /// <summary>Ends an <see cref="ObserveCancellation"/> span (once, however often it is disposed).</summary>
    public sealed class CancellationScope : IDisposable
    {
        private CliContext? _ctx;
        internal CancellationScope(CliContext ctx) => _ctx = ctx;
        /// <inheritdoc/>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ctx, null) is { } ctx) Interlocked.Decrement(ref ctx._observers);
        }
    }

    /// <summary>The context of the real process: the console, redirected or not, with the given token.</summary>
    public static CliContext ForConsole(CancellationToken cancellation) =>
        new(Console.Out, Console.Error, !Console.IsOutputRedirected, cancellation, !Console.IsErrorRedirected);
}
