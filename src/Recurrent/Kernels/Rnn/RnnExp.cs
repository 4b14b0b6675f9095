// Vectorised exp for the gate activations. The runtime's Vector512.Exp / Vector256.Exp were
// measured at ~5 ns per element on the reference machine (no faster than scalar MathF.Exp), so the
// gates use this Cody-Waite range reduction plus polynomial instead:
//   x = n ln2 + r, |r| <= ln2/2;  e^x = 2^n * p(r)
// float: Cephes' degree-7 expf polynomial (about 1 ulp); double: Taylor series to r^12 (relative
// truncation error ~2e-16). Inputs are clamped to the range where 2^n is a normal number, which
// only matters beyond |x| ~ 87 (float) / 708 (double), where sigmoid and tanh are saturated anyway.
// n is rounded with the "magic number" trick: adding 1.5 * 2^23 (2^52) to x log2(e) leaves n in the
// low mantissa bits, so the float n and the integer exponent come out of one FMA and two integer
// ops (the runtime's Round + saturating ConvertToInt32 cost four instructions). Every multiply-add
// is fused (one rounding), as in the scalar body of RnnSimd.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Recurrent.Kernels;

internal static class RnnExp
{
    private const float FMax = 88.0f, FMin = -87.0f, FLog2e = 1.44269504088896341f, FLn2Hi = 0.693359375f, FLn2Lo = -2.12194440e-4f;
    private const float FMagic = 12582912.0f; // 1.5 * 2^23
    private const double DMax = 708.0, DMin = -708.0, DLog2e = 1.4426950408889634074, DLn2Hi = 6.93147180369123816490e-01, DLn2Lo = 1.90821492927058770002e-10;
    private const double DMagic = 6755399441055744.0; // 1.5 * 2^52

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(FMin)), Vector512.Create(FMax));
        var t = Vector512.FusedMultiplyAdd(x, Vector512.Create(FLog2e), Vector512.Create(FMagic));
        var n = t - Vector512.Create(FMagic);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-FLn2Hi), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-FLn2Lo), r);
        var p = Vector512.Create(1.9875691500E-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        var scale = Vector512.ShiftLeft(t.AsInt32() - Vector512.Create(FMagicBits - 127), 23).AsSingle();
        return p * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(FMin)), Vector256.Create(FMax));
        var t = Vector256.FusedMultiplyAdd(x, Vector256.Create(FLog2e), Vector256.Create(FMagic));
        var n = t - Vector256.Create(FMagic);
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-FLn2Hi), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-FLn2Lo), r);
        var p = Vector256.Create(1.9875691500E-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073E-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894E-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459E-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201E-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        var scale = Vector256.ShiftLeft(t.AsInt32() - Vector256.Create(FMagicBits - 127), 23).AsSingle();
        return p * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Exp(Vector512<double> x)
    {
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(DMin)), Vector512.Create(DMax));
        var t = Vector512.FusedMultiplyAdd(x, Vector512.Create(DLog2e), Vector512.Create(DMagic));
        var n = t - Vector512.Create(DMagic);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-DLn2Hi), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-DLn2Lo), r);
        var p = Vector512.Create(1.0 / 479001600);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 39916800));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 3628800));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 362880));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 40320));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 5040));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.0 / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<double>.One;
        var scale = Vector512.ShiftLeft(t.AsInt64() - Vector512.Create(DMagicBits - 1023L), 52).AsDouble();
        return p * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Exp(Vector256<double> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(DMin)), Vector256.Create(DMax));
        var t = Vector256.FusedMultiplyAdd(x, Vector256.Create(DLog2e), Vector256.Create(DMagic));
        var n = t - Vector256.Create(DMagic);
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-DLn2Hi), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-DLn2Lo), r);
        var p = Vector256.Create(1.0 / 479001600);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 39916800));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 3628800));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 362880));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 40320));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 5040));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 720));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 120));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 24));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.0 / 6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<double>.One;
        var scale = Vector256.ShiftLeft(t.AsInt64() - Vector256.Create(DMagicBits - 1023L), 52).AsDouble();
        return p * scale;
    }

    // The bit patterns of the magic numbers (checked by RnnExpTests): t's bits minus these are n.
    internal const int FMagicBits = 0x4B40_0000;
    internal const long DMagicBits = 0x4338_0000_0000_0000;
}
