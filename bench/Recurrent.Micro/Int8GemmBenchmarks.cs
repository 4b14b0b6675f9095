// The int8 GEMM of dynamic quantization against our fp32 SGEMM (the baseline) at the LSTM grid's
// product shapes, with a GOPS column (2 m n k operations per product, for both). Shapes are m x n x k
// with n the output features (x W^T, W stored (n, k)):
//   32x2048x512    charlm_lstm's per-step product h W_hh^T (batch 32, 4H = 2048, H = 512)
//   1x512x128      stream_lstm_b1's per-step product (batch 1: the matrix-vector case, bound by weights)
//   2048x2048x128  charlm_lstm's layer-0 input projection (T * B = 2048 rows, input 128)
// Int8Linear quantizes the activations on the fly (what a quantized layer calls); Int8Multiply takes
// them already quantized (the GEMM alone). SgemmPackedB is the fp32 per-step path of the recurrent
// layers (W_hh^T packed once). Run: dotnet run -c Release --project bench/Recurrent.Micro -- --filter '*Int8*'
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Recurrent.Kernels;

namespace Recurrent.Micro;

[MemoryDiagnoser]
[Config(typeof(GopsConfig))]
public unsafe class Int8GemmBenchmarks
{
    private float[] _a = [], _w = [], _c = [], _packed = [], _scaleA = [];
    private byte[] _q = [];
    private int[] _zeroA = [];
    private QuantizedMatrix? _wq;
    private int _threadsBefore;

    /// <summary>m x n x k (see the file header).</summary>
    [Params("32x2048x512", "1x512x128", "2048x2048x128")]
    public string Shape { get; set; } = "";

    /// <summary>Kernel threads (Parallelism.MaxThreads) for every method.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    private int M => int.Parse(Shape.Split('x')[0]);
    private int N => int.Parse(Shape.Split('x')[1]);
    private int K => int.Parse(Shape.Split('x')[2]);

    [GlobalSetup]
    public void Setup()
    {
        _threadsBefore = Parallelism.MaxThreads;
        Parallelism.MaxThreads = Threads;
        var rng = new Random(1);
        _a = Enumerable.Range(0, M * K).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray();
        _w = Enumerable.Range(0, N * K).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 0.1f).ToArray();
        _c = new float[M * N];
        _packed = new float[Gemm.PackedBElements<float>(K, N)];
        fixed (float* pw = _w, pp = _packed) Gemm.PackB(transB: true, K, N, pw, K, pp);
        _wq = QuantizedMatrix.Quantize(_w, N, K, K);
        _q = new byte[M * _wq.PaddedK];
        _scaleA = new float[M];
        _zeroA = new int[M];
        fixed (float* pa = _a, ps = _scaleA)
        fixed (byte* pq = _q)
        fixed (int* pz = _zeroA)
            Int8Gemm.QuantizeRows(M, K, pa, K, pq, _wq.PaddedK, ps, pz);
    }

    [GlobalCleanup]
    public void Cleanup() => Parallelism.MaxThreads = _threadsBefore;

    [Benchmark(Baseline = true)]
    public void Sgemm() => Gemm.Sgemm(false, true, M, N, K, 1f, _a, K, _w, K, 0f, _c, N);

    [Benchmark]
    public void SgemmPackedB()
    {
        fixed (float* pa = _a, pp = _packed, pc = _c) Gemm.GemmPackedB(M, N, K, 1f, pa, K, pp, 0f, pc, N);
    }

    [Benchmark]
    public void Int8Linear()
    {
        fixed (float* pa = _a, pc = _c) Int8Gemm.Linear(M, pa, K, _wq!, null, false, pc, N);
    }

    [Benchmark]
    public void Int8Multiply()
    {
        fixed (byte* pq = _q)
        fixed (float* ps = _scaleA, pc = _c)
        fixed (int* pz = _zeroA)
            Int8Gemm.Multiply(M, _wq!, pq, _wq!.PaddedK, ps, pz, null, false, pc, N, Int8Isa.Auto, Threads);
    }

    private sealed class GopsConfig : ManualConfig
    {
        public GopsConfig() => AddColumn(new GopsColumn());
    }

    /// <summary>2 m n k / mean time, in 10^9 operations per second (multiply-adds count as two).</summary>
    private sealed class GopsColumn : IColumn
    {
        public string Id => nameof(GopsColumn);
        public string ColumnName => "GOPS";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "2 m n k operations per second, 10^9";
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var stats = summary[benchmarkCase]?.ResultStatistics;
            if (stats is null || benchmarkCase.Parameters["Shape"] is not string shape) return "-";
            var d = shape.Split('x').Select(double.Parse).ToArray();
            return (2 * d[0] * d[1] * d[2] / stats.Mean).ToString("F1"); // ops per ns = 10^9 per s
        }
    }
}
