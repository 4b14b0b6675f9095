// Thread-count setting for the kernels and the small fixed team of worker threads that runs
// their parallel parts. The kernels split work on output blocks only (never a reduction), so a
// result depends on the thread count and the shape, never on scheduling.
namespace Recurrent.Kernels;

/// <summary>
/// How many threads the numerical kernels (<see cref="Gemm"/> and the fused recurrent kernels)
/// may use at the same time, the calling thread included. PyTorch's <c>torch.set_num_threads</c>.
/// </summary>
/// <remarks>
/// Results are bit-for-bit reproducible for a given <see cref="MaxThreads"/>: work is split on
/// output blocks only, so every output element is computed by one thread in a fixed order.
/// </remarks>
public static class Parallelism
{
    private static int s_maxThreads = Math.Max(1, Environment.ProcessorCount);

    /// <summary>
    /// Maximum number of threads doing kernel work at once, the calling thread counted as one.
    /// Default: <see cref="Environment.ProcessorCount"/>. Set it before heavy work starts.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public static int MaxThreads
    {
        get => Volatile.Read(ref s_maxThreads);
        set
        {
            if (value < 1)
                throw new ArgumentOutOfRangeException(nameof(value), value, $"MaxThreads must be at least 1. Expected >= 1, got {value}.");
            Volatile.Write(ref s_maxThreads, value);
        }
    }

    [ThreadStatic] private static int t_singleDepth;

    /// <summary>
    /// The threads the kernels may use for work started on this thread now: <see cref="MaxThreads"/>, or 1
    /// inside <see cref="SingleThreaded"/> (a part of a job that already occupies the team).
    /// </summary>
    internal static int Threads => t_singleDepth > 0 ? 1 : MaxThreads;

    /// <summary>Until disposed, kernels started on this thread run on it alone (they never split nor wake the team).</summary>
    internal static SingleThreadScope SingleThreaded()
    {
        t_singleDepth++;
        return new SingleThreadScope(true);
    }

    /// <summary>Ends a <see cref="SingleThreaded"/> scope.</summary>
    internal readonly struct SingleThreadScope(bool active) : IDisposable
    {
        public void Dispose()
        {
            if (active) t_singleDepth--;
        }
    }
}

/// <summary>One parallel job: <see cref="Execute"/> runs once for every part 0 .. parts-1.</summary>
internal abstract class ParallelJob
{
    public abstract void Execute(int part, int parts);
}

/// <summary>
/// A fixed team of background worker threads. <see cref="Run"/> publishes a job, runs part 0 on
/// the calling thread, then claims and runs any part no worker has claimed yet, and waits for the
/// rest. Parts are claimed through one atomic word (generation | parts | next part), so a late
/// worker can never run a stale job. Workers spin about 100 us after a job (back-to-back per-time-step
/// products then pay no wake-up) and then sleep. Nothing is allocated per call. If another thread
/// is inside <see cref="Run"/>, the caller runs every part itself: same partition, same result.
/// </summary>
internal static class WorkerTeam
{
    // A worker spins this long after a job before it sleeps: long enough to bridge the gate
    // arithmetic between two per-time-step products, short enough not to steal a core for long.
    private static readonly long s_spinTicks = System.Diagnostics.Stopwatch.Frequency / 10_000; // 100 us

    private static readonly object s_runLock = new();
    private static readonly object s_sleepLock = new();
    private static Thread[] s_threads = [];
    private static ParallelJob? s_job;
    private static long s_state; // generation << 32 | parts << 16 | next unclaimed part
    private static int s_pending;
    private static int s_sleepers;
    private static long s_lastUse; // timestamp of the last job (start and end) or Wake
    private static Exception? s_error;

    /// <summary>
    /// True when a small job should not wake the workers: none started yet, or no job and no
    /// <see cref="Wake"/> in the last spin period (they are asleep or about to be), and the calling
    /// thread is not inside a <see cref="Burst"/>. Small jobs then run on the caller: a wake-up costs
    /// more than the split saves.
    /// </summary>
    public static bool Asleep =>
        !t_burst && (s_threads.Length == 0 || System.Diagnostics.Stopwatch.GetTimestamp() - Volatile.Read(ref s_lastUse) > s_spinTicks);

    [ThreadStatic] private static bool t_burst;
    private static long s_lastDeferredEnd; // when the last small job kept off the sleeping team ended
    private static long s_lastDeferredKey;  // and which job it was (the caller's key, e.g. the product's sizes)

    /// <summary>
    /// Called when a small job finds the team asleep: true (wake the team for it) when the same job
    /// (same <paramref name="key"/>) was kept off the team and ended less than a spin period ago, i.e.
    /// it is being repeated back to back and the workers would stay busy once awake; false (run it on
    /// the caller) otherwise, as for the different products of a small model's backward pass. Call
    /// <see cref="Deferred"/> after running it on the caller.
    /// </summary>
    public static bool DeferAgain(long key) =>
        Volatile.Read(ref s_lastDeferredKey) == key
        && System.Diagnostics.Stopwatch.GetTimestamp() - Volatile.Read(ref s_lastDeferredEnd) < s_spinTicks;

    /// <summary>Records that the job <paramref name="key"/> just ran on the caller while the team slept.</summary>
    public static void Deferred(long key)
    {
        Volatile.Write(ref s_lastDeferredKey, key);
        Volatile.Write(ref s_lastDeferredEnd, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    /// <summary>
    /// Wakes the team and marks the calling thread as running a burst of back-to-back small jobs
    /// (a time-step loop) until the returned scope is disposed: its jobs split whenever they are
    /// large enough, as the workers keep spinning between them.
    /// </summary>
    public static BurstScope Burst(int threads)
    {
        if (threads <= 1 || t_burst) return default;
        Wake(threads);
        t_burst = true;
        return new BurstScope(true);
    }

    /// <summary>Ends a <see cref="Burst"/>.</summary>
    public readonly struct BurstScope(bool active) : IDisposable
    {
        public void Dispose()
        {
            if (active) t_burst = false;
        }
    }

    /// <summary>
    /// Wakes sleeping workers (starting them if needed) so that they spin, ready for a run of jobs:
    /// called before a time-step loop whose per-step jobs are each too small to pay for a wake-up.
    /// </summary>
    private static void Wake(int threads)
    {
        if (threads <= 1) return;
        lock (s_runLock) EnsureWorkers(threads - 1);
        Volatile.Write(ref s_lastUse, System.Diagnostics.Stopwatch.GetTimestamp());
        if (Volatile.Read(ref s_sleepers) > 0)
        {
            lock (s_sleepLock) Monitor.PulseAll(s_sleepLock);
        }
    }

    /// <summary>Runs <paramref name="job"/> for parts 0 .. <paramref name="parts"/>-1 and waits for all of them.</summary>
    public static void Run(ParallelJob job, int parts)
    {
        if (parts <= 1)
        {
            job.Execute(0, 1);
            return;
        }
        if (parts > 0xFFFF || !Monitor.TryEnter(s_runLock))
        {
            for (int p = 0; p < parts; p++) job.Execute(p, parts);
            return;
        }
        try
        {
            EnsureWorkers(parts - 1);
            s_job = job;
            s_error = null;
            Volatile.Write(ref s_pending, parts);
            long generation = (Volatile.Read(ref s_state) >> 32) + 1;
            // Full fence: the store of the new state must not pass the read of s_sleepers below.
            Interlocked.Exchange(ref s_state, (generation << 32) | ((long)parts << 16) | 1);
            Volatile.Write(ref s_lastUse, System.Diagnostics.Stopwatch.GetTimestamp());
            if (Volatile.Read(ref s_sleepers) > 0)
            {
                lock (s_sleepLock) Monitor.PulseAll(s_sleepLock);
            }

            Exception? mine = null;
            try { job.Execute(0, parts); }
            catch (Exception e) { mine = e; }
            Interlocked.Decrement(ref s_pending);
            mine ??= ClaimAndRun((int)generation);

            var spin = new SpinWait();
            while (Volatile.Read(ref s_pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            // The workers spin from here on: measure their idle time from the end of the job.
            Volatile.Write(ref s_lastUse, System.Diagnostics.Stopwatch.GetTimestamp());
            s_job = null;
            if (mine is not null) throw mine;
            if (s_error is { } e2) throw new AggregateException("A kernel worker thread failed.", e2);
        }
        finally
        {
            Monitor.Exit(s_runLock);
        }
    }

    // Claims and runs unclaimed parts of generation `generation` until none is left.
    private static Exception? ClaimAndRun(int generation)
    {
        Exception? error = null;
        while (true)
        {
            long s = Volatile.Read(ref s_state);
            if ((int)(s >> 32) != generation) return error;
            int parts = (int)((s >> 16) & 0xFFFF), next = (int)(s & 0xFFFF);
            if (next >= parts) return error;
            if (Interlocked.CompareExchange(ref s_state, s + 1, s) != s) continue;
            // A successful claim means this generation is not finished, so s_job is its job.
            try { s_job!.Execute(next, parts); }
            catch (Exception e) { error ??= e; }
            finally { Interlocked.Decrement(ref s_pending); }
        }
    }

    private static void EnsureWorkers(int count)
    {
        if (s_threads.Length >= count) return;
        var threads = new Thread[count];
        Array.Copy(s_threads, threads, s_threads.Length);
        for (int i = s_threads.Length; i < count; i++)
        {
            var t = new Thread(WorkerLoop) { IsBackground = true, Name = $"Recurrent kernel worker {i + 1}" };
            t.Start();
            threads[i] = t;
        }
        s_threads = threads;
    }

    private static void WorkerLoop()
    {
        int seen = (int)(Volatile.Read(ref s_state) >> 32);
        while (true)
        {
            long spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + s_spinTicks;
            while ((int)(Volatile.Read(ref s_state) >> 32) == seen)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() < spinUntil)
                {
                    Thread.SpinWait(10);
                    continue;
                }
                lock (s_sleepLock)
                {
                    Interlocked.Increment(ref s_sleepers);
                    if ((int)(Volatile.Read(ref s_state) >> 32) == seen) Monitor.Wait(s_sleepLock);
                    Interlocked.Decrement(ref s_sleepers);
                }
                // Woken by a job or by Wake(): spin again before the next sleep.
                spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + s_spinTicks;
            }
            seen = (int)(Volatile.Read(ref s_state) >> 32);
            if (ClaimAndRun(seen) is { } e) s_error = e;
        }
    }
}
