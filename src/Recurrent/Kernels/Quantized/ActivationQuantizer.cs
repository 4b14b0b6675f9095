// Dynamic quantization of activation rows to uint8 for Int8Gemm, at every call (PyTorch's
// quantize_dynamic quantizes the input per tensor; we use one scale and zero point per ROW, which is
// never less accurate and costs the same: rows are independent, so a time step's rows do not share
// a range with the largest row of the batch).
//
// Row i of A (k floats):
//   mn = min(0, min_k a[k]), mx = max(0, max_k a[k])       (the range always holds 0, as PyTorch's)
//   scale = (mx - mn) / 255                                (mx/255 - mn/255 if mx - mn overflows)
//   if scale < float.MinNormal (zero row, or |a| < 3e-36):  scale = 1, zeroPoint = 0 (every q is 0)
//   inv = 1 / scale
//   zeroPoint = clamp(round_half_even(-mn * inv), 0, 255)
//   q[k] = clamp(round_half_even(a[k] * inv) + zeroPoint, 0, 255)
//   a row holding NaN or +-Inf gets scale = NaN, zeroPoint = 0 and q = 0: every output the row
//   feeds is NaN (the float product would be NaN or Inf too); nothing throws inside a layer.
// Every step is a single correctly rounded float operation, so every instruction-set path gives the
// same bytes. The minimum maps exactly to 0: a[k] = mn gives round(-(-mn*inv)) = -zeroPoint.
//
// Error (dequantized in exact arithmetic): |a[k] - scale * (q[k] - zeroPoint)| <= scale * (0.5 + 2^-14).
// Derivation, u = 2^-24: |a| <= mx - mn, so |a / scale| <= 255 (1 + 3u) (mx - mn and the division by
// 255 are each rounded once, or twice in the overflow form). inv = (1 / scale)(1 + d1) and
// fl(a * inv) = a * inv (1 + d2) with |di| <= u, so |fl(a * inv) - a / scale| <= 255 (1 + 3u)(2u + u^2)
// < 512 u = 2^-15, and rounding to an integer adds at most 1/2: |q - zeroPoint - a / scale| <= 1/2 + 2^-15
// when q is not clamped. zeroPoint is the same computation on -mn, so it is within 1/2 + 2^-15 of
// -mn / scale; hence a / scale + zeroPoint lies in [-1/2 - 2^-15, 255 (1 + 3u) + 1/2 + 2^-15], and
// clamping to [0, 255] leaves an error of at most 1/2 + 2^-15 + 765u < 1/2 + 2^-14.
// Output rows are stored with the padded width of the weights (PaddedK, a multiple of 4); the
// padding columns are written as 0 (the weights there are 0 anyway).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>Per-row dynamic uint8 quantization of activations (see the file header for the exact rounding).</summary>
internal static unsafe partial class ActivationQuantizer
{
    /// <summary>The smallest normal float, 2^-126: scales below it would make 1 / scale overflow.</summary>
    internal const float MinNormal = 1.17549435e-38f;

    /// <summary>
    /// Quantizes rows 0..m-1 of <paramref name="a"/>.
    /// a: (m, lda) floats, columns [0, k) used; q: (m, ldq) bytes, columns [0, kPadded) written
    /// (kPadded = k rounded up to 4; ldq &gt;= kPadded); scale, zeroPoint: (m).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRows(int m, int k, float* a, nint lda, byte* q, nint ldq, float* scale, int* zeroPoint, Int8Isa isa)
    {
        int kPadded = (k + 3) & ~3;
        for (int i = 0; i < m; i++)
        {
            float* row = a + i * lda;
            byte* qr = q + i * ldq;
            float mn, mx;
            bool finite;
            switch (isa)
            {
                case Int8Isa.AvxVnni or Int8Isa.Avx512 when Avx512F.IsSupported: MinMaxAvx512(row, k, out mn, out mx, out finite); break;
                case Int8Isa.AvxVnni or Int8Isa.Avx512 or Int8Isa.Avx2: MinMaxAvx2(row, k, out mn, out mx, out finite); break;
                default: MinMaxPortable(row, 0, k, 0f, 0f, true, out mn, out mx, out finite); break;
            }
            if (!finite)
            {
                scale[i] = float.NaN;
                zeroPoint[i] = 0;
                new Span<byte>(qr, kPadded).Clear();
                continue;
            }
            var (s, inv, zp) = Parameters(mn, mx);
            scale[i] = s;
            zeroPoint[i] = zp;
            switch (isa)
            {
                case Int8Isa.AvxVnni or Int8Isa.Avx512 when Avx512F.IsSupported: QuantizeAvx512(row, k, inv, zp, qr); break;
                case Int8Isa.AvxVnni or Int8Isa.Avx512 or Int8Isa.Avx2: QuantizeAvx2(row, k, inv, zp, qr); break;
                default: QuantizePortable(row, 0, k, inv, zp, qr); break;
            }
            for (int j = k; j < kPadded; j++) qr[j] = 0;
        }
    }

    /// <summary>Scale, its reciprocal and the zero point for a finite row range [mn, mx] holding 0.</summary>
    internal static (float Scale, float Inv, int ZeroPoint) Parameters(float mn, float mx)
    {
        float range = mx - mn;
        float scale = float.IsPositiveInfinity(range) ? mx / 255f - mn / 255f : range / 255f;
        if (!(scale >= MinNormal)) return (1f, 1f, 0);
        float inv = 1f / scale;
        int zp = (int)Math.Clamp(MathF.Round(-mn * inv, MidpointRounding.ToEven), 0f, 255f);
        return (scale, inv, zp);
    }

    // Scalar min/max over row[j0, k), continuing from (mn, mx, finite).
    private static void MinMaxPortable(float* row, int j0, int k, float mn0, float mx0, bool finite0, out float mn, out float mx, out bool finite)
    {
        mn = mn0;
        mx = mx0;
        finite = finite0;
        for (int j = j0; j < k; j++)
        {
            float v = row[j];
            if (!float.IsFinite(v)) finite = false;
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
    }

    // Scalar q[j0, k). |v * inv| <= 256 for a finite row (see the header), so the conversion is exact.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuantizePortable(float* row, int j0, int k, float inv, int zp, byte* q)
    {
        for (int j = j0; j < k; j++)
            q[j] = (byte)Math.Clamp((int)MathF.Round(row[j] * inv, MidpointRounding.ToEven) + zp, 0, 255);
    }
}
