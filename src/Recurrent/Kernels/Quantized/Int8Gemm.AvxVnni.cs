// AVX-VNNI micro-kernel of Int8Gemm: vpdpbusd on 256-bit vectors (.NET 10 exposes VNNI only as
// System.Runtime.Intrinsics.X86.AvxVnni, on 128/256-bit vectors; there is no 512-bit form).
// One vpdpbusd adds, in each of 8 int32 lanes, the 4 products of 4 uint8 activations (the same 4
// broadcast to every lane) with 4 int8 weights of one output column: 32 multiply-adds, exact (each
// product fits in 16 bits and the instruction sums them in 32 bits without saturating).
// A panel line (64 bytes: 16 columns x 4 k) is two vectors, so each row of the register tile holds
// two accumulators. Rows per tile (MR): 8 when the JIT can use EVEX encoding (AVX-512VL: 32 vector
// registers), else 6 (16 registers). Not 12: the JIT keeps vpdpbusd's accumulator (a read-modify-write
// operand) in ymm0-15 only, so 24 accumulators would shuttle through spare registers and the stack;
// with 16 they stay in ymm0-15 and the broadcasts and weights use ymm16 and up.
// With fewer than 4 rows the k loop is unrolled (1 row: 4 groups, 2-3 rows: 2 groups) into separate
// accumulators, added at the end (exact), so at least 8 independent vpdpbusd chains hide its latency.
// One call walks `panels` panels one after another: M = 1 is one sequential stream.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>AVX-VNNI micro-kernel: tiles of up to 8 (or 6) rows x 16 columns, two ymm accumulators per row.</summary>
internal unsafe struct AvxVnniInt8Kernel : IInt8Kernel
{
    public static int MR => Avx512F.VL.IsSupported ? 8 : 6;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Broadcast(byte* a) => Vector256.Create(*(int*)a).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> a, sbyte* w) =>
        AvxVnni.MultiplyWideningAndAdd(acc, a, Vector256.Load(w));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TR>(int kg, byte* a, nint lda, sbyte* w, nint pb, int panels, int* acc, int accStride)
        where TR : IRowCount
    {
        int R = TR.Value;
        int U = R == 1 ? 4 : R <= 3 ? 2 : 1; // k groups per iteration
        int V = U * R;                        // virtual rows (at most 8): v is row v % R at group g + v / R
        for (int p = 0; p < panels; p++, w += pb, acc += 16)
        {
            Vector256<int> x0 = default, y0 = default, x1 = default, y1 = default, x2 = default, y2 = default, x3 = default, y3 = default, x4 = default, y4 = default, x5 = default, y5 = default;
            Vector256<int> x6 = default, y6 = default, x7 = default, y7 = default;
            byte* ag = a;
            sbyte* wg = w;
            int g = 0;
            for (; g + U <= kg; g += U, ag += 4 * U, wg += U * QuantizedMatrix.LineBytes)
            {
                { var b = Broadcast(ag + 0 % R * lda + 0 / R * 4); x0 = Dot(x0, b, wg + 0 / R * 64); y0 = Dot(y0, b, wg + 0 / R * 64 + 32); }
                if (V > 1) { var b = Broadcast(ag + 1 % R * lda + 1 / R * 4); x1 = Dot(x1, b, wg + 1 / R * 64); y1 = Dot(y1, b, wg + 1 / R * 64 + 32); }
                if (V > 2) { var b = Broadcast(ag + 2 % R * lda + 2 / R * 4); x2 = Dot(x2, b, wg + 2 / R * 64); y2 = Dot(y2, b, wg + 2 / R * 64 + 32); }
                if (V > 3) { var b = Broadcast(ag + 3 % R * lda + 3 / R * 4); x3 = Dot(x3, b, wg + 3 / R * 64); y3 = Dot(y3, b, wg + 3 / R * 64 + 32); }
                if (V > 4) { var b = Broadcast(ag + 4 % R * lda + 4 / R * 4); x4 = Dot(x4, b, wg + 4 / R * 64); y4 = Dot(y4, b, wg + 4 / R * 64 + 32); }
                if (V > 5) { var b = Broadcast(ag + 5 % R * lda + 5 / R * 4); x5 = Dot(x5, b, wg + 5 / R * 64); y5 = Dot(y5, b, wg + 5 / R * 64 + 32); }
                if (V > 6) { var b = Broadcast(ag + 6 % R * lda + 6 / R * 4); x6 = Dot(x6, b, wg + 6 / R * 64); y6 = Dot(y6, b, wg + 6 / R * 64 + 32); }
                if (V > 7) { var b = Broadcast(ag + 7 % R * lda + 7 / R * 4); x7 = Dot(x7, b, wg + 7 / R * 64); y7 = Dot(y7, b, wg + 7 / R * 64 + 32); }
            }
            for (; g < kg; g++, ag += 4, wg += QuantizedMatrix.LineBytes)
            {
                { var b = Broadcast(ag + 0 * lda); x0 = Dot(x0, b, wg); y0 = Dot(y0, b, wg + 32); }
                if (R > 1) { var b = Broadcast(ag + 1 * lda); x1 = Dot(x1, b, wg); y1 = Dot(y1, b, wg + 32); }
                if (R > 2) { var b = Broadcast(ag + 2 * lda); x2 = Dot(x2, b, wg); y2 = Dot(y2, b, wg + 32); }
                if (R > 3) { var b = Broadcast(ag + 3 * lda); x3 = Dot(x3, b, wg); y3 = Dot(y3, b, wg + 32); }
                if (R > 4) { var b = Broadcast(ag + 4 * lda); x4 = Dot(x4, b, wg); y4 = Dot(y4, b, wg + 32); }
                if (R > 5) { var b = Broadcast(ag + 5 * lda); x5 = Dot(x5, b, wg); y5 = Dot(y5, b, wg + 32); }
                if (R > 6) { var b = Broadcast(ag + 6 * lda); x6 = Dot(x6, b, wg); y6 = Dot(y6, b, wg + 32); }
                if (R > 7) { var b = Broadcast(ag + 7 * lda); x7 = Dot(x7, b, wg); y7 = Dot(y7, b, wg + 32); }
            }
            // Fold the unrolled groups' accumulators into rows 0..R-1.
            if (R == 1) { x0 += x1 + x2 + x3; y0 += y1 + y2 + y3; }
            else if (R == 2) { x0 += x2; y0 += y2; x1 += x3; y1 += y3; }
            else if (R == 3) { x0 += x3; y0 += y3; x1 += x4; y1 += y4; x2 += x5; y2 += y5; }
            x0.Store(acc); y0.Store(acc + 8);
            if (R > 1) { x1.Store(acc + 1 * accStride); y1.Store(acc + 1 * accStride + 8); }
            if (R > 2) { x2.Store(acc + 2 * accStride); y2.Store(acc + 2 * accStride + 8); }
            if (R > 3) { x3.Store(acc + 3 * accStride); y3.Store(acc + 3 * accStride + 8); }
            if (R > 4) { x4.Store(acc + 4 * accStride); y4.Store(acc + 4 * accStride + 8); }
            if (R > 5) { x5.Store(acc + 5 * accStride); y5.Store(acc + 5 * accStride + 8); }
            if (R > 6) { x6.Store(acc + 6 * accStride); y6.Store(acc + 6 * accStride + 8); }
            if (R > 7) { x7.Store(acc + 7 * accStride); y7.Store(acc + 7 * accStride + 8); }
        }
    }

    /// <inheritdoc/>
    /// <remarks>512 bits when AVX-512 is there (half the instructions; every form gives the same bits).</remarks>
    public static void Epilogue(in Int8Problem p, int m0, int rows, int n0, int cols, int* acc, int accStride)
    {
        if (Avx512F.IsSupported) Int8Epilogue.V512(in p, m0, rows, n0, cols, acc, accStride);
        else Int8Epilogue.V256(in p, m0, rows, n0, cols, acc, accStride);
    }
}
