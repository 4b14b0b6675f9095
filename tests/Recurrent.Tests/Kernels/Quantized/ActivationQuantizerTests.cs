// Dynamic activation quantization: the error bound per element (derived in ActivationQuantizer.cs),
// the same bytes on every vector width and every length (vector bodies and scalar tails), the
// documented parameters (range holding 0, zero points of one-signed rows, the minimum mapping to 0),
// half-to-even rounding, zero, tiny, huge and non-finite rows, and the zero padding to PaddedK.
using Recurrent.Kernels;
using static Recurrent.Tests.Kernels.Int8Reference;

namespace Recurrent.Tests.Kernels;

public unsafe class ActivationQuantizerTests
{
    private static (byte[] Q, float[] Scale, int[] Zero) Quantize(float[] a, int m, int k, int lda, int ldq, Int8Isa isa = Int8Isa.Auto)
    {
        var q = new byte[m * ldq];
        Array.Fill(q, (byte)0xAB);
        var s = new float[m];
        var z = new int[m];
        fixed (float* pa = a, ps = s)
        fixed (byte* pq = q)
        fixed (int* pz = z)
            Int8Gemm.QuantizeRows(m, k, pa, lda, pq, ldq, ps, pz, isa);
        return (q, s, z);
    }

    [Fact]
    public void Error_AtMostHalfAScale_EveryLength()
    {
        var rng = new Random(91);
        for (int k = 1; k <= 70; k++)
        {
            int m = 3, ldq = Int8Gemm.PaddedK(k) + 1;
            var a = RandomFloats(rng, m * k, Math.Pow(10, k % 9 - 4));
            var (q, s, z) = Quantize(a, m, k, k, ldq);
            for (int i = 0; i < m; i++)
            {
                float mn = 0, mx = 0;
                for (int p = 0; p < k; p++) { mn = Math.Min(mn, a[i * k + p]); mx = Math.Max(mx, a[i * k + p]); }
                Assert.Equal((mx - mn) / 255f, s[i]);
                for (int p = 0; p < k; p++)
                {
                    double deq = (double)s[i] * (q[i * ldq + p] - z[i]);
                    double err = Math.Abs(a[i * k + p] - deq);
                    Assert.True(err <= s[i] * (0.5 + Math.Pow(2, -14)), $"k={k} a[{i}, {p}] = {a[i * k + p]}, dequantized {deq}, error {err}, scale {s[i]}");
                }
                for (int p = k; p < Int8Gemm.PaddedK(k); p++) Assert.Equal(0, q[i * ldq + p]);   // padding written as 0
                Assert.Equal(0xAB, q[i * ldq + ldq - 1]);                                          // past PaddedK untouched
            }
        }
    }

    [Fact]
    public void EveryVectorWidth_GivesTheSameBytes()
    {
        var rng = new Random(97);
        var isas = new[] { Int8Isa.AvxVnni, Int8Isa.Avx512, Int8Isa.Avx2, Int8Isa.Portable }.Where(Int8Gemm.IsSupported).ToArray();
        for (int k = 0; k <= 100; k += k < 40 ? 1 : 7)
        {
            int m = 4, lda = k + 2, ldq = Math.Max(4, Int8Gemm.PaddedK(k));
            var a = RandomFloats(rng, m * lda, 3);
            if (k > 3) a[2 * lda + 3] = float.NaN;
            var reference = Quantize(a, m, k, lda, ldq, Int8Isa.Portable);
            foreach (var isa in isas)
            {
                var r = Quantize(a, m, k, lda, ldq, isa);
                Assert.Equal(reference.Q, r.Q);
                Assert.Equal(reference.Scale.Select(BitConverter.SingleToInt32Bits), r.Scale.Select(BitConverter.SingleToInt32Bits));
                Assert.Equal(reference.Zero, r.Zero);
            }
        }
    }

    [Fact]
    public void Parameters_OneSignedRows_MinAndMaxHitTheEnds()
    {
        var rng = new Random(101);
        int k = 45;
        var a = new float[3 * k];
        for (int p = 0; p < k; p++)
        {
            a[p] = (float)rng.NextDouble() * 4 + 0.5f;          // all positive: range [0, max]
            a[k + p] = -(float)rng.NextDouble() * 4 - 0.5f;     // all negative: range [min, 0]
            a[2 * k + p] = (float)(rng.NextDouble() * 6 - 2);   // mixed
        }
        var (q, s, z) = Quantize(a, 3, k, k, 48);
        Assert.Equal(0, z[0]);
        Assert.Equal(255, z[1]);
        Assert.InRange(z[2], 1, 254);
        Assert.Equal(255, q[Array.IndexOf(a, a.AsSpan(0, k).ToArray().Max())]);         // max of a positive row -> 255
        Assert.Equal(0, q[48 + Array.IndexOf(a.AsSpan(k, k).ToArray(), a.AsSpan(k, k).ToArray().Min())]); // min -> 0
        int iMin = Array.IndexOf(a.AsSpan(2 * k, k).ToArray(), a.AsSpan(2 * k, k).ToArray().Min());
        Assert.Equal(0, q[96 + iMin]);                                                  // min of a mixed row -> 0 exactly
        // 0 is exactly representable: a zero entry quantizes to the zero point.
        var withZero = (float[])a.Clone();
        withZero[2 * k + 7] = 0;
        var r = Quantize(withZero, 3, k, k, 48);
        Assert.Equal(r.Zero[2], r.Q[96 + 7]);
    }

    [Fact]
    public void Rounding_IsHalfToEven()
    {
        // min 0, max 255: scale exactly 1, zero point 0, so q = round(a).
        float[] a = [0f, 255f, 0.5f, 1.5f, 2.5f, 3.5f, 254.5f, 100.49f, 100.51f];
        foreach (var isa in new[] { Int8Isa.Auto, Int8Isa.Portable })
        {
            var (q, s, z) = Quantize(a, 1, a.Length, a.Length, 12, isa);
            Assert.Equal(1f, s[0]);
            Assert.Equal(0, z[0]);
            Assert.Equal(new byte[] { 0, 255, 0, 2, 2, 4, 254, 100, 101 }, q.Take(a.Length).ToArray());
        }
    }

    [Fact]
    public void ZeroTinyHugeAndNonFiniteRows()
    {
        int k = 20;
        var a = new float[6 * k];
        for (int p = 0; p < k; p++)
        {
            a[1 * k + p] = p % 2 == 0 ? 1e-37f : -2e-37f;                  // range below 255 * 2^-126: scale 1, all 0
            a[2 * k + p] = p % 2 == 0 ? 3e38f : -3e38f;                    // mx - mn overflows: mx/255 - mn/255
            a[3 * k + p] = p;
            a[4 * k + p] = p;
            a[5 * k + p] = -p;
        }
        a[3 * k + 11] = float.NaN;
        a[4 * k + 19] = float.PositiveInfinity; // in the scalar tail of every vector width
        a[5 * k + 0] = float.NegativeInfinity;
        foreach (var isa in new[] { Int8Isa.Auto, Int8Isa.Avx2, Int8Isa.Portable }.Where(Int8Gemm.IsSupported))
        {
            var (q, s, z) = Quantize(a, 6, k, k, 20, isa);
            Assert.Equal((1f, 0), (s[0], z[0]));
            Assert.All(q.AsSpan(0, 2 * k).ToArray(), b => Assert.Equal(0, b));
            Assert.Equal((1f, 0), (s[1], z[1]));
            Assert.Equal(a[2 * k] / 255f - a[2 * k + 1] / 255f, s[2]);
            Assert.True(float.IsFinite(s[2]));
            for (int p = 0; p < k; p++)
                Assert.True(Math.Abs(a[2 * k + p] - (double)s[2] * (q[2 * k + p] - z[2])) <= s[2] * (0.5 + Math.Pow(2, -14)));
            for (int i = 3; i < 6; i++)
            {
                Assert.True(float.IsNaN(s[i]), $"row {i}");
                Assert.Equal(0, z[i]);
                Assert.All(q.AsSpan(i * k, k).ToArray(), b => Assert.Equal(0, b));
            }
        }
    }

    [Fact]
    public void ArgumentChecks_NameTheArgument()
    {
        var a = new float[8];
        var q = new byte[8];
        var s = new float[2];
        var z = new int[2];
        fixed (float* pa = a, ps = s)
        fixed (byte* pq = q)
        fixed (int* pz = z)
        {
            float* pa2 = pa, ps2 = ps;
            byte* pq2 = pq;
            int* pz2 = pz;
            Assert.Equal("ldq", Assert.Throws<ArgumentOutOfRangeException>(() => Int8Gemm.QuantizeRows(2, 3, pa2, 4, pq2, 3, ps2, pz2)).ParamName);
            Assert.Equal("lda", Assert.Throws<ArgumentOutOfRangeException>(() => Int8Gemm.QuantizeRows(2, 3, pa2, 2, pq2, 4, ps2, pz2)).ParamName);
            Assert.Equal("m", Assert.Throws<ArgumentOutOfRangeException>(() => Int8Gemm.QuantizeRows(-2, 3, pa2, 4, pq2, 4, ps2, pz2)).ParamName);
        }
    }
}
