// AVX-512 bodies of the activation quantizer: 16 floats per step, the tail in scalar code (the same
// single-rounding float operations, so the bytes equal the portable path's).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

internal static unsafe partial class ActivationQuantizer
{
    // min/max of row[0, k) and 0; finite is false if any value is NaN or +-Inf (v - v is NaN exactly then).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MinMaxAvx512(float* row, int k, out float mn, out float mx, out bool finite)
    {
        var vmin = Vector512<float>.Zero;
        var vmax = Vector512<float>.Zero;
        var bad = Vector512<float>.Zero;
        int j = 0;
        for (; j + 16 <= k; j += 16)
        {
            var v = Vector512.Load(row + j);
            vmin = Avx512F.Min(vmin, v);
            vmax = Avx512F.Max(vmax, v);
            bad += v - v;
        }
        mn = ReduceMin(vmin);
        mx = ReduceMax(vmax);
        bool ok = Vector512.EqualsAll(bad, bad);
        MinMaxPortable(row, j, k, mn, mx, ok, out mn, out mx, out finite);
    }

    private static float ReduceMin(Vector512<float> v)
    {
        var h = Vector256.Min(v.GetLower(), v.GetUpper());
        var q = Vector128.Min(h.GetLower(), h.GetUpper());
        float r = q[0];
        for (int i = 1; i < 4; i++) r = Math.Min(r, q[i]);
        return r;
    }

    private static float ReduceMax(Vector512<float> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        float r = q[0];
        for (int i = 1; i < 4; i++) r = Math.Max(r, q[i]);
        return r;
    }

    // q[j] = clamp(round_half_even(row[j] * inv) + zp, 0, 255): vcvtps2dq rounds to nearest even
    // (the default MXCSR mode, which .NET never changes).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QuantizeAvx512(float* row, int k, float inv, int zp, byte* q)
    {
        var vinv = Vector512.Create(inv);
        var vzp = Vector512.Create(zp);
        var lo = Vector512<int>.Zero;
        var hi = Vector512.Create(255);
        int j = 0;
        for (; j + 16 <= k; j += 16)
        {
            var r = Avx512F.ConvertToVector512Int32(Vector512.Load(row + j) * vinv) + vzp;
            r = Avx512F.Min(Avx512F.Max(r, lo), hi);
            Avx512F.ConvertToVector128Byte(r).Store(q + j);
        }
        QuantizePortable(row, j, k, inv, zp, q);
    }
}
