// Progress of a long command other than train (eval, convert) on standard error, so that standard output keeps only the
// result: a line redrawn in place on a terminal; when redirected, a plain line at most every few seconds (a short task
// prints none).
using System.Diagnostics;
using System.Globalization;

namespace Recurrent.Cli;

/// <summary>Reports how far a task has come: "eval: 45% (12,345 / 27,000 characters), ETA 00:05".</summary>
public sealed class TaskProgress
{
    private readonly CliContext _ctx;
    private readonly string _label;
    private readonly string _unit;
    private readonly TimeSpan _plainInterval;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _lastShown = TimeSpan.Zero;
    private bool _lineOpen;

    /// <summary>Creates a reporter writing to <paramref name="context"/>'s error stream.</summary>
    /// <param name="context">Where to write; <see cref="CliContext.IsErrorTerminal"/> selects the in-place line.</param>
    /// <param name="label">The task, e.g. "eval".</param>
    /// <param name="unit">What is counted, e.g. "characters".</param>
    /// <param name="plainInterval">When redirected, the least time between two lines (default 5 s).</param>
    public TaskProgress(CliContext context, string label, string unit, TimeSpan? plainInterval = null)
    {
        _ctx = context;
        _label = label;
        _unit = unit;
        _plainInterval = plainInterval ?? TimeSpan.FromSeconds(5);
    }

    /// <summary>Records that <paramref name="done"/> of <paramref name="total"/> are done; redraws or prints as due.</summary>
    public void Report(long done, long total)
    {
        TimeSpan now = _clock.Elapsed;
        bool last = done >= total;
        if (_ctx.IsErrorTerminal)
        {
            if (!last && now - _lastShown < TimeSpan.FromMilliseconds(100)) return;
            _ctx.Error.Write("\r" + Line(done, total, now) + "\x1b[K");
            _lineOpen = true;
        }
        else
        {
            if (last || now - _lastShown < _plainInterval) return;
            _ctx.Error.WriteLine(Line(done, total, now));
        }
        _ctx.Error.Flush();
        _lastShown = now;
    }

    /// <summary>Shows a step of a task without a count ("reading x.pt ...") on a terminal; nothing when redirected.</summary>
    public void Status(string message)
    {
        if (!_ctx.IsErrorTerminal) return;
        _ctx.Error.Write($"\r{_label}: {message}\x1b[K");
        _ctx.Error.Flush();
        _lineOpen = true;
    }

    /// <summary>Clears the in-place line (call before writing the result).</summary>
    public void Finish()
    {
        if (!_lineOpen) return;
        _ctx.Error.Write("\r\x1b[K");
        _ctx.Error.Flush();
        _lineOpen = false;
    }

    private string Line(long done, long total, TimeSpan now)
    {
        double fraction = total > 0 ? Math.Clamp((double)done / total, 0, 1) : 1;
        TimeSpan? eta = fraction > 0 ? TimeSpan.FromSeconds(now.TotalSeconds / fraction * (1 - fraction)) : null;
        return string.Create(CultureInfo.InvariantCulture,
            $"{_label}: {fraction,4:P0} ({done:N0} / {total:N0} {_unit}), elapsed {Training.ProgressReporter.Format(now)}, ETA {Training.ProgressReporter.Format(eta)}");
    }
}
