// AVX2 bodies of the activation quantizer: 8 floats per step, the tail in scalar code (the same
// single-rounding float operations, so the bytes equal the portable path's).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

internal static unsafe partial class ActivationQuantizer
{
    // min/max of row[0, k) and 0; finite is false if any value is NaN or +-Inf (v - v is NaN exactly then).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MinMaxAvx2(float* row, int k, out float mn, out float mx, out bool finite)
    {
        var vmin = Vector256<float>.Zero;
        var vmax = Vector256<float>.Zero;
        var bad = Vector256<float>.Zero;
        int j = 0;
        for (; j + 8 <= k; j += 8)
        {
            var v = Vector256.Load(row + j);
            vmin = Avx.Min(vmin, v);
            vmax = Avx.Max(vmax, v);
            bad += v - v;
        }
        var qmin = Vector128.Min(vmin.GetLower(), vmin.GetUpper());
        var qmax = Vector128.Max(vmax.GetLower(), vmax.GetUpper());
        float a = qmin[0], b = qmax[0];
        for (int i = 1; i < 4; i++)
        {
            a = Math.Min(a, qmin[i]);
            b = Math.Max(b, qmax[i]);
        }
        bool ok = Vector256.EqualsAll(bad, bad);
        MinMaxPortable(row, j, k, a, b, ok, out mn, out mx, out finite);
    }

    // q[j] = clamp(round_half_even(row[j] * inv) + zp, 0, 255): vcvtps2dq rounds to nearest even.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QuantizeAvx2(float* row, int k, float inv, int zp, byte* q)
    {
        var vinv = Vector256.Create(inv);
        var vzp = Vector256.Create(zp);
        int j = 0;
        for (; j + 8 <= k; j += 8)
        {
            var r = Avx.ConvertToVector256Int32(Vector256.Load(row + j) * vinv) + vzp;
            // int32 -> int16 -> uint8 with saturation is the clamp to [0, 255].
            var s = Sse2.PackSignedSaturate(r.GetLower(), r.GetUpper());
            var b = Sse2.PackUnsignedSaturate(s, s);
            *(ulong*)(q + j) = b.AsUInt64().ToScalar();
        }
        QuantizePortable(row, j, k, inv, zp, q);
    }
}
