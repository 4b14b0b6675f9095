// SGEMM against the naive triple loop (GemmReference) on a square and on the charlm recurrent-step
// shape, and the per-step product against a W_hh packed once (what the recurrent layers do).
using BenchmarkDotNet.Attributes;
using Recurrent.Kernels;

namespace Recurrent.Micro;

[MemoryDiagnoser]
public unsafe class GemmBenchmarks
{
    private float[] _a = [], _b = [], _c = [], _packed = [];

    /// <summary>m x n x k: a square, and h[B, H] W_hh^T of charlm_lstm (32 x 2048 x 512).</summary>
    [Params("256x256x256", "32x2048x512")]
    public string Shape { get; set; } = "";

    private int M => int.Parse(Shape.Split('x')[0]);
    private int N => int.Parse(Shape.Split('x')[1]);
    private int K => int.Parse(Shape.Split('x')[2]);

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _a = Enumerable.Range(0, M * K).Select(_ => (float)rng.NextDouble()).ToArray();
        _b = Enumerable.Range(0, N * K).Select(_ => (float)rng.NextDouble()).ToArray(); // stored [n, k]: op(B) = B^T
        _c = new float[M * N];
        _packed = new float[Gemm.PackedBElements<float>(K, N)];
        fixed (float* pb = _b, pp = _packed) Gemm.PackB(transB: true, K, N, pb, K, pp);
    }

    [Benchmark(Baseline = true)]
    public void Naive() => GemmReference.Sgemm(false, true, M, N, K, 1f, _a, K, _b, K, 0f, _c, N);

    [Benchmark]
    public void Sgemm() => Gemm.Sgemm(false, true, M, N, K, 1f, _a, K, _b, K, 0f, _c, N);

    [Benchmark]
    public void SgemmPackedB()
    {
        fixed (float* pa = _a, pp = _packed, pc = _c) Gemm.GemmPackedB(M, N, K, 1f, pa, K, pp, 0f, pc, N);
    }
}
