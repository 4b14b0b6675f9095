// AVX2+FMA micro-kernels for Gemm (float32 and float64 from one generic source). Register tile:
// 6 rows x 2 ymm (6 x 16 floats, 6 x 8 doubles): 12 accumulators, 2 loads and 6 broadcasts per
// k step. Skinny "nt" kernel: 3 rows of A with 4 rows of B, 12 accumulators.
// Only called when Avx2.IsSupported and Fma.IsSupported (see Gemm.Run).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>AVX2+FMA micro-kernels: register tile 6 x 2*Vector256&lt;T&gt;.Count; skinny "nt" dot kernel 3 x 4.</summary>
internal unsafe struct Avx2Kernel<T> : IGemmKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 6;
    public static int NR => 2 * Vector256<T>.Count;
    public static int KC => typeof(T) == typeof(float) ? 256 : 192;
    public static int MC => 192;
    public static int NC => 3072;
    public static int SkinnyMaxM => 64;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma(Vector256<T> x, Vector256<T> y, Vector256<T> z)
    {
        if (typeof(T) == typeof(float))
            return System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        return System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
    }

    // c = alpha * acc + beta * c (beta == 0: c not read).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(Vector256<T> acc, T* c, Vector256<T> alpha, Vector256<T> beta, bool overwrite)
    {
        if (overwrite) Vector256.Store(acc * alpha, c);
        else Vector256.Store(Fma(acc, alpha, Vector256.Load(c) * beta), c);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, byte* prefetch, int prefetchLines)
    {
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default;
        Vector256<T> c10 = default, c11 = default;
        Vector256<T> c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default;
        Vector256<T> c40 = default, c41 = default;
        Vector256<T> c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + w);
            Vector256<T> av;
            av = Vector256.Create(a[0]);
            c00 = Fma(av, b0, c00); c01 = Fma(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Fma(av, b0, c10); c11 = Fma(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Fma(av, b0, c20); c21 = Fma(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Fma(av, b0, c30); c31 = Fma(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Fma(av, b0, c40); c41 = Fma(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Fma(av, b0, c50); c51 = Fma(av, b1, c51);
            a += 6;
            b += ldbk;
            if (p < prefetchLines)
            {
                Sse.Prefetch1(prefetch);
                prefetch += 64;
            }
        }
        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        bool ow = beta == T.Zero;
        { T* cr = c + 0 * ldc; Update(c00, cr, va, vb, ow); Update(c01, cr + w, va, vb, ow); }
        { T* cr = c + 1 * ldc; Update(c10, cr, va, vb, ow); Update(c11, cr + w, va, vb, ow); }
        { T* cr = c + 2 * ldc; Update(c20, cr, va, vb, ow); Update(c21, cr + w, va, vb, ow); }
        { T* cr = c + 3 * ldc; Update(c30, cr, va, vb, ow); Update(c31, cr + w, va, vb, ow); }
        { T* cr = c + 4 * ldc; Update(c40, cr, va, vb, ow); Update(c41, cr + w, va, vb, ow); }
        { T* cr = c + 5 * ldc; Update(c50, cr, va, vb, ow); Update(c51, cr + w, va, vb, ow); }
    }

    /// <inheritdoc/>
    public static void EdgeTile(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, int mr, int nr) =>
        GemmEdge<T, Avx2Kernel<T>>.ViaCopy(kc, a, b, ldbk, c, ldc, alpha, beta, mr, nr, beta == T.Zero);

    /// <inheritdoc/>
    [SkipLocalsInit]
    public static void DotNT(in GemmProblem<T> p, int n0, int n1)
    {
        int m = p.M, k = p.K;
        nint lda = p.Lda, ldb = p.Ldb, ldc = p.Ldc;
        int kv = k - k % Vector256<T>.Count;
        T* s = stackalloc T[12];
        int j = n0;
        for (; j + 4 <= n1; j += 4)
        {
            T* bj = p.B + j * ldb;
            int i = 0;
            for (; i + 3 <= m; i += 3)
            {
                Dot3x4(kv, k, p.A + i * lda, lda, bj, ldb, s);
                DotStore(3, 4, s, p.C + i * ldc + j, ldc, p.Alpha, p.Beta);
            }
            for (; i < m; i++)
            {
                Dot1x4(kv, k, p.A + i * lda, bj, ldb, s);
                DotStore(1, 4, s, p.C + i * ldc + j, ldc, p.Alpha, p.Beta);
            }
        }
        for (; j < n1; j++)
        {
            T* bj = p.B + j * ldb;
            for (int i = 0; i < m; i++)
            {
                s[0] = Dot1x1(kv, k, p.A + i * lda, bj);
                DotStore(1, 1, s, p.C + i * ldc + j, ldc, p.Alpha, p.Beta);
            }
        }
    }

    private static void DotStore(int rows, int cols, T* s, T* c, nint ldc, T alpha, T beta)
    {
        for (int r = 0; r < rows; r++)
        {
            T* cr = c + r * ldc;
            T* sr = s + r * cols;
            if (beta == T.Zero)
                for (int q = 0; q < cols; q++) cr[q] = alpha * sr[q];
            else
                for (int q = 0; q < cols; q++) cr[q] = alpha * sr[q] + beta * cr[q];
        }
    }

    // s[r * 4 + c] = dot(a row r, b row c) over k; vector part [0, kv), scalar tail [kv, k).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot3x4(int kv, int k, T* a, nint lda, T* b, nint ldb, T* s)
    {
        Vector256<T> d00 = default, d01 = default, d02 = default, d03 = default;
        Vector256<T> d10 = default, d11 = default, d12 = default, d13 = default;
        Vector256<T> d20 = default, d21 = default, d22 = default, d23 = default;
        T* a0 = a;
        T* a1 = a + lda;
        T* a2 = a + 2 * lda;
        T* b0 = b;
        T* b1 = b + ldb;
        T* b2 = b + 2 * ldb;
        T* b3 = b + 3 * ldb;
        for (int q = 0; q < kv; q += Vector256<T>.Count)
        {
            var x0 = Vector256.Load(a0 + q);
            var x1 = Vector256.Load(a1 + q);
            var x2 = Vector256.Load(a2 + q);
            var y0 = Vector256.Load(b0 + q);
            d00 = Fma(x0, y0, d00); d10 = Fma(x1, y0, d10); d20 = Fma(x2, y0, d20);
            var y1 = Vector256.Load(b1 + q);
            d01 = Fma(x0, y1, d01); d11 = Fma(x1, y1, d11); d21 = Fma(x2, y1, d21);
            var y2 = Vector256.Load(b2 + q);
            d02 = Fma(x0, y2, d02); d12 = Fma(x1, y2, d12); d22 = Fma(x2, y2, d22);
            var y3 = Vector256.Load(b3 + q);
            d03 = Fma(x0, y3, d03); d13 = Fma(x1, y3, d13); d23 = Fma(x2, y3, d23);
        }
        s[0] = Vector256.Sum(d00);
        s[1] = Vector256.Sum(d01);
        s[2] = Vector256.Sum(d02);
        s[3] = Vector256.Sum(d03);
        s[4] = Vector256.Sum(d10);
        s[5] = Vector256.Sum(d11);
        s[6] = Vector256.Sum(d12);
        s[7] = Vector256.Sum(d13);
        s[8] = Vector256.Sum(d20);
        s[9] = Vector256.Sum(d21);
        s[10] = Vector256.Sum(d22);
        s[11] = Vector256.Sum(d23);
        for (int q = kv; q < k; q++)
        {
            s[0] += a0[q] * b0[q]; s[1] += a0[q] * b1[q]; s[2] += a0[q] * b2[q]; s[3] += a0[q] * b3[q];
            s[4] += a1[q] * b0[q]; s[5] += a1[q] * b1[q]; s[6] += a1[q] * b2[q]; s[7] += a1[q] * b3[q];
            s[8] += a2[q] * b0[q]; s[9] += a2[q] * b1[q]; s[10] += a2[q] * b2[q]; s[11] += a2[q] * b3[q];
        }
    }

    // s[r * 4 + c] = dot(a row r, b row c) over k; vector part [0, kv), scalar tail [kv, k).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot1x4(int kv, int k, T* a, T* b, nint ldb, T* s)
    {
        Vector256<T> d00 = default, d01 = default, d02 = default, d03 = default;
        T* a0 = a;
        T* b0 = b;
        T* b1 = b + ldb;
        T* b2 = b + 2 * ldb;
        T* b3 = b + 3 * ldb;
        for (int q = 0; q < kv; q += Vector256<T>.Count)
        {
            var x0 = Vector256.Load(a0 + q);
            var y0 = Vector256.Load(b0 + q);
            d00 = Fma(x0, y0, d00);
            var y1 = Vector256.Load(b1 + q);
            d01 = Fma(x0, y1, d01);
            var y2 = Vector256.Load(b2 + q);
            d02 = Fma(x0, y2, d02);
            var y3 = Vector256.Load(b3 + q);
            d03 = Fma(x0, y3, d03);
        }
        s[0] = Vector256.Sum(d00);
        s[1] = Vector256.Sum(d01);
        s[2] = Vector256.Sum(d02);
        s[3] = Vector256.Sum(d03);
        for (int q = kv; q < k; q++)
        {
            s[0] += a0[q] * b0[q]; s[1] += a0[q] * b1[q]; s[2] += a0[q] * b2[q]; s[3] += a0[q] * b3[q];
        }
    }

    private static T Dot1x1(int kv, int k, T* a, T* b)
    {
        Vector256<T> d = default;
        for (int q = 0; q < kv; q += Vector256<T>.Count) d = Fma(Vector256.Load(a + q), Vector256.Load(b + q), d);
        T s = Vector256.Sum(d);
        for (int q = kv; q < k; q++) s += a[q] * b[q];
        return s;
    }
}
