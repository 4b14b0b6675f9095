// AVX2 micro-kernel of Int8Gemm, for CPUs without VNNI (e.g. Zen 2/3, Haswell to Coffee Lake).
// Same exact widening as the AVX-512BW kernel (see Int8Gemm.Avx512.cs: vpmaddubsw would saturate,
// so bytes are widened to int16 pairs and multiplied with vpmaddwd), on 256-bit vectors: a panel line
// is two vectors, so each row of the register tile (up to 4 rows x 16 columns) holds two
// accumulators: 8 accumulators, 4 widened weight vectors and one row's widened activations fit the
// 16 ymm registers of AVX2. One call walks `panels` panels one after another.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>AVX2 (widening, no VNNI) micro-kernel: tiles of up to 4 rows x 16 columns, two ymm accumulators per row.</summary>
internal unsafe struct Avx2Int8Kernel : IInt8Kernel
{
    public static int MR => 4;

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
        acc + (Avx2.MultiplyAddAdjacent(alo, wlo) + Avx2.MultiplyAddAdjacent(ahi, whi));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TR>(int kg, byte* a, nint lda, sbyte* w, nint pb, int panels, int* acc, int accStride)
        where TR : IRowCount
    {
        int R = TR.Value;
        for (int p = 0; p < panels; p++, w += pb, acc += 16)
        {
            Vector256<int> x0 = default, y0 = default, x1 = default, y1 = default, x2 = default, y2 = default, x3 = default, y3 = default;
            byte* ag = a;
            sbyte* wg = w;
            for (int g = 0; g < kg; g++, ag += 4, wg += QuantizedMatrix.LineBytes)
            {
                Widen(wg, out var lx, out var hx);
                Widen(wg + 32, out var ly, out var hy);
                { Widen(ag, out var al, out var ah); x0 = Dot(x0, al, ah, lx, hx); y0 = Dot(y0, al, ah, ly, hy); }
                if (R > 1) { Widen(ag + 1 * lda, out var al, out var ah); x1 = Dot(x1, al, ah, lx, hx); y1 = Dot(y1, al, ah, ly, hy); }
                if (R > 2) { Widen(ag + 2 * lda, out var al, out var ah); x2 = Dot(x2, al, ah, lx, hx); y2 = Dot(y2, al, ah, ly, hy); }
                if (R > 3) { Widen(ag + 3 * lda, out var al, out var ah); x3 = Dot(x3, al, ah, lx, hx); y3 = Dot(y3, al, ah, ly, hy); }
            }
            x0.Store(acc); y0.Store(acc + 8);
            if (R > 1) { x1.Store(acc + 1 * accStride); y1.Store(acc + 1 * accStride + 8); }
            if (R > 2) { x2.Store(acc + 2 * accStride); y2.Store(acc + 2 * accStride + 8); }
            if (R > 3) { x3.Store(acc + 3 * accStride); y3.Store(acc + 3 * accStride + 8); }
        }
    }

    /// <inheritdoc/>
    public static void Epilogue(in Int8Problem p, int m0, int rows, int n0, int cols, int* acc, int accStride) =>
        Int8Epilogue.V256(in p, m0, rows, n0, cols, acc, accStride);
}
