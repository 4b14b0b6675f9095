// Weight quantization and packing: the round-trip error bound per element, the scale and the
// extreme values, half-to-even rounding, zero and tiny rows, non-finite weights rejected, row sums,
// the documented packed layout (and its zero padding), and the int8 + scales round trip used by files.
using Recurrent.Kernels;
using static Recurrent.Tests.Kernels.Int8Reference;

namespace Recurrent.Tests.Kernels;

public unsafe class QuantizedMatrixTests
{
    [Fact]
    public void RoundTripError_AtMostHalfAScale()
    {
        // |w - s q| <= s (1/2 + 2^-17), derived in QuantizedMatrix.cs; rows of very different magnitudes.
        var rng = new Random(71);
        int n = 40, k = 37;
        var wf = RandomFloats(rng, n * k);
        for (int i = 0; i < n; i++)
        {
            double mag = Math.Pow(10, i % 8 * 5 - 20); // 1e-20 .. 1e15
            for (int p = 0; p < k; p++) wf[i * k + p] = (float)(wf[i * k + p] * mag);
        }
        var w = QuantizedMatrix.Quantize(wf, n, k, k);
        var q = Int8(w);
        for (int i = 0; i < n; i++)
        {
            double s = w.Scales[i];
            float maxAbs = 0;
            for (int p = 0; p < k; p++) maxAbs = Math.Max(maxAbs, Math.Abs(wf[i * k + p]));
            Assert.Equal(maxAbs / 127f, w.Scales[i]);
            int maxQ = 0;
            for (int p = 0; p < k; p++)
            {
                double err = Math.Abs(wf[i * k + p] - s * q[i * k + p]);
                Assert.True(err <= s * (0.5 + Math.Pow(2, -17)), $"w[{i}, {p}] = {wf[i * k + p]}, s q = {s * q[i * k + p]}, error {err}");
                Assert.InRange(q[i * k + p], -127, 127);
                maxQ = Math.Max(maxQ, Math.Abs((int)q[i * k + p]));
            }
            Assert.Equal(127, maxQ); // the largest weight maps to +-127
        }
    }

    [Fact]
    public void Rounding_IsHalfToEven()
    {
        // max |w| = 127 makes the scale exactly 1, so w / scale is w itself.
        float[] w = [127f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.49f, -126.5f];
        var m = QuantizedMatrix.Quantize(w, 1, w.Length, w.Length);
        Assert.Equal(1f, m.Scales[0]);
        Assert.Equal(new sbyte[] { 127, 0, 2, 2, 0, -2, -2, 3, -126 }, Int8(m));
        Assert.Equal(127 + 0 + 2 + 2 + 0 - 2 - 2 + 3 - 126, m.RowSums[0]);
    }

    [Fact]
    public void ZeroAndTinyRows_QuantizeToZeroWithScaleOne()
    {
        int k = 6;
        float[] w =
        [
            0, 0, 0, 0, 0, 0,                                 // zero
            1e-38f, -1e-37f, 0, 1e-45f, 0, 0,                 // below 127 * 2^-126: zero
            0, 0, -3, 0, 0, 0,
        ];
        var m = QuantizedMatrix.Quantize(w, 3, k, k);
        Assert.Equal(new float[] { 1f, 1f, 3f / 127f }, m.Scales.ToArray());
        Assert.Equal(new[] { 0, 0, -127 }, m.RowSums.ToArray());
        Assert.Equal(new sbyte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -127, 0, 0, 0 }, Int8(m));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void NonFiniteWeight_IsRejected(float bad)
    {
        var w = new float[] { 1, 2, 3, 4, 5, bad };
        var ex = Assert.Throws<ArgumentException>(() => QuantizedMatrix.Quantize(w, 2, 3, 3));
        Assert.Equal("weight", ex.ParamName);
        Assert.Contains("weight[1, 2]", ex.Message);
    }

    [Fact]
    public void PackedLayout_IsTheDocumentedOne_WithZeroPadding()
    {
        var rng = new Random(73);
        int n = 21, k = 10; // 2 panels (11 padding rows), 3 k-groups (2 padding columns)
        var w = RandomMatrix(rng, n, k);
        var q = Int8(w);
        Assert.Equal(2, w.Panels);
        Assert.Equal(3, w.KGroups);
        Assert.Equal(12, w.PaddedK);
        sbyte* packed = w.Packed;
        Assert.Equal(0, (nint)packed % 64);
        for (int p = 0; p < w.Panels; p++)
            for (int g = 0; g < w.KGroups; g++)
                for (int c = 0; c < 16; c++)
                    for (int j = 0; j < 4; j++)
                    {
                        int row = 16 * p + c, col = 4 * g + j;
                        sbyte expected = row < n && col < k ? q[row * k + col] : (sbyte)0;
                        Assert.Equal(expected, packed[(p * w.KGroups + g) * 64 + c * 4 + j]);
                    }
        for (int i = 0; i < n; i++)
        {
            int sum = 0;
            for (int p = 0; p < k; p++) sum += q[i * k + p];
            Assert.Equal(sum, w.RowSums[i]);
        }
    }

    [Fact]
    public void FromInt8_RoundTripsTheFileForm()
    {
        var rng = new Random(79);
        int n = 19, k = 23;
        var q = new sbyte[n * k];
        for (int i = 0; i < q.Length; i++) q[i] = (sbyte)rng.Next(-128, 128);
        var s = Enumerable.Range(0, n).Select(i => 0.01f * (i + 1)).ToArray();
        var w = QuantizedMatrix.FromInt8(q, s, n, k);
        Assert.Equal(q, Int8(w));
        Assert.Equal(s, w.Scales.ToArray());
        var deq = new float[n * k];
        w.DequantizeTo(deq);
        for (int i = 0; i < n; i++)
            for (int p = 0; p < k; p++) Assert.Equal(s[i] * q[i * k + p], deq[i * k + p]);

        // Quantize -> CopyInt8To / Scales -> FromInt8 gives the same matrix.
        var wf = RandomFloats(rng, n * k);
        var a = QuantizedMatrix.Quantize(wf, n, k, k);
        var b = QuantizedMatrix.FromInt8(Int8(a), a.Scales, n, k);
        Assert.Equal(Int8(a), Int8(b));
        Assert.Equal(a.RowSums.ToArray(), b.RowSums.ToArray());
        Assert.True(a.Bytes < 4L * n * k, $"{a.Bytes} bytes for {n * k} weights");
    }

    [Fact]
    public void Quantize_WithRowStride_ReadsOnlyKColumns()
    {
        var rng = new Random(83);
        int n = 5, k = 7, ldw = 11;
        var wide = RandomFloats(rng, n * ldw);
        var tight = new float[n * k];
        for (int i = 0; i < n; i++) Array.Copy(wide, i * ldw, tight, i * k, k);
        for (int i = 0; i < n; i++)
            for (int p = k; p < ldw; p++) wide[i * ldw + p] = float.NaN; // never read
        Assert.Equal(Int8(QuantizedMatrix.Quantize(tight, n, k, k)), Int8(QuantizedMatrix.Quantize(wide.AsSpan(0, (n - 1) * ldw + k), n, k, ldw)));
    }

    [Fact]
    public void ArgumentChecks_NameTheArgument()
    {
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedMatrix.Quantize(new float[4], 1, QuantizedMatrix.MaxK + 1, QuantizedMatrix.MaxK + 1)).ParamName);
        Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedMatrix.Quantize(new float[4], -1, 4, 4)).ParamName);
        Assert.Equal("ldw", Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedMatrix.Quantize(new float[8], 2, 4, 3)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => QuantizedMatrix.Quantize(new float[7], 2, 4, 4));
        Assert.Equal("weight", e.ParamName);
        Assert.Contains("Expected at least 8 elements, got 7", e.Message);
        Assert.Equal("q", Assert.Throws<ArgumentException>(() => QuantizedMatrix.FromInt8(new sbyte[5], new float[2], 2, 3)).ParamName);
        Assert.Equal("scales", Assert.Throws<ArgumentException>(() => QuantizedMatrix.FromInt8(new sbyte[6], new float[3], 2, 3)).ParamName);
        var s = Assert.Throws<ArgumentException>(() => QuantizedMatrix.FromInt8(new sbyte[6], new float[] { 1, 0 }, 2, 3));
        Assert.Contains("scales[1]", s.Message);
        Assert.Throws<ArgumentException>(() => QuantizedMatrix.FromInt8(new sbyte[6], new float[] { float.NaN, 1 }, 2, 3));
    }
}
