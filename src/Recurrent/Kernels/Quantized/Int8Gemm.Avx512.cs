// AVX-512BW micro-kernel of Int8Gemm, for CPUs with AVX-512 but without VNNI.
// vpmaddubsw (uint8 x int8 pairs into int16) saturates: 255 * 127 * 2 = 64770 > 32767. So the bytes
// are widened to int16 and multiplied with vpmaddwd, which is exact (a pair of products of at most
// 255 * 128 sums to less than 2^31):
//   activations, one 32-bit group a0 a1 a2 a3 broadcast:  lo = a & 0x00FF00FF  -> int16 (a0, a2)
//                                                         hi = a >>16-bit 8     -> int16 (a1, a3)
//   weights, one 64-byte panel line (16 lanes x 4 k):     lo = (w <<16 8) >>16 8 (arithmetic) -> (w0, w2)
//                                                         hi = w >>16 8 (arithmetic)          -> (w1, w3)
//   acc += vpmaddwd(lo_a, lo_w) + vpmaddwd(hi_a, hi_w)     -> a0 w0 + a2 w2 + a1 w1 + a3 w3 per lane
// A panel line is one zmm, so each row of the register tile (up to 8 rows x 16 columns) is one
// accumulator; its dependency chain is one add per k group (the two products are summed first).
// One call walks `panels` panels one after another.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>AVX-512BW (widening, no VNNI) micro-kernel: tiles of up to 8 rows x 16 columns, one zmm accumulator per row.</summary>
internal unsafe struct Avx512Int8Kernel : IInt8Kernel
{
    public static int MR => 8;

    // The int16 (a0, a2) and (a1, a3) pairs of the 4 activations at a, in every lane.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(byte* a, out Vector512<short> lo, out Vector512<short> hi)
    {
        var v = Vector512.Create(*(int*)a);
        lo = (v & Vector512.Create(0x00FF00FF)).AsInt16();
        hi = Avx512BW.ShiftRightLogical(v.AsUInt16(), 8).AsInt16();
    }

    // The int16 (w0, w2) and (w1, w3) pairs of the panel line at w, sign-extended.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(sbyte* w, out Vector512<short> lo, out Vector512<short> hi)
    {
        var v = Vector512.Load(w).AsInt16();
        lo = Avx512BW.ShiftRightArithmetic(Avx512BW.ShiftLeftLogical(v, 8), 8);
        hi = Avx512BW.ShiftRightArithmetic(v, 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Dot(Vector512<int> acc, Vector512<short> alo, Vector512<short> ahi, Vector512<short> wlo, Vector512<short> whi) =>
        acc + (Avx512BW.MultiplyAddAdjacent(alo, wlo) + Avx512BW.MultiplyAddAdjacent(ahi, whi));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TR>(int kg, byte* a, nint lda, sbyte* w, nint pb, int panels, int* acc, int accStride)
        where TR : IRowCount
    {
        int R = TR.Value;
        for (int p = 0; p < panels; p++, w += pb, acc += 16)
        {
            Vector512<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            byte* ag = a;
            sbyte* wg = w;
            for (int g = 0; g < kg; g++, ag += 4, wg += QuantizedMatrix.LineBytes)
            {
                Widen(wg, out var wl, out var wh);
                { Widen(ag, out var al, out var ah); c0 = Dot(c0, al, ah, wl, wh); }
                if (R > 1) { Widen(ag + 1 * lda, out var al, out var ah); c1 = Dot(c1, al, ah, wl, wh); }
                if (R > 2) { Widen(ag + 2 * lda, out var al, out var ah); c2 = Dot(c2, al, ah, wl, wh); }
                if (R > 3) { Widen(ag + 3 * lda, out var al, out var ah); c3 = Dot(c3, al, ah, wl, wh); }
                if (R > 4) { Widen(ag + 4 * lda, out var al, out var ah); c4 = Dot(c4, al, ah, wl, wh); }
                if (R > 5) { Widen(ag + 5 * lda, out var al, out var ah); c5 = Dot(c5, al, ah, wl, wh); }
                if (R > 6) { Widen(ag + 6 * lda, out var al, out var ah); c6 = Dot(c6, al, ah, wl, wh); }
                if (R > 7) { Widen(ag + 7 * lda, out var al, out var ah); c7 = Dot(c7, al, ah, wl, wh); }
            }
            c0.Store(acc);
            if (R > 1) c1.Store(acc + 1 * accStride);
            if (R > 2) c2.Store(acc + 2 * accStride);
            if (R > 3) c3.Store(acc + 3 * accStride);
            if (R > 4) c4.Store(acc + 4 * accStride);
            if (R > 5) c5.Store(acc + 5 * accStride);
            if (R > 6) c6.Store(acc + 6 * accStride);
            if (R > 7) c7.Store(acc + 7 * accStride);
        }
    }

    /// <inheritdoc/>
    public static void Epilogue(in Int8Problem p, int m0, int rows, int n0, int cols, int* acc, int accStride) =>
        Int8Epilogue.V512(in p, m0, rows, n0, cols, acc, accStride);
}
