// AVX-512 micro-kernels for Gemm (float32 and float64 from one generic source; the JIT
// specialises per element type).
//   Tile / EdgeTile: register tile 8 rows x 3 zmm (8 x 48 floats, 8 x 24 doubles), 24
//     accumulators, 3 loads and 8 broadcasts per k step; edges use masked C loads/stores.
//   DotNT (layout "nt", few rows, large B): dot products of 3 rows of A with 8 rows of B,
//     vectorised along k, 24 accumulators, reduced 8 at a time by a shuffle tree. With more
//     than 3 rows, A and each B tile are first copied into interleaved buffers (DotNTPacked).
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
    public static int KC => typeof(T) == typeof(float) ? 512 : 256;
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
    public static void Tile(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, byte* prefetch, int prefetchLines)
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
            if (p < prefetchLines)
            {
                Sse.Prefetch1(prefetch);
                prefetch += 64;
            }
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

    /// <summary>
    /// An edge tile (mr &lt;= MR rows, nr &lt; NR or mr &lt; MR): the same FMA chain and epilogue as
    /// <see cref="Tile"/> on only as many vectors as the columns need, with masked C loads and
    /// stores, so results do not depend on where the tile boundaries fall.
    /// </summary>
    public static void EdgeTile(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, int mr, int nr)
    {
        int w = Vector512<T>.Count;
        if (nr <= w) EdgeTileV<Rows1>(kc, a, b, ldbk, c, ldc, alpha, beta, mr, nr);
        else if (nr <= 2 * w) EdgeTileV<Rows2>(kc, a, b, ldbk, c, ldc, alpha, beta, mr, nr);
        else EdgeTileV<Rows3>(kc, a, b, ldbk, c, ldc, alpha, beta, mr, nr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UpdateMasked(Vector512<T> acc, T* c, Vector512<T> mask, Vector512<T> alpha, Vector512<T> beta, bool overwrite)
    {
        var r = overwrite ? acc * alpha : Fma(acc, alpha, MaskLoad(c, mask) * beta);
        if (typeof(T) == typeof(float)) Avx512F.MaskStore((float*)c, mask.AsSingle(), r.AsSingle());
        else Avx512F.MaskStore((double*)c, mask.AsDouble(), r.AsDouble());
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EdgeTileV<TV>(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, int mr, int nr)
        where TV : IRowCount
    {
        int nv = TV.Value;
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
            var b1 = nv > 1 ? Vector512.Load(b + w) : default;
            var b2 = nv > 2 ? Vector512.Load(b + 2 * w) : default;
            Vector512<T> av;
            av = Vector512.Create(a[0]);
            c00 = Fma(av, b0, c00); if (nv > 1) c01 = Fma(av, b1, c01); if (nv > 2) c02 = Fma(av, b2, c02);
            av = Vector512.Create(a[1]);
            c10 = Fma(av, b0, c10); if (nv > 1) c11 = Fma(av, b1, c11); if (nv > 2) c12 = Fma(av, b2, c12);
            av = Vector512.Create(a[2]);
            c20 = Fma(av, b0, c20); if (nv > 1) c21 = Fma(av, b1, c21); if (nv > 2) c22 = Fma(av, b2, c22);
            av = Vector512.Create(a[3]);
            c30 = Fma(av, b0, c30); if (nv > 1) c31 = Fma(av, b1, c31); if (nv > 2) c32 = Fma(av, b2, c32);
            av = Vector512.Create(a[4]);
            c40 = Fma(av, b0, c40); if (nv > 1) c41 = Fma(av, b1, c41); if (nv > 2) c42 = Fma(av, b2, c42);
            av = Vector512.Create(a[5]);
            c50 = Fma(av, b0, c50); if (nv > 1) c51 = Fma(av, b1, c51); if (nv > 2) c52 = Fma(av, b2, c52);
            av = Vector512.Create(a[6]);
            c60 = Fma(av, b0, c60); if (nv > 1) c61 = Fma(av, b1, c61); if (nv > 2) c62 = Fma(av, b2, c62);
            av = Vector512.Create(a[7]);
            c70 = Fma(av, b0, c70); if (nv > 1) c71 = Fma(av, b1, c71); if (nv > 2) c72 = Fma(av, b2, c72);
            a += 8;
            b += ldbk;
        }
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        bool ow = beta == T.Zero;
        var lane = Vector512<T>.Indices;
        var m0 = Vector512.LessThan(lane, Vector512.Create(T.CreateTruncating(nr)));
        var m1 = Vector512.LessThan(lane, Vector512.Create(T.CreateTruncating(nr - w)));
        var m2 = Vector512.LessThan(lane, Vector512.Create(T.CreateTruncating(nr - 2 * w)));
        { T* cr = c + 0 * ldc; UpdateMasked(c00, cr, m0, va, vb, ow); if (nv > 1) UpdateMasked(c01, cr + w, m1, va, vb, ow); if (nv > 2) UpdateMasked(c02, cr + 2 * w, m2, va, vb, ow); }
        if (mr > 1) { T* cr = c + 1 * ldc; UpdateMasked(c10, cr, m0, va, vb, ow); if (nv > 1) UpdateMasked(c11, cr + w, m1, va, vb, ow); if (nv > 2) UpdateMasked(c12, cr + 2 * w, m2, va, vb, ow); }
        if (mr > 2) { T* cr = c + 2 * ldc; UpdateMasked(c20, cr, m0, va, vb, ow); if (nv > 1) UpdateMasked(c21, cr + w, m1, va, vb, ow); if (nv > 2) UpdateMasked(c22, cr + 2 * w, m2, va, vb, ow); }
        if (mr > 3) { T* cr = c + 3 * ldc; UpdateMasked(c30, cr, m0, va, vb, ow); if (nv > 1) UpdateMasked(c31, cr + w, m1, va, vb, ow); if (nv > 2) UpdateMasked(c32, cr + 2 * w, m2, va, vb, ow); }
        if (mr > 4) { T* cr = c + 4 * ldc; UpdateMasked(c40, cr, m0, va, vb, ow); if (nv > 1) UpdateMasked(c41, cr + w, m1, va, vb, ow); if (nv > 2) UpdateMasked(c42, cr + 2 * w, m2, va, vb, ow); }
        if (mr > 5) { T* cr = c + 5 * ldc; UpdateMasked(c50, cr, m0, va, vb, ow); if (nv > 1) UpdateMasked(c51, cr + w, m1, va, vb, ow); if (nv > 2) UpdateMasked(c52, cr + 2 * w, m2, va, vb, ow); }
        if (mr > 6) { T* cr = c + 6 * ldc; UpdateMasked(c60, cr, m0, va, vb, ow); if (nv > 1) UpdateMasked(c61, cr + w, m1, va, vb, ow); if (nv > 2) UpdateMasked(c62, cr + 2 * w, m2, va, vb, ow); }
        if (mr > 7) { T* cr = c + 7 * ldc; UpdateMasked(c70, cr, m0, va, vb, ow); if (nv > 1) UpdateMasked(c71, cr + w, m1, va, vb, ow); if (nv > 2) UpdateMasked(c72, cr + 2 * w, m2, va, vb, ow); }
    }

    /// <inheritdoc/>
    public static void DotNT(in GemmProblem<T> p, int n0, int n1)
    {
        int m = p.M, k = p.K, w = Vector512<T>.Count;
        if (m > 3)
        {
            DotNTPacked(in p, n0, n1);
            return;
        }
        int kv = k - k % w, tail = k - kv;
        nint lda = p.Lda, ldb = p.Ldb, ldc = p.Ldc;
        T alpha = p.Alpha, beta = p.Beta;
        for (int j = n0; j < n1; j += 8)
        {
            int cols = Math.Min(8, n1 - j);
            T* bj = p.B + j * ldb;
            T* cj = p.C + j;
            int i = 0;
            for (; i + 3 <= m; i += 3)
                DotTile<Rows3>(kv, tail, p.A + i * lda, lda, bj, ldb, cols, cj + i * ldc, ldc, alpha, beta);
            if (m - i == 2) DotTile<Rows2>(kv, tail, p.A + i * lda, lda, bj, ldb, cols, cj + i * ldc, ldc, alpha, beta);
            else if (m - i == 1) DotTile<Rows1>(kv, tail, p.A + i * lda, lda, bj, ldb, cols, cj + i * ldc, ldc, alpha, beta);
        }
    }

    /// <summary>
    /// DotNT for more than one row tile: A (all m rows) and each 8-row tile of B are first copied
    /// into interleaved, zero-padded buffers ([k/w][rows][w]) so the kernel reads two sequential
    /// streams. Reading the rows in place is slow when their stride is a multiple of 4 KB
    /// (k = 1024: 11 rows alias in L1 and confuse the prefetchers); the copies cost ~3%.
    /// </summary>
    private static void DotNTPacked(in GemmProblem<T> p, int n0, int n1)
    {
        int m = p.M, k = p.K, w = Vector512<T>.Count;
        int steps = (k + w - 1) / w;
        int rowTiles = (m + 2) / 3;
        nint lda = p.Lda, ldb = p.Ldb, ldc = p.Ldc;
        T* ap = (T*)PackBuffers.A((nuint)((long)rowTiles * 3 * steps * w * sizeof(T)));
        T* bp = (T*)PackBuffers.B((nuint)((long)8 * steps * w * sizeof(T)));
        for (int t = 0; t < rowTiles; t++)
            PackRows(p.A + 3 * t * lda, lda, Math.Min(3, m - 3 * t), 3, k, ap + (nint)t * 3 * steps * w);
        for (int j = n0; j < n1; j += 8)
        {
            int cols = Math.Min(8, n1 - j);
            PackRows(p.B + j * ldb, ldb, cols, 8, k, bp);
            T* cj = p.C + j;
            for (int t = 0; t < rowTiles; t++)
                DotTilePacked(steps, ap + (nint)t * 3 * steps * w, bp, Math.Min(3, m - 3 * t), cols, cj + 3 * t * ldc, ldc, p.Alpha, p.Beta);
        }
    }

    // dst[s][r][0..w) = src row r, values s*w .. s*w+w (zero past k; rows past `rows` are zero).
    private static void PackRows(T* src, nint ld, int rows, int height, int k, T* dst)
    {
        int w = Vector512<T>.Count;
        int kv = k - k % w, tail = k - kv;
        nint step = (nint)height * w;
        for (int r = 0; r < height; r++)
        {
            T* d = dst + r * w;
            if (r >= rows)
            {
                for (int q = 0; q < kv + (tail > 0 ? w : 0); q += w, d += step) Vector512<T>.Zero.Store(d);
                continue;
            }
            T* s = src + r * ld;
            for (int q = 0; q < kv; q += w, d += step) Vector512.Load(s + q).Store(d);
            if (tail > 0)
                MaskLoad(s + kv, Vector512.LessThan(Vector512<T>.Indices, Vector512.Create(T.CreateTruncating(tail)))).Store(d);
        }
    }

    /// <summary>DotTile on packed operands: a [steps][3][w], b [steps][8][w]; stores `rows` x `cols`.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotTilePacked(int steps, T* a, T* b, int rows, int cols, T* c, nint ldc, T alpha, T beta)
    {
        int w = Vector512<T>.Count;
        Vector512<T> d00 = default, d01 = default, d02 = default, d03 = default, d04 = default, d05 = default, d06 = default, d07 = default;
        Vector512<T> d10 = default, d11 = default, d12 = default, d13 = default, d14 = default, d15 = default, d16 = default, d17 = default;
        Vector512<T> d20 = default, d21 = default, d22 = default, d23 = default, d24 = default, d25 = default, d26 = default, d27 = default;
        for (int s = 0; s < steps; s++)
        {
            var x0 = Vector512.Load(a);
            var x1 = Vector512.Load(a + w);
            var x2 = Vector512.Load(a + 2 * w);
            var y = Vector512.Load(b);
            d00 = Fma(x0, y, d00); d10 = Fma(x1, y, d10); d20 = Fma(x2, y, d20);
            y = Vector512.Load(b + w);
            d01 = Fma(x0, y, d01); d11 = Fma(x1, y, d11); d21 = Fma(x2, y, d21);
            y = Vector512.Load(b + 2 * w);
            d02 = Fma(x0, y, d02); d12 = Fma(x1, y, d12); d22 = Fma(x2, y, d22);
            y = Vector512.Load(b + 3 * w);
            d03 = Fma(x0, y, d03); d13 = Fma(x1, y, d13); d23 = Fma(x2, y, d23);
            y = Vector512.Load(b + 4 * w);
            d04 = Fma(x0, y, d04); d14 = Fma(x1, y, d14); d24 = Fma(x2, y, d24);
            y = Vector512.Load(b + 5 * w);
            d05 = Fma(x0, y, d05); d15 = Fma(x1, y, d15); d25 = Fma(x2, y, d25);
            y = Vector512.Load(b + 6 * w);
            d06 = Fma(x0, y, d06); d16 = Fma(x1, y, d16); d26 = Fma(x2, y, d26);
            y = Vector512.Load(b + 7 * w);
            d07 = Fma(x0, y, d07); d17 = Fma(x1, y, d17); d27 = Fma(x2, y, d27);
            a += 3 * w;
            b += 8 * w;
        }
        StoreRow(d00, d01, d02, d03, d04, d05, d06, d07, c, cols, alpha, beta);
        if (rows > 1) StoreRow(d10, d11, d12, d13, d14, d15, d16, d17, c + ldc, cols, alpha, beta);
        if (rows > 2) StoreRow(d20, d21, d22, d23, d24, d25, d26, d27, c + 2 * ldc, cols, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> MaskLoad(T* p, Vector512<T> mask)
    {
        if (typeof(T) == typeof(float))
            return Avx512F.MaskLoad((float*)p, mask.AsSingle(), Vector512<float>.Zero).As<float, T>();
        return Avx512F.MaskLoad((double*)p, mask.AsDouble(), Vector512<double>.Zero).As<double, T>();
    }

    /// <summary>
    /// C[r, 0..cols) = alpha * dot(A row r, B row c) + beta * C[r, c] for r &lt; TR.Value rows of A
    /// and up to 8 rows of B (a partial tile repeats its last B row and stores only `cols`).
    /// Vectorised along k; the last k % w values come in with masked loads. Every output gets the
    /// same arithmetic wherever its tile lies (the thread split relies on it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotTile<TR>(int kv, int tail, T* a, nint lda, T* b, nint ldb, int cols, T* c, nint ldc, T alpha, T beta)
        where TR : IRowCount
    {
        int rows = TR.Value;
        T* a0 = a, a1 = a + lda, a2 = a + 2 * lda;
        T* b0 = b;
        T* b1 = b + Math.Min(1, cols - 1) * ldb;
        T* b2 = b + Math.Min(2, cols - 1) * ldb;
        T* b3 = b + Math.Min(3, cols - 1) * ldb;
        T* b4 = b + Math.Min(4, cols - 1) * ldb;
        T* b5 = b + Math.Min(5, cols - 1) * ldb;
        T* b6 = b + Math.Min(6, cols - 1) * ldb;
        T* b7 = b + Math.Min(7, cols - 1) * ldb;
        Vector512<T> d00 = default, d01 = default, d02 = default, d03 = default, d04 = default, d05 = default, d06 = default, d07 = default;
        Vector512<T> d10 = default, d11 = default, d12 = default, d13 = default, d14 = default, d15 = default, d16 = default, d17 = default;
        Vector512<T> d20 = default, d21 = default, d22 = default, d23 = default, d24 = default, d25 = default, d26 = default, d27 = default;
        int w = Vector512<T>.Count;
        for (int q = 0; q < kv; q += w)
        {
            var x0 = Vector512.Load(a0 + q);
            var x1 = rows > 1 ? Vector512.Load(a1 + q) : default;
            var x2 = rows > 2 ? Vector512.Load(a2 + q) : default;
            var y0 = Vector512.Load(b0 + q);
            d00 = Fma(x0, y0, d00); if (rows > 1) d10 = Fma(x1, y0, d10); if (rows > 2) d20 = Fma(x2, y0, d20);
            var y1 = Vector512.Load(b1 + q);
            d01 = Fma(x0, y1, d01); if (rows > 1) d11 = Fma(x1, y1, d11); if (rows > 2) d21 = Fma(x2, y1, d21);
            var y2 = Vector512.Load(b2 + q);
            d02 = Fma(x0, y2, d02); if (rows > 1) d12 = Fma(x1, y2, d12); if (rows > 2) d22 = Fma(x2, y2, d22);
            var y3 = Vector512.Load(b3 + q);
            d03 = Fma(x0, y3, d03); if (rows > 1) d13 = Fma(x1, y3, d13); if (rows > 2) d23 = Fma(x2, y3, d23);
            var y4 = Vector512.Load(b4 + q);
            d04 = Fma(x0, y4, d04); if (rows > 1) d14 = Fma(x1, y4, d14); if (rows > 2) d24 = Fma(x2, y4, d24);
            var y5 = Vector512.Load(b5 + q);
            d05 = Fma(x0, y5, d05); if (rows > 1) d15 = Fma(x1, y5, d15); if (rows > 2) d25 = Fma(x2, y5, d25);
            var y6 = Vector512.Load(b6 + q);
            d06 = Fma(x0, y6, d06); if (rows > 1) d16 = Fma(x1, y6, d16); if (rows > 2) d26 = Fma(x2, y6, d26);
            var y7 = Vector512.Load(b7 + q);
            d07 = Fma(x0, y7, d07); if (rows > 1) d17 = Fma(x1, y7, d17); if (rows > 2) d27 = Fma(x2, y7, d27);
        }
        if (tail > 0)
        {
            var mask = Vector512.LessThan(Vector512<T>.Indices, Vector512.Create(T.CreateTruncating(tail)));
            var x0 = MaskLoad(a0 + kv, mask);
            var x1 = rows > 1 ? MaskLoad(a1 + kv, mask) : default;
            var x2 = rows > 2 ? MaskLoad(a2 + kv, mask) : default;
            var y0 = MaskLoad(b0 + kv, mask);
            d00 = Fma(x0, y0, d00); if (rows > 1) d10 = Fma(x1, y0, d10); if (rows > 2) d20 = Fma(x2, y0, d20);
            var y1 = MaskLoad(b1 + kv, mask);
            d01 = Fma(x0, y1, d01); if (rows > 1) d11 = Fma(x1, y1, d11); if (rows > 2) d21 = Fma(x2, y1, d21);
            var y2 = MaskLoad(b2 + kv, mask);
            d02 = Fma(x0, y2, d02); if (rows > 1) d12 = Fma(x1, y2, d12); if (rows > 2) d22 = Fma(x2, y2, d22);
            var y3 = MaskLoad(b3 + kv, mask);
            d03 = Fma(x0, y3, d03); if (rows > 1) d13 = Fma(x1, y3, d13); if (rows > 2) d23 = Fma(x2, y3, d23);
            var y4 = MaskLoad(b4 + kv, mask);
            d04 = Fma(x0, y4, d04); if (rows > 1) d14 = Fma(x1, y4, d14); if (rows > 2) d24 = Fma(x2, y4, d24);
            var y5 = MaskLoad(b5 + kv, mask);
            d05 = Fma(x0, y5, d05); if (rows > 1) d15 = Fma(x1, y5, d15); if (rows > 2) d25 = Fma(x2, y5, d25);
            var y6 = MaskLoad(b6 + kv, mask);
            d06 = Fma(x0, y6, d06); if (rows > 1) d16 = Fma(x1, y6, d16); if (rows > 2) d26 = Fma(x2, y6, d26);
            var y7 = MaskLoad(b7 + kv, mask);
            d07 = Fma(x0, y7, d07); if (rows > 1) d17 = Fma(x1, y7, d17); if (rows > 2) d27 = Fma(x2, y7, d27);
        }
        StoreRow(d00, d01, d02, d03, d04, d05, d06, d07, c + 0 * ldc, cols, alpha, beta);
        if (rows > 1) StoreRow(d10, d11, d12, d13, d14, d15, d16, d17, c + 1 * ldc, cols, alpha, beta);
        if (rows > 2) StoreRow(d20, d21, d22, d23, d24, d25, d26, d27, c + 2 * ldc, cols, alpha, beta);
    }

    // c[0..cols) = alpha * (sum v0, ..., sum v7) + beta * c (beta == 0: c not read).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(Vector512<T> v0, Vector512<T> v1, Vector512<T> v2, Vector512<T> v3,
        Vector512<T> v4, Vector512<T> v5, Vector512<T> v6, Vector512<T> v7, T* c, int cols, T alpha, T beta)
    {
        if (typeof(T) == typeof(float))
        {
            var s = Reduce8(v0.AsSingle(), v1.AsSingle(), v2.AsSingle(), v3.AsSingle(),
                v4.AsSingle(), v5.AsSingle(), v6.AsSingle(), v7.AsSingle()) * (float)(object)alpha;
            float fb = (float)(object)beta;
            float* fc = (float*)c;
            if (cols == 8)
            {
                if (fb != 0) s = Vector256.FusedMultiplyAdd(Vector256.Load(fc), Vector256.Create(fb), s);
                s.Store(fc);
            }
            else
            {
                for (int j = 0; j < cols; j++)
                    fc[j] = fb == 0 ? s.GetElement(j) : MathF.FusedMultiplyAdd(fc[j], fb, s.GetElement(j));
            }
        }
        else
        {
            var s = Reduce8(v0.AsDouble(), v1.AsDouble(), v2.AsDouble(), v3.AsDouble(),
                v4.AsDouble(), v5.AsDouble(), v6.AsDouble(), v7.AsDouble()) * (double)(object)alpha;
            double db = (double)(object)beta;
            double* dc = (double*)c;
            if (cols == 8)
            {
                if (db != 0) s = Vector512.FusedMultiplyAdd(Vector512.Load(dc), Vector512.Create(db), s);
                s.Store(dc);
            }
            else
            {
                for (int j = 0; j < cols; j++)
                    dc[j] = db == 0 ? s.GetElement(j) : Math.FusedMultiplyAdd(dc[j], db, s.GetElement(j));
            }
        }
    }

    /// <summary>(sum v0, ..., sum v7) with 24 shuffles/adds instead of 8 full horizontal sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Reduce8(Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        Vector512<float> v4, Vector512<float> v5, Vector512<float> v6, Vector512<float> v7)
    {
        // 128-bit quarters: s01 = [v0 q0+q2, v0 q1+q3, v1 q0+q2, v1 q1+q3].
        var s01 = Avx512F.Shuffle4x128(v0, v1, 0x44) + Avx512F.Shuffle4x128(v0, v1, 0xEE);
        var s23 = Avx512F.Shuffle4x128(v2, v3, 0x44) + Avx512F.Shuffle4x128(v2, v3, 0xEE);
        var s45 = Avx512F.Shuffle4x128(v4, v5, 0x44) + Avx512F.Shuffle4x128(v4, v5, 0xEE);
        var s67 = Avx512F.Shuffle4x128(v6, v7, 0x44) + Avx512F.Shuffle4x128(v6, v7, 0xEE);
        // Quarter i of t0123 holds 4 partial sums of v_i (t4567: of v_{4+i}).
        var t0123 = Avx512F.Shuffle4x128(s01, s23, 0x88) + Avx512F.Shuffle4x128(s01, s23, 0xDD);
        var t4567 = Avx512F.Shuffle4x128(s45, s67, 0x88) + Avx512F.Shuffle4x128(s45, s67, 0xDD);
        // Per quarter i: [v_i, v_i, v_{4+i}, v_{4+i}] partial pairs, then full sums.
        var z = Avx512F.Shuffle(t0123, t4567, 0x88) + Avx512F.Shuffle(t0123, t4567, 0xDD);
        var u = z + Avx512F.Permute4x32(z, 0xB1);
        // u = [v0 v0 v4 v4 | v1 v1 v5 v5 | v2 v2 v6 v6 | v3 v3 v7 v7] -> [v0 .. v7].
        var idx = Vector512.Create(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
        return Avx512F.PermuteVar16x32(u, idx).GetLower();
    }

    /// <summary>(sum v0, ..., sum v7) for doubles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Reduce8(Vector512<double> v0, Vector512<double> v1, Vector512<double> v2, Vector512<double> v3,
        Vector512<double> v4, Vector512<double> v5, Vector512<double> v6, Vector512<double> v7)
    {
        var s01 = Avx512F.Shuffle4x128(v0, v1, 0x44) + Avx512F.Shuffle4x128(v0, v1, 0xEE);
        var s23 = Avx512F.Shuffle4x128(v2, v3, 0x44) + Avx512F.Shuffle4x128(v2, v3, 0xEE);
        var s45 = Avx512F.Shuffle4x128(v4, v5, 0x44) + Avx512F.Shuffle4x128(v4, v5, 0xEE);
        var s67 = Avx512F.Shuffle4x128(v6, v7, 0x44) + Avx512F.Shuffle4x128(v6, v7, 0xEE);
        var t0123 = Avx512F.Shuffle4x128(s01, s23, 0x88) + Avx512F.Shuffle4x128(s01, s23, 0xDD);
        var t4567 = Avx512F.Shuffle4x128(s45, s67, 0x88) + Avx512F.Shuffle4x128(s45, s67, 0xDD);
        // Per quarter i: [v_i, v_{4+i}].
        var u = Avx512F.UnpackLow(t0123, t4567) + Avx512F.UnpackHigh(t0123, t4567);
        return Avx512F.PermuteVar8x64(u, Vector512.Create(0L, 2, 4, 6, 1, 3, 5, 7));
    }
}

