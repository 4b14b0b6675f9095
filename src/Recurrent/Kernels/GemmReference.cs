// The naive GEMM that the fast one is tested against (llm.c habit: keep the plain loop).
// Triple loop over op(A), op(B) with double accumulation; same argument contract as Gemm.
namespace Recurrent.Kernels;

/// <summary>Reference <c>C = alpha * op(A) * op(B) + beta * C</c>, row-major, plain loops (slow; for tests).</summary>
internal static class GemmReference
{
    /// <summary>float32 reference; accumulates in double.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                double old = beta == 0 ? 0 : beta * (double)c[i * ldc + j];
                c[i * ldc + j] = (float)(alpha * s + old);
            }
    }

    /// <summary>float64 reference.</summary>
    public static void Dgemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                double old = beta == 0 ? 0 : beta * c[i * ldc + j];
                c[i * ldc + j] = alpha * s + old;
            }
    }
}
