// Gemm against the naive reference: odd sizes and edge tiles, all four transpose combinations,
// alpha/beta, padded leading dimensions, beta = 0 over NaN, block boundaries (KC, MC, NC), the
// skinny per-time-step shapes, every instruction set this machine supports (called explicitly
// through the internal GemmIsa overloads; the DOTNET_EnableAVX512=0 / DOTNET_EnableAVX2=0 /
// DOTNET_EnableHWIntrinsic=0 environment variables select the same paths for the public API),
// thread-count determinism, and argument validation.
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

[Collection(Serial.Name)]
public class GemmTests
{
    [Fact]
    public void InstructionSet_NamesTheKernelsThisProcessRuns()
    {
        // What `recurrent train` prints and the NativeAOT deployment test checks: the best set this process can run
        // (the ISA-off reruns of .ci/run see the lower ones).
        string expected = System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "AVX-512"
            : System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported ? "AVX2+FMA" : "portable";
        Assert.Equal(expected, Gemm.InstructionSet);
    }

    // GemmIsa is internal, so theories take its name.
    public static TheoryData<string, bool, bool> IsaAndLayouts()
    {
        var data = new TheoryData<string, bool, bool>();
        foreach (var isa in new[] { "Avx512", "Avx2", "Portable" })
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    data.Add(isa, ta, tb);
        return data;
    }

    public static TheoryData<string> Isas() => new() { "Avx512", "Avx2", "Portable" };

    // (m, n, k): edge tiles of every kernel (MR 8/6/4, NR 48/16/..., dot tiles 3x8 / 3x4),
    // the odd sizes of the brief, and shapes on both sides of the skinny threshold (m = 64).
    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (1, 2, 3), (2, 3, 1), (3, 7, 15), (7, 15, 17), (15, 17, 31), (17, 31, 33),
        (31, 33, 63), (33, 63, 65), (63, 65, 7), (65, 129, 17), (129, 33, 65), (1, 129, 63),
        (129, 1, 31), (16, 48, 16), (24, 96, 40), (64, 50, 33), (9, 49, 129), (2, 200, 37),
    ];

    private static readonly (double Alpha, double Beta)[] Scalars = [(1, 0), (0.5, 2), (-1.5, 1), (2, -0.25)];

    [Theory]
    [MemberData(nameof(IsaAndLayouts))]
    public void Sgemm_MatchesReference(string isaName, bool transA, bool transB)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        if (!Gemm.IsSupported(isa)) return;
        var rng = new Random(1234);
        int variant = 0;
        foreach (var (m, n, k) in Shapes)
        {
            var (alpha, beta) = Scalars[variant % Scalars.Length];
            int pad = variant % 3 == 0 ? 0 : 3;
            variant++;
            CheckFloat(rng, isa, 1, transA, transB, m, n, k, (float)alpha, (float)beta, pad);
        }
    }

    [Theory]
    [MemberData(nameof(IsaAndLayouts))]
    public void Dgemm_MatchesReference(string isaName, bool transA, bool transB)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        if (!Gemm.IsSupported(isa)) return;
        var rng = new Random(4321);
        int variant = 1;
        foreach (var (m, n, k) in Shapes)
        {
            var (alpha, beta) = Scalars[variant % Scalars.Length];
            int pad = variant % 3 == 0 ? 0 : 5;
            variant++;
            CheckDouble(rng, isa, 1, transA, transB, m, n, k, alpha, beta, pad);
        }
    }

    [Theory]
    [MemberData(nameof(IsaAndLayouts))]
    public void BlockBoundaries_MatchReference(string isaName, bool transA, bool transB)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        if (!Gemm.IsSupported(isa)) return;
        var rng = new Random(99);
        // k > KC (two K blocks: second block accumulates with beta = 1), m > MC, n > NC with m
        // past the in-place-B threshold, and a long skinny "nt" product.
        CheckFloat(rng, isa, 1, transA, transB, 70, 53, 530, 1.25f, 0.5f, 1);
        CheckFloat(rng, isa, 1, transA, transB, 201, 20, 19, 1f, 0f, 0);
        CheckFloat(rng, isa, 1, transA, transB, 66, 3100, 3, 1f, 1f, 0);
        CheckFloat(rng, isa, 1, transA, transB, 5, 70, 600, -1f, 0f, 2);
        CheckDouble(rng, isa, 1, transA, transB, 70, 29, 300, 0.75f, -1f, 1);
        CheckDouble(rng, isa, 1, transA, transB, 201, 13, 11, 1, 0, 0);
    }

    [Theory]
    [MemberData(nameof(IsaAndLayouts))]
    public void BetaZero_OverwritesNaN(string isaName, bool transA, bool transB)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        if (!Gemm.IsSupported(isa)) return;
        var rng = new Random(7);
        foreach (var (m, n, k) in new[] { (1, 1, 1), (17, 50, 19), (3, 9, 40), (70, 100, 300) })
        {
            CheckFloat(rng, isa, 2, transA, transB, m, n, k, 1f, 0f, 2, nanC: true);
            CheckDouble(rng, isa, 2, transA, transB, m, n, k, -2, 0, 1, nanC: true);
        }
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void RecurrentStepShapes_MatchReference(string isaName)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        if (!Gemm.IsSupported(isa)) return;
        var rng = new Random(5);
        // h W_hh^T per time step (layout nt), its backward h-gradient (nn), and GEMV-like batch 1.
        CheckFloat(rng, isa, 1, false, true, 32, 256, 512, 1f, 0f, 0);
        CheckFloat(rng, isa, 1, false, true, 1, 512, 128, 1f, 1f, 0);
        CheckFloat(rng, isa, 2, false, true, 64, 130, 1027, 1f, 0f, 0);
        CheckFloat(rng, isa, 1, false, false, 32, 128, 512, 1f, 1f, 0);
        // B over 1 MB: the dot-product path also for m > 8 (packed A and B tiles, row remainders).
        CheckFloat(rng, isa, 1, false, true, 20, 2048, 140, 1f, 0.5f, 0);
        CheckFloat(rng, isa, 2, false, true, 61, 1030, 257, -1f, 0f, 3);
        CheckDouble(rng, isa, 1, false, true, 10, 1100, 130, 1, 0, 0);
        CheckDouble(rng, isa, 2, false, true, 8, 40, 33, 1, 1, 1);
        CheckFloat(rng, isa, 2, true, false, 96, 64, 160, 1f, 1f, 0);
    }

    [Theory]
    [MemberData(nameof(IsaAndLayouts))]
    public void Multithreaded_EqualsSingleThreaded_Bitwise(string isaName, bool transA, bool transB)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        if (!Gemm.IsSupported(isa)) return;
        var rng = new Random(11);
        foreach (var (m, n, k) in new[] { (150, 170, 90), (40, 300, 120), (300, 37, 64), (2, 1000, 50) })
            AssertSameBitsAtTwoAndThreeThreads(rng, isa, transA, transB, m, n, k, 0.7f, 0.3f, repeatEach: true);
    }

    // C = alpha op(A) op(B) + beta C on random operands at threads 2 and 3 gives one thread's bits (and, with
    // repeatEach, the same bits again at the same thread count).
    private static void AssertSameBitsAtTwoAndThreeThreads(Random rng, GemmIsa isa, bool transA, bool transB, int m, int n, int k,
        float alpha, float beta, bool repeatEach)
    {
        float[] a = RandomArray(rng, m * k), b = RandomArray(rng, n * k), c0 = RandomArray(rng, m * n);
        int lda = transA ? m : k, ldb = transB ? k : n;
        float[] c1 = (float[])c0.Clone();
        Gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c1, n, isa, 1);
        foreach (int threads in new[] { 2, 3 })
        {
            float[] ct = (float[])c0.Clone();
            Gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, ct, n, isa, threads);
            Assert.Equal(c1, ct);
            if (!repeatEach) continue;
            float[] ct2 = (float[])c0.Clone();
            Gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, ct2, n, isa, threads);
            Assert.Equal(ct, ct2);
        }
    }

    // C over 1 MB and k >= 256: the driver asks for the next tile's C lines ahead (DECISIONS 37). The prefetch must
    // change no value: against the reference with one to three depth blocks, beta 0 and 1, padded rows and edge panels,
    // float and double, with a short-k large C (not prefetched) beside them; and the same bits at one thread (one
    // 1.2 MB block: prefetched) and at two or three (blocks under 1 MB: not prefetched).
    [Theory]
    [MemberData(nameof(IsaAndLayouts))]
    public void LargeC_PrefetchedTiles_MatchReference_AndOtherThreadCounts(string isaName, bool transA, bool transB)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        if (!Gemm.IsSupported(isa)) return;
        var rng = new Random(37);
        CheckFloat(rng, isa, 1, transA, transB, 520, 520, 70, 1f, 0f, 0);
        CheckFloat(rng, isa, 1, transA, transB, 520, 520, 300, 1f, 0f, 0);
        CheckFloat(rng, isa, 1, transA, transB, 260, 1100, 530, -0.5f, 1f, 3);
        CheckDouble(rng, isa, 1, transA, transB, 380, 380, 260, 1, 0.5, 1);

        // 600 x 500 x 300: 1.8e8 flops, over the size that splits even with the workers asleep.
        AssertSameBitsAtTwoAndThreeThreads(rng, isa, transA, transB, 600, 500, 300, 1.25f, 0.5f, repeatEach: false);
    }

    [Fact]
    public void ConcurrentCallers_GetTheSameBitsAsOneCaller()
    {
        // Several threads inside Gemm at once: one gets the worker team, the others run their
        // parts inline; thread-static packing buffers keep them apart. Same partition, same bits.
        var rng = new Random(21);
        var shapes = new[] { (m: 100, n: 120, k: 80, tb: false), (m: 20, n: 3000, k: 100, tb: true), (m: 5, n: 700, k: 64, tb: true) };
        var inputs = shapes.Select(s => (a: RandomArray(rng, s.m * s.k), b: RandomArray(rng, s.k * s.n))).ToArray();
        var expected = new float[shapes.Length][];
        for (int s = 0; s < shapes.Length; s++)
        {
            var (m, n, k, tb) = shapes[s];
            expected[s] = new float[m * n];
            Gemm.Sgemm(false, tb, m, n, k, 1f, inputs[s].a, k, inputs[s].b, tb ? k : n, 0f, expected[s], n, GemmIsa.Auto, 2);
        }
        Parallel.For(0, 12, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            int s = i % shapes.Length;
            var (m, n, k, tb) = shapes[s];
            var c = new float[m * n];
            for (int rep = 0; rep < 3; rep++)
            {
                Gemm.Sgemm(false, tb, m, n, k, 1f, inputs[s].a, k, inputs[s].b, tb ? k : n, 0f, c, n, GemmIsa.Auto, 2);
                Assert.Equal(expected[s], c);
            }
        });
    }

    [Fact]
    public void PublicApi_UsesBestPath_AndMatchesReference()
    {
        var rng = new Random(3);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                int m = 37, n = 61, k = 45;
                float[] a = RandomArray(rng, m * k), b = RandomArray(rng, k * n), c = RandomArray(rng, m * n);
                float[] expected = (float[])c.Clone();
                int lda = ta ? m : k, ldb = tb ? k : n;
                GemmReference.Sgemm(ta, tb, m, n, k, 1.5f, a, lda, b, ldb, -1f, expected, n);
                Gemm.Sgemm(ta, tb, m, n, k, 1.5f, a, lda, b, ldb, -1f, c, n);
                AssertClose(expected, c, 1e-4);

                double[] ad = Array.ConvertAll(a, x => (double)x), bd = Array.ConvertAll(b, x => (double)x);
                double[] cd = new double[m * n], ed = new double[m * n];
                GemmReference.Dgemm(ta, tb, m, n, k, 1, ad, lda, bd, ldb, 0, ed, n);
                Gemm.Dgemm(ta, tb, m, n, k, 1, ad, lda, bd, ldb, 0, cd, n);
                AssertClose(ed, cd, 1e-12);
            }
    }

    // A B packed once (the recurrent layers' W_hh) and reused: sizes across panel and block edges,
    // both packing layouts, beta 0 and 1, against the reference (at the default thread count:
    // MaxThreads is process-wide and RnnThreadingTests, which runs beside this class, sets it).
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public unsafe void PackedB_MatchesReference(bool transB)
    {
        var rng = new Random(transB ? 21 : 22);
        foreach (var (m, n, k) in new[] { (1, 1, 1), (4, 50, 200), (7, 97, 33), (64, 200, 50), (33, 1024, 256), (130, 61, 600) })
            foreach (float beta in new[] { 0f, 1f })
            {
                int ldb = (transB ? k : n) + 3, lda = k + 2;
                float[] a = RandomArray(rng, m * lda), b = RandomArray(rng, (transB ? n : k) * ldb), c = RandomArray(rng, m * n);
                float[] expected = (float[])c.Clone();
                GemmReference.Sgemm(false, transB, m, n, k, 0.5f, a, lda, b, ldb, beta, expected, n);
                var packed = new float[Gemm.PackedBElements<float>(k, n)];
                fixed (float* pa = a, pb = b, pp = packed, pc = c)
                {
                    Gemm.PackB(transB, k, n, pb, ldb, pp);
                    Gemm.GemmPackedB(m, n, k, 0.5f, pa, lda, pp, beta, pc, n);
                }
                AssertClose(expected, c, 1e-4);

                double[] ad = Array.ConvertAll(a, x => (double)x), bd = Array.ConvertAll(b, x => (double)x);
                double[] cd = Array.ConvertAll(c, _ => 0.0), ed = (double[])cd.Clone();
                GemmReference.Dgemm(false, transB, m, n, k, 2, ad, lda, bd, ldb, 0, ed, n);
                var packedD = new double[Gemm.PackedBElements<double>(k, n)];
                fixed (double* pa = ad, pb = bd, pp = packedD, pc = cd)
                {
                    Gemm.PackB(transB, k, n, pb, ldb, pp);
                    Gemm.GemmPackedB(m, n, k, 2.0, pa, lda, pp, 0.0, pc, n);
                }
                AssertClose(ed, cd, 1e-12);
            }
    }

    [Fact]
    public unsafe void PointerOverloads_MatchSpanOverloads()
    {
        var rng = new Random(8);
        int m = 20, n = 70, k = 33;
        float[] a = RandomArray(rng, m * k), b = RandomArray(rng, n * k);
        float[] c1 = new float[m * n], c2 = new float[m * n];
        Gemm.Sgemm(false, true, m, n, k, 1f, a, k, b, k, 0f, c1, n);
        fixed (float* pa = a, pb = b, pc = c2)
            Gemm.Sgemm(false, true, m, n, k, 1f, pa, k, pb, k, 0f, pc, n);
        Assert.Equal(c1, c2);

        double[] ad = Array.ConvertAll(a, x => (double)x), bd = Array.ConvertAll(b, x => (double)x);
        double[] d1 = new double[m * n], d2 = new double[m * n];
        Gemm.Dgemm(false, true, m, n, k, 1, ad, k, bd, k, 0, d1, n);
        fixed (double* pa = ad, pb = bd, pc = d2)
            Gemm.Dgemm(false, true, m, n, k, 1, pa, k, pb, k, 0, pc, n);
        Assert.Equal(d1, d2);
    }

    [Fact]
    public void DegenerateSizes()
    {
        // m = 0 or n = 0: nothing happens (C may be empty).
        Gemm.Sgemm(false, false, 0, 5, 3, 1f, new float[0], 3, new float[15], 5, 0f, new float[0], 5);
        Gemm.Sgemm(false, false, 4, 0, 3, 1f, new float[12], 3, new float[0], 1, 0f, new float[0], 1);
        // k = 0: C = beta * C, and beta = 0 clears NaN.
        float[] c = [1, 2, 3, 4];
        Gemm.Sgemm(false, false, 2, 2, 0, 1f, new float[0], 1, new float[0], 2, 3f, c, 2);
        Assert.Equal(new float[] { 3, 6, 9, 12 }, c);
        c = [float.NaN, float.NaN, float.NaN, float.NaN];
        Gemm.Sgemm(false, false, 2, 2, 0, 1f, new float[0], 1, new float[0], 2, 0f, c, 2);
        Assert.Equal(new float[4], c);
        // alpha = 0: A and B are not used; NaN in C with beta = 0 is cleared.
        c = [float.NaN, float.NaN, float.NaN, float.NaN];
        Gemm.Sgemm(false, false, 2, 2, 2, 0f, new float[] { float.NaN, 1, 1, 1 }, 2, new float[4], 2, 0f, c, 2);
        Assert.Equal(new float[4], c);
    }

    [Fact]
    public void Validation_NamesArgumentExpectedAndActual()
    {
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Gemm.Sgemm(false, false, -1, 2, 2, 1f, new float[4], 2, new float[4], 2, 0f, new float[4], 2));
        Assert.Equal("m", e1.ParamName);
        Assert.Contains("got -1", e1.Message);

        var e2 = Assert.Throws<ArgumentException>(() =>
            Gemm.Sgemm(false, false, 3, 4, 5, 1f, new float[14], 5, new float[20], 4, 0f, new float[12], 4));
        Assert.Equal("a", e2.ParamName);
        Assert.Contains("Expected at least 15 elements, got 14", e2.Message);

        var e3 = Assert.Throws<ArgumentException>(() =>
            Gemm.Dgemm(false, true, 3, 4, 5, 1, new double[15], 5, new double[19], 5, 0, new double[12], 4));
        Assert.Equal("b", e3.ParamName);
        Assert.Contains("Expected at least 20 elements, got 19", e3.Message);

        var e4 = Assert.Throws<ArgumentException>(() =>
            Gemm.Sgemm(false, false, 3, 4, 5, 1f, new float[15], 5, new float[20], 4, 0f, new float[11], 4));
        Assert.Equal("c", e4.ParamName);

        var e5 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Gemm.Sgemm(true, false, 3, 4, 5, 1f, new float[15], 2, new float[20], 4, 0f, new float[12], 4));
        Assert.Equal("lda", e5.ParamName);
        Assert.Contains("Expected >= 3, got 2", e5.Message);

        var e6 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Gemm.Sgemm(false, false, 3, 4, 5, 1f, new float[15], 5, new float[20], 4, 0f, new float[12], 3));
        Assert.Equal("ldc", e6.ParamName);
    }

    [Fact]
    public void MaxThreads_RejectsBelowOne()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.MaxThreads = 0);
        Assert.True(Parallelism.MaxThreads >= 1);
    }

    // ---- helpers ---------------------------------------------------------------------------

    private static void CheckFloat(Random rng, GemmIsa isa, int threads, bool transA, bool transB, int m, int n, int k,
        float alpha, float beta, int pad, bool nanC = false)
    {
        int lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad;
        float[] a = RandomArray(rng, (transA ? k : m) * lda);
        float[] b = RandomArray(rng, (transB ? n : k) * ldb);
        float[] c = RandomArray(rng, m * ldc);
        if (nanC) Array.Fill(c, float.NaN);
        float[] expected = (float[])c.Clone();
        GemmReference.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, expected, ldc);
        float[] bound = Bound(transA, transB, m, n, k, alpha, beta, Array.ConvertAll(a, x => (double)x), lda,
            Array.ConvertAll(b, x => (double)x), ldb, Array.ConvertAll(c, x => (double)x), ldc, 1.1920929e-7);
        Gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, isa, threads);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                int idx = i * ldc + j;
                double err = Math.Abs((double)c[idx] - expected[idx]);
                Assert.True(err <= bound[idx],
                    $"{isa} float t={threads} {(transA ? 't' : 'n')}{(transB ? 't' : 'n')} m={m} n={n} k={k} alpha={alpha} beta={beta}: " +
                    $"C[{i},{j}] = {c[idx]}, expected {expected[idx]} (tolerance {bound[idx]})");
            }
            // Padding columns past n are untouched.
            for (int j = n; j < ldc; j++)
                Assert.Equal(expected[i * ldc + j], c[i * ldc + j]);
        }
    }

    private static void CheckDouble(Random rng, GemmIsa isa, int threads, bool transA, bool transB, int m, int n, int k,
        double alpha, double beta, int pad, bool nanC = false)
    {
        int lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad;
        double[] a = Array.ConvertAll(RandomArray(rng, (transA ? k : m) * lda), x => (double)x + 1e-9 * x * x);
        double[] b = Array.ConvertAll(RandomArray(rng, (transB ? n : k) * ldb), x => (double)x - 1e-9 * x);
        double[] c = Array.ConvertAll(RandomArray(rng, m * ldc), x => (double)x);
        if (nanC) Array.Fill(c, double.NaN);
        double[] expected = (double[])c.Clone();
        GemmReference.Dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, expected, ldc);
        float[] bound = Bound(transA, transB, m, n, k, alpha, beta, a, lda, b, ldb, c, ldc, 2.220446049250313e-16);
        Gemm.Dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, isa, threads);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                int idx = i * ldc + j;
                double err = Math.Abs(c[idx] - expected[idx]);
                Assert.True(err <= bound[idx],
                    $"{isa} double t={threads} {(transA ? 't' : 'n')}{(transB ? 't' : 'n')} m={m} n={n} k={k} alpha={alpha} beta={beta}: " +
                    $"C[{i},{j}] = {c[idx]}, expected {expected[idx]} (tolerance {bound[idx]})");
            }
    }

    // Error bound per element: 2 (k + 2) eps (|alpha| sum_p |a_ip b_pj| + |beta c_ij|) plus a tiny
    // absolute floor; the magnitudes come from the same loop over absolute values.
    private static float[] Bound(bool transA, bool transB, int m, int n, int k, double alpha, double beta, double[] a, int lda,
        double[] b, int ldb, double[] c, int ldc, double eps)
    {
        var bound = new float[m * ldc];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += Math.Abs(transA ? a[p * lda + i] : a[i * lda + p]) * Math.Abs(transB ? b[j * ldb + p] : b[p * ldb + j]);
                double old = beta == 0 ? 0 : Math.Abs(beta * c[i * ldc + j]);
                bound[i * ldc + j] = (float)(2 * (k + 2) * eps * (Math.Abs(alpha) * s + old) + 1e-30);
            }
        return bound;
    }

    private static float[] RandomArray(Random rng, int length)
    {
        var x = new float[length];
        for (int i = 0; i < length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    private static void AssertClose(float[] expected, float[] actual, double tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"[{i}]: {actual[i]} vs {expected[i]}");
    }

    private static void AssertClose(double[] expected, double[] actual, double tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"[{i}]: {actual[i]} vs {expected[i]}");
    }
}
