// General matrix multiply, C = alpha * op(A) * op(B) + beta * C, for float32 and float64,
// row-major, the library's own BLAS level 3: packed, cache-blocked, with micro-kernels for
// AVX-512 (Gemm.Avx512.cs), AVX2+FMA (Gemm.Avx2.cs) and a portable Vector<T> path
// (Gemm.Portable.cs). The blocking driver is Gemm.Driver.cs; the skinny "nt" path for
// per-time-step products (few rows times a weight matrix) is part of each ISA file.
//
// Instruction set: chosen at run time from what the runtime reports, so the environment
// variables DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 (or DOTNET_EnableFMA=0) and
// DOTNET_EnableHWIntrinsic=0 select the AVX2, portable and portable paths. Tests call every path
// explicitly through the internal overloads that take a GemmIsa.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>Which micro-kernel family a product runs on (internal: tests and benchmarks pick one).</summary>
internal enum GemmIsa
{
    /// <summary>The widest supported: AVX-512, else AVX2+FMA, else portable.</summary>
    Auto,
    Avx512,
    Avx2,
    Portable,
}

/// <summary>
/// Row-major general matrix multiply: <c>C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C</c>,
/// as BLAS <c>sgemm</c>/<c>dgemm</c> for row-major storage.
/// </summary>
/// <remarks>
/// <para><c>op(A)</c> is <c>A</c> stored <c>[m, lda]</c> (row i starts at <c>i * lda</c>), or with
/// <c>transA</c> the transpose of <c>A</c> stored <c>[k, lda]</c>. Likewise <c>op(B)</c> is
/// <c>B</c> stored <c>[k, ldb]</c>, or with <c>transB</c> the transpose of <c>B</c> stored
/// <c>[n, ldb]</c> (PyTorch's weight layout: <c>x W^T</c> is <c>transB = true</c>).
/// <c>C</c> is stored <c>[m, ldc]</c>.</para>
/// <para><c>beta == 0</c> overwrites <c>C</c> without reading it (NaN in C does not propagate).
/// Reference loop (what the result equals up to rounding):</para>
/// <code>
/// for i, j: C[i, j] = alpha * sum_p op(A)[i, p] * op(B)[p, j] + (beta == 0 ? 0 : beta * C[i, j])
/// </code>
/// <para>Uses up to <see cref="Parallelism.MaxThreads"/> threads for large products; the result is
/// the same bits for a given thread count.</para>
/// </remarks>
public static unsafe partial class Gemm
{
    /// <summary>float32 GEMM on spans. See <see cref="Gemm"/> for the layout.</summary>
    /// <param name="transA">Use <c>A^T</c>: <c>A</c> is stored <c>[k, lda]</c>.</param>
    /// <param name="transB">Use <c>B^T</c>: <c>B</c> is stored <c>[n, ldb]</c>.</param>
    /// <param name="m">Rows of <c>op(A)</c> and <c>C</c>.</param>
    /// <param name="n">Columns of <c>op(B)</c> and <c>C</c>.</param>
    /// <param name="k">Columns of <c>op(A)</c>, rows of <c>op(B)</c>.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">A: <c>[m, lda]</c>, or <c>[k, lda]</c> with transA.</param>
    /// <param name="lda">Row stride of A, at least its number of columns (k, or m with transA).</param>
    /// <param name="b">B: <c>[k, ldb]</c>, or <c>[n, ldb]</c> with transB.</param>
    /// <param name="ldb">Row stride of B, at least its number of columns (n, or k with transB).</param>
    /// <param name="beta">Scale of the old C; 0 means C is not read.</param>
    /// <param name="c">C: <c>[m, ldc]</c>.</param>
    /// <param name="ldc">Row stride of C, at least n.</param>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Validate(transA, transB, m, n, k, lda, a.Length, ldb, b.Length, ldc, c.Length);
        fixed (float* pa = a, pb = b, pc = c)
            Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, GemmIsa.Auto, Parallelism.Threads);
    }

    /// <summary>float64 GEMM on spans. See <see cref="Sgemm(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int)"/>.</summary>
    public static void Dgemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        Validate(transA, transB, m, n, k, lda, a.Length, ldb, b.Length, ldc, c.Length);
        fixed (double* pa = a, pb = b, pc = c)
            Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, GemmIsa.Auto, Parallelism.Threads);
    }

    /// <summary>float32 GEMM on raw pointers (sizes and strides are checked, extents cannot be).</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        Validate(transA, transB, m, n, k, lda, long.MaxValue, ldb, long.MaxValue, ldc, long.MaxValue);
        Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, GemmIsa.Auto, Parallelism.Threads);
    }

    /// <summary>float64 GEMM on raw pointers (sizes and strides are checked, extents cannot be).</summary>
    public static void Dgemm(bool transA, bool transB, int m, int n, int k, double alpha, double* a, int lda,
        double* b, int ldb, double beta, double* c, int ldc)
    {
        Validate(transA, transB, m, n, k, lda, long.MaxValue, ldb, long.MaxValue, ldc, long.MaxValue);
        Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, GemmIsa.Auto, Parallelism.Threads);
    }

    /// <summary>
    /// The vector instructions the matrix and recurrent kernels use in this process: "AVX-512", "AVX2+FMA" or "portable"
    /// (no x64 vector kernel: another architecture, or a NativeAOT binary published without an instruction set that
    /// includes AVX2, which is several times slower; see the README's NativeAOT notes).
    /// </summary>
    public static string InstructionSet => BestIsa switch
    {
        GemmIsa.Avx512 => "AVX-512",
        GemmIsa.Avx2 => "AVX2+FMA",
        _ => "portable",
    };

    /// <summary>The instruction set <see cref="GemmIsa.Auto"/> resolves to in this process.</summary>
    internal static GemmIsa BestIsa { get; } =
        Avx512F.IsSupported ? GemmIsa.Avx512 :
        Avx2.IsSupported && Fma.IsSupported ? GemmIsa.Avx2 :
        GemmIsa.Portable;

    /// <summary>Whether <paramref name="isa"/> can run in this process.</summary>
    internal static bool IsSupported(GemmIsa isa) => isa switch
    {
        GemmIsa.Auto or GemmIsa.Portable => true,
        GemmIsa.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        GemmIsa.Avx512 => Avx512F.IsSupported,
        _ => false,
    };

    /// <summary>Span overload with an explicit instruction set and thread count (tests, benchmarks).</summary>
    internal static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, GemmIsa isa, int threads)
    {
        Validate(transA, transB, m, n, k, lda, a.Length, ldb, b.Length, ldc, c.Length);
        fixed (float* pa = a, pb = b, pc = c)
            Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, isa, threads);
    }

    /// <summary>Span overload with an explicit instruction set and thread count (tests, benchmarks).</summary>
    internal static void Dgemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc, GemmIsa isa, int threads)
    {
        Validate(transA, transB, m, n, k, lda, a.Length, ldb, b.Length, ldc, c.Length);
        fixed (double* pa = a, pb = b, pc = c)
            Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, isa, threads);
    }

    private static void Run<T>(bool transA, bool transB, int m, int n, int k, T alpha, T* a, nint lda, T* b, nint ldb,
        T beta, T* c, nint ldc, GemmIsa isa, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == T.Zero)
        {
            ScaleC(m, n, beta, c, ldc);
            return;
        }
        if (isa == GemmIsa.Auto) isa = BestIsa;
        else if (!IsSupported(isa)) throw new PlatformNotSupportedException($"Gemm: instruction set {isa} is not supported on this machine.");
        if (threads < 1) threads = 1;

        var p = new GemmProblem<T>
        {
            TransA = transA, TransB = transB, M = m, N = n, K = k, Alpha = alpha, Beta = beta,
            A = a, Lda = lda, B = b, Ldb = ldb, C = c, Ldc = ldc,
        };
        switch (isa)
        {
            case GemmIsa.Avx512: GemmDriver<T, Avx512Kernel<T>>.Run(in p, threads); break;
            case GemmIsa.Avx2: GemmDriver<T, Avx2Kernel<T>>.Run(in p, threads); break;
            default: GemmDriver<T, PortableKernel<T>>.Run(in p, threads); break;
        }
    }

    // C = beta * C (beta == 0: zero without reading), for k == 0 or alpha == 0.
    private static void ScaleC<T>(int m, int n, T beta, T* c, nint ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<T>(c + i * ldc, n);
            if (beta == T.Zero) row.Clear();
            else if (beta != T.One)
                for (int j = 0; j < row.Length; j++) row[j] *= beta;
        }
    }

    // Checks sizes, strides and span lengths; lengths of long.MaxValue mean "unknown" (pointers).
    private static void Validate(bool transA, bool transB, int m, int n, int k, int lda, long aLength, int ldb, long bLength,
        int ldc, long cLength)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, $"Gemm: m must be non-negative. Expected >= 0, got {m}.");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, $"Gemm: n must be non-negative. Expected >= 0, got {n}.");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, $"Gemm: k must be non-negative. Expected >= 0, got {k}.");

        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        CheckOperand("a", "lda", transA ? "[k, lda] (transA)" : "[m, lda]", aRows, aCols, lda, aLength);
        CheckOperand("b", "ldb", transB ? "[n, ldb] (transB)" : "[k, ldb]", bRows, bCols, ldb, bLength);
        CheckOperand("c", "ldc", "[m, ldc]", m, n, ldc, cLength);
    }

    private static void CheckOperand(string name, string ldName, string shape, int rows, int cols, int ld, long length)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(ldName, ld,
                $"Gemm: {ldName} must be at least the number of columns of {name} stored {shape}. Expected >= {Math.Max(1, cols)}, got {ld}.");
        if (rows == 0 || cols == 0) return;
        long needed = (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException(
                $"Gemm: {name} is too short for {rows} x {cols} stored {shape} with {ldName} = {ld}. Expected at least {needed} elements, got {length}.",
                name);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void ThrowUnreachable() => throw new InvalidOperationException("Gemm: unreachable.");
}
