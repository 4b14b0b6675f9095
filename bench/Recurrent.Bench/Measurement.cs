// The timing rule of FORMAT.md section 4, identical for cases and gemm entries:
// warm-up until >= 2 iterations and >= 0.5 s; then time each iteration separately until
// >= MinIters iterations and >= 1.5 s since the first timed iteration; median, min, iters.
// Also records allocated bytes per timed iteration (all threads) and gen-2 collections; a full
// blocking collection (untimed) precedes the timed loop.
using System.Diagnostics;

namespace Recurrent.Bench;

internal readonly record struct Measurement(double MedianMs, double MinMs, int Iters, double AllocBytesPerIter, int Gen2Collections, double MinFltPerIter)
{
    public const double WarmupSeconds = 0.5, TimedSeconds = 1.5;
    public const int WarmupIters = 2;

    public static Measurement Run(IBenchCase bench)
    {
        long freq = Stopwatch.Frequency;

        // Warm-up (also tiers up the JIT and grows the packing / workspace pools).
        long start = Stopwatch.GetTimestamp();
        int warm = 0;
        long warmMinTicks = long.MaxValue;
        while (warm < WarmupIters || Stopwatch.GetTimestamp() - start < WarmupSeconds * freq)
        {
            long t0 = Stopwatch.GetTimestamp();
            bench.Iterate();
            warmMinTicks = Math.Min(warmMinTicks, Stopwatch.GetTimestamp() - t0);
            warm++;
        }

        // Per-iteration timestamps go to a buffer sized from the warm-up, so the timed loop
        // itself does not allocate (it grows only if the estimate was far off).
        long expected = (long)(TimedSeconds * freq / Math.Max(1, warmMinTicks)) + 16;
        var ticks = new long[(int)Math.Min(Math.Max(expected * 2, bench.MinIters + 1), 64_000_000)];

        // Start the timed loop from a collected heap (as BenchmarkDotNet does between stages), so a
        // collection owed to earlier cases' garbage does not land inside this case's timed loop.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        int gen2Before = GC.CollectionCount(2);
        long allocBefore = GC.GetTotalAllocatedBytes(precise: true);
        long minFltBefore = CharLm.ProcStats.Read().MinFlt;
        int iters = 0;
        long timedStart = Stopwatch.GetTimestamp();
        long now = timedStart;
        while (iters < bench.MinIters || now - timedStart < TimedSeconds * freq)
        {
            long t0 = Stopwatch.GetTimestamp();
            bench.Iterate();
            now = Stopwatch.GetTimestamp();
            if (iters == ticks.Length) Array.Resize(ref ticks, ticks.Length * 2);
            ticks[iters++] = now - t0;
        }
        long allocAfter = GC.GetTotalAllocatedBytes(precise: true);
        long minFlt = CharLm.ProcStats.Read().MinFlt - minFltBefore;
        int gen2 = GC.CollectionCount(2) - gen2Before;

        Array.Sort(ticks, 0, iters);
        double medianTicks = iters % 2 == 1 ? ticks[iters / 2] : (ticks[iters / 2 - 1] + ticks[iters / 2]) / 2.0;
        double toMs = 1000.0 / freq;
        return new Measurement(medianTicks * toMs, ticks[0] * toMs, iters, (double)(allocAfter - allocBefore) / iters, gen2, (double)minFlt / iters);
    }
}
