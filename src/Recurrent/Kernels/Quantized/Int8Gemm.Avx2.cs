// AVX2 micro-kernel of Int8Gemm, for CPUs without VNNI (e.g. Zen 2/3, Haswell to Coffee Lake).
// Same exact widening as the AVX-512BW kernel (see Int8Gemm.Avx512.cs: vpmaddubsw would saturate,
// so bytes are widened to int16 pairs and multiplied with vpmaddwd), on 256-bit vectors: a panel line
// is two vectors, a tile slot (row x panel) two accumulators. Slots = 4: full tiles 4 rows x 1 panel,
// M = 1 runs 1 row x 4 panels. The code runs panel by panel and widens each row's activations right
// before their first use, so at most 8 accumulators, 4 widened weight vectors and a few activation
// vectors are live (16 ymm registers without AVX-512).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>AVX2 (widening, no VNNI) micro-kernel: tiles of r rows x (4 / r) panels, two ymm accumulators per slot.</summary>
internal unsafe struct Avx2Int8Kernel : IInt8Kernel
{
    public static int MR => 4;
    public static int Slots => 4;

    // The int16 (a0, a2) and (a1, a3) pairs of the 4 activations at a, in every lane.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(byte* a, out Vector256<short> lo, out Vector256<short> hi)
    {
        var v = Vector256.Create(*(int*)a);
        lo = (v & Vector256.Create(0x00FF00FF)).AsInt16();
        hi = Avx2.ShiftRightLogical(v.AsUInt16(), 8).AsInt16();
    }

    // The int16 (w0, w2) and (w1, w3) pairs of 8 lanes of a panel line at w, sign-extended.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(sbyte* w, out Vector256<short> lo, out Vector256<short> hi)
    {
        var v = Vector256.Load(w).AsInt16();
        lo = Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(v, 8), 8);
        hi = Avx2.ShiftRightArithmetic(v, 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot(Vector256<int> acc, Vector256<short> alo, Vector256<short> ahi, Vector256<short> wlo, Vector256<short> whi) =>
        acc + Avx2.MultiplyAddAdjacent(alo, wlo) + Avx2.MultiplyAddAdjacent(ahi, whi);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TR, TP>(int kg, byte* a, nint lda, sbyte* w, nint pb, int* acc)
        where TR : IRowCount where TP : IRowCount
    {
        int R = TR.Value, P = TP.Value;
        // x_rp / y_rp: row r, panel p, columns 0..7 / 8..15. Used: (0..3, 0) and (0..1, 1) and (0, 2..3).
        Vector256<int> x00 = default, y00 = default, x10 = default, y10 = default, x20 = default, y20 = default, x30 = default, y30 = default;
        Vector256<int> x01 = default, y01 = default, x11 = default, y11 = default, x02 = default, y02 = default, x03 = default, y03 = default;
        for (nint g = 0; g < kg; g++)
        {
            byte* ag = a + 4 * g;
            sbyte* wg = w + g * QuantizedMatrix.LineBytes;
            Vector256<short> al0, ah0, al1 = default, ah1 = default, al2, ah2, al3, ah3, lx, hx, ly, hy;

            // Panel 0, every row.
            Widen(wg, out lx, out hx);
            Widen(wg + 32, out ly, out hy);
            Widen(ag, out al0, out ah0);
            x00 = Dot(x00, al0, ah0, lx, hx); y00 = Dot(y00, al0, ah0, ly, hy);
            if (R > 1) { Widen(ag + lda, out al1, out ah1); x10 = Dot(x10, al1, ah1, lx, hx); y10 = Dot(y10, al1, ah1, ly, hy); }
            if (R > 2) { Widen(ag + 2 * lda, out al2, out ah2); x20 = Dot(x20, al2, ah2, lx, hx); y20 = Dot(y20, al2, ah2, ly, hy); }
            if (R > 3) { Widen(ag + 3 * lda, out al3, out ah3); x30 = Dot(x30, al3, ah3, lx, hx); y30 = Dot(y30, al3, ah3, ly, hy); }

            // Panels 1..3 (only with at most 2 rows).
            if (P > 1)
            {
                Widen(wg + pb, out lx, out hx);
                Widen(wg + pb + 32, out ly, out hy);
                x01 = Dot(x01, al0, ah0, lx, hx); y01 = Dot(y01, al0, ah0, ly, hy);
                if (R > 1) { x11 = Dot(x11, al1, ah1, lx, hx); y11 = Dot(y11, al1, ah1, ly, hy); }
            }
            if (P > 2)
            {
                Widen(wg + 2 * pb, out lx, out hx);
                Widen(wg + 2 * pb + 32, out ly, out hy);
                x02 = Dot(x02, al0, ah0, lx, hx); y02 = Dot(y02, al0, ah0, ly, hy);
            }
            if (P > 3)
            {
                Widen(wg + 3 * pb, out lx, out hx);
                Widen(wg + 3 * pb + 32, out ly, out hy);
                x03 = Dot(x03, al0, ah0, lx, hx); y03 = Dot(y03, al0, ah0, ly, hy);
            }
        }
        // acc row r holds P panels of 16: slot (r, p) at acc + (r * P + p) * 16.
        x00.Store(acc); y00.Store(acc + 8);
        if (P > 1) { x01.Store(acc + 16); y01.Store(acc + 24); }
        if (P > 2) { x02.Store(acc + 32); y02.Store(acc + 40); }
        if (P > 3) { x03.Store(acc + 48); y03.Store(acc + 56); }
        if (R > 1)
        {
            int* r1 = acc + P * 16;
            x10.Store(r1); y10.Store(r1 + 8);
            if (P > 1) { x11.Store(r1 + 16); y11.Store(r1 + 24); }
        }
        if (R > 2) { int* r2 = acc + 2 * P * 16; x20.Store(r2); y20.Store(r2 + 8); }
        if (R > 3) { int* r3 = acc + 3 * P * 16; x30.Store(r3); y30.Store(r3 + 8); }
    }

    /// <inheritdoc/>
    public static void Epilogue(in Int8Problem p, int m, int n0, int cols, int* acc) => Int8Epilogue.V256(in p, m, n0, cols, acc);
}
