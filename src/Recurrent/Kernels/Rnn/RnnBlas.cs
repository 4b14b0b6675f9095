// Small helpers shared by the recurrent kernels: the GEMM of the element type (float -> Sgemm,
// double -> Dgemm, resolved at JIT time) and the row/column sums the gradients need.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Recurrent.Kernels;

internal static unsafe class RnnBlas<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>C[m, n] = alpha * op(A) * op(B) + beta * C, row-major (see <see cref="Gemm"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Gemm(bool transA, bool transB, int m, int n, int k, T alpha, T* a, int lda, T* b, int ldb, T beta, T* c, int ldc)
    {
        if (m == 0 || n == 0) return;
        if (typeof(T) == typeof(float))
            Kernels.Gemm.Sgemm(transA, transB, m, n, k, Unsafe.As<T, float>(ref alpha), (float*)a, lda, (float*)b, ldb,
                Unsafe.As<T, float>(ref beta), (float*)c, ldc);
        else if (typeof(T) == typeof(double))
            Kernels.Gemm.Dgemm(transA, transB, m, n, k, Unsafe.As<T, double>(ref alpha), (double*)a, lda, (double*)b, ldb,
                Unsafe.As<T, double>(ref beta), (double*)c, ldc);
        else throw new NotSupportedException($"Recurrent kernels support float and double, not {typeof(T).Name}.");
    }

    /// <summary>dst[j] += src[j], j &lt; n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddTo(T* dst, T* src, int n)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j + Vector512<T>.Count <= n; j += Vector512<T>.Count)
                (Vector512.Load(dst + j) + Vector512.Load(src + j)).Store(dst + j);
        if (Vector256.IsHardwareAccelerated)
            for (; j + Vector256<T>.Count <= n; j += Vector256<T>.Count)
                (Vector256.Load(dst + j) + Vector256.Load(src + j)).Store(dst + j);
        for (; j < n; j++) dst[j] += src[j];
    }

    /// <summary>dst[j] = a[j] + b[j], j &lt; n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sum(T* dst, T* a, T* b, int n)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j + Vector512<T>.Count <= n; j += Vector512<T>.Count)
                (Vector512.Load(a + j) + Vector512.Load(b + j)).Store(dst + j);
        if (Vector256.IsHardwareAccelerated)
            for (; j + Vector256<T>.Count <= n; j += Vector256<T>.Count)
                (Vector256.Load(a + j) + Vector256.Load(b + j)).Store(dst + j);
        for (; j < n; j++) dst[j] = a[j] + b[j];
    }

    /// <summary>dst[j] *= s[j], j &lt; n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Mul_(T* dst, T* s, int n)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j + Vector512<T>.Count <= n; j += Vector512<T>.Count)
                (Vector512.Load(dst + j) * Vector512.Load(s + j)).Store(dst + j);
        for (; j < n; j++) dst[j] *= s[j];
    }

    /// <summary>dst[c, r] = src[r, c] for src (rows, cols) row-major, dst (cols, rows); float: AVX 8 x 8 blocks, else 16 x 16 scalar blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(T* dst, T* src, int rows, int cols)
    {
        if (typeof(T) == typeof(float) && PackTranspose.TryTransposeFloat((float*)dst, (float*)src, rows, cols)) return;
        const int Block = 16;
        for (int r0 = 0; r0 < rows; r0 += Block)
        {
            int r1 = Math.Min(rows, r0 + Block);
            for (int c0 = 0; c0 < cols; c0 += Block)
            {
                int c1 = Math.Min(cols, c0 + Block);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                        dst[(nint)c * rows + r] = src[(nint)r * cols + c];
            }
        }
    }

    /// <summary>Copies <paramref name="rows"/> rows of <paramref name="n"/> elements between strided matrices.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CopyRows(T* dst, int ldd, T* src, int lds, int rows, int n)
    {
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<T>(src + (nint)r * lds, n).CopyTo(new Span<T>(dst + (nint)r * ldd, n));
    }

    /// <summary>
    /// dst[j] += sum over rows r of a[r, j] (column sums of a [rows, n] with row stride lda). Rows are
    /// summed in blocks of 32 and the block sums added, which keeps float32 rounding close to a pairwise sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddColumnSums(T* dst, T* a, int lda, int rows, int n)
    {
        if (rows == 0) return;
        const int Block = 32;
        nuint mark = RnnArena.Mark();
        T* acc = RnnArena.Rent<T>(n);
        for (int r0 = 0; r0 < rows; r0 += Block)
        {
            int r1 = Math.Min(rows, r0 + Block);
            new ReadOnlySpan<T>(a + (nint)r0 * lda, n).CopyTo(new Span<T>(acc, n));
            for (int r = r0 + 1; r < r1; r++) AddTo(acc, a + (nint)r * lda, n);
            AddTo(dst, acc, n);
        }
        RnnArena.Release(mark);
    }
}
