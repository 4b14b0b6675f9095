// The end-to-end char-LM training recipe of ../shared/bench/charlm-anchor/README.md
// ("charlm-lstm-tinyshakespeare v1"), run with the library's public API exactly as a user's program
// would: Embedding(65, 128) -> Lstm(128, 512, 2 layers) -> Linear(512, 65), CrossEntropyLoss, clip
// at 5, Adam 2e-3, one dispose scope per step. It writes the anchor's JSON lines (header, a log
// line per evaluation, summary) so the two files compare field by field, plus what only we report:
// managed bytes allocated and gen-2 collections per interval, and with --profile a per-phase
// breakdown of the step (the forward cut into segments at a detached boundary after the LSTM, each
// backward run on its own: the same gradients as one backward, each phase timed alone; the LSTM
// reads the embedding's output itself, as in the plain step, so its backward gives the table's
// gradient too and embedding_bwd is empty, DECISIONS 33).
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Recurrent.Kernels;
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Bench.CharLm;

/// <summary>The recipe's constants (charlm-anchor's Recipe class).</summary>
internal static class Recipe
{
    public const int Emb = 128, Hidden = 512, Layers = 2;
    public const int Batch = 32, Window = 65, Steps = Window - 1;
    public const double Lr = 2e-3, Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8, ClipNorm = 5.0;
    public const ulong InitSeed = 1234, TrainSeed = 1234, ValSeed = 4321, SampleSeed = 1;
    public const int ValWindows = 200, EvalEvery = 100, SampleChars = 300;
    public const double Temperature = 0.8;
    public const string Prompt = "ROMEO:";
}

/// <summary>SplitMix64 on uint64 with wrapping arithmetic, the recipe's sampler.</summary>
internal sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        _state += 0x9E3779B97F4A7C15UL;
        ulong z = _state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public long NextBelow(long m) => (long)(Next() % (ulong)m);

    public double NextDouble() => (Next() >> 11) * (1.0 / 9007199254740992.0);
}

/// <summary>The recipe's model, written as a user writes one: embed, lstm, head (PyTorch's names).</summary>
internal sealed class CharLstm : Module
{
    private readonly Embedding _embed;
    private readonly Lstm _lstm;
    private readonly Linear _head;

    public CharLstm(int vocab, Generator init)
    {
        _embed = RegisterModule("embed", new Embedding(vocab, Recipe.Emb, generator: init));
        _lstm = RegisterModule("lstm", new Lstm(Recipe.Emb, Recipe.Hidden, Recipe.Layers, generator: init));
        _head = RegisterModule("head", new Linear(Recipe.Hidden, vocab, generator: init));
    }

    public Embedding Embed => _embed;
    public Lstm Lstm => _lstm;
    public Linear Head => _head;

    /// <summary>x (T, B) int64 -> logits (T, B, V) and the final state.</summary>
    public (Tensor Logits, (Tensor H, Tensor C) State) Forward(Tensor x, (Tensor H, Tensor C)? state = null)
    {
        var (y, s) = _lstm.Forward(_embed.Forward(x), state);
        return (_head.Forward(y), s);
    }
}

/// <summary>One run of the recipe.</summary>
internal sealed class CharLmRun
{
    private const int T = Recipe.Steps, B = Recipe.Batch;
    private static readonly string[] Phases =
        ["zero_grad", "embedding_fwd", "lstm_fwd", "head_loss_fwd", "head_loss_bwd", "lstm_bwd", "embedding_bwd", "clip", "optimizer"];

    private readonly string _corpusPath, _outPath, _runName;
    private readonly int _threads;
    private readonly double _seconds;
    private readonly long _maxSteps;
    private readonly bool _profile;
    private StreamWriter? _out;

    public CharLmRun(string corpusPath, string outPath, int threads, double seconds, long maxSteps, string runName, bool profile)
    {
        _corpusPath = corpusPath;
        _outPath = outPath;
        _threads = threads;
        _seconds = seconds;
        _maxSteps = maxSteps;
        _runName = runName;
        _profile = profile;
    }

    public int Run()
    {
        Parallelism.MaxThreads = _threads;
        byte[] corpusBytes = File.ReadAllBytes(_corpusPath);
        string text = new UTF8Encoding(false, true).GetString(corpusBytes);
        char[] vocab = text.Distinct().OrderBy(c => c).ToArray();   // ordinal order
        int v = vocab.Length;
        var index = new Dictionary<char, int>();
        for (int k = 0; k < v; k++) index[vocab[k]] = k;
        int n = text.Length, nTrain = (int)((long)n * 9 / 10), nVal = n - nTrain;
        var train = new long[nTrain];
        var val = new long[nVal];
        for (int k = 0; k < nTrain; k++) train[k] = index[text[k]];
        for (int k = 0; k < nVal; k++) val[k] = index[text[nTrain + k]];

        var valRng = new SplitMix64(Recipe.ValSeed);
        var valStarts = new long[Recipe.ValWindows];
        for (int k = 0; k < valStarts.Length; k++) valStarts[k] = valRng.NextBelow(nVal - Recipe.Window + 1);
        var (valXs, valYs) = Windows(val, valStarts);
        var valX = Tensor.FromArray(valXs, T, Recipe.ValWindows).DetachFromDisposeScope();
        var valY = Tensor.FromArray(valYs, T * Recipe.ValWindows).DetachFromDisposeScope();
        var trainRng = new SplitMix64(Recipe.TrainSeed);
        var checkRng = new SplitMix64(Recipe.TrainSeed);
        var firstStarts = Enumerable.Range(0, 2 * B).Select(_ => checkRng.NextBelow(nTrain - Recipe.Window + 1)).ToArray();

        var model = new CharLstm(v, new Generator(Recipe.InitSeed));
        var parameters = model.Parameters().ToArray();
        long nParams = parameters.Sum(p => (long)p.Numel);
        var optimizer = new Adam(parameters, Recipe.Lr, (Recipe.Beta1, Recipe.Beta2), Recipe.Eps);
        var criterion = new CrossEntropyLoss();
        model.Train();

        _out = new StreamWriter(_outPath, append: false, new UTF8Encoding(false));
        Emit(new JsonObject
        {
            ["type"] = "header",
            ["run"] = _runName,
            ["impl"] = "recurrent",
            ["started_utc"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["recipe"] = new JsonObject
            {
                ["name"] = "charlm-lstm-tinyshakespeare v1",
                ["corpus"] = new JsonObject { ["file"] = Path.GetFileName(_corpusPath), ["chars"] = n, ["sha256"] = Convert.ToHexString(SHA256.HashData(corpusBytes)).ToLowerInvariant() },
                ["vocab"] = new JsonObject { ["size"] = v, ["chars_sorted"] = new string(vocab) },
                ["model"] = $"Embedding({v}, {Recipe.Emb}) -> LSTM({Recipe.Emb}, {Recipe.Hidden}, num_layers={Recipe.Layers}) -> Linear({Recipe.Hidden}, {v}); float32; {nParams} parameters",
                ["step"] = "optimizer.ZeroGrad(); forward; loss.Backward(); ClipGrad.ClipGradNorm(params, 5.0); optimizer.Step(); one dispose scope per step",
                ["profile"] = _profile,
            },
            ["checks"] = new JsonObject
            {
                ["train_window_starts_step1"] = Arr(firstStarts.Take(B)),
                ["train_window_starts_step2_first4"] = Arr(firstStarts.Skip(B).Take(4)),
                ["val_window_starts_first8"] = Arr(valStarts.Take(8)),
                ["val_window_starts_sum"] = valStarts.Sum(),
                ["n_params"] = nParams,
                ["init_params_sha256"] = ParamsSha256(model),
            },
            ["settings"] = new JsonObject
            {
                ["threads"] = _threads,
                ["seconds_limit"] = _seconds,
                ["max_steps"] = _maxSteps == long.MaxValue ? null : _maxSteps,
                ["dotnet"] = Environment.Version.ToString(),
                ["os"] = RuntimeInformation.OSDescription,
                ["logical_cpus"] = Environment.ProcessorCount,
                ["loadavg_at_start"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "",
            },
        });
        Console.Error.WriteLine($"[{_runName}] V={v} N={n} train={nTrain} val={nVal} params={nParams} threads={_threads} limit={_seconds}s profile={_profile}");

        double Evaluate()
        {
            model.Eval();
            try
            {
                using var scope = Tensor.NewDisposeScope();
                using var _ = new NoGrad();
                var (logits, _) = model.Forward(valX);
                return criterion.Forward(logits.Reshape(-1, v), valY).Item<float>();
            }
            finally { model.Train(); }
        }

        var logs = new List<JsonObject>();
        {
            long e0 = Stopwatch.GetTimestamp();
            double v0 = Evaluate();
            var o = new JsonObject
            {
                ["type"] = "log", ["run"] = _runName, ["step"] = 0L, ["wall_s"] = 0.0, ["train_loss"] = null,
                ["val_loss"] = R(v0, 7), ["tokens_per_s"] = null, ["eval_ms"] = R(Stopwatch.GetElapsedTime(e0).TotalMilliseconds, 4),
            };
            logs.Add(o);
            Emit(o);
        }

        var xs = new long[T * B];
        var ys = new long[T * B];
        var stepMs = new List<double>(8192);
        var intStepMs = new List<double>(Recipe.EvalEvery);
        var phaseMs = Phases.ToDictionary(p => p, _ => new List<double>());
        long step = 0;
        double intLoss = 0, intGradNorm = 0, intTrainTicks = 0, trainSecondsTotal = 0;
        int intSteps = 0, intClipped = 0;
        long intAlloc = 0;
        int gen2Prev = GC.CollectionCount(2), intGen2Steps = 0;
        long gen2IndexPrev = LastGen2().Index;
        var proc0 = ProcStats.Read();
        var procPrev = proc0;
        long t0 = Stopwatch.GetTimestamp(), lastLogTicks = t0;

        void LogInterval()
        {
            long e0 = Stopwatch.GetTimestamp();
            double vl = Evaluate();
            long e1 = Stopwatch.GetTimestamp();
            var pnow = ProcStats.Read();
            double wall = (e1 - t0) / (double)Stopwatch.Frequency, intTrainS = intTrainTicks / Stopwatch.Frequency;
            double intWall = (e1 - lastLogTicks) / (double)Stopwatch.Frequency;
            var d = pnow - procPrev;
            int gen2 = GC.CollectionCount(2);
            var o = new JsonObject
            {
                ["type"] = "log",
                ["run"] = _runName,
                ["step"] = step,
                ["wall_s"] = R(wall, 6),
                ["train_loss"] = R(intLoss / intSteps, 7),
                ["val_loss"] = R(vl, 7),
                ["tokens_per_s"] = R(intSteps * (double)(T * B) / intTrainS, 5),
                ["tokens_per_s_incl_eval"] = R(intSteps * (double)(T * B) / intWall, 5),
                ["steps_in_interval"] = intSteps,
                ["train_s_interval"] = R(intTrainS, 5),
                ["step_ms_min"] = R(intStepMs.Min(), 4),
                ["step_ms_median"] = R(Median(intStepMs), 4),
                ["step_ms_max"] = R(intStepMs.Max(), 4),
                ["eval_ms"] = R((e1 - e0) * 1000.0 / Stopwatch.Frequency, 4),
                ["grad_norm_mean"] = R(intGradNorm / intSteps, 5),
                ["clipped_frac"] = R(intClipped / (double)intSteps, 4),
                ["cpu_util"] = R(d.OwnCpuS / intWall, 3),
                ["other_cpu_s"] = R(Math.Max(0, d.BusyS - d.OwnCpuS), 3),
                ["steal_s"] = R(d.StealS, 3),
                ["minflt_per_step"] = R(d.MinFlt / (double)intSteps, 4),
                ["alloc_bytes_per_step"] = R(intAlloc / (double)intSteps, 5),
                ["gen2_collections"] = gen2 - gen2Prev,
                ["gen2_collections_in_steps"] = intGen2Steps,
            };
            string gcKind = "";
            if (gen2 > gen2Prev)
            {
                // The interval's last finished gen-2 collection: whether it ran in the background, and how long it
                // paused the program (a background one pauses twice, briefly; a blocking one for its whole length).
                // One still running when the interval ends is not reported yet (null here, in the next line).
                var last = LastGen2();
                bool fresh = last.Index > gen2IndexPrev;
                double pause = SumMs(last.PauseDurations);
                o["gen2_last_background"] = fresh ? last.Concurrent : null;
                o["gen2_last_pause_ms"] = fresh ? R(pause, 4) : null;
                gcKind = fresh ? $", last {(last.Concurrent ? "background" : "blocking")}, paused {pause:F1} ms" : ", still running";
                if (fresh) gen2IndexPrev = last.Index;
            }
            logs.Add(o);
            Emit(o);
            Console.Error.WriteLine($"[{_runName}] step {step,6}  wall {wall,7:F1}s  train {intLoss / intSteps:F4}  val {vl:F4}  " +
                $"{intSteps * (double)(T * B) / intTrainS,8:F0} tok/s  cpu {d.OwnCpuS / intWall:F2}  other {Math.Max(0, d.BusyS - d.OwnCpuS):F2}s  " +
                $"alloc/step {intAlloc / (double)intSteps:F0} B  gen2 {gen2 - gen2Prev} ({intGen2Steps} in steps{gcKind})");
            intGen2Steps = 0;
            intLoss = 0; intGradNorm = 0; intTrainTicks = 0; intSteps = 0; intClipped = 0; intAlloc = 0; intStepMs.Clear();
            gen2Prev = gen2;
            procPrev = pnow;
            lastLogTicks = e1;
        }

        var timings = new double[Phases.Length];
        while (true)
        {
            long s0 = Stopwatch.GetTimestamp();
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            int g0 = GC.CollectionCount(2);
            for (int b = 0; b < B; b++)
            {
                long st = trainRng.NextBelow(nTrain - Recipe.Window + 1);
                for (int t = 0; t < T; t++) { xs[t * B + b] = train[st + t]; ys[t * B + b] = train[st + t + 1]; }
            }
            double lossValue, gradNorm;
            {
                using var scope = Tensor.NewDisposeScope();
                var x = Tensor.FromArray(xs, T, B);
                var y = Tensor.FromArray(ys, T * B);
                if (_profile) (lossValue, gradNorm) = ProfiledStep(model, optimizer, criterion, parameters, x, y, v, timings);
                else
                {
                    optimizer.ZeroGrad();
                    var (logits, _) = model.Forward(x);
                    var loss = criterion.Forward(logits.Reshape(-1, v), y);
                    loss.Backward();
                    gradNorm = ClipGrad.ClipGradNorm(parameters, Recipe.ClipNorm).Item<float>();
                    optimizer.Step();
                    lossValue = loss.Item<float>();
                }
            }
            long s1 = Stopwatch.GetTimestamp();
            intAlloc += GC.GetAllocatedBytesForCurrentThread() - a0;
            intGen2Steps += GC.CollectionCount(2) - g0;
            step++;
            stepMs.Add((s1 - s0) * 1000.0 / Stopwatch.Frequency);
            intStepMs.Add(stepMs[^1]);
            if (_profile && step > Recipe.EvalEvery / 10)
                for (int p = 0; p < Phases.Length; p++) phaseMs[Phases[p]].Add(timings[p]);
            intTrainTicks += s1 - s0;
            trainSecondsTotal += (s1 - s0) / (double)Stopwatch.Frequency;
            intLoss += lossValue; intGradNorm += gradNorm; intSteps++;
            if (gradNorm > Recipe.ClipNorm) intClipped++;
            if (!double.IsFinite(lossValue)) throw new InvalidOperationException($"loss is {lossValue} at step {step}");
            if (step % Recipe.EvalEvery == 0) LogInterval();
            if (Stopwatch.GetElapsedTime(t0).TotalSeconds >= _seconds || step >= _maxSteps) break;
        }
        if (intSteps > 0) LogInterval();
        double wallTotal = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        var procEnd = ProcStats.Read() - proc0;

        string greedy = Generate(model, index, vocab, null);
        string warm = Generate(model, index, vocab, new SplitMix64(Recipe.SampleSeed));

        var intervalTps = logs.Where(l => l["tokens_per_s"] is not null && (int)l["steps_in_interval"]! == Recipe.EvalEvery)
            .Select(l => (double)l["tokens_per_s"]!).ToList();
        if (intervalTps.Count == 0) intervalTps = logs.Where(l => l["tokens_per_s"] is not null).Select(l => (double)l["tokens_per_s"]!).ToList();
        var steady = stepMs.Count > Recipe.EvalEvery ? stepMs.Skip(Recipe.EvalEvery).ToList() : stepMs;
        var evals = logs.Where(l => l["val_loss"] is not null).ToList();
        var best = evals.OrderBy(l => (double)l["val_loss"]!).First();
        var summary = new JsonObject
        {
            ["type"] = "summary",
            ["run"] = _runName,
            ["impl"] = "recurrent",
            ["threads"] = _threads,
            ["steps"] = step,
            ["tokens_trained"] = step * (long)(T * B),
            ["wall_s"] = R(wallTotal, 6),
            ["train_s"] = R(trainSecondsTotal, 6),
            ["final_val_loss"] = (double)logs[^1]["val_loss"]!,
            ["best_val_loss"] = (double)best["val_loss"]!,
            ["best_val_step"] = (long)best["step"]!,
            ["median_tokens_per_s"] = R(Median(intervalTps), 5),
            ["median_tokens_per_s_definition"] = "median over the full 100-step intervals of 100*32*64 / (training seconds of those steps, evaluation excluded)",
            ["median_step_ms"] = R(Median(steady), 5),
            ["tokens_per_s_from_median_step"] = R(T * B / (Median(steady) / 1000.0), 5),
            ["mean_tokens_per_s_overall"] = R(step * (double)(T * B) / trainSecondsTotal, 5),
            ["final_params_sha256"] = ParamsSha256(model),
            ["cpu_util_overall"] = R(procEnd.OwnCpuS / wallTotal, 3),
            ["other_cpu_s_overall"] = R(Math.Max(0, procEnd.BusyS - procEnd.OwnCpuS), 3),
            ["steal_s_overall"] = R(procEnd.StealS, 3),
            ["minflt_per_step_overall"] = R(procEnd.MinFlt / (double)Math.Max(1, step), 4),
            ["loadavg_at_end"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "",
            ["sample_greedy"] = greedy,
            ["sample_temperature_0.8_seed_1"] = warm,
        };
        if (_profile)
        {
            var profile = new JsonObject();
            foreach (var p in Phases) profile[p] = R(Median(phaseMs[p]), 4);
            profile["sum_of_medians"] = R(Phases.Sum(p => Median(phaseMs[p])), 4);
            summary["profile_median_ms"] = profile;
        }
        Emit(summary);
        Console.Error.WriteLine($"[{_runName}] done: {step} steps in {wallTotal:F1} s, final val {(double)logs[^1]["val_loss"]!:F4}, " +
            $"best {(double)best["val_loss"]!:F4} @ {(long)best["step"]!}, median {Median(intervalTps):F0} tok/s (median step {Median(steady):F1} ms)");
        _out.Dispose();
        return 0;
    }

    // One step cut at a detached boundary (y_d): each forward segment and each backward timed alone. The LSTM reads the
    // embedding's output e itself, as in the plain step (it then works per id, and its backward gives the table's
    // gradient: embedding_bwd has nothing left to do).
    // Gradients and updates are the same as one loss.Backward() over the whole graph. Each phase records
    // wall milliseconds, or with RECURRENT_PROFILE_CPU=1 the calling thread's CPU milliseconds (robust to
    // other load on the machine; meaningful at --threads 1, where the calling thread does all the work).
    // With RECURRENT_PROFILE_ALLOC=1 each phase records the managed bytes it allocated instead (all threads,
    // GC.GetTotalAllocatedBytes(precise: true)); the summary's "ms" figures are then bytes.
    private static readonly bool s_cpuClock = Environment.GetEnvironmentVariable("RECURRENT_PROFILE_CPU") == "1";
    private static readonly bool s_alloc = Environment.GetEnvironmentVariable("RECURRENT_PROFILE_ALLOC") == "1";

    private static (double Loss, double GradNorm) ProfiledStep(CharLstm model, Optimizer optimizer, CrossEntropyLoss criterion,
        Tensor[] parameters, Tensor x, Tensor y, int v, double[] ms)
    {
        double Now() => s_alloc ? GC.GetTotalAllocatedBytes(true) : s_cpuClock ? ThreadCpu.Milliseconds() : Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;
        double t = Now();
        double Lap()
        {
            double now = Now(), d = now - t;
            t = now;
            return d;
        }
        optimizer.ZeroGrad();
        ms[0] = Lap();
        var e = model.Embed.Forward(x);
        ms[1] = Lap();
        var (h, _) = model.Lstm.Forward(e);
        ms[2] = Lap();
        var hD = h.Detach().RequiresGrad_();
        var loss = criterion.Forward(model.Head.Forward(hD).Reshape(-1, v), y);
        ms[3] = Lap();
        loss.Backward();
        ms[4] = Lap();
        h.Backward(hD.Grad!);
        ms[5] = Lap();
        ms[6] = Lap();
        double gradNorm = ClipGrad.ClipGradNorm(parameters, Recipe.ClipNorm).Item<float>();
        ms[7] = Lap();
        optimizer.Step();
        ms[8] = Lap();
        return (loss.Item<float>(), gradNorm);
    }

    private static (long[] X, long[] Y) Windows(long[] src, long[] starts)
    {
        int n = starts.Length;
        var x = new long[T * n];
        var y = new long[T * n];
        for (int b = 0; b < n; b++)
            for (int t = 0; t < T; t++) { x[t * n + b] = src[starts[b] + t]; y[t * n + b] = src[starts[b] + t + 1]; }
        return (x, y);
    }

    private static string Generate(CharLstm model, Dictionary<char, int> index, char[] vocab, SplitMix64? rng)
    {
        model.Eval();
        try
        {
            using var scope = Tensor.NewDisposeScope();
            using var _ = new NoGrad();
            var sb = new StringBuilder(Recipe.Prompt);
            long[] ids = Recipe.Prompt.Select(c => (long)index[c]).ToArray();
            var x = Tensor.FromArray(ids, ids.Length, 1);
            (Tensor H, Tensor C)? state = null;
            for (int i = 0; i < Recipe.SampleChars; i++)
            {
                var (logits, s) = model.Forward(x, state);
                state = s;
                float[] last = logits[logits.Size(0) - 1, 0].ToArray<float>();
                int next;
                if (rng is null)
                {
                    next = 0;
                    for (int k = 1; k < last.Length; k++) if (last[k] > last[next]) next = k;
                }
                else
                {
                    double mx = last.Max();
                    var w = last.Select(l => Math.Exp((l - mx) / Recipe.Temperature)).ToArray();
                    double u = rng.NextDouble() * w.Sum(), acc = 0;
                    next = w.Length - 1;
                    for (int k = 0; k < w.Length; k++) { acc += w[k]; if (u < acc) { next = k; break; } }
                }
                sb.Append(vocab[next]);
                x = Tensor.FromArray(new long[] { next }, 1, 1);
            }
            return sb.ToString();
        }
        finally { model.Train(); }
    }

    private void Emit(JsonObject o)
    {
        string line = o.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        _out!.WriteLine(line);
        _out.Flush();
        Console.WriteLine(line);
    }

    private static string ParamsSha256(CharLstm model)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (_, p) in model.NamedParameters())
            sha.AppendData(MemoryMarshal.AsBytes(p.Detach().Contiguous().AsSpan<float>()));
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    private static JsonArray Arr(IEnumerable<long> v) => new(v.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());

    // The last finished gen-2 collection, background or blocking (Index counts every collection of the process).
    private static GCMemoryInfo LastGen2()
    {
        var bg = GC.GetGCMemoryInfo(GCKind.Background);
        var full = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        return bg.Index >= full.Index ? bg : full;
    }

    private static double SumMs(ReadOnlySpan<TimeSpan> pauses)
    {
        double ms = 0;
        foreach (var p in pauses) ms += p.TotalMilliseconds;
        return ms;
    }

    private static double Median(List<double> v)
    {
        if (v.Count == 0) return double.NaN;
        var s = v.OrderBy(d => d).ToList();
        int n = s.Count;
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }

    private static double R(double v, int sig)
    {
        if (v == 0 || double.IsNaN(v) || double.IsInfinity(v)) return v;
        int digits = sig - 1 - (int)Math.Floor(Math.Log10(Math.Abs(v)));
        return digits >= 0 ? Math.Round(v, Math.Min(digits, 15)) : v;
    }
}

/// <summary>The calling thread's CPU time (Linux clock_gettime(CLOCK_THREAD_CPUTIME_ID)).</summary>
internal static partial class ThreadCpu
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Sec, Nsec; }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec ts);

    public static double Milliseconds() => ClockGetTime(3, out var ts) == 0 ? ts.Sec * 1e3 + ts.Nsec * 1e-6 : double.NaN;
}

/// <summary>Process and machine CPU counters from /proc (clock ticks of 1/100 s), as the anchor reads them.</summary>
internal readonly record struct ProcStats(double OwnCpuS, double BusyS, double StealS, long MinFlt)
{
    public static ProcStats operator -(ProcStats a, ProcStats b) => new(a.OwnCpuS - b.OwnCpuS, a.BusyS - b.BusyS, a.StealS - b.StealS, a.MinFlt - b.MinFlt);

    public static ProcStats Read()
    {
        try
        {
            const double tick = 0.01;
            string s = File.ReadAllText("/proc/self/stat");
            var f = s[(s.LastIndexOf(')') + 2)..].Split(' ');
            long minflt = long.Parse(f[10 - 3], CultureInfo.InvariantCulture);
            double own = (long.Parse(f[14 - 3], CultureInfo.InvariantCulture) + long.Parse(f[15 - 3], CultureInfo.InvariantCulture)) * tick;
            var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long Get(int k) => cpu.Length > k ? long.Parse(cpu[k], CultureInfo.InvariantCulture) : 0;
            return new ProcStats(own, (Get(1) + Get(2) + Get(3) + Get(6) + Get(7)) * tick, Get(8) * tick, minflt);
        }
        catch (IOException) { return default; }
    }
}
