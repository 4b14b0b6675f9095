using Xunit.Abstractions;

namespace Recurrent.Tests;

public class ThreadCpuClockTests(ITestOutputHelper output)
{
    // The clock the time-bounded fuzz tests use: it advances with this thread's work and not with its waiting.
    [SkippableFact]
    public void CountsThisThreadsWork_NotItsWaiting()
    {
        Skip.If(ThreadCpuClock.Now() is null, "the OS does not report per-thread CPU time here (no /proc/thread-self/stat)");
        var start = ThreadCpuClock.Now()!.Value;
        Thread.Sleep(400);
        var slept = ThreadCpuClock.Now()!.Value - start;
        Assert.True(slept < TimeSpan.FromMilliseconds(200), $"{slept} of CPU time while sleeping 400 ms");

        // A fixed amount of work (a chain of 40 million dependent square roots, about 0.3 s on the reference machine):
        // its CPU time does not depend on how long other tests keep this thread waiting.
        start = ThreadCpuClock.Now()!.Value;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        double x = 0;
        for (int i = 0; i < 40_000_000; i++) x = Math.Sqrt(x + i);
        var busy = ThreadCpuClock.Now()!.Value - start;
        Assert.True(x > 0);
        Assert.True(busy >= TimeSpan.FromMilliseconds(50), $"{busy} of CPU time for {sw.Elapsed} of dependent square roots");
        output.WriteLine($"{busy} of CPU time, {sw.Elapsed} wall");
    }
}
