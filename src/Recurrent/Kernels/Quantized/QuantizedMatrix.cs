// A float32 weight matrix quantized to int8 once, ahead of time, for Int8Gemm: symmetric, one
// scale per output row (PyTorch's per-channel qint8 with zero point 0, axis 0), and packed into the
// panels every micro-kernel reads.
//
// Quantization of row n of W (N, K) (PyTorch's layout: W_ih is (G*H, I), W_hh is (G*H, H)):
//   scale[n]  = max_k |W[n, k]| / 127          (1 when the row is zero or below 127 * float.MinNormal)
//   q[n, k]   = clamp(round_half_even(W[n, k] / scale[n]), -127, 127)
//   rowSum[n] = sum_k q[n, k]                 (int32; the activations' zero-point correction)
// so |W[n, k] - scale[n] * q[n, k]| <= scale[n] * (0.5 + 2^-17): |W / scale| <= 127 and the float
// division is correctly rounded, so fl(W / scale) is within 127 * 2^-24 < 2^-17 of W / scale, and
// rounding to an integer adds at most 0.5 (clamping only ever removes that rounding excess).
//
// Packed layout (one layout for every instruction set, so any kernel can read any QuantizedMatrix):
// the N output rows are cut into panels of 16 (N padded with zero rows to a multiple of 16), the K
// columns into groups of 4 (K padded with zeros to a multiple of 4). Panel p, group g is one
// 64-byte-aligned cache line:
//   Packed[(p * KGroups + g) * 64 + c * 4 + j] = q[16 p + c, 4 g + j]      c in 0..15, j in 0..3
// One 32-bit lane holds 4 consecutive k of one output row (vpdpbusd's signed operand); a 256-bit
// vector is 8 output rows x 4 k, a 512-bit vector the whole line. A panel is contiguous over all of
// K (KGroups lines), so a tile streams it front to back.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Recurrent.Kernels;

/// <summary>
/// An int8 weight matrix (N, K) with one float32 scale per row, packed for <see cref="Int8Gemm"/>.
/// Immutable once built, so one instance may serve many threads.
/// </summary>
internal sealed unsafe class QuantizedMatrix
{
    /// <summary>Output rows per panel of the packed layout.</summary>
    public const int PanelRows = 16;

    /// <summary>Consecutive k values per 32-bit lane of the packed layout.</summary>
    public const int GroupDepth = 4;

    /// <summary>Bytes of one (panel, k-group) line: 16 rows x 4 k.</summary>
    public const int LineBytes = PanelRows * GroupDepth;

    /// <summary>
    /// Largest K whose int32 accumulators cannot overflow: |sum_k a_k w_k| &lt;= 255 * 128 * K must
    /// stay below 2^31 (weights loaded with <see cref="FromInt8"/> may hold -128).
    /// </summary>
    public const int MaxK = int.MaxValue / (255 * 128);

    private readonly sbyte[] _packed;   // pinned (POH); the aligned data starts at _offset
    private readonly int _offset;
    private readonly float[] _scales;   // (N) pinned
    private readonly int[] _rowSums;    // (Panels * 16) pinned, zero past N

    /// <summary>Output rows (the product's columns).</summary>
    public int N { get; }

    /// <summary>Input features (the reduction length).</summary>
    public int K { get; }

    /// <summary>K rounded up to a multiple of 4: the width an activation row must be stored with.</summary>
    public int PaddedK => KGroups * GroupDepth;

    /// <summary>Groups of 4 k values per panel.</summary>
    public int KGroups { get; }

    /// <summary>Panels of 16 output rows.</summary>
    public int Panels { get; }

    /// <summary>Per-row scales (N): weight[n, k] ≈ Scales[n] * q[n, k].</summary>
    public ReadOnlySpan<float> Scales => _scales;

    /// <summary>Per-row sums of q (N).</summary>
    public ReadOnlySpan<int> RowSums => _rowSums.AsSpan(0, N);

    /// <summary>Bytes held: packed weights (with padding), scales and row sums.</summary>
    public long Bytes => _packed.LongLength + 4L * _scales.Length + 4L * _rowSums.Length;

    /// <summary>The packed weights (see the file header), 64-byte aligned, valid for the object's lifetime.</summary>
    internal sbyte* Packed => (sbyte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_packed)) + _offset;

    /// <summary>Scales (N), pinned.</summary>
    internal float* ScalePtr => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_scales));

    /// <summary>Row sums (Panels * 16, zero past N), pinned.</summary>
    internal int* RowSumPtr => (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_rowSums));

    /// <summary>An unmanaged view of this matrix (valid while the matrix is alive), for kernels that keep per-call state in native memory.</summary>
    internal QuantizedMatrixView View => new(Packed, ScalePtr, RowSumPtr, N, K, KGroups);

    private QuantizedMatrix(int n, int k)
    {
        N = n;
        K = k;
        KGroups = (k + GroupDepth - 1) / GroupDepth;
        Panels = (n + PanelRows - 1) / PanelRows;
        long bytes = (long)Panels * KGroups * LineBytes;
        if (bytes > Array.MaxLength - 64)
            throw new ArgumentOutOfRangeException(nameof(n), $"QuantizedMatrix: {n} x {k} is too large to pack. Expected at most {Array.MaxLength - 64} packed bytes, got {bytes}.");
        // Pinned-object-heap arrays never move, so the aligned pointers stay valid without `fixed`.
        _packed = GC.AllocateArray<sbyte>((int)bytes + 64, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_packed));
        _offset = (int)((64 - (start & 63)) & 63);
        _scales = GC.AllocateArray<float>(n, pinned: true);
        _rowSums = GC.AllocateArray<int>(Panels * PanelRows, pinned: true);
    }

    /// <summary>
    /// Quantizes <paramref name="weight"/> (N, K) row-major with row stride <paramref name="ldw"/>
    /// (see the file header for the rounding) and packs it.
    /// </summary>
    /// <param name="weight">W: (n, ldw), row n holds the k weights of output n.</param>
    /// <param name="n">Output rows.</param>
    /// <param name="k">Input features (at most <see cref="MaxK"/>).</param>
    /// <param name="ldw">Row stride of <paramref name="weight"/>, at least k.</param>
    /// <exception cref="ArgumentException">A weight is NaN or infinite.</exception>
    public static QuantizedMatrix Quantize(ReadOnlySpan<float> weight, int n, int k, int ldw)
    {
        CheckSizes(n, k);
        if (ldw < Math.Max(1, k))
            throw new ArgumentOutOfRangeException(nameof(ldw), ldw, $"QuantizedMatrix: ldw must be at least k. Expected >= {Math.Max(1, k)}, got {ldw}.");
        long needed = n == 0 || k == 0 ? 0 : (long)(n - 1) * ldw + k;
        if (weight.Length < needed)
            throw new ArgumentException($"QuantizedMatrix: weight is too short for {n} x {k} with ldw = {ldw}. Expected at least {needed} elements, got {weight.Length}.", nameof(weight));

        var m = new QuantizedMatrix(n, k);
        sbyte[] row = new sbyte[k];
        for (int i = 0; i < n; i++)
        {
            var w = k == 0 ? ReadOnlySpan<float>.Empty : weight.Slice(i * ldw, k);
            float maxAbs = 0;
            for (int j = 0; j < k; j++)
            {
                float v = w[j];
                if (!float.IsFinite(v))
                    throw new ArgumentException($"QuantizedMatrix: weight[{i}, {j}] is {v}. Expected finite weights, got a non-finite value.", nameof(weight));
                maxAbs = Math.Max(maxAbs, Math.Abs(v));
            }
            float scale = maxAbs / 127f;
            if (!(scale >= ActivationQuantizer.MinNormal))
            {
                // Zero (or |w| < 1.5e-36): the row quantizes to zeros; scale 1 keeps 1/scale finite.
                scale = 1f;
                Array.Clear(row);
            }
            else
            {
                for (int j = 0; j < k; j++)
                    row[j] = (sbyte)Math.Clamp(MathF.Round(w[j] / scale, MidpointRounding.ToEven), -127f, 127f);
            }
            m._scales[i] = scale;
            m.SetRow(i, row);
        }
        return m;
    }

    /// <summary>
    /// Builds a matrix from int8 weights already quantized (e.g. loaded from a file): q (N, K)
    /// row-major and one scale per row. The full int8 range is accepted (-128 included).
    /// </summary>
    /// <param name="q">Quantized weights: (n, k) row-major.</param>
    /// <param name="scales">Per-row scales: (n); each finite and positive.</param>
    /// <param name="n">Output rows.</param>
    /// <param name="k">Input features (at most <see cref="MaxK"/>).</param>
    public static QuantizedMatrix FromInt8(ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales, int n, int k)
    {
        CheckSizes(n, k);
        if (q.Length != (long)n * k)
            throw new ArgumentException($"QuantizedMatrix: q must hold n * k = {n} * {k} values. Expected {(long)n * k}, got {q.Length}.", nameof(q));
        if (scales.Length != n)
            throw new ArgumentException($"QuantizedMatrix: scales must hold one value per row. Expected {n}, got {scales.Length}.", nameof(scales));
        var m = new QuantizedMatrix(n, k);
        for (int i = 0; i < n; i++)
        {
            float s = scales[i];
            if (!(s > 0) || !float.IsFinite(s))
                throw new ArgumentException($"QuantizedMatrix: scales[{i}] must be finite and positive. Expected > 0, got {s}.", nameof(scales));
            m._scales[i] = s;
            m.SetRow(i, q.Slice(i * k, k));
        }
        return m;
    }

    /// <summary>Copies the int8 weights out row-major: <paramref name="dst"/> (N, K).</summary>
    public void CopyInt8To(Span<sbyte> dst)
    {
        if (dst.Length != (long)N * K)
            throw new ArgumentException($"QuantizedMatrix: dst must hold N * K = {N} * {K} values. Expected {(long)N * K}, got {dst.Length}.", nameof(dst));
        sbyte* packed = Packed;
        for (int i = 0; i < N; i++)
        {
            sbyte* line = packed + (nint)(i / PanelRows) * KGroups * LineBytes + (i % PanelRows) * GroupDepth;
            for (int j = 0; j < K; j++)
                dst[i * K + j] = line[(nint)(j / GroupDepth) * LineBytes + j % GroupDepth];
        }
    }

    /// <summary>Writes the dequantized weights Scales[n] * q[n, k] row-major: <paramref name="dst"/> (N, K).</summary>
    public void DequantizeTo(Span<float> dst)
    {
        if (dst.Length != (long)N * K)
            throw new ArgumentException($"QuantizedMatrix: dst must hold N * K = {N} * {K} values. Expected {(long)N * K}, got {dst.Length}.", nameof(dst));
        var q = new sbyte[K];
        for (int i = 0; i < N; i++)
        {
            CopyRow(i, q);
            for (int j = 0; j < K; j++) dst[i * K + j] = _scales[i] * q[j];
        }
    }

    private void CopyRow(int i, Span<sbyte> dst)
    {
        sbyte* line = Packed + (nint)(i / PanelRows) * KGroups * LineBytes + (i % PanelRows) * GroupDepth;
        for (int j = 0; j < K; j++) dst[j] = line[(nint)(j / GroupDepth) * LineBytes + j % GroupDepth];
    }

    // Writes row i (k values) into its panel and its row sum (padding stays zero: arrays start zeroed).
    private void SetRow(int i, ReadOnlySpan<sbyte> row)
    {
        sbyte* line = Packed + (nint)(i / PanelRows) * KGroups * LineBytes + (i % PanelRows) * GroupDepth;
        int sum = 0;
        for (int j = 0; j < row.Length; j++)
        {
            line[(nint)(j / GroupDepth) * LineBytes + j % GroupDepth] = row[j];
            sum += row[j];
        }
        _rowSums[i] = sum;
    }

    private static void CheckSizes(int n, int k)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, $"QuantizedMatrix: n must be non-negative. Expected >= 0, got {n}.");
        if (k < 0 || k > MaxK)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"QuantizedMatrix: k must be in [0, {MaxK}] (int32 accumulators). Expected 0 <= k <= {MaxK}, got {k}.");
    }
}

/// <summary>
/// The pointers and sizes of a <see cref="QuantizedMatrix"/> (its arrays are pinned, so the view stays valid while
/// the matrix is referenced). Lets native per-call state (the recurrent kernels' layer states) name a matrix.
/// </summary>
internal readonly unsafe struct QuantizedMatrixView(sbyte* packed, float* scales, int* rowSums, int n, int k, int kGroups)
{
    public readonly sbyte* Packed = packed;
    public readonly float* Scales = scales;
    public readonly int* RowSums = rowSums;
    public readonly int N = n, K = k, KGroups = kGroups;

    /// <summary>K rounded up to a multiple of 4: the row stride quantized activations need.</summary>
    public int PaddedK => KGroups * QuantizedMatrix.GroupDepth;

    /// <summary>True for a view of an actual matrix.</summary>
    public bool IsValid => Packed != null;
}
