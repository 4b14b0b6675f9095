// AVX-512 micro-kernels for Gemm (float32 and float64 from one generic source; the JIT
// specialises per element type). Register tile: 8 rows x 3 zmm (8 x 48 floats, 8 x 24 doubles):
// 24 accumulators, 3 loads and 8 broadcasts per k step. Skinny "nt" kernel: dot products of
// 3 rows of A with 8 rows of B, vectorised along k, 24 accumulators.
// Only called when Avx512F.IsSupported (see Gemm.Run).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>AVX-512 micro-kernels: register tile 8 x 3*Vector512&lt;T&gt;.Count; skinny "nt" dot kernel 3 x 8.</summary>
internal unsafe struct Avx512Kernel<T> : IGemmKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 8;
    public static int NR => 3 * Vector512<T>.Count;
    public static int KC => typeof(T) == typeof(float) ? 256 : 192;
    public static int MC => 192;
    public static int NC => 3072;
    public static int SkinnyMaxM => 64;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma(Vector512<T> x, Vector512<T> y, Vector512<T> z)
    {
        if (typeof(T) == typeof(float))
            return Avx512F.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        return Avx512F.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
    }

    // c = alpha * acc + beta * c (beta == 0: c not read).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(Vector512<T> acc, T* c, Vector512<T> alpha, Vector512<T> beta, bool overwrite)
    {
        if (overwrite) Vector512.Store(acc * alpha, c);
        else Vector512.Store(Fma(acc, alpha, Vector512.Load(c) * beta), c);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta)
    {
        int w = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default, c02 = default;
        Vector512<T> c10 = default, c11 = default, c12 = default;
        Vector512<T> c20 = default, c21 = default, c22 = default;
        Vector512<T> c30 = default, c31 = default, c32 = default;
        Vector512<T> c40 = default, c41 = default, c42 = default;
        Vector512<T> c50 = default, c51 = default, c52 = default;
        Vector512<T> c60 = default, c61 = default, c62 = default;
        Vector512<T> c70 = default, c71 = default, c72 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + w);
            var b2 = Vector512.Load(b + 2 * w);
            Vector512<T> av;
            av = Vector512.Create(a[0]);
            c00 = Fma(av, b0, c00); c01 = Fma(av, b1, c01); c02 = Fma(av, b2, c02);
            av = Vector512.Create(a[1]);
            c10 = Fma(av, b0, c10); c11 = Fma(av, b1, c11); c12 = Fma(av, b2, c12);
            av = Vector512.Create(a[2]);
            c20 = Fma(av, b0, c20); c21 = Fma(av, b1, c21); c22 = Fma(av, b2, c22);
            av = Vector512.Create(a[3]);
            c30 = Fma(av, b0, c30); c31 = Fma(av, b1, c31); c32 = Fma(av, b2, c32);
            av = Vector512.Create(a[4]);
            c40 = Fma(av, b0, c40); c41 = Fma(av, b1, c41); c42 = Fma(av, b2, c42);
            av = Vector512.Create(a[5]);
            c50 = Fma(av, b0, c50); c51 = Fma(av, b1, c51); c52 = Fma(av, b2, c52);
            av = Vector512.Create(a[6]);
            c60 = Fma(av, b0, c60); c61 = Fma(av, b1, c61); c62 = Fma(av, b2, c62);
            av = Vector512.Create(a[7]);
            c70 = Fma(av, b0, c70); c71 = Fma(av, b1, c71); c72 = Fma(av, b2, c72);
            a += 8;
            b += ldbk;
        }
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        bool ow = beta == T.Zero;
        { T* cr = c + 0 * ldc; Update(c00, cr, va, vb, ow); Update(c01, cr + w, va, vb, ow); Update(c02, cr + 2 * w, va, vb, ow); }
        { T* cr = c + 1 * ldc; Update(c10, cr, va, vb, ow); Update(c11, cr + w, va, vb, ow); Update(c12, cr + 2 * w, va, vb, ow); }
        { T* cr = c + 2 * ldc; Update(c20, cr, va, vb, ow); Update(c21, cr + w, va, vb, ow); Update(c22, cr + 2 * w, va, vb, ow); }
        { T* cr = c + 3 * ldc; Update(c30, cr, va, vb, ow); Update(c31, cr + w, va, vb, ow); Update(c32, cr + 2 * w, va, vb, ow); }
        { T* cr = c + 4 * ldc; Update(c40, cr, va, vb, ow); Update(c41, cr + w, va, vb, ow); Update(c42, cr + 2 * w, va, vb, ow); }
        { T* cr = c + 5 * ldc; Update(c50, cr, va, vb, ow); Update(c51, cr + w, va, vb, ow); Update(c52, cr + 2 * w, va, vb, ow); }
        { T* cr = c + 6 * ldc; Update(c60, cr, va, vb, ow); Update(c61, cr + w, va, vb, ow); Update(c62, cr + 2 * w, va, vb, ow); }
        { T* cr = c + 7 * ldc; Update(c70, cr, va, vb, ow); Update(c71, cr + w, va, vb, ow); Update(c72, cr + 2 * w, va, vb, ow); }
    }

    /// <inheritdoc/>
    [SkipLocalsInit]
    public static void DotNT(in GemmProblem<T> p, int n0, int n1)
    {
        int m = p.M, k = p.K;
        nint lda = p.Lda, ldb = p.Ldb, ldc = p.Ldc;
        int kv = k - k % Vector512<T>.Count;
        T* s = stackalloc T[24];
        int j = n0;
        for (; j + 8 <= n1; j += 8)
        {
            T* bj = p.B + j * ldb;
            int i = 0;
            for (; i + 3 <= m; i += 3)
            {
                Dot3x8(kv, k, p.A + i * lda, lda, bj, ldb, s);
                DotStore(3, 8, s, p.C + i * ldc + j, ldc, p.Alpha, p.Beta);
            }
            for (; i < m; i++)
            {
                Dot1x8(kv, k, p.A + i * lda, bj, ldb, s);
                DotStore(1, 8, s, p.C + i * ldc + j, ldc, p.Alpha, p.Beta);
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

    // s[r * 8 + c] = dot(a row r, b row c) over k; vector part [0, kv), scalar tail [kv, k).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot3x8(int kv, int k, T* a, nint lda, T* b, nint ldb, T* s)
    {
        Vector512<T> d00 = default, d01 = default, d02 = default, d03 = default, d04 = default, d05 = default, d06 = default, d07 = default;
        Vector512<T> d10 = default, d11 = default, d12 = default, d13 = default, d14 = default, d15 = default, d16 = default, d17 = default;
        Vector512<T> d20 = default, d21 = default, d22 = default, d23 = default, d24 = default, d25 = default, d26 = default, d27 = default;
        T* a0 = a;
        T* a1 = a + lda;
        T* a2 = a + 2 * lda;
        T* b0 = b;
        T* b1 = b + ldb;
        T* b2 = b + 2 * ldb;
        T* b3 = b + 3 * ldb;
        T* b4 = b + 4 * ldb;
        T* b5 = b + 5 * ldb;
        T* b6 = b + 6 * ldb;
        T* b7 = b + 7 * ldb;
        for (int q = 0; q < kv; q += Vector512<T>.Count)
        {
            var x0 = Vector512.Load(a0 + q);
            var x1 = Vector512.Load(a1 + q);
            var x2 = Vector512.Load(a2 + q);
            var y0 = Vector512.Load(b0 + q);
            d00 = Fma(x0, y0, d00); d10 = Fma(x1, y0, d10); d20 = Fma(x2, y0, d20);
            var y1 = Vector512.Load(b1 + q);
            d01 = Fma(x0, y1, d01); d11 = Fma(x1, y1, d11); d21 = Fma(x2, y1, d21);
            var y2 = Vector512.Load(b2 + q);
            d02 = Fma(x0, y2, d02); d12 = Fma(x1, y2, d12); d22 = Fma(x2, y2, d22);
            var y3 = Vector512.Load(b3 + q);
            d03 = Fma(x0, y3, d03); d13 = Fma(x1, y3, d13); d23 = Fma(x2, y3, d23);
            var y4 = Vector512.Load(b4 + q);
            d04 = Fma(x0, y4, d04); d14 = Fma(x1, y4, d14); d24 = Fma(x2, y4, d24);
            var y5 = Vector512.Load(b5 + q);
            d05 = Fma(x0, y5, d05); d15 = Fma(x1, y5, d15); d25 = Fma(x2, y5, d25);
            var y6 = Vector512.Load(b6 + q);
            d06 = Fma(x0, y6, d06); d16 = Fma(x1, y6, d16); d26 = Fma(x2, y6, d26);
            var y7 = Vector512.Load(b7 + q);
            d07 = Fma(x0, y7, d07); d17 = Fma(x1, y7, d17); d27 = Fma(x2, y7, d27);
        }
        s[0] = Vector512.Sum(d00);
        s[1] = Vector512.Sum(d01);
        s[2] = Vector512.Sum(d02);
        s[3] = Vector512.Sum(d03);
        s[4] = Vector512.Sum(d04);
        s[5] = Vector512.Sum(d05);
        s[6] = Vector512.Sum(d06);
        s[7] = Vector512.Sum(d07);
        s[8] = Vector512.Sum(d10);
        s[9] = Vector512.Sum(d11);
        s[10] = Vector512.Sum(d12);
        s[11] = Vector512.Sum(d13);
        s[12] = Vector512.Sum(d14);
        s[13] = Vector512.Sum(d15);
        s[14] = Vector512.Sum(d16);
        s[15] = Vector512.Sum(d17);
        s[16] = Vector512.Sum(d20);
        s[17] = Vector512.Sum(d21);
        s[18] = Vector512.Sum(d22);
        s[19] = Vector512.Sum(d23);
        s[20] = Vector512.Sum(d24);
        s[21] = Vector512.Sum(d25);
        s[22] = Vector512.Sum(d26);
        s[23] = Vector512.Sum(d27);
        for (int q = kv; q < k; q++)
        {
            s[0] += a0[q] * b0[q]; s[1] += a0[q] * b1[q]; s[2] += a0[q] * b2[q]; s[3] += a0[q] * b3[q]; s[4] += a0[q] * b4[q]; s[5] += a0[q] * b5[q]; s[6] += a0[q] * b6[q]; s[7] += a0[q] * b7[q];
            s[8] += a1[q] * b0[q]; s[9] += a1[q] * b1[q]; s[10] += a1[q] * b2[q]; s[11] += a1[q] * b3[q]; s[12] += a1[q] * b4[q]; s[13] += a1[q] * b5[q]; s[14] += a1[q] * b6[q]; s[15] += a1[q] * b7[q];
            s[16] += a2[q] * b0[q]; s[17] += a2[q] * b1[q]; s[18] += a2[q] * b2[q]; s[19] += a2[q] * b3[q]; s[20] += a2[q] * b4[q]; s[21] += a2[q] * b5[q]; s[22] += a2[q] * b6[q]; s[23] += a2[q] * b7[q];
        }
    }

    // s[r * 8 + c] = dot(a row r, b row c) over k; vector part [0, kv), scalar tail [kv, k).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot1x8(int kv, int k, T* a, T* b, nint ldb, T* s)
    {
        Vector512<T> d00 = default, d01 = default, d02 = default, d03 = default, d04 = default, d05 = default, d06 = default, d07 = default;
        T* a0 = a;
        T* b0 = b;
        T* b1 = b + ldb;
        T* b2 = b + 2 * ldb;
        T* b3 = b + 3 * ldb;
        T* b4 = b + 4 * ldb;
        T* b5 = b + 5 * ldb;
        T* b6 = b + 6 * ldb;
        T* b7 = b + 7 * ldb;
        for (int q = 0; q < kv; q += Vector512<T>.Count)
        {
            var x0 = Vector512.Load(a0 + q);
            var y0 = Vector512.Load(b0 + q);
            d00 = Fma(x0, y0, d00);
            var y1 = Vector512.Load(b1 + q);
            d01 = Fma(x0, y1, d01);
            var y2 = Vector512.Load(b2 + q);
            d02 = Fma(x0, y2, d02);
            var y3 = Vector512.Load(b3 + q);
            d03 = Fma(x0, y3, d03);
            var y4 = Vector512.Load(b4 + q);
            d04 = Fma(x0, y4, d04);
            var y5 = Vector512.Load(b5 + q);
            d05 = Fma(x0, y5, d05);
            var y6 = Vector512.Load(b6 + q);
            d06 = Fma(x0, y6, d06);
            var y7 = Vector512.Load(b7 + q);
            d07 = Fma(x0, y7, d07);
        }
        s[0] = Vector512.Sum(d00);
        s[1] = Vector512.Sum(d01);
        s[2] = Vector512.Sum(d02);
        s[3] = Vector512.Sum(d03);
        s[4] = Vector512.Sum(d04);
        s[5] = Vector512.Sum(d05);
        s[6] = Vector512.Sum(d06);
        s[7] = Vector512.Sum(d07);
        for (int q = kv; q < k; q++)
        {
            s[0] += a0[q] * b0[q]; s[1] += a0[q] * b1[q]; s[2] += a0[q] * b2[q]; s[3] += a0[q] * b3[q]; s[4] += a0[q] * b4[q]; s[5] += a0[q] * b5[q]; s[6] += a0[q] * b6[q]; s[7] += a0[q] * b7[q];
        }
    }

    private static T Dot1x1(int kv, int k, T* a, T* b)
    {
        Vector512<T> d = default;
        for (int q = 0; q < kv; q += Vector512<T>.Count) d = Fma(Vector512.Load(a + q), Vector512.Load(b + q), d);
        T s = Vector512.Sum(d);
        for (int q = kv; q < k; q++) s += a[q] * b[q];
        return s;
    }
}
