// Benchmark protocol runner (../shared/bench/FORMAT.md, version 1) for the Recurrent library.
//
//   dotnet run -c Release --project bench/Recurrent.Bench -- --grid ../shared/bench/grid.json \
//       --threads N [--only NAME[,NAME...]] [--out FILE] [--impl ID] [--isa avx512|avx2|portable] [--verify]
//       [--quantize int8]     (int8 dynamic quantization: the inference phase of the cases, "impl": "recurrent-int8")
//
// The end-to-end char-LM recipe of ../shared/bench/charlm-anchor (the anchor's JSON lines):
//
//   dotnet run -c Release --project bench/Recurrent.Bench -- --charlm --corpus FILE --threads N \
//       [--max-steps N] [--seconds S] [--run NAME] [--profile] --out FILE
//
// ONNX Runtime as the inference anchor (inference phases only; the same modules, exported with Recurrent.Onnx):
//
//   dotnet run -c Release --project bench/Recurrent.Bench -- --grid ../shared/bench/grid.json --threads N --onnxruntime [--out FILE]
//
// and, with --quantize int8, ONNX Runtime's int8 LSTM (DynamicQuantizeLSTM, per-row int8 weights) on the LSTM cases,
// as "impl": "onnxruntime-int8" lines.
//
// Eval-mode inference with and without NoGrad and from two callers (InferenceModes.cs):
//
//   dotnet run -c Release --project bench/Recurrent.Bench -- --inference-modes [--calls N]
//
// One process per thread count. Order: cases in grid order (phases in listed order), then the
// gemm entries in grid order. One JSON line per measurement on stdout, appended to --out.
// Recurrent cases not yet wired into CaseFactory are skipped with a line on stderr.
using System.Globalization;
using System.Text;
using System.Text.Json;
using Recurrent.Bench;
using Recurrent.Bench.CharLm;
using Recurrent.Kernels;

if (args.Contains("--charlm")) return CharLmMain(args);
if (args.Contains("--inference-modes")) return InferenceModes.Run(args);

string? gridPath = null, outPath = null, impl = null;
int threads = 0;
HashSet<string>? only = null;
GemmIsa isa = GemmIsa.Auto;
bool verify = false, int8 = false, onnxRuntime = false;
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--grid": gridPath = Next(); break;
        case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--only": only = new HashSet<string>(Next().Split(',', StringSplitOptions.RemoveEmptyEntries)); break;
        case "--out": outPath = Next(); break;
        case "--impl": impl = Next(); break;
        case "--isa": isa = Enum.Parse<GemmIsa>(Next(), ignoreCase: true); break;
        case "--verify": verify = true; break;
        case "--quantize":
            string q = Next();
            if (q != "int8") { Console.Error.WriteLine($"--quantize: expected int8, got {q}"); return 2; }
            int8 = true;
            break;
        case "--onnxruntime": onnxRuntime = true; break;
        case "-h" or "--help":
            Console.WriteLine("usage: Recurrent.Bench --grid grid.json --threads N [--only NAME,...] [--out FILE] [--impl ID] [--isa avx512|avx2|portable] [--onnxruntime]");
            return 0;
        default:
            Console.Error.WriteLine($"unknown argument: {args[i]}");
            return 2;
    }
}
if (gridPath is null || threads < 1)
{
    Console.Error.WriteLine("usage: Recurrent.Bench --grid grid.json --threads N [--only NAME,...] [--out FILE] [--impl ID] [--isa avx512|avx2|portable]");
    return 2;
}
if (!Gemm.IsSupported(isa))
{
    Console.Error.WriteLine($"--isa {isa}: not supported on this machine.");
    return 2;
}

// Set the thread count before any work is done (FORMAT.md section 2).
Parallelism.MaxThreads = threads;
impl ??= onnxRuntime ? (int8 ? "onnxruntime-int8" : "onnxruntime") : int8 ? "recurrent-int8" : isa == GemmIsa.Auto ? "recurrent" : "recurrent-" + isa.ToString().ToLowerInvariant();

using var grid = JsonDocument.Parse(File.ReadAllText(gridPath));
var root = grid.RootElement;
bool Selected(string name) => only is null || only.Contains(name);

if (root.TryGetProperty("cases", out var cases))
{
    foreach (var c in cases.EnumerateArray())
    {
        var spec = RecurrentCaseSpec.Parse(c);
        if (!Selected(spec.Name)) continue;
        foreach (string phase in spec.Phases)
        {
            if (onnxRuntime)
            {
                if (phase != "inference") continue;           // ONNX Runtime is the inference anchor only
                if (int8 && spec.Mode != "LSTM") continue;   // its int8 recurrent operator is DynamicQuantizeLSTM
                using IBenchCase ort = int8 ? new OnnxRuntimeInt8LstmCase(spec, threads) : new OnnxRuntimeCase(spec, threads);
                Report(ort, Measurement.Run(ort));
                continue;
            }
            using var bench = CaseFactory.CreateRecurrent(spec, phase, int8);
            if (bench is null) continue;   // int8: inference only
            Report(bench, Measurement.Run(bench));
        }
    }
}

if (!int8 && !onnxRuntime && root.TryGetProperty("gemm", out var gemms))
{
    foreach (var g in gemms.EnumerateArray())
    {
        string name = g.GetProperty("name").GetString()!;
        if (!Selected(name)) continue;
        using var bench = new GemmCase(name, g.GetProperty("m").GetInt32(), g.GetProperty("k").GetInt32(),
            g.GetProperty("n").GetInt32(), g.GetProperty("layout").GetString()!, isa);
        Report(bench, Measurement.Run(bench));
        if (verify) Console.Error.WriteLine($"{name}: max sampled error / sum|a*b| = {bench.Verify():E2}");
    }
}
return 0;

void Report(IBenchCase bench, Measurement r)
{
    var sb = new StringBuilder();
    sb.Append("{\"impl\":").Append(JsonSerializer.Serialize(impl));
    sb.Append(",\"name\":").Append(JsonSerializer.Serialize(bench.Name));
    if (bench.Phase is not null) sb.Append(",\"phase\":").Append(JsonSerializer.Serialize(bench.Phase));
    sb.Append(",\"threads\":").Append(threads);
    sb.Append(",\"median_ms\":").Append(Num(r.MedianMs));
    sb.Append(",\"min_ms\":").Append(Num(r.MinMs));
    sb.Append(",\"iters\":").Append(r.Iters);
    sb.Append(",\"gflops\":").Append(Num(bench.Flops / (r.MedianMs * 1e6)));
    sb.Append(",\"alloc_bytes_per_iter\":").Append(Num(r.AllocBytesPerIter));
    sb.Append(",\"gen2_collections\":").Append(r.Gen2Collections);
    sb.Append(",\"minflt_per_iter\":").Append(Num(r.MinFltPerIter));
    sb.Append('}');
    string line = sb.ToString();
    Console.WriteLine(line);
    if (outPath is not null) File.AppendAllText(outPath, line + "\n");
}

static string Num(double x) => x.ToString("G6", CultureInfo.InvariantCulture);

static int CharLmMain(string[] args)
{
    string? corpus = null, output = null, run = "main";
    int threads = 2;
    double seconds = 600;
    long maxSteps = long.MaxValue;
    bool profile = false;
    for (int i = 0; i < args.Length; i++)
    {
        string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
        switch (args[i])
        {
            case "--charlm": break;
            case "--corpus": corpus = Next(); break;
            case "--out": output = Next(); break;
            case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--max-steps": maxSteps = long.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--run": run = Next(); break;
            case "--profile": profile = true; break;
            default:
                Console.Error.WriteLine($"unknown argument: {args[i]}");
                return 2;
        }
    }
    if (corpus is null || output is null || threads < 1)
    {
        Console.Error.WriteLine("usage: Recurrent.Bench --charlm --corpus FILE --threads N [--max-steps N] [--seconds S] [--run NAME] [--profile] --out FILE");
        return 2;
    }
    return new CharLmRun(corpus, output, threads, seconds, maxSteps, run, profile).Run();
}
