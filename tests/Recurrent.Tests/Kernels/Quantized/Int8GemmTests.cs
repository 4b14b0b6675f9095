// Int8Gemm against the naive loops: the int32 accumulators exactly (every row count 1..17, odd K,
// N off the panel width, zero rows, strides with garbage in the padding, the skinny and large shapes,
// the extremes that would saturate vpmaddubsw), the float epilogue bit for bit on every instruction set,
// thread-count and caller independence, NaN rows, and the end-to-end error against the float
// product within the bound derived from the two quantization steps.
using Recurrent.Kernels;
using static Recurrent.Tests.Kernels.Int8Reference;

namespace Recurrent.Tests.Kernels;

public unsafe class Int8GemmTests
{
    public static TheoryData<string> IsaNames() => new() { "AvxVnni", "Avx512", "Avx2", "Portable" };

    private static Int8Isa Parse(string name)
    {
        var isa = Enum.Parse<Int8Isa>(name);
        Skip.IfNot(Int8Gemm.IsSupported(isa), $"the {name} int8 kernel cannot run: this CPU lacks its instructions, or a DOTNET_Enable* variable switched them off (as .ci/run does on purpose). The kernels this run can execute are checked instead, each against the same naive reference.");
        return isa;
    }

    // Runs MultiplyInt32 and checks it against the naive product; c has ldc > n with sentinels
    // that must survive, q has ldq >= PaddedK with garbage past k; with zeroRows, the middle weight
    // row and activation row are all zero.
    private static void CheckInt32(Random rng, Int8Isa isa, int threads, int m, int n, int k, int qPad, int cPad, bool zeroRows = false)
    {
        var w = RandomMatrix(rng, n, k, zeroRows ? n / 2 : -1);
        int ldq = w.PaddedK + qPad, ldc = n + cPad;
        byte[] q = RandomActivations(rng, m, Math.Max(1, ldq));
        if (zeroRows) Array.Clear(q, m / 2 * ldq, k);
        int[] expected = Int32Product(m, n, k, q, ldq, Int8(w));
        var c = new int[m * ldc];
        Array.Fill(c, int.MinValue + 7);
        fixed (byte* pq = q)
        fixed (int* pc = c)
            Int8Gemm.MultiplyInt32(m, w, pq, Math.Max(1, ldq), pc, Math.Max(1, ldc), isa, threads);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
                if (c[i * ldc + j] != expected[i * n + j])
                    Assert.Fail($"{isa} m={m} n={n} k={k}: acc[{i}, {j}] = {c[i * ldc + j]}, expected {expected[i * n + j]}");
            for (int j = n; j < ldc; j++)
                Assert.Equal(int.MinValue + 7, c[i * ldc + j]);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(IsaNames))]
    public void Int32_EqualsNaive_EveryRowCountOddKAndN(string isaName)
    {
        var isa = Parse(isaName);
        var rng = new Random(17);
        int[] ks = [1, 2, 3, 4, 5, 7, 8, 13, 31, 33, 64, 69, 70];
        int[] ns = [1, 7, 15, 16, 17, 33, 50];
        int variant = 0;
        for (int m = 1; m <= 17; m++)
            foreach (int k in ks)
                foreach (int n in ns)
                {
                    variant++;
                    CheckInt32(rng, isa, 1, m, n, k, qPad: variant % 3, cPad: variant % 2 * 3, zeroRows: variant % 4 == 0);
                }
    }

    [SkippableTheory]
    [MemberData(nameof(IsaNames))]
    public void Int32_EqualsNaive_RecurrentAndLargeShapes(string isaName)
    {
        var isa = Parse(isaName);
        var rng = new Random(23);
        // Per-step products (skinny, many panels, the M = 1 matrix-vector case), an input projection
        // (many rows, several A blocks: 256 KB / K rows each), and row tiles split over threads.
        CheckInt32(rng, isa, 1, 1, 1030, 512, 0, 0);
        CheckInt32(rng, isa, 2, 1, 4100, 128, 0, 0);
        CheckInt32(rng, isa, 2, 3, 700, 257, 4, 1);
        CheckInt32(rng, isa, 1, 32, 520, 128, 0, 0);
        CheckInt32(rng, isa, 2, 64, 260, 300, 0, 2);
        CheckInt32(rng, isa, 2, 65, 33, 128, 0, 0);
        CheckInt32(rng, isa, 2, 300, 40, 1024, 0, 0);
        CheckInt32(rng, isa, 3, 1100, 20, 70, 0, 0);
    }

    [SkippableTheory]
    [MemberData(nameof(IsaNames))]
    public void Int32_Exact_AtExtremes_NoSaturation(string isaName)
    {
        var isa = Parse(isaName);
        // All activations 255 against rows of 127, -127, -128 and alternating 127/-128, at the largest
        // K whose sums fit in int32: a pair of products reaches 2 * 255 * 127 = 64770 > 32767, so an
        // int16-saturating instruction (vpmaddubsw) anywhere would show.
        int k = QuantizedMatrix.MaxK, n = 17, m = 3;
        var wq = new sbyte[n * k];
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++)
                wq[j * k + p] = (j % 4) switch { 0 => 127, 1 => -127, 2 => -128, _ => p % 2 == 0 ? (sbyte)127 : (sbyte)-128 };
        var w = QuantizedMatrix.FromInt8(wq, Enumerable.Repeat(1f, n).ToArray(), n, k);
        int ldq = w.PaddedK;
        var q = new byte[m * ldq];
        Array.Fill(q, (byte)255);
        // Row 2: 255 and 0 alternating, to vary the pairs.
        for (int p = 0; p < k; p++) q[2 * ldq + p] = p % 2 == 0 ? (byte)255 : (byte)0;
        var c = new int[m * n];
        fixed (byte* pq = q)
        fixed (int* pc = c)
            Int8Gemm.MultiplyInt32(m, w, pq, ldq, pc, n, isa, 2);
        Assert.Equal(Int32Product(m, n, k, q, ldq, wq), c);
        Assert.Equal(-255L * 128 * k, c[2]);          // row 0 x the -128 row: -2147483520
        Assert.Equal(255L * 127 * k, c[0]);
        Assert.Equal(255L * (127 * ((k + 1) / 2) - 128 * (k / 2)), c[3]);
    }

    // The float epilogue of every path equals the documented one-element-at-a-time sequence, bit for bit.
    [SkippableTheory]
    [MemberData(nameof(IsaNames))]
    public void Float_BitIdenticalToReferenceEpilogue(string isaName)
    {
        var isa = Parse(isaName);
        var rng = new Random(31);
        int variant = 0;
        foreach (var (m, n, k) in new[] { (1, 1, 1), (1, 100, 70), (2, 33, 5), (5, 17, 64), (6, 48, 31), (7, 50, 129), (13, 16, 3), (17, 75, 40), (40, 260, 96) })
        {
            foreach (bool withBias in new[] { false, true })
                foreach (bool accumulate in new[] { false, true })
                {
                    variant++;
                    var w = RandomMatrix(rng, n, k);
                    int ldq = w.PaddedK + variant % 2, ldc = n + variant % 3;
                    byte[] q = RandomActivations(rng, m, ldq);
                    float[] sa = RandomFloats(rng, m, 0.05).Select(Math.Abs).ToArray();
                    int[] za = Enumerable.Range(0, m).Select(_ => rng.Next(0, 256)).ToArray();
                    float[]? bias = withBias ? RandomFloats(rng, n, 3) : null;
                    float[] c0 = RandomFloats(rng, m * ldc, 10);
                    if (!accumulate) Array.Fill(c0, float.NaN); // not read
                    float[] expected = (float[])c0.Clone();
                    Epilogue(m, n, Int32Product(m, n, k, q, ldq, Int8(w)), sa, za, w, bias, accumulate, expected, ldc);
                    float[] c = (float[])c0.Clone();
                    fixed (byte* pq = q)
                    fixed (float* psa = sa, pb = bias, pc = c)
                    fixed (int* pza = za)
                        Int8Gemm.Multiply(m, w, pq, ldq, psa, pza, pb, accumulate, pc, ldc, isa, 2);
                    for (int i = 0; i < m * ldc; i++)
                        if (BitConverter.SingleToInt32Bits(c[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                            Assert.Fail($"{isa} m={m} n={n} k={k} bias={withBias} acc={accumulate}: c[{i}] = {c[i]:R}, expected {expected[i]:R}");
                }
        }
    }

    // Quantizer + GEMM (Linear) on float inputs: every path gives the portable path's bits.
    [SkippableTheory]
    [MemberData(nameof(IsaNames))]
    public void Linear_BitIdenticalToPortable(string isaName)
    {
        var isa = Parse(isaName);
        var rng = new Random(37);
        foreach (var (m, n, k) in new[] { (1, 2048, 512), (3, 130, 67), (17, 64, 128), (32, 520, 96), (70, 90, 33) })
        {
            var wf = RandomFloats(rng, n * k, 0.2);
            var w = QuantizedMatrix.Quantize(wf, n, k, k);
            var a = RandomFloats(rng, m * k, 2);
            var bias = RandomFloats(rng, n, 0.5);
            var portable = new float[m * n];
            var fast = new float[m * n];
            Int8Gemm.Linear(m, a, k, w, bias, false, portable, n, Int8Isa.Portable, 1);
            Int8Gemm.Linear(m, a, k, w, bias, false, fast, n, isa, 2);
            Assert.Equal(portable.Select(BitConverter.SingleToInt32Bits), fast.Select(BitConverter.SingleToInt32Bits));
        }
    }

    [Fact]
    public void ThreadCount_DoesNotChangeBits()
    {
        // Integer accumulation is exact and the epilogue is per element, so any split gives the same
        // bits: panels split (skinny and wide) and row tiles split (tall), and across instruction sets.
        var rng = new Random(41);
        foreach (var (m, n, k) in new[] { (1, 3000, 256), (40, 1000, 128), (900, 48, 160), (300, 300, 64) })
        {
            var w = QuantizedMatrix.Quantize(RandomFloats(rng, n * k), n, k, k);
            var a = RandomFloats(rng, m * k);
            var c1 = new float[m * n];
            Int8Gemm.Linear(m, a, k, w, default, false, c1, n, Int8Isa.Auto, 1);
            foreach (int threads in new[] { 2, 3, 4 })
            {
                var ct = new float[m * n];
                Int8Gemm.Linear(m, a, k, w, default, false, ct, n, Int8Isa.Auto, threads);
                Assert.Equal(c1, ct);
            }
        }
    }

    [Fact]
    public void ConcurrentCallers_GetTheSameBitsAsOneCaller()
    {
        // Several threads in Linear at once: per-thread quantization buffers keep them apart; one gets
        // the worker team, the others run their parts inline.
        var rng = new Random(43);
        var shapes = new[] { (m: 1, n: 2048, k: 512), (m: 30, n: 500, k: 100), (m: 300, n: 64, k: 200) };
        var ws = shapes.Select(s => QuantizedMatrix.Quantize(RandomFloats(rng, s.n * s.k), s.n, s.k, s.k)).ToArray();
        var inputs = shapes.Select(s => RandomFloats(rng, s.m * s.k)).ToArray();
        var expected = new float[shapes.Length][];
        for (int s = 0; s < shapes.Length; s++)
        {
            expected[s] = new float[shapes[s].m * shapes[s].n];
            Int8Gemm.Linear(shapes[s].m, inputs[s], shapes[s].k, ws[s], default, false, expected[s], shapes[s].n, Int8Isa.Auto, 2);
        }
        Parallel.For(0, 12, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            int s = i % shapes.Length;
            var c = new float[expected[s].Length];
            for (int rep = 0; rep < 3; rep++)
            {
                Int8Gemm.Linear(shapes[s].m, inputs[s], shapes[s].k, ws[s], default, false, c, shapes[s].n, Int8Isa.Auto, 2);
                Assert.Equal(expected[s], c);
            }
        });
    }

    [Fact]
    public void Linear_AllocatesNothingOnceWarm()
    {
        // Kernels never allocate in their loops; the per-thread quantization buffer and the job
        // object are created once (DESIGN.md 6: steady-state steps must not churn the GC).
        var rng = new Random(45);
        foreach (var (m, n, k) in new[] { (1, 512, 128), (32, 600, 130), (300, 64, 40) })
        {
            var w = QuantizedMatrix.Quantize(RandomFloats(rng, n * k), n, k, k);
            var a = RandomFloats(rng, m * k);
            var c = new float[m * n];
            for (int i = 0; i < 3; i++)
            {
                Int8Gemm.Linear(m, a, k, w, default, false, c, n, Int8Isa.Auto, 2);
                Int8Gemm.Linear(m, a, k, w, default, true, c, n, Int8Isa.Auto, 2);
            }
            // Measured in up to five rounds of 20 calls, until one allocates nothing: whether a product splits depends on
            // whether the worker team is awake (other test classes run beside this one), the first split on a thread
            // creates that thread's job object once, and the runtime's own one-time work (tiering) can land in an early
            // round (CI's AVX-VNNI-off run once saw 7,624 B in the second). An allocation per call shows in every round.
            long allocated = 0;
            for (int round = 0; round < 5 && (round == 0 || allocated != 0); round++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 20; i++) Int8Gemm.Linear(m, a, k, w, default, true, c, n, Int8Isa.Auto, 2);
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            }
            Assert.Equal(0, allocated);
        }
    }

    [Fact]
    public void NonFiniteRow_GivesNaNOutputs_OtherRowsUnaffected()
    {
        var rng = new Random(47);
        int m = 4, n = 40, k = 33;
        var w = QuantizedMatrix.Quantize(RandomFloats(rng, n * k), n, k, k);
        var a = RandomFloats(rng, m * k);
        var clean = new float[m * n];
        Int8Gemm.Linear(m, a, k, w, default, false, clean, n);
        a[1 * k + 5] = float.NaN;
        a[3 * k + 32] = float.NegativeInfinity;
        var c = new float[m * n];
        Int8Gemm.Linear(m, a, k, w, default, false, c, n);
        for (int j = 0; j < n; j++)
        {
            Assert.True(float.IsNaN(c[1 * n + j]));
            Assert.True(float.IsNaN(c[3 * n + j]));
            Assert.Equal(clean[j], c[j]);
            Assert.Equal(clean[2 * n + j], c[2 * n + j]);
        }
    }

    /// <summary>
    /// End-to-end error against the float product, within a bound derived from the two quantization
    /// steps (not tuned). For one output, with â_k = sa (qa_k - za) and ŵ_k = sw qw_k the dequantized
    /// values and ea_k = a_k - â_k, ew_k = w_k - ŵ_k their errors:
    ///   a_k w_k - â_k ŵ_k = a_k w_k - (a_k - ea_k)(w_k - ew_k) = a_k ew_k + w_k ea_k - ea_k ew_k,
    /// so |sum_k a_k w_k - sum_k â_k ŵ_k| &lt;= sum_k (|a_k| Ew + |w_k| Ea + Ea Ew) =: E1, with the
    /// per-element bounds Ea = sa (1/2 + 2^-14) (ActivationQuantizer.cs) and Ew = sw (1/2 + 2^-17)
    /// (QuantizedMatrix.cs). The kernel computes Y = sum_k â_k ŵ_k = sa sw v exactly in integers
    /// (v = acc - za rowSum) and then rounds three times, float(v), sw * sa and their product, each
    /// with relative error at most u = 2^-24, and once more adding the bias:
    ///   |out - (Y + b)| &lt;= ((1 + u)^3 - 1) |Y| + u (|Y| (1 + u)^3 + |b|) &lt;= 4.0001 u |Y| + u |b| =: E2.
    /// The reference sum_k a_k w_k + b is taken in double (products of floats are exact there; the
    /// sum's own rounding is below 2^-50 of sum |a_k w_k|, added as E3).
    /// </summary>
    [Fact]
    public void EndToEnd_ErrorWithinDerivedBound()
    {
        var rng = new Random(53);
        const double u = 1.0 / (1 << 24);
        foreach (var (m, n, k, aScale, wScale) in new[] { (5, 70, 300, 1.0, 0.1), (17, 33, 1024, 5.0, 0.02), (1, 200, 64, 1e-3, 3.0), (9, 20, 7, 100.0, 1.0) })
        {
            var wf = RandomFloats(rng, n * k, wScale);
            for (int p = 0; p < k; p++) wf[3 * k + p] = 0; // a zero weight row
            var a = RandomFloats(rng, m * k, aScale);
            if (m > 2)
            {
                for (int p = 0; p < k; p++) a[1 * k + p] = Math.Abs(a[1 * k + p]);    // all positive: zero point 0
                for (int p = 0; p < k; p++) a[2 * k + p] = -Math.Abs(a[2 * k + p]);   // all negative: zero point 255
            }
            if (m > 3) Array.Clear(a, 3 * k, k);                                          // a zero row
            var bias = RandomFloats(rng, n, 1);
            var w = QuantizedMatrix.Quantize(wf, n, k, k);
            var c = new float[m * n];
            Int8Gemm.Linear(m, a, k, w, bias, false, c, n);

            // The activation parameters the kernel used.
            var qa = new byte[m * w.PaddedK];
            var sa = new float[m];
            var za = new int[m];
            fixed (float* pa = a, psa = sa)
            fixed (byte* pq = qa)
            fixed (int* pza = za)
                Int8Gemm.QuantizeRows(m, k, pa, k, pq, w.PaddedK, psa, pza);

            var qw = Int8(w);
            double worst = 0;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double ea = sa[i] * (0.5 + Math.Pow(2, -14)), ew = w.Scales[j] * (0.5 + Math.Pow(2, -17));
                    double exact = 0, e1 = 0, absSum = 0, y = 0;
                    for (int p = 0; p < k; p++)
                    {
                        double ap = a[i * k + p], wp = wf[j * k + p];
                        exact += ap * wp;
                        absSum += Math.Abs(ap * wp);
                        e1 += Math.Abs(ap) * ew + Math.Abs(wp) * ea + ea * ew;
                        y += (double)sa[i] * (qa[i * w.PaddedK + p] - za[i]) * ((double)w.Scales[j] * qw[j * k + p]);
                    }
                    exact += bias[j];
                    double bound = e1 + 4.0001 * u * Math.Abs(y) + u * Math.Abs(bias[j]) + Math.Pow(2, -50) * (absSum + Math.Abs(bias[j]));
                    double err = Math.Abs(c[i * n + j] - exact);
                    Assert.True(err <= bound, $"m={m} n={n} k={k}: out[{i}, {j}] = {c[i * n + j]}, float {exact}, error {err} > bound {bound}");
                    worst = Math.Max(worst, err / bound);
                }
            // The bound is a worst case (errors add in the same direction); random errors partly cancel.
            Assert.True(worst > 0, "every output exact: the comparison is not exercising anything");
        }
    }

    [Fact]
    public void ZeroSizes()
    {
        var rng = new Random(59);
        // k = 0: the product is empty, out = bias (or c + bias).
        var w0 = QuantizedMatrix.FromInt8([], [0.5f, 2f, 1f], 3, 0);
        var bias = new float[] { 1, 2, 3 };
        var c = new float[] { 10, 20, 30, 40, 50, 60 };
        Int8Gemm.Linear(2, new float[2], 1, w0, bias, true, c, 3);
        Assert.Equal(new float[] { 11, 22, 33, 41, 52, 63 }, c);
        // m = 0 and n = 0 touch nothing.
        var w = RandomMatrix(rng, 5, 9);
        Int8Gemm.Linear(0, ReadOnlySpan<float>.Empty, 9, w, default, false, Span<float>.Empty, 5);
        var wn = QuantizedMatrix.FromInt8([], [], 0, 9);
        var cn = new float[] { 7 };
        Int8Gemm.Linear(1, new float[9], 9, wn, default, false, cn, 1);
        Assert.Equal(7, cn[0]);
    }

    [Fact]
    public void ArgumentChecks_NameTheArgument()
    {
        var rng = new Random(61);
        var w = RandomMatrix(rng, 10, 9); // PaddedK = 12
        var a = new float[4 * 9];
        var c = new float[4 * 10];
        Assert.Equal("lda", Assert.Throws<ArgumentOutOfRangeException>(() => Int8Gemm.Linear(4, a, 8, w, default, false, c, 10)).ParamName);
        Assert.Equal("ldc", Assert.Throws<ArgumentOutOfRangeException>(() => Int8Gemm.Linear(4, a, 9, w, default, false, c, 9)).ParamName);
        Assert.Equal("m", Assert.Throws<ArgumentOutOfRangeException>(() => Int8Gemm.Linear(-1, a, 9, w, default, false, c, 10)).ParamName);
        var ex = Assert.Throws<ArgumentException>(() => Int8Gemm.Linear(5, a, 9, w, default, false, c, 10));
        Assert.Equal("a", ex.ParamName);
        Assert.Contains("Expected at least 45 elements, got 36", ex.Message);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => Int8Gemm.Linear(4, a, 9, w, default, false, c.AsSpan(1), 10)).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => Int8Gemm.Linear(4, a, 9, w, new float[9], false, c, 10)).ParamName);
        var q = new byte[4 * 12];
        var ci = new int[4 * 10];
        fixed (byte* pq = q)
        fixed (int* pc = ci)
        {
            byte* pqq = pq;
            int* pcc = pc;
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => Int8Gemm.MultiplyInt32(4, w, pqq, 11, pcc, 10, Int8Isa.Auto, 1));
            Assert.Equal("ldq", e.ParamName);
            Assert.Contains("Expected >= 12, got 11", e.Message);
        }
    }
}
