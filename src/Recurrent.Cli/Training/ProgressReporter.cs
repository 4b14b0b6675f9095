// Training progress on the console: a bar redrawn in place on a terminal, plain periodic lines when the output is
// redirected (logs, CI, tests). Both show step, loss, gradient norm, tokens/s and the ETA.
using System.Diagnostics;
using System.Globalization;

namespace Recurrent.Cli.Training;

/// <summary>Reports training progress to a <see cref="CliContext"/>.</summary>
public sealed class ProgressReporter
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private const int BarWidth = 24;

    private readonly CliContext _ctx;
    private readonly long _totalSteps;
    private readonly TimeSpan? _timeLimit;
    private readonly int _logEvery;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly long _firstStep;
    private double _lastDrawSeconds = double.NegativeInfinity;
    private bool _barVisible;
    private double _tokensPerSecond = double.NaN;
    private TimeSpan _lastStepTime = TimeSpan.Zero;
    private long _windowTokens;
    private TimeSpan _windowStart = TimeSpan.Zero;

    /// <summary>Creates a reporter.</summary>
    /// <param name="context">Where to write; <see cref="CliContext.IsTerminal"/> selects the bar.</param>
    /// <param name="firstStep">The step training starts from (0, or the resumed step).</param>
    /// <param name="totalSteps">The last step (the run stops there at the latest).</param>
    /// <param name="timeLimit">The time budget of this invocation, or null.</param>
    /// <param name="logEvery">In plain mode, print a line every this many steps.</param>
    public ProgressReporter(CliContext context, long firstStep, long totalSteps, TimeSpan? timeLimit, int logEvery)
    {
        _ctx = context;
        _firstStep = firstStep;
        _totalSteps = totalSteps;
        _timeLimit = timeLimit;
        _logEvery = Math.Max(1, logEvery);
    }

    /// <summary>Time since this reporter was created.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Records a finished step (1-based step number) and redraws or prints as due.</summary>
    public void Step(long step, double loss, double gradNorm, long tokens, bool skipped)
    {
        TimeSpan now = _clock.Elapsed;
        _windowTokens += tokens;
        double windowSeconds = (now - _windowStart).TotalSeconds;
        if (windowSeconds >= 1 || double.IsNaN(_tokensPerSecond))
        {
            double rate = _windowTokens / Math.Max(windowSeconds, 1e-9);
            _tokensPerSecond = double.IsNaN(_tokensPerSecond) ? rate : 0.5 * _tokensPerSecond + 0.5 * rate;
            _windowTokens = 0;
            _windowStart = now;
        }
        _lastStepTime = now;

        if (_ctx.IsTerminal)
        {
            if (now.TotalSeconds - _lastDrawSeconds < 0.1 && step != _totalSteps) return;
            _lastDrawSeconds = now.TotalSeconds;
            _ctx.Out.Write("\r" + BarLine(step, loss, gradNorm, skipped) + "\x1b[K");
            _ctx.Out.Flush();
            _barVisible = true;
        }
        else if (step % _logEvery == 0 || step == _totalSteps)
        {
            _ctx.Out.WriteLine(PlainLine(step, loss, gradNorm, skipped));
            _ctx.Out.Flush();
        }
    }

    /// <summary>Prints a full line (an evaluation result, a checkpoint note) without breaking the bar.</summary>
    public void Line(string message)
    {
        if (_barVisible)
        {
            _ctx.Out.Write("\r\x1b[K");
            _barVisible = false;
            _lastDrawSeconds = double.NegativeInfinity;
        }
        _ctx.Out.WriteLine(message);
        _ctx.Out.Flush();
    }

    /// <summary>Ends the bar's line.</summary>
    public void Finish()
    {
        if (_barVisible) _ctx.Out.WriteLine();
        _barVisible = false;
        _ctx.Out.Flush();
    }

    private const double MaxEtaSeconds = 100 * 365.25 * 86400;

    /// <summary>Estimated time left: the sooner of the step limit (at the current pace) and the time limit.</summary>
    public TimeSpan? Eta(long step)
    {
        TimeSpan? byTime = _timeLimit is { } limit ? limit - _clock.Elapsed : null;
        TimeSpan? bySteps = null;
        long done = step - _firstStep;
        if (done > 0)
        {
            // --steps can be "as many as fit the time limit" (long.MaxValue): an estimate past a century is no estimate
            // (TimeSpan.FromSeconds would overflow past ~29,000 years).
            double seconds = _lastStepTime.TotalSeconds / done * (_totalSteps - step);
            if (seconds <= MaxEtaSeconds) bySteps = TimeSpan.FromSeconds(seconds);
        }
        if (byTime is { } t && bySteps is { } s) return t < s ? t : s;
        return byTime ?? bySteps;
    }

    private string BarLine(long step, double loss, double gradNorm, bool skipped)
    {
        double fraction = Fraction(step);
        int filled = (int)Math.Round(fraction * BarWidth);
        string bar = new string('#', filled) + new string('-', BarWidth - filled);
        return string.Create(Inv,
            $"step {step}/{_totalSteps} [{bar}] {fraction,4:P0} loss {loss:0.0000} | norm {gradNorm:0.00}{(skipped ? " (skipped)" : "")} | {Rate()} tok/s | ETA {Format(Eta(step))}");
    }

    private string PlainLine(long step, double loss, double gradNorm, bool skipped) =>
        string.Create(Inv,
            $"step {step}/{_totalSteps}  loss {loss:0.0000}  grad-norm {gradNorm:0.000}{(skipped ? " (skipped: not finite)" : "")}  tok/s {Rate()}  elapsed {Format(_clock.Elapsed)}  ETA {Format(Eta(step))}");

    private double Fraction(long step)
    {
        double bySteps = _totalSteps > _firstStep ? (double)(step - _firstStep) / (_totalSteps - _firstStep) : 1;
        double byTime = _timeLimit is { } limit && limit > TimeSpan.Zero ? _clock.Elapsed / limit : 0;
        return Math.Clamp(Math.Max(bySteps, byTime), 0, 1);
    }

    private string Rate() => double.IsNaN(_tokensPerSecond) ? "-"
        : _tokensPerSecond >= 10_000 ? (_tokensPerSecond / 1000).ToString("0.0", Inv) + "k"
        : _tokensPerSecond.ToString("0", Inv);

    /// <summary>mm:ss, or h:mm:ss from an hour up; "-" when unknown.</summary>
    public static string Format(TimeSpan? t)
    {
        if (t is not { } v) return "-";
        if (v < TimeSpan.Zero) v = TimeSpan.Zero;
        return v.TotalHours >= 1
            ? string.Create(Inv, $"{(int)v.TotalHours}:{v.Minutes:00}:{v.Seconds:00}")
            : string.Create(Inv, $"{v.Minutes:00}:{v.Seconds:00}");
    }
}
