using System.Globalization;

namespace Recurrent.Tests;

/// <summary>
/// The calling thread's CPU time where the OS reports it (Linux: <c>/proc/thread-self/stat</c>, 10 ms ticks), for time
/// bounds that mean "this much work": test classes run in parallel on the CI machine's two cores, so the wall clock
/// of one test also counts the seconds other tests keep it off the CPU.
/// </summary>
internal static class ThreadCpuClock
{
    private const string StatPath = "/proc/thread-self/stat";

    /// <summary>User + system CPU time of the calling thread so far, or null where it cannot be read.</summary>
    public static TimeSpan? Now()
    {
        if (!File.Exists(StatPath)) return null;
        string s = File.ReadAllText(StatPath);
        // Fields after the parenthesised command name start at field 3 (state); utime and stime are fields 14 and 15.
        var f = s[(s.LastIndexOf(')') + 2)..].Split(' ');
        long ticks = long.Parse(f[14 - 3], CultureInfo.InvariantCulture) + long.Parse(f[15 - 3], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0);
    }
}
