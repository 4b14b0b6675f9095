// Plain loops the int8 kernels are tested against (llm.c habit: keep the naive version): the int32
// product of row-major uint8 activations and int8 weights, and the documented float epilogue.
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

internal static class Int8Reference
{
    /// <summary>acc[i, j] = sum_k q[i, k] * w[j, k]; q (m, ldq), w (n, k) row-major.</summary>
    public static int[] Int32Product(int m, int n, int k, byte[] q, int ldq, sbyte[] w)
    {
        var acc = new int[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                int s = 0;
                for (int p = 0; p < k; p++) s += q[i * ldq + p] * w[j * k + p];
                acc[i * n + j] = s;
            }
        return acc;
    }

    /// <summary>
    /// The epilogue exactly as Int8Gemm.Driver.cs documents it, one element at a time:
    /// out = (accumulate ? out : 0) + ((float)(acc - za * rowSum) * (sw * sa) + bias).
    /// </summary>
    public static void Epilogue(int m, int n, int[] acc, float[] sa, int[] za, QuantizedMatrix w, float[]? bias, bool accumulate, float[] c, int ldc)
    {
        var sw = w.Scales;
        var rs = w.RowSums;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                int v = acc[i * n + j] - za[i] * rs[j];
                float r = (float)v * (sw[j] * sa[i]);
                if (bias != null) r += bias[j];
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + r : r;
            }
    }

    /// <summary>W's int8 values row-major (n, k).</summary>
    public static sbyte[] Int8(QuantizedMatrix w)
    {
        var q = new sbyte[w.N * w.K];
        w.CopyInt8To(q);
        return q;
    }

    /// <summary>A random int8 matrix (n, k) over the full range with random positive scales; row zeroRow (if any) all zero.</summary>
    public static QuantizedMatrix RandomMatrix(Random rng, int n, int k, int zeroRow = -1)
    {
        var q = new sbyte[n * k];
        for (int i = 0; i < q.Length; i++) q[i] = (sbyte)rng.Next(-128, 128);
        if (zeroRow >= 0) Array.Clear(q, zeroRow * k, k);
        var s = new float[n];
        for (int i = 0; i < n; i++) s[i] = (float)(rng.NextDouble() * 0.1 + 1e-3);
        return QuantizedMatrix.FromInt8(q, s, n, k);
    }

    /// <summary>Random bytes (m, ldq); columns past k hold garbage too (the kernels must ignore it).</summary>
    public static byte[] RandomActivations(Random rng, int m, int ldq)
    {
        var q = new byte[m * ldq];
        rng.NextBytes(q);
        return q;
    }

    public static float[] RandomFloats(Random rng, int count, double scale = 1)
    {
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    public static Int8Isa[] Isas => [Int8Isa.AvxVnni, Int8Isa.Avx512, Int8Isa.Avx2, Int8Isa.Portable];
}
