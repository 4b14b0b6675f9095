// A gemm entry of the grid (FORMAT.md 1.2): C[m, n] = A[m, k] * op(B), fp32, row-major,
// "nn": B stored [k, n]; "nt": B stored [n, k] (PyTorch weight layout). Operands N(0,1),
// allocated once; every call is the full product with beta = 0 (packing inside the call).
using Recurrent.Kernels;

namespace Recurrent.Bench;

internal sealed class GemmCase : IBenchCase
{
    private readonly int _m, _n, _k;
    private readonly bool _transB;
    private readonly float[] _a, _b, _c;
    private readonly GemmIsa _isa;

    public GemmCase(string name, int m, int k, int n, string layout, GemmIsa isa, int seed = 1)
    {
        if (layout is not ("nn" or "nt"))
            throw new ArgumentException($"gemm entry {name}: layout must be \"nn\" or \"nt\". Expected nn|nt, got \"{layout}\".", nameof(layout));
        Name = name;
        (_m, _n, _k, _transB, _isa) = (m, n, k, layout == "nt", isa);
        var rng = new Random(seed);
        _a = Normal.Array(rng, m * k);
        _b = Normal.Array(rng, k * n);
        _c = new float[m * n];
        Array.Fill(_c, float.NaN); // beta = 0 must never read C
    }

    public string Name { get; }
    public string? Phase => null;
    public double Flops => 2.0 * _m * _n * _k;
    public int MinIters => 5;

    public void Iterate() =>
        Gemm.Sgemm(false, _transB, _m, _n, _k, 1f, _a, _k, _b, _transB ? _k : _n, 0f, _c, _n, _isa, Parallelism.MaxThreads);

    /// <summary>
    /// Checks 2000 sampled entries of C (after at least one Iterate) against a float64 dot
    /// product; returns the largest error relative to sum |a||b| (should be ~k * 6e-8 at most).
    /// </summary>
    public double Verify()
    {
        var rng = new Random(17);
        double worst = 0;
        for (int s = 0; s < 2000; s++)
        {
            int i = rng.Next(_m), j = rng.Next(_n);
            double dot = 0, mag = 0;
            for (int p = 0; p < _k; p++)
            {
                double x = _a[i * _k + p], y = _transB ? _b[j * _k + p] : _b[p * _n + j];
                dot += x * y;
                mag += Math.Abs(x * y);
            }
            worst = Math.Max(worst, Math.Abs(_c[i * _n + j] - dot) / mag);
        }
        return worst;
    }

    public void Dispose() { }
}

/// <summary>N(0,1) samples (Box-Muller), seeded.</summary>
internal static class Normal
{
    public static float[] Array(Random rng, int length)
    {
        var x = new float[length];
        for (int i = 0; i < length; i += 2)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            x[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < length) x[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
        return x;
    }
}
