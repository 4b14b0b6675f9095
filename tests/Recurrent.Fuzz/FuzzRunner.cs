// Runs mutated inputs through a target on several threads and checks every case: accepted or rejected with a
// documented exception, under the time limit, every stage under the allocation budget. Each case is
// reproducible from (target, seed, index). Failing inputs are written to a findings folder.
using System.Diagnostics;
using System.Globalization;

namespace Recurrent.Fuzz;

/// <summary>What one campaign over one target found.</summary>
public sealed class FuzzReport
{
    public required string Target { get; init; }
    public long Cases;
    public long Accepted;
    public long Rejected;
    public long Undocumented;
    public long Slow;
    public long OverBudget;
    public double MaxMilliseconds;
    public string MaxTimeCase = "";
    public double MaxWallMilliseconds;
    public long MaxStageBytes;
    public long MaxStageBudget;
    public double MaxBudgetFraction;
    public string MaxAllocationCase = "";
    public double Seconds;
    public readonly List<string> Failures = new();
    public readonly Dictionary<string, long> RejectionsByType = new();

    public long Failed => Undocumented + Slow + OverBudget;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Target,-12} {Cases,9} cases  {Accepted,8} accepted  {Rejected,8} documented rejections  {Undocumented} undocumented  {Slow} over {FuzzRunner.TimeLimit.TotalSeconds:F0} s  " +
        $"{OverBudget} over budget  max {MaxMilliseconds:F0} ms {(ThreadClock.IsCpuTime ? "CPU" : "wall")} ({MaxTimeCase}; max wall {MaxWallMilliseconds:F0} ms)  max stage allocation {MaxStageBytes:N0} B = {100 * MaxBudgetFraction:F2}% of its budget " +
        $"{MaxStageBudget:N0} B ({MaxAllocationCase})  {Seconds:F1} s");
}

public sealed class FuzzRunner
{
    /// <summary>
    /// No case may take longer, in CPU time of its thread where the OS reports it (Linux), else in wall time:
    /// on a machine shared with other work, wall time measures the load more than the reader.
    /// </summary>
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(2);

    /// <summary>A wall-time ceiling whatever the CPU time says (a case blocked, not computing).</summary>
    public static readonly TimeSpan WallLimit = TimeSpan.FromSeconds(10);

    private readonly IFuzzTarget _target;
    private readonly IReadOnlyList<byte[]> _corpus;
    private readonly int _seed;
    private readonly string? _findings;

    public FuzzRunner(IFuzzTarget target, IReadOnlyList<byte[]> corpus, int seed, string? findingsFolder)
    {
        if (corpus.Count == 0)
            throw new ArgumentException($"target {target.Name}: the corpus is empty", nameof(corpus));
        _target = target;
        _corpus = corpus;
        _seed = seed;
        _findings = findingsFolder;
    }

    /// <summary>The input of case <paramref name="index"/>: a mutant of a corpus file, the same for the same seed and corpus.</summary>
    public byte[] Input(long index, out string how)
    {
        var rng = new Random(CaseSeed(index));
        var seedFile = _corpus[rng.Next(_corpus.Count)];
        return _target.Mutate(seedFile, _corpus, rng, out how);
    }

    private int CaseSeed(long index)
    {
        // SplitMix64 of (seed, target, index): a stable, well-mixed seed per case.
        ulong z = (ulong)_seed * 0x9E3779B97F4A7C15UL + (ulong)index + (ulong)_target.Name.Length * 0xD1B54A32D192ED03UL + _target.Name[^1];
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)(z ^ (z >> 31));
    }

    /// <summary>
    /// Runs cases <c>first, first+1, ...</c> until <paramref name="cases"/> have run or <paramref name="duration"/>
    /// has passed, on <paramref name="threads"/> threads. A case still running after <paramref name="hangAfter"/> is
    /// written to the findings and the process exits (a hang cannot be interrupted safely).
    /// </summary>
    public FuzzReport Run(long first, long cases, TimeSpan? duration, int threads, TimeSpan hangAfter)
    {
        var report = new FuzzReport { Target = _target.Name };
        // Warm up: the first run of each code path pays for its JIT compilation, which is not the reader's time.
        foreach (var file in _corpus)
        {
            try { _target.Run(file, static (_, _) => { }); }
            catch (Exception) { } // judged in the campaign proper
        }
        var clock = Stopwatch.StartNew();
        long next = first;
        long end = cases == long.MaxValue ? long.MaxValue : first + cases;
        // One reference per worker, swapped whole: the watchdog must never see a torn (index, start, input) triple.
        // (A value tuple here once let it read a zeroed start time beside a live input and report case 0 as a hang.)
        var running = new InFlight?[threads];
        using var stop = new CancellationTokenSource();
        // The cases in flight, written twice a second: if the process dies (stack overflow, out of memory),
        // the file names the cases to replay with --first N --cases 1.
        string? inflight = _findings is null ? null : Path.Combine(_findings, _target.Name, "inflight.txt");
        if (inflight is not null)
            Directory.CreateDirectory(Path.GetDirectoryName(inflight)!);
        var watchdog = new Thread(() =>
        {
            while (!stop.Token.WaitHandle.WaitOne(500))
            {
                if (inflight is not null)
                    File.WriteAllLines(inflight, Enumerable.Range(0, running.Length)
                        .Select(w => Volatile.Read(ref running[w])).OfType<InFlight>().Select(r => Id(r.Index)));
                for (int w = 0; w < running.Length; w++)
                {
                    var r = Volatile.Read(ref running[w]);
                    if (r is not null && Stopwatch.GetElapsedTime(r.StartTicks) > hangAfter)
                    {
                        string id = Id(r.Index);
                        Save(r.Input, "hang", id, $"case {id} ran longer than {hangAfter.TotalSeconds} s");
                        Console.Error.WriteLine($"HANG: {_target.Name} case {id} has run for {hangAfter.TotalSeconds} s; input saved to the findings. Exiting.");
                        Environment.Exit(3);
                    }
                }
            }
        }) { IsBackground = true, Name = "fuzz watchdog" };
        watchdog.Start();

        var workers = Enumerable.Range(0, threads).Select(w => new Thread(() =>
        {
            while (true)
            {
                long index = Interlocked.Increment(ref next) - 1;
                if (index >= end || (duration is { } d && clock.Elapsed > d))
                    break;
                var input = Input(index, out string how);
                Volatile.Write(ref running[w], new InFlight(index, Stopwatch.GetTimestamp(), input));
                RunCase(index, input, how, report);
                Volatile.Write(ref running[w], null);
            }
        }) { Name = $"fuzz worker {w}" }).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());
        stop.Cancel();
        watchdog.Join();
        if (inflight is not null)
            File.Delete(inflight);
        report.Seconds = clock.Elapsed.TotalSeconds;
        return report;
    }

    private sealed record InFlight(long Index, long StartTicks, byte[] Input);

    private string Id(long index) => $"{_target.Name}:{_seed}:{index}";

    /// <summary>Runs one input and records the outcome in <paramref name="report"/>.</summary>
    public void RunCase(long index, byte[] input, string how, FuzzReport report)
    {
        string id = Id(index);
        long budget = _target.Budget(input.Length);
        long maxStage = 0;
        string maxStageName = "";
        string? problem = null, kind = null;
        bool accepted = false;
        string? rejection = null;
        double wall, ms;
        // A case over the wall limit but well within its CPU time was stalled by the machine (another process, the
        // VM, the disk) rather than by its input, or is blocked waiting on something: it runs once more, and only a
        // second slow run is reported (a CI run once met an 11 s stall on a case that took 156 ms of CPU).
        for (int attempt = 0; ; attempt++)
        {
            maxStage = 0; maxStageName = ""; problem = null; kind = null; accepted = false; rejection = null;
            var sw = Stopwatch.StartNew();
            double cpuStart = ThreadClock.Milliseconds();
            try
            {
                _target.Run(input, (stage, bytes) =>
                {
                    if (bytes > maxStage)
                        (maxStage, maxStageName) = (bytes, stage);
                });
                accepted = true;
            }
            catch (Exception e) when (_target.IsDocumented(e))
            {
                rejection = e.GetType().Name;
            }
            catch (Exception e)
            {
                (kind, problem) = ("undocumented", $"{e.GetType().FullName}: {e.Message}\n{e}");
            }
            sw.Stop();
            wall = sw.Elapsed.TotalMilliseconds;
            ms = ThreadClock.IsCpuTime ? ThreadClock.Milliseconds() - cpuStart : wall;
            bool stalledOnly = problem is null && ThreadClock.IsCpuTime && ms <= TimeLimit.TotalMilliseconds && wall > WallLimit.TotalMilliseconds;
            if (!stalledOnly || attempt > 0) break;
        }
        if (problem is null && (ms > TimeLimit.TotalMilliseconds || wall > WallLimit.TotalMilliseconds))
            (kind, problem) = ("slow", $"took {ms:F0} ms {(ThreadClock.IsCpuTime ? "CPU" : "wall")} ({wall:F0} ms wall), over the {TimeLimit.TotalMilliseconds} ms limit (or {WallLimit.TotalMilliseconds} ms wall)");
        if (problem is null && maxStage > budget)
            (kind, problem) = ("alloc", $"stage '{maxStageName}' allocated {maxStage} bytes, over the budget of {budget} bytes");
        lock (report)
        {
            report.Cases++;
            if (problem is null)
            {
                if (accepted) report.Accepted++;
                else
                {
                    report.Rejected++;
                    report.RejectionsByType[rejection!] = report.RejectionsByType.GetValueOrDefault(rejection!) + 1;
                }
            }
            else
            {
                switch (kind)
                {
                    case "slow": report.Slow++; break;
                    case "alloc": report.OverBudget++; break;
                    default: report.Undocumented++; break;
                }
                if (report.Failures.Count < 100)
                    report.Failures.Add($"{id} ({how}): {problem}");
            }
            if (ms > report.MaxMilliseconds)
                (report.MaxMilliseconds, report.MaxTimeCase) = (ms, $"{id} {how}");
            report.MaxWallMilliseconds = Math.Max(report.MaxWallMilliseconds, wall);
            double fraction = (double)maxStage / budget;
            if (fraction > report.MaxBudgetFraction)
                (report.MaxBudgetFraction, report.MaxStageBytes, report.MaxStageBudget, report.MaxAllocationCase) = (fraction, maxStage, budget, $"{id} {maxStageName} {how}");
        }
        if (problem is not null)
            Save(input, kind!, id, $"{how}\n{problem}");
    }

    private void Save(byte[] input, string kind, string id, string text)
    {
        if (_findings is null)
            return;
        string dir = Path.Combine(_findings, _target.Name);
        Directory.CreateDirectory(dir);
        string stem = Path.Combine(dir, $"{kind}-{id.Replace(':', '-')}");
        File.WriteAllBytes(stem + ".bin", input);
        File.WriteAllText(stem + ".txt", $"{id}\n{text}\n");
    }
}

/// <summary>Where the corpus lives and how it is read.</summary>
public static class Corpus
{
    /// <summary>The repository root (the folder holding Recurrent.slnx) above <paramref name="start"/>.</summary>
    public static string RepositoryRoot(string? start = null)
    {
        var dir = new DirectoryInfo(start ?? AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Recurrent.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException($"no Recurrent.slnx above {start ?? AppContext.BaseDirectory}");
    }

    /// <summary><c>tests/Recurrent.Fuzz/corpus</c>.</summary>
    public static string Folder(string? root = null) => Path.Combine(root ?? RepositoryRoot(), "tests", "Recurrent.Fuzz", "corpus");

    /// <summary>The files of <c>corpus/&lt;kind&gt;/&lt;target&gt;</c> (kind: seed or regression), in ordinal name order.</summary>
    public static IReadOnlyList<string> Files(string kind, string target, string? root = null)
    {
        string dir = Path.Combine(Folder(root), kind, target);
        return Directory.Exists(dir)
            ? Directory.GetFiles(dir).Where(f => !f.EndsWith(".md", StringComparison.Ordinal)).OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToList()
            : Array.Empty<string>();
    }

    /// <summary>Largest real checkpoint of <c>../shared/real-checkpoints</c> taken as an extra seed.</summary>
    public const long MaxSharedSeedBytes = 64 << 10;

    /// <summary>
    /// The mutation sources of a target: its seeds, its regression inputs (but those named <c>*.replay-only.*</c>:
    /// valid files so expensive to read that their mutants would slow a campaign down) and, when <paramref name="includeShared"/>
    /// and the folder exists, the small real checkpoints of <c>../shared/real-checkpoints</c> in its format.
    /// </summary>
    public static IReadOnlyList<byte[]> Load(string target, string? root = null, bool includeShared = true)
    {
        var files = Files("seed", target, root)
            .Concat(Files("regression", target, root).Where(f => !f.Contains(".replay-only.", StringComparison.Ordinal)))
            .Select(File.ReadAllBytes).ToList();
        string shared = Path.Combine(root ?? RepositoryRoot(), "..", "shared", "real-checkpoints");
        if (includeShared && Directory.Exists(shared) && target is "pt-zip" or "pt-legacy")
        {
            foreach (string f in Directory.GetFiles(shared).Where(f => !f.EndsWith(".json", StringComparison.Ordinal)).OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal))
            {
                if (new FileInfo(f).Length > MaxSharedSeedBytes)
                    continue;
                byte[] bytes = File.ReadAllBytes(f);
                bool zip = bytes.Length > 4 && bytes[0] == 'P' && bytes[1] == 'K';
                if (zip == (target == "pt-zip"))
                    files.Add(bytes);
            }
        }
        return files;
    }
}

/// <summary>CPU time of the calling thread (Linux: getrusage(RUSAGE_THREAD)); elsewhere unavailable.</summary>
public static class ThreadClock
{
    /// <summary>Whether <see cref="Milliseconds"/> is CPU time (false: use wall time).</summary>
    public static bool IsCpuTime { get; } = OperatingSystem.IsLinux() && Environment.Is64BitProcess && Probe();

    /// <summary>User plus system CPU time of the calling thread so far.</summary>
    public static unsafe double Milliseconds()
    {
        if (!IsCpuTime)
            return 0;
        long* usage = stackalloc long[18]; // struct rusage: ru_utime, ru_stime (timeval: seconds, microseconds), 14 longs
        if (GetRUsage(1 /* RUSAGE_THREAD */, usage) != 0)
            return 0;
        return (usage[0] + usage[2]) * 1000.0 + (usage[1] + usage[3]) / 1000.0;
    }

    private static unsafe bool Probe()
    {
        try
        {
            long* usage = stackalloc long[18];
            return GetRUsage(1, usage) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getrusage")]
    private static extern unsafe int GetRUsage(int who, long* usage);
}
