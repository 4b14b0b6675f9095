// AVX-512BW micro-kernel of Int8Gemm, for CPUs with AVX-512 but without VNNI.
// vpmaddubsw (uint8 x int8 pairs into int16) saturates: 255 * 127 * 2 = 64770 > 32767. So the bytes
// are widened to int16 and multiplied with vpmaddwd, which is exact (a pair of products of at most
// 255 * 128 sums to less than 2^31):
//   activations, one 32-bit group a0 a1 a2 a3 broadcast:  lo = a & 0x00FF00FF  -> int16 (a0, a2)
//                                                         hi = a >>16-bit 8     -> int16 (a1, a3)
//   weights, one 64-byte panel line (16 lanes x 4 k):     lo = (w <<16 8) >>16 8 (arithmetic) -> (w0, w2)
//                                                         hi = w >>16 8 (arithmetic)          -> (w1, w3)
//   acc += vpmaddwd(lo_a, lo_w) + vpmaddwd(hi_a, hi_w)     -> a0 w0 + a2 w2 + a1 w1 + a3 w3 per lane
// A panel line is one zmm, so a tile slot (row x panel) is one accumulator. Slots = 8: full tiles
// 8 rows x 1 panel, M = 1 runs 1 row x 8 panels; 32 zmm registers hold the accumulators, the
// widened activations of the tile's rows and the widened weights of its panels.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>AVX-512BW (widening, no VNNI) micro-kernel: tiles of r rows x (8 / r) panels, one zmm accumulator per slot.</summary>
internal unsafe struct Avx512Int8Kernel : IInt8Kernel
{
    public static int MR => 8;
    public static int Slots => 8;

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
        acc + Avx512BW.MultiplyAddAdjacent(alo, wlo) + Avx512BW.MultiplyAddAdjacent(ahi, whi);

    // Item i among v0..v7 (i is a JIT-time constant, so this folds to one variable).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Pick(int i, Vector512<short> v0, Vector512<short> v1, Vector512<short> v2, Vector512<short> v3,
        Vector512<short> v4, Vector512<short> v5, Vector512<short> v6, Vector512<short> v7) =>
        i == 0 ? v0 : i == 1 ? v1 : i == 2 ? v2 : i == 3 ? v3 : i == 4 ? v4 : i == 5 ? v5 : i == 6 ? v6 : v7;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TR, TP>(int kg, byte* a, nint lda, sbyte* w, nint pb, int* acc)
        where TR : IRowCount where TP : IRowCount
    {
        int R = TR.Value, P = TP.Value, S = R * P;
        // Slot s is row s / P and panel s % P.
        Vector512<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (nint g = 0; g < kg; g++)
        {
            byte* ag = a + 4 * g;
            sbyte* wg = w + g * QuantizedMatrix.LineBytes;
            Vector512<short> al0, ah0, al1 = default, ah1 = default, al2 = default, ah2 = default, al3 = default, ah3 = default;
            Vector512<short> al4 = default, ah4 = default, al5 = default, ah5 = default, al6 = default, ah6 = default, al7 = default, ah7 = default;
            Widen(ag, out al0, out ah0);
            if (R > 1) Widen(ag + lda, out al1, out ah1);
            if (R > 2) Widen(ag + 2 * lda, out al2, out ah2);
            if (R > 3) Widen(ag + 3 * lda, out al3, out ah3);
            if (R > 4) Widen(ag + 4 * lda, out al4, out ah4);
            if (R > 5) Widen(ag + 5 * lda, out al5, out ah5);
            if (R > 6) Widen(ag + 6 * lda, out al6, out ah6);
            if (R > 7) Widen(ag + 7 * lda, out al7, out ah7);
            Vector512<short> wl0, wh0, wl1 = default, wh1 = default, wl2 = default, wh2 = default, wl3 = default, wh3 = default;
            Vector512<short> wl4 = default, wh4 = default, wl5 = default, wh5 = default, wl6 = default, wh6 = default, wl7 = default, wh7 = default;
            Widen(wg, out wl0, out wh0);
            if (P > 1) Widen(wg + pb, out wl1, out wh1);
            if (P > 2) Widen(wg + 2 * pb, out wl2, out wh2);
            if (P > 3) Widen(wg + 3 * pb, out wl3, out wh3);
            if (P > 4) Widen(wg + 4 * pb, out wl4, out wh4);
            if (P > 5) Widen(wg + 5 * pb, out wl5, out wh5);
            if (P > 6) Widen(wg + 6 * pb, out wl6, out wh6);
            if (P > 7) Widen(wg + 7 * pb, out wl7, out wh7);
            c0 = Dot(c0, Pick(0 / P, al0, al1, al2, al3, al4, al5, al6, al7), Pick(0 / P, ah0, ah1, ah2, ah3, ah4, ah5, ah6, ah7),
                Pick(0 % P, wl0, wl1, wl2, wl3, wl4, wl5, wl6, wl7), Pick(0 % P, wh0, wh1, wh2, wh3, wh4, wh5, wh6, wh7));
            if (S > 1) c1 = Dot(c1, Pick(1 / P, al0, al1, al2, al3, al4, al5, al6, al7), Pick(1 / P, ah0, ah1, ah2, ah3, ah4, ah5, ah6, ah7),
                Pick(1 % P, wl0, wl1, wl2, wl3, wl4, wl5, wl6, wl7), Pick(1 % P, wh0, wh1, wh2, wh3, wh4, wh5, wh6, wh7));
            if (S > 2) c2 = Dot(c2, Pick(2 / P, al0, al1, al2, al3, al4, al5, al6, al7), Pick(2 / P, ah0, ah1, ah2, ah3, ah4, ah5, ah6, ah7),
                Pick(2 % P, wl0, wl1, wl2, wl3, wl4, wl5, wl6, wl7), Pick(2 % P, wh0, wh1, wh2, wh3, wh4, wh5, wh6, wh7));
            if (S > 3) c3 = Dot(c3, Pick(3 / P, al0, al1, al2, al3, al4, al5, al6, al7), Pick(3 / P, ah0, ah1, ah2, ah3, ah4, ah5, ah6, ah7),
                Pick(3 % P, wl0, wl1, wl2, wl3, wl4, wl5, wl6, wl7), Pick(3 % P, wh0, wh1, wh2, wh3, wh4, wh5, wh6, wh7));
            if (S > 4) c4 = Dot(c4, Pick(4 / P, al0, al1, al2, al3, al4, al5, al6, al7), Pick(4 / P, ah0, ah1, ah2, ah3, ah4, ah5, ah6, ah7),
                Pick(4 % P, wl0, wl1, wl2, wl3, wl4, wl5, wl6, wl7), Pick(4 % P, wh0, wh1, wh2, wh3, wh4, wh5, wh6, wh7));
            if (S > 5) c5 = Dot(c5, Pick(5 / P, al0, al1, al2, al3, al4, al5, al6, al7), Pick(5 / P, ah0, ah1, ah2, ah3, ah4, ah5, ah6, ah7),
                Pick(5 % P, wl0, wl1, wl2, wl3, wl4, wl5, wl6, wl7), Pick(5 % P, wh0, wh1, wh2, wh3, wh4, wh5, wh6, wh7));
            if (S > 6) c6 = Dot(c6, Pick(6 / P, al0, al1, al2, al3, al4, al5, al6, al7), Pick(6 / P, ah0, ah1, ah2, ah3, ah4, ah5, ah6, ah7),
                Pick(6 % P, wl0, wl1, wl2, wl3, wl4, wl5, wl6, wl7), Pick(6 % P, wh0, wh1, wh2, wh3, wh4, wh5, wh6, wh7));
            if (S > 7) c7 = Dot(c7, Pick(7 / P, al0, al1, al2, al3, al4, al5, al6, al7), Pick(7 / P, ah0, ah1, ah2, ah3, ah4, ah5, ah6, ah7),
                Pick(7 % P, wl0, wl1, wl2, wl3, wl4, wl5, wl6, wl7), Pick(7 % P, wh0, wh1, wh2, wh3, wh4, wh5, wh6, wh7));
        }
        c0.Store(acc);
        if (S > 1) c1.Store(acc + 16);
        if (S > 2) c2.Store(acc + 32);
        if (S > 3) c3.Store(acc + 48);
        if (S > 4) c4.Store(acc + 64);
        if (S > 5) c5.Store(acc + 80);
        if (S > 6) c6.Store(acc + 96);
        if (S > 7) c7.Store(acc + 112);
    }

    /// <inheritdoc/>
    public static void Epilogue(in Int8Problem p, int m, int n0, int cols, int* acc) => Int8Epilogue.V512(in p, m, n0, cols, acc);
}
