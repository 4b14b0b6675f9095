// AVX-VNNI micro-kernel of Int8Gemm: vpdpbusd on 256-bit vectors (.NET 10 exposes VNNI as
// System.Runtime.Intrinsics.X86.AvxVnni only, VEX-encoded, 256 bits; there is no 512-bit form).
// One vpdpbusd adds, in each of 8 int32 lanes, the 4 products of 4 uint8 activations (the same 4
// broadcast to every lane) with 4 int8 weights of one output column: 32 multiply-adds, exact (each
// product fits in 16 bits and the instruction sums them in 32 bits without saturating).
// A panel line (64 bytes: 16 columns x 4 k) is two vectors, so a tile slot (one row x one panel)
// holds two accumulators. Slots = 6: 12 accumulators, with 16 ymm registers left for a broadcast
// and the weights (or their memory operands). Full tiles are 6 rows x 1 panel; M = 1 runs
// 1 row x 6 panels (six weight streams, one broadcast per k group).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>AVX-VNNI micro-kernel: tiles of r rows x (6 / r) panels, two ymm accumulators per slot.</summary>
internal unsafe struct AvxVnniInt8Kernel : IInt8Kernel
{
    public static int MR => 6;
    public static int Slots => 6;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Broadcast(byte* a) => Vector256.Create(*(int*)a).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> a, sbyte* w) =>
        AvxVnni.MultiplyWideningAndAdd(acc, a, Vector256.Load(w));

    // Row r's broadcast among b0..b5 (r is a JIT-time constant, so this folds to one variable).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Pick(int r, Vector256<byte> b0, Vector256<byte> b1, Vector256<byte> b2,
        Vector256<byte> b3, Vector256<byte> b4, Vector256<byte> b5) =>
        r == 0 ? b0 : r == 1 ? b1 : r == 2 ? b2 : r == 3 ? b3 : r == 4 ? b4 : b5;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TR, TP>(int kg, byte* a, nint lda, sbyte* w, nint pb, int* acc)
        where TR : IRowCount where TP : IRowCount
    {
        int R = TR.Value, P = TP.Value, S = R * P;
        // Slot s is row s / P and panel s % P; x_s holds columns 0..7 of its panel, y_s columns 8..15.
        Vector256<int> x0 = default, y0 = default, x1 = default, y1 = default, x2 = default, y2 = default;
        Vector256<int> x3 = default, y3 = default, x4 = default, y4 = default, x5 = default, y5 = default;
        sbyte* w0 = w + 0 % P * pb, w1 = w + 1 % P * pb, w2 = w + 2 % P * pb;
        sbyte* w3 = w + 3 % P * pb, w4 = w + 4 % P * pb, w5 = w + 5 % P * pb;
        for (nint g = 0; g < kg; g++)
        {
            byte* ag = a + 4 * g;
            nint wo = g * QuantizedMatrix.LineBytes;
            var b0 = Broadcast(ag);
            var b1 = R > 1 ? Broadcast(ag + lda) : default;
            var b2 = R > 2 ? Broadcast(ag + 2 * lda) : default;
            var b3 = R > 3 ? Broadcast(ag + 3 * lda) : default;
            var b4 = R > 4 ? Broadcast(ag + 4 * lda) : default;
            var b5 = R > 5 ? Broadcast(ag + 5 * lda) : default;
            { var b = Pick(0 / P, b0, b1, b2, b3, b4, b5); x0 = Dot(x0, b, w0 + wo); y0 = Dot(y0, b, w0 + wo + 32); }
            if (S > 1) { var b = Pick(1 / P, b0, b1, b2, b3, b4, b5); x1 = Dot(x1, b, w1 + wo); y1 = Dot(y1, b, w1 + wo + 32); }
            if (S > 2) { var b = Pick(2 / P, b0, b1, b2, b3, b4, b5); x2 = Dot(x2, b, w2 + wo); y2 = Dot(y2, b, w2 + wo + 32); }
            if (S > 3) { var b = Pick(3 / P, b0, b1, b2, b3, b4, b5); x3 = Dot(x3, b, w3 + wo); y3 = Dot(y3, b, w3 + wo + 32); }
            if (S > 4) { var b = Pick(4 / P, b0, b1, b2, b3, b4, b5); x4 = Dot(x4, b, w4 + wo); y4 = Dot(y4, b, w4 + wo + 32); }
            if (S > 5) { var b = Pick(5 / P, b0, b1, b2, b3, b4, b5); x5 = Dot(x5, b, w5 + wo); y5 = Dot(y5, b, w5 + wo + 32); }
        }
        x0.Store(acc); y0.Store(acc + 8);
        if (S > 1) { x1.Store(acc + 16); y1.Store(acc + 24); }
        if (S > 2) { x2.Store(acc + 32); y2.Store(acc + 40); }
        if (S > 3) { x3.Store(acc + 48); y3.Store(acc + 56); }
        if (S > 4) { x4.Store(acc + 64); y4.Store(acc + 72); }
        if (S > 5) { x5.Store(acc + 80); y5.Store(acc + 88); }
    }

    /// <inheritdoc/>
    public static void Epilogue(in Int8Problem p, int m, int n0, int cols, int* acc) => Int8Epilogue.V256(in p, m, n0, cols, acc);
}
