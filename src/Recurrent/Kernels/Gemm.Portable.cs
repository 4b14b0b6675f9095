// Portable micro-kernels for Gemm: System.Numerics.Vector<T> (whatever width the runtime gives,
// scalar-emulated when hardware intrinsics are off), no FMA. Register tile 4 rows x 2 vectors.
// The path for machines without AVX2+FMA and for DOTNET_EnableHWIntrinsic=0; correctness first.
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Recurrent.Kernels;

/// <summary>Portable micro-kernels: register tile 4 x 2*Vector&lt;T&gt;.Count; skinny "nt" dot kernel 1 x 4.</summary>
internal unsafe struct PortableKernel<T> : IGemmKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 4;
    public static int NR => 2 * Vector<T>.Count;
    public static int KC => 256;
    public static int MC => 128;
    public static int NC => 2048;
    public static int SkinnyMaxM => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(Vector<T> acc, T* c, Vector<T> alpha, Vector<T> beta, bool overwrite)
    {
        if (overwrite) Unsafe.WriteUnaligned(c, acc * alpha);
        else Unsafe.WriteUnaligned(c, acc * alpha + Unsafe.ReadUnaligned<Vector<T>>(c) * beta);
    }

    /// <inheritdoc/>
    public static void Tile(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, byte* prefetch, int prefetchLines)
    {
        int w = Vector<T>.Count;
        Vector<T> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector<T> c20 = default, c21 = default, c30 = default, c31 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Unsafe.ReadUnaligned<Vector<T>>(b);
            var b1 = Unsafe.ReadUnaligned<Vector<T>>(b + w);
            var av = new Vector<T>(a[0]);
            c00 += av * b0; c01 += av * b1;
            av = new Vector<T>(a[1]);
            c10 += av * b0; c11 += av * b1;
            av = new Vector<T>(a[2]);
            c20 += av * b0; c21 += av * b1;
            av = new Vector<T>(a[3]);
            c30 += av * b0; c31 += av * b1;
            a += 4;
            b += ldbk;
        }
        var va = new Vector<T>(alpha);
        var vb = new Vector<T>(beta);
        bool ow = beta == T.Zero;
        Update(c00, c, va, vb, ow); Update(c01, c + w, va, vb, ow);
        Update(c10, c + ldc, va, vb, ow); Update(c11, c + ldc + w, va, vb, ow);
        Update(c20, c + 2 * ldc, va, vb, ow); Update(c21, c + 2 * ldc + w, va, vb, ow);
        Update(c30, c + 3 * ldc, va, vb, ow); Update(c31, c + 3 * ldc + w, va, vb, ow);
    }

    /// <inheritdoc/>
    public static void EdgeTile(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, int mr, int nr) =>
        GemmEdge<T, PortableKernel<T>>.ViaCopy(kc, a, b, ldbk, c, ldc, alpha, beta, mr, nr, beta == T.Zero);

    /// <inheritdoc/>
    public static void DotNT(in GemmProblem<T> p, int n0, int n1)
    {
        int m = p.M, k = p.K, w = Vector<T>.Count;
        int kv = k - k % w;
        nint lda = p.Lda, ldb = p.Ldb, ldc = p.Ldc;
        for (int j = n0; j < n1; j++)
        {
            T* bj = p.B + j * ldb;
            for (int i = 0; i < m; i++)
            {
                T* ai = p.A + i * lda;
                Vector<T> d = default;
                for (int q = 0; q < kv; q += w)
                    d += Unsafe.ReadUnaligned<Vector<T>>(ai + q) * Unsafe.ReadUnaligned<Vector<T>>(bj + q);
                T s = Vector.Sum(d);
                for (int q = kv; q < k; q++) s += ai[q] * bj[q];
                T* cij = p.C + i * ldc + j;
                *cij = p.Beta == T.Zero ? p.Alpha * s : p.Alpha * s + p.Beta * *cij;
            }
        }
    }
}
