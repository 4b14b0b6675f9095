// Transposing pack for GEMM panels: `width` rows of a row-major matrix (row stride ld), kc values
// each, written as kc steps of `width` values (what the micro-kernel reads per step). Used for A
// in layout "n" (row-major A, MR-high panels) and for B in layout "t" (PyTorch weights, NR-wide
// panels). In-register 8x8 (float) and 4x4 (double) transposes with AVX.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

internal static unsafe class PackTranspose
{
    /// <summary>
    /// dst[q * width + r] = src[r * ld + q] for r &lt; width, q &lt; kc. Returns false (nothing
    /// written) when no vector path applies; the caller then packs with scalar loops.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryPack<T>(T* src, nint ld, int width, int kc, T* dst) where T : unmanaged
    {
        if (!Avx.IsSupported) return false;
        if (typeof(T) == typeof(float) && width % 8 == 0)
        {
            PackFloat((float*)src, ld, width, kc, (float*)dst);
            return true;
        }
        if (typeof(T) == typeof(double) && width % 4 == 0)
        {
            PackDouble((double*)src, ld, width, kc, (double*)dst);
            return true;
        }
        return false;
    }

    /// <summary>
    /// Whole-matrix transpose, dst[c, r] = src[r, c] for src (rows, cols) row-major and dst (cols, rows),
    /// in 8 x 8 register blocks walked in 32 x 32 tiles (both matrices' lines stay in L1 per tile).
    /// Returns false (nothing written) without AVX; the caller then transposes with scalar loops.
    /// </summary>
    public static bool TryTransposeFloat(float* dst, float* src, int rows, int cols)
    {
        if (!Avx.IsSupported) return false;
        const int Tile = 32;
        int rows8 = rows & ~7, cols8 = cols & ~7;
        for (int r0 = 0; r0 < rows8; r0 += Tile)
        {
            int r1 = Math.Min(rows8, r0 + Tile);
            for (int c0 = 0; c0 < cols8; c0 += Tile)
            {
                int c1 = Math.Min(cols8, c0 + Tile);
                for (int r = r0; r < r1; r += 8)
                    for (int c = c0; c < c1; c += 8)
                        Transpose8x8(src + (nint)r * cols + c, cols, dst + (nint)c * rows + r, rows);
            }
        }
        // Remainder rows (all columns) and remainder columns (the first rows8 rows).
        for (int r = rows8; r < rows; r++)
            for (int c = 0; c < cols; c++) dst[(nint)c * rows + r] = src[(nint)r * cols + c];
        for (int r = 0; r < rows8; r++)
            for (int c = cols8; c < cols; c++) dst[(nint)c * rows + r] = src[(nint)r * cols + c];
        return true;
    }

    // d[j * ldd + i] = s[i * lds + j] for i, j < 8.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* s, nint lds, float* d, nint ldd)
    {
        var r0 = Avx.LoadVector256(s);
        var r1 = Avx.LoadVector256(s + lds);
        var r2 = Avx.LoadVector256(s + 2 * lds);
        var r3 = Avx.LoadVector256(s + 3 * lds);
        var r4 = Avx.LoadVector256(s + 4 * lds);
        var r5 = Avx.LoadVector256(s + 5 * lds);
        var r6 = Avx.LoadVector256(s + 6 * lds);
        var r7 = Avx.LoadVector256(s + 7 * lds);

        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);

        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);

        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }

    private static void PackFloat(float* src, nint ld, int width, int kc, float* dst)
    {
        int kc8 = kc & ~7;
        for (int g = 0; g < width; g += 8)
        {
            float* s = src + g * ld;
            float* d = dst + g;
            int q = 0;
            for (; q < kc8; q += 8)
            {
                var r0 = Avx.LoadVector256(s + q);
                var r1 = Avx.LoadVector256(s + ld + q);
                var r2 = Avx.LoadVector256(s + 2 * ld + q);
                var r3 = Avx.LoadVector256(s + 3 * ld + q);
                var r4 = Avx.LoadVector256(s + 4 * ld + q);
                var r5 = Avx.LoadVector256(s + 5 * ld + q);
                var r6 = Avx.LoadVector256(s + 6 * ld + q);
                var r7 = Avx.LoadVector256(s + 7 * ld + q);

                var t0 = Avx.UnpackLow(r0, r1);
                var t1 = Avx.UnpackHigh(r0, r1);
                var t2 = Avx.UnpackLow(r2, r3);
                var t3 = Avx.UnpackHigh(r2, r3);
                var t4 = Avx.UnpackLow(r4, r5);
                var t5 = Avx.UnpackHigh(r4, r5);
                var t6 = Avx.UnpackLow(r6, r7);
                var t7 = Avx.UnpackHigh(r6, r7);

                var u0 = Avx.Shuffle(t0, t2, 0x44);
                var u1 = Avx.Shuffle(t0, t2, 0xEE);
                var u2 = Avx.Shuffle(t1, t3, 0x44);
                var u3 = Avx.Shuffle(t1, t3, 0xEE);
                var u4 = Avx.Shuffle(t4, t6, 0x44);
                var u5 = Avx.Shuffle(t4, t6, 0xEE);
                var u6 = Avx.Shuffle(t5, t7, 0x44);
                var u7 = Avx.Shuffle(t5, t7, 0xEE);

                float* o = d + q * width;
                Avx.Store(o, Avx.Permute2x128(u0, u4, 0x20));
                Avx.Store(o + width, Avx.Permute2x128(u1, u5, 0x20));
                Avx.Store(o + 2 * width, Avx.Permute2x128(u2, u6, 0x20));
                Avx.Store(o + 3 * width, Avx.Permute2x128(u3, u7, 0x20));
                Avx.Store(o + 4 * width, Avx.Permute2x128(u0, u4, 0x31));
                Avx.Store(o + 5 * width, Avx.Permute2x128(u1, u5, 0x31));
                Avx.Store(o + 6 * width, Avx.Permute2x128(u2, u6, 0x31));
                Avx.Store(o + 7 * width, Avx.Permute2x128(u3, u7, 0x31));
            }
            for (; q < kc; q++)
                for (int r = 0; r < 8; r++) d[q * width + r] = s[r * ld + q];
        }
    }

    private static void PackDouble(double* src, nint ld, int width, int kc, double* dst)
    {
        int kc4 = kc & ~3;
        for (int g = 0; g < width; g += 4)
        {
            double* s = src + g * ld;
            double* d = dst + g;
            int q = 0;
            for (; q < kc4; q += 4)
            {
                var r0 = Avx.LoadVector256(s + q);
                var r1 = Avx.LoadVector256(s + ld + q);
                var r2 = Avx.LoadVector256(s + 2 * ld + q);
                var r3 = Avx.LoadVector256(s + 3 * ld + q);
                var t0 = Avx.UnpackLow(r0, r1);
                var t1 = Avx.UnpackHigh(r0, r1);
                var t2 = Avx.UnpackLow(r2, r3);
                var t3 = Avx.UnpackHigh(r2, r3);
                double* o = d + q * width;
                Avx.Store(o, Avx.Permute2x128(t0, t2, 0x20));
                Avx.Store(o + width, Avx.Permute2x128(t1, t3, 0x20));
                Avx.Store(o + 2 * width, Avx.Permute2x128(t0, t2, 0x31));
                Avx.Store(o + 3 * width, Avx.Permute2x128(t1, t3, 0x31));
            }
            for (; q < kc; q++)
                for (int r = 0; r < 4; r++) d[q * width + r] = s[r * ld + q];
        }
    }
}
