// Products against a B packed once and reused. The per-time-step products of a recurrent layer
// multiply a new A (h_{t-1}, or the step's gate gradients) by the same weight matrix at every step;
// packing op(B) once per layer call into the micro-kernel's panels lets each step read B
// contiguously, instead of re-reading strided weight rows (a 16 KiB stride crosses a page per row
// for a 1024 x 4096 weight) or packing the same weights again. The packed layout belongs to the
// instruction set chosen for this process (BestIsa): pack and multiply in the same process.
using System.Numerics;

namespace Recurrent.Kernels;

public static unsafe partial class Gemm
{
    /// <summary>
    /// The most rows for which an "nt" product (A times B transposed) may run on the dot-product kernels of this
    /// process's instruction set, whose bits differ from the blocked kernels'.
    /// </summary>
    internal static int SkinnyMaxM<T>() where T : unmanaged, IFloatingPointIeee754<T> => BestIsa switch
    {
        GemmIsa.Avx512 => Avx512Kernel<T>.SkinnyMaxM,
        GemmIsa.Avx2 => Avx2Kernel<T>.SkinnyMaxM,
        _ => PortableKernel<T>.SkinnyMaxM,
    };

    /// <summary>Elements a packed op(B) of <paramref name="k"/> rows and <paramref name="n"/> columns takes.</summary>
    internal static long PackedBElements<T>(int k, int n) where T : unmanaged, IFloatingPointIeee754<T> => BestIsa switch
    {
        GemmIsa.Avx512 => GemmDriver<T, Avx512Kernel<T>>.PackedBElements(k, n),
        GemmIsa.Avx2 => GemmDriver<T, Avx2Kernel<T>>.PackedBElements(k, n),
        _ => GemmDriver<T, PortableKernel<T>>.PackedBElements(k, n),
    };

    /// <summary>
    /// Packs op(B) ([k, n]: B stored [n, ldb] when <paramref name="transB"/>, else [k, ldb]) into
    /// <paramref name="dst"/> (<see cref="PackedBElements{T}"/> elements) for <see cref="GemmPackedB{T}"/>.
    /// </summary>
    internal static void PackB<T>(bool transB, int k, int n, T* b, int ldb, T* dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (k < 0 || n < 0) throw new ArgumentOutOfRangeException(k < 0 ? nameof(k) : nameof(n), "Gemm.PackB: sizes must be non-negative.");
        switch (BestIsa)
        {
            case GemmIsa.Avx512: GemmDriver<T, Avx512Kernel<T>>.PackFullB(transB, k, n, b, ldb, dst); break;
            case GemmIsa.Avx2: GemmDriver<T, Avx2Kernel<T>>.PackFullB(transB, k, n, b, ldb, dst); break;
            default: GemmDriver<T, PortableKernel<T>>.PackFullB(transB, k, n, b, ldb, dst); break;
        }
    }

    /// <summary>
    /// C[m, n] = alpha * A[m, k] * op(B) + beta * C with op(B) packed by <see cref="PackB{T}"/>
    /// (A not transposed, row stride lda; beta == 0: C is not read). Same threading as the other products.
    /// </summary>
    internal static void GemmPackedB<T>(int m, int n, int k, T alpha, T* a, int lda, T* packedB, T beta, T* c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(m < 0 ? nameof(m) : n < 0 ? nameof(n) : nameof(k), "Gemm.GemmPackedB: sizes must be non-negative.");
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == T.Zero)
        {
            ScaleC(m, n, beta, c, ldc);
            return;
        }
        var p = new GemmProblem<T>
        {
            M = m, N = n, K = k, Alpha = alpha, Beta = beta, A = a, Lda = lda, C = c, Ldc = ldc, PackedB = packedB,
        };
        int threads = Math.Max(1, Parallelism.Threads);
        switch (BestIsa)
        {
            case GemmIsa.Avx512: GemmDriver<T, Avx512Kernel<T>>.Run(in p, threads); break;
            case GemmIsa.Avx2: GemmDriver<T, Avx2Kernel<T>>.Run(in p, threads); break;
            default: GemmDriver<T, PortableKernel<T>>.Run(in p, threads); break;
        }
    }
}
