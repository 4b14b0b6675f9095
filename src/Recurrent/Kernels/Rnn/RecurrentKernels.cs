// Public entry points of the fused recurrent kernels, llm.c style: a pair
// StackForward(out, cache, in, weights, sizes) / StackBackward(dIn, dWeights, dOut, cache, ...) on
// spans, for a whole stack (layers x directions, layer l > 0 reading the concatenated (forward,
// reverse) outputs of layer l-1, optional dropout masks between layers, drawn by the caller). The
// weights are one flat buffer in the layout of RnnStackSizes (PyTorch's _flat_weights order), the
// weight gradients one flat buffer in the same layout. Arguments are checked here, then pinned and
// handed to the pointer kernels of RnnLayer.Core.cs. Scratch comes from RnnArena (per thread,
// reused); saved activations from the caller's cache; nothing here allocates managed memory.
using System.Numerics;

namespace Recurrent.Kernels;

/// <summary>
/// Fused forward and backward-through-time kernels for RNN (tanh, relu), LSTM (with optional
/// projection) and GRU, with PyTorch's equations, gate orders and packed-sequence layout.
/// </summary>
/// <remarks>
/// <para>Sequences are time-major and packed (PyTorch's <c>batch_sizes</c> layout): step <c>t</c>
/// holds <c>batchSizes[t]</c> rows (non-increasing), rows of all steps stacked, <c>N</c> = sum of the
/// batch sizes, <c>B = batchSizes[0]</c>. A dense <c>(T, B)</c> input is <c>batchSizes = [B] * T</c>.
/// Row <c>b</c> of every step belongs to sequence <c>b</c>; h_n of a sequence is its state after its
/// last step (its first step for the reverse direction).</para>
/// <para>Weights: one flat buffer of <see cref="RnnStackSizes.WeightCount"/> elements, each layer's and
/// direction's parameters at <see cref="RnnStackSizes.Slots"/> (PyTorch's shapes and order).</para>
/// <para>Training: pass a cache of <see cref="StackCacheSize"/> elements to the forward and the same
/// cache, untouched, to the backward. Inference: pass an empty cache; nothing is saved.</para>
/// <para>The backward accumulates (<c>+=</c>) into dX, dH0, dC0; the flat weight gradient is
/// accumulated or overwritten as asked; empty gradient spans are skipped. Empty
/// <c>h0</c>/<c>c0</c>/<c>dY</c>/<c>dHN</c>/<c>dCN</c> mean zeros.</para>
/// </remarks>
public static unsafe class RecurrentKernels
{
    /// <summary>Elements of the training cache of a whole stack.</summary>
    public static long StackCacheSize(in RnnStackSizes sizes, ReadOnlySpan<int> batchSizes)
    {
        sizes.Validate();
        return new RnnStackLayout(in sizes, CheckBatchSizes(batchSizes)).Size;
    }

    /// <summary>
    /// Runs a whole stack forward: for each layer, each direction over the packed sequence.
    /// </summary>
    /// <param name="y">(N, dirs * OutSize) output of the last layer (features: forward, then reverse).</param>
    /// <param name="hN">(L * dirs, B, OutSize) final h, or empty.</param>
    /// <param name="cN">(L * dirs, B, H) final c (LSTM), or empty.</param>
    /// <param name="cache">(<see cref="StackCacheSize"/>) for training, or empty for inference.</param>
    /// <param name="x">(N, InputSize) input rows.</param>
    /// <param name="h0">(L * dirs, B, OutSize) initial h, or empty for zeros.</param>
    /// <param name="c0">(L * dirs, B, H) initial c (LSTM), or empty for zeros.</param>
    /// <param name="weights">(<see cref="RnnStackSizes.WeightCount"/>) every parameter, flat (<see cref="RnnStackSizes.Slots"/>).</param>
    /// <param name="sizes">Mode and sizes of the stack.</param>
    /// <param name="batchSizes">(T) rows per step, positive, non-increasing; or all 0 (a dense batch of no sequences: nothing is computed).</param>
    /// <param name="dropoutMask">((L-1), N, dirs * OutSize) multipliers applied to the output of
    /// every layer but the last (0 or 1/(1-p)), or empty for no dropout.</param>
    public static void StackForward<T>(Span<T> y, Span<T> hN, Span<T> cN, Span<T> cache,
        ReadOnlySpan<T> x, ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, ReadOnlySpan<T> weights,
        in RnnStackSizes sizes, ReadOnlySpan<int> batchSizes, ReadOnlySpan<T> dropoutMask = default)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        StackForwardGrouped(y, hN, cN, cache, x, h0, c0, weights, in sizes, batchSizes, dropoutMask, default, default);

    /// <summary>
    /// <see cref="StackForward{T}(Span{T}, Span{T}, Span{T}, Span{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, in RnnStackSizes, ReadOnlySpan{int}, ReadOnlySpan{T})"/>
    /// with the input rows in groups of equal rows (or empty for none): <paramref name="groups"/> (N) each row's group,
    /// <paramref name="xu"/> (U, InputSize) one row of each group. The first layer then projects U rows instead of N.
    /// </summary>
    internal static void StackForwardGrouped<T>(Span<T> y, Span<T> hN, Span<T> cN, Span<T> cache,
        ReadOnlySpan<T> x, ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, ReadOnlySpan<T> weights,
        in RnnStackSizes sizes, ReadOnlySpan<int> batchSizes, ReadOnlySpan<T> dropoutMask, ReadOnlySpan<int> groups, ReadOnlySpan<T> xu)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        sizes.Validate();
        int n = CheckBatchSizes(batchSizes);
        var layout = new RnnStackLayout(in sizes, n);
        int b = batchSizes.Length > 0 ? batchSizes[0] : 0, L = sizes.NumLayers, dirs = sizes.Directions;
        int h = sizes.HiddenSize, hOut = sizes.OutSize, width = dirs * hOut;
        bool lstm = sizes.Mode == RnnMode.Lstm;
        int u = CheckGroups(groups, xu, n, in sizes);
        CheckMatrix(y.Length, n, width, width, "y");
        CheckMatrix(x.Length, n, sizes.InputSize, sizes.InputSize, "x");
        Expect(weights.Length, sizes.WeightCount, "weights");
        CheckOptional(hN.Length, (long)L * dirs * b * hOut, "hN");
        CheckOptional(cN.Length, lstm ? (long)L * dirs * b * h : 0, "cN");
        CheckOptional(h0.Length, (long)L * dirs * b * hOut, "h0");
        CheckOptional(c0.Length, lstm ? (long)L * dirs * b * h : 0, "c0");
        CheckOptional(cache.Length, layout.Size, "cache", atLeast: true);
        CheckOptional(dropoutMask.Length, (long)(L - 1) * n * width, "dropoutMask");
        if (n == 0) return;   // an empty batch: every output is empty
        fixed (T* py = y, phN = hN, pcN = cN, pCache = cache, px = x, ph0 = h0, pc0 = c0, pw = weights, pMask = dropoutMask, pxu = xu)
        fixed (int* pg = groups)
        {
            T* phNn = hN.IsEmpty ? null : phN, pcNn = cN.IsEmpty ? null : pcN, pCachen = cache.IsEmpty ? null : pCache;
            T* ph0n = h0.IsEmpty ? null : ph0, pc0n = c0.IsEmpty ? null : pc0;
            int* pgn = u > 0 ? pg : null;
            if (RnnStackSchedule<T>.Applies(in sizes))
                RnnStackSchedule<T>.Forward(in sizes, batchSizes, n, py, phNn, pcNn, pCachen, px, ph0n, pc0n, pw, dropoutMask.IsEmpty ? null : pMask,
                    null, pgn, pxu, u);
            else
                RnnLayerCore<T>.Forward(sizes.Layer(0, 0), batchSizes, n, py, width, phNn, pcNn, pCachen == null ? null : pCachen + layout.LayerCache(0),
                    px, sizes.InputSize, ph0n, pc0n, pw, sizes.Slots(0, 0), null, pgn, pxu, u);
        }
    }

    /// <summary>
    /// A whole stack forward for inference on int8 weights (dynamic quantization): as <see cref="StackForward{T}"/>
    /// in float32 without a cache, the products of every layer and direction computed by <see cref="Int8Gemm"/>
    /// from <paramref name="layers"/> (L * dirs entries, layer-major, quantized W_ih (G*H, I_l), W_hh (G*H, H_out),
    /// W_hr (P, H) with a projection, float biases or null). The gate arithmetic is the float kernels'.
    /// </summary>
    internal static void StackForwardQuantized(Span<float> y, Span<float> hN, Span<float> cN, ReadOnlySpan<float> x,
        ReadOnlySpan<float> h0, ReadOnlySpan<float> c0, ReadOnlySpan<QuantizedLayerWeights> layers, in RnnStackSizes sizes,
        ReadOnlySpan<int> batchSizes)
    {
        sizes.Validate();
        int n = CheckBatchSizes(batchSizes);
        int b = batchSizes.Length > 0 ? batchSizes[0] : 0, L = sizes.NumLayers, dirs = sizes.Directions;
        int h = sizes.HiddenSize, hOut = sizes.OutSize, width = dirs * hOut, gh = sizes.GateRows;
        bool lstm = sizes.Mode == RnnMode.Lstm;
        CheckMatrix(y.Length, n, width, width, "y");
        CheckMatrix(x.Length, n, sizes.InputSize, sizes.InputSize, "x");
        CheckOptional(hN.Length, (long)L * dirs * b * hOut, "hN");
        CheckOptional(cN.Length, lstm ? (long)L * dirs * b * h : 0, "cN");
        CheckOptional(h0.Length, (long)L * dirs * b * hOut, "h0");
        CheckOptional(c0.Length, lstm ? (long)L * dirs * b * h : 0, "c0");
        Expect(layers.Length, L * dirs, "layers");
        for (int l = 0; l < L; l++)
            for (int d = 0; d < dirs; d++)
            {
                var q = layers[l * dirs + d];
                if (q.Ih.N != gh || q.Ih.K != sizes.LayerInputSize(l) || q.Hh.N != gh || q.Hh.K != hOut
                    || (sizes.ProjSize > 0 && (q.Hr.N != sizes.ProjSize || q.Hr.K != h)))
                    throw new ArgumentException($"layers[{l * dirs + d}] does not match the stack: expected W_ih ({gh}, {sizes.LayerInputSize(l)}) and W_hh ({gh}, {hOut}), got ({q.Ih.N}, {q.Ih.K}) and ({q.Hh.N}, {q.Hh.K}).", nameof(layers));
            }
        if (n == 0) return;   // an empty batch: every output is empty
        fixed (float* py = y, phN = hN, pcN = cN, px = x, ph0 = h0, pc0 = c0)
        fixed (QuantizedLayerWeights* pq = layers)
        {
            float* phNn = hN.IsEmpty ? null : phN, pcNn = cN.IsEmpty ? null : pcN, ph0n = h0.IsEmpty ? null : ph0, pc0n = c0.IsEmpty ? null : pc0;
            if (RnnStackSchedule<float>.Applies(in sizes))
                RnnStackSchedule<float>.Forward(in sizes, batchSizes, n, py, phNn, pcNn, null, px, ph0n, pc0n, null, null, pq);
            else
                RnnLayerCore<float>.Forward(sizes.Layer(0, 0), batchSizes, n, py, width, phNn, pcNn, null, px, sizes.InputSize, ph0n, pc0n,
                    null, sizes.Slots(0, 0), pq);
        }
    }

    /// <summary>
    /// Backward through time of a whole stack: accumulates (+=) the gradients of x, h0 and c0, and
    /// accumulates or writes the flat gradient of the weights.
    /// </summary>
    /// <param name="dX">(N, InputSize) += gradient of x, or empty.</param>
    /// <param name="dH0">(L * dirs, B, OutSize) += gradient of h0, or empty.</param>
    /// <param name="dC0">(L * dirs, B, H) += gradient of c0, or empty.</param>
    /// <param name="dWeights">(<see cref="RnnStackSizes.WeightCount"/>) gradient of the flat weights, or empty for none.</param>
    /// <param name="accumulateWeights">true: add into <paramref name="dWeights"/>; false: overwrite it (its old contents are never read).</param>
    /// <param name="dY">(N, dirs * OutSize) gradient of y, or empty for zeros.</param>
    /// <param name="dHN">(L * dirs, B, OutSize) gradient of h_n, or empty.</param>
    /// <param name="dCN">(L * dirs, B, H) gradient of c_n, or empty.</param>
    /// <param name="cache">The cache filled by <see cref="StackForward{T}"/>.</param>
    /// <param name="x">(N, InputSize) the forward input.</param>
    /// <param name="c0">(L * dirs, B, H) the forward c0, or empty for zeros.</param>
    /// <param name="weights">The forward's flat weights.</param>
    /// <param name="sizes">As in the forward.</param>
    /// <param name="batchSizes">As in the forward.</param>
    /// <param name="dropoutMask">The forward's dropout masks, or empty.</param>
    public static void StackBackward<T>(Span<T> dX, Span<T> dH0, Span<T> dC0, Span<T> dWeights, bool accumulateWeights,
        ReadOnlySpan<T> dY, ReadOnlySpan<T> dHN, ReadOnlySpan<T> dCN, ReadOnlySpan<T> cache,
        ReadOnlySpan<T> x, ReadOnlySpan<T> c0, ReadOnlySpan<T> weights, in RnnStackSizes sizes,
        ReadOnlySpan<int> batchSizes, ReadOnlySpan<T> dropoutMask = default)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        StackBackwardGrouped(dX, dH0, dC0, dWeights, accumulateWeights, dY, dHN, dCN, cache, x, c0, weights, in sizes, batchSizes, dropoutMask, default, default);

    /// <summary>
    /// <see cref="StackBackward{T}(Span{T}, Span{T}, Span{T}, Span{T}, bool, ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, in RnnStackSizes, ReadOnlySpan{int}, ReadOnlySpan{T})"/>
    /// with the forward's input groups (or empty for none); <paramref name="dX"/> is then (U, InputSize) += each
    /// group's input gradient summed over its rows.
    /// </summary>
    internal static void StackBackwardGrouped<T>(Span<T> dX, Span<T> dH0, Span<T> dC0, Span<T> dWeights, bool accumulateWeights,
        ReadOnlySpan<T> dY, ReadOnlySpan<T> dHN, ReadOnlySpan<T> dCN, ReadOnlySpan<T> cache,
        ReadOnlySpan<T> x, ReadOnlySpan<T> c0, ReadOnlySpan<T> weights, in RnnStackSizes sizes,
        ReadOnlySpan<int> batchSizes, ReadOnlySpan<T> dropoutMask, ReadOnlySpan<int> groups, ReadOnlySpan<T> xu)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        sizes.Validate();
        int n = CheckBatchSizes(batchSizes);
        var layout = new RnnStackLayout(in sizes, n);
        int b = batchSizes.Length > 0 ? batchSizes[0] : 0, L = sizes.NumLayers, dirs = sizes.Directions;
        int h = sizes.HiddenSize, hOut = sizes.OutSize, width = dirs * hOut;
        bool lstm = sizes.Mode == RnnMode.Lstm;
        int u = CheckGroups(groups, xu, n, in sizes);
        CheckOptional(dX.Length, (long)(u > 0 ? u : n) * sizes.InputSize, "dX");
        CheckOptional(dH0.Length, (long)L * dirs * b * hOut, "dH0");
        CheckOptional(dC0.Length, lstm ? (long)L * dirs * b * h : 0, "dC0");
        CheckOptional(dWeights.Length, sizes.WeightCount, "dWeights");
        CheckOptional(dY.Length, (long)n * width, "dY");
        CheckOptional(dHN.Length, (long)L * dirs * b * hOut, "dHN");
        CheckOptional(dCN.Length, lstm ? (long)L * dirs * b * h : 0, "dCN");
        CheckMatrix(x.Length, n, sizes.InputSize, sizes.InputSize, "x");
        Expect(weights.Length, sizes.WeightCount, "weights");
        CheckOptional(c0.Length, lstm ? (long)L * dirs * b * h : 0, "c0");
        CheckOptional(dropoutMask.Length, (long)(L - 1) * n * width, "dropoutMask");
        if (cache.Length < layout.Size)
            throw new ArgumentException($"cache is too short for this stack and sequence. Expected at least {layout.Size} elements, got {cache.Length}.", nameof(cache));
        if (n == 0)
        {
            // An empty batch: the weights' gradient is a sum over no rows; dX, dH0 and dC0 are empty.
            if (!accumulateWeights) dWeights.Clear();
            return;
        }
        fixed (T* pdX = dX, pdH0 = dH0, pdC0 = dC0, pdW = dWeights, pdY = dY, pdHN = dHN, pdCN = dCN, pCache = cache, px = x, pc0 = c0,
            pw = weights, pMask = dropoutMask, pxu = xu)
        fixed (int* pg = groups)
        {
            int* pgn = u > 0 ? pg : null;
            T* dXn = dX.IsEmpty ? null : pdX, dH0n = dH0.IsEmpty ? null : pdH0, dC0n = dC0.IsEmpty ? null : pdC0, dWn = dWeights.IsEmpty ? null : pdW;
            T* dYn = dY.IsEmpty ? null : pdY, dHNn = dHN.IsEmpty ? null : pdHN, dCNn = dCN.IsEmpty ? null : pdCN, c0n = c0.IsEmpty ? null : pc0;
            if (RnnStackSchedule<T>.Applies(in sizes))
                RnnStackSchedule<T>.Backward(in sizes, batchSizes, n, dXn, dH0n, dC0n, dWn, accumulateWeights, dYn, dHNn, dCNn, pCache, px, c0n, pw,
                    dropoutMask.IsEmpty ? null : pMask, pgn, pxu, u);
            else
                RnnLayerCore<T>.Backward(sizes.Layer(0, 0), batchSizes, n, dXn, dH0n, dC0n, dWn, accumulateWeights, dYn, width, dHNn, dCNn,
                    pCache + layout.LayerCache(0), px, sizes.InputSize, c0n, pw, sizes.Slots(0, 0), pgn, pxu, u);
        }
    }

    // ============================================================================================
    // Checks
    // ============================================================================================

    private static void CheckType<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Recurrent kernels support float and double, not {typeof(T).Name}.");
    }

    // A dense batch of 0 sequences: every step has 0 rows (PyTorch returns empty outputs; nothing is computed).
    private static bool IsEmptyBatch(ReadOnlySpan<int> batchSizes) => batchSizes.Length > 0 && batchSizes.IndexOfAnyExcept(0) < 0;

    // Returns N = sum of batch sizes after checking they are positive and non-increasing (or all 0: an empty batch).
    private static int CheckBatchSizes(ReadOnlySpan<int> batchSizes)
    {
        if (IsEmptyBatch(batchSizes)) return 0;
        long n = 0;
        for (int t = 0; t < batchSizes.Length; t++)
        {
            if (batchSizes[t] <= 0)
                throw new ArgumentException($"batchSizes[{t}] must be positive, but got {batchSizes[t]}", nameof(batchSizes));
            if (t > 0 && batchSizes[t] > batchSizes[t - 1])
                throw new ArgumentException($"batchSizes must be non-increasing, but batchSizes[{t}] = {batchSizes[t]} > batchSizes[{t - 1}] = {batchSizes[t - 1]}", nameof(batchSizes));
            n += batchSizes[t];
        }
        if (n > int.MaxValue) throw new ArgumentException($"Too many rows: the batch sizes sum to {n}.", nameof(batchSizes));
        return (int)n;
    }

    // Returns U (0: no groups) after checking the groups: one per row, each in [0, U), xu (U, InputSize).
    private static int CheckGroups<T>(ReadOnlySpan<int> groups, ReadOnlySpan<T> xu, int n, in RnnStackSizes sizes)
    {
        if (groups.IsEmpty && xu.IsEmpty) return 0;
        if (groups.Length != n) throw new ArgumentException($"groups must have one entry per input row ({n}), but got {groups.Length}.", nameof(groups));
        int i = sizes.InputSize;
        if (i == 0 || xu.Length % i != 0 || xu.Length == 0)
            throw new ArgumentException($"xu must hold whole rows of {i} (one per group), but got {xu.Length} elements.", nameof(xu));
        int u = xu.Length / i;
        for (int r = 0; r < groups.Length; r++)
            if ((uint)groups[r] >= (uint)u)
                throw new ArgumentException($"groups[{r}] must be in [0, {u}), but got {groups[r]}.", nameof(groups));
        return u;
    }

    private static void CheckMatrix(int length, int rows, int cols, int ld, string name)
    {
        long need = rows == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need)
            throw new ArgumentException($"{name} is too short for {rows} rows of {cols} with stride {ld}. Expected at least {need} elements, got {length}.", name);
    }

    private static void CheckOptional(int length, long expected, string name, bool atLeast = false)
    {
        if (length == 0) return;
        if (atLeast ? length < expected : length != expected)
            throw new ArgumentException($"{name} must be empty or have {(atLeast ? "at least " : "")}{expected} elements, but got {length}.", name);
    }

    private static void Expect(long length, long expected, string name)
    {
        if (length != expected) throw new ArgumentException($"{name} must have {expected} elements, but got {length}.", name);
    }
}

/// <summary>
/// Where each layer's cache and each layer input lives in a stack's training cache: the inputs of
/// layers 1..L-1 (N, dirs * OutSize) first, then one layer cache per layer and direction (all the same
/// size: a layer's cache does not depend on its input width). Plain arithmetic, no allocation.
/// </summary>
internal readonly struct RnnStackLayout
{
    private readonly long _inputSize, _layerSize, _inputs;
    public readonly long Size;

    public RnnStackLayout(in RnnStackSizes s, int n)
    {
        _inputSize = ((long)n * s.Directions * s.OutSize + 15) & ~15L;
        _layerSize = new RnnLayerCacheLayout(s.Layer(0, 0), n).Size;
        _inputs = (s.NumLayers - 1) * _inputSize;
        Size = _inputs + (long)s.NumLayers * s.Directions * _layerSize;
    }

    /// <summary>Offset of the cache of layer-direction k = layer * dirs + direction.</summary>
    public long LayerCache(int k) => _inputs + k * _layerSize;

    /// <summary>Offset of the saved input x_l of layer l &gt;= 1.</summary>
    public long LayerInput(int l) => (l - 1) * _inputSize;
}
