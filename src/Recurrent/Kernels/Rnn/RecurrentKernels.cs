// Public entry points of the fused recurrent kernels, llm.c style: each level is a pair
// Forward(out, cache, in, weights, sizes) / Backward(dIn, dWeights, dOut, cache, ...), on spans.
// Layer level: one layer and direction (RnnLayer.Core.cs). Stack level: layers x directions, layer
// l > 0 reading the concatenated (forward, reverse) outputs of layer l-1, optional dropout masks
// between layers (training only, drawn by the caller). Arguments are checked here, then pinned and
// handed to the pointer kernels. The kernels never allocate managed memory; scratch comes from
// RnnArena (per thread, reused), saved activations from the caller's cache.
using System.Buffers;
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
/// <para>Training: pass a cache of <see cref="LayerCacheSize"/> (<see cref="StackCacheSize"/>)
/// elements to the forward and the same cache, untouched, to the backward. Inference: pass an empty
/// cache; nothing is saved.</para>
/// <para>Backward kernels accumulate (<c>+=</c>) into every gradient; empty gradient spans are
/// skipped. Empty <c>h0</c>/<c>c0</c>/<c>dY</c>/<c>dHN</c>/<c>dCN</c> mean zeros.</para>
/// </remarks>
public static unsafe class RecurrentKernels
{
    // ============================================================================================
    // Layer level
    // ============================================================================================

    /// <summary>Elements of the training cache of one layer and direction.</summary>
    public static long LayerCacheSize(in RnnLayerSizes sizes, ReadOnlySpan<int> batchSizes)
    {
        sizes.Validate();
        return new RnnLayerCacheLayout(in sizes, CheckBatchSizes(batchSizes)).Size;
    }

    /// <summary>
    /// Runs one layer and direction forward over a packed sequence.
    /// </summary>
    /// <param name="y">(N, ldy): h_t of every row written to columns [0, OutSize) (offset the span for the reverse half).</param>
    /// <param name="ldy">Row stride of <paramref name="y"/>, at least OutSize.</param>
    /// <param name="hN">(B, OutSize) final h of each sequence, or empty.</param>
    /// <param name="cN">(B, H) final c (LSTM), or empty.</param>
    /// <param name="cache">(<see cref="LayerCacheSize"/>) saved for backward, or empty for inference.</param>
    /// <param name="x">(N, I) input rows.</param>
    /// <param name="h0">(B, OutSize) initial h, or empty for zeros.</param>
    /// <param name="c0">(B, H) initial c (LSTM), or empty for zeros.</param>
    /// <param name="weights">The layer's parameters.</param>
    /// <param name="sizes">Mode and sizes; <c>Reverse</c> selects the direction.</param>
    /// <param name="batchSizes">(T) rows per step, positive, non-increasing.</param>
    public static void LayerForward<T>(Span<T> y, int ldy, Span<T> hN, Span<T> cN, Span<T> cache,
        ReadOnlySpan<T> x, ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, RnnLayerWeights<T> weights,
        in RnnLayerSizes sizes, ReadOnlySpan<int> batchSizes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        sizes.Validate();
        int n = CheckBatchSizes(batchSizes);
        int b = batchSizes.Length > 0 ? batchSizes[0] : 0, h = sizes.HiddenSize, hOut = sizes.OutSize;
        bool lstm = sizes.Mode == RnnMode.Lstm;
        CheckWeights(weights, in sizes);
        CheckMatrix(y.Length, n, hOut, ldy, "y");
        CheckMatrix(x.Length, n, sizes.InputSize, sizes.InputSize, "x");
        CheckOptional(hN.Length, (long)b * hOut, "hN");
        CheckOptional(cN.Length, lstm ? (long)b * h : 0, "cN");
        CheckOptional(h0.Length, (long)b * hOut, "h0");
        CheckOptional(c0.Length, lstm ? (long)b * h : 0, "c0");
        CheckOptional(cache.Length, new RnnLayerCacheLayout(in sizes, n).Size, "cache", atLeast: true);

        fixed (T* py = y, phN = hN, pcN = cN, pCache = cache, px = x, ph0 = h0, pc0 = c0)
        fixed (T* wih = weights.WeightIh, whh = weights.WeightHh, bih = weights.BiasIh, bhh = weights.BiasHh, whr = weights.WeightHr)
        {
            var w = new RnnLayerPtrs<T> { Wih = wih, Whh = whh, Bih = bih, Bhh = bhh, Whr = whr };
            RnnLayerCore<T>.Forward(in sizes, batchSizes, n, py, ldy, NullIfEmpty(phN, hN.Length), NullIfEmpty(pcN, cN.Length),
                NullIfEmpty(pCache, cache.Length), px, sizes.InputSize, NullIfEmpty(ph0, h0.Length), NullIfEmpty(pc0, c0.Length), in w);
        }
    }

    /// <summary>
    /// Backward through time of one layer and direction: accumulates (+=) the gradients of the
    /// input, the initial states and the parameters.
    /// </summary>
    /// <param name="dX">(N, I) += gradient of x, or empty.</param>
    /// <param name="dH0">(B, OutSize) += gradient of h0, or empty.</param>
    /// <param name="dC0">(B, H) += gradient of c0 (LSTM), or empty.</param>
    /// <param name="dWeights">+= parameter gradients (empty members skipped).</param>
    /// <param name="dY">(N, ldy) gradient of the output rows (columns [0, OutSize)), or empty for zeros.</param>
    /// <param name="ldy">Row stride of <paramref name="dY"/>.</param>
    /// <param name="dHN">(B, OutSize) gradient of h_n, or empty.</param>
    /// <param name="dCN">(B, H) gradient of c_n, or empty.</param>
    /// <param name="cache">The cache filled by <see cref="LayerForward{T}"/>.</param>
    /// <param name="x">(N, I) the forward input.</param>
    /// <param name="c0">(B, H) the forward c0 (LSTM), or empty for zeros.</param>
    /// <param name="weights">The forward parameters.</param>
    /// <param name="sizes">As in the forward.</param>
    /// <param name="batchSizes">As in the forward.</param>
    public static void LayerBackward<T>(Span<T> dX, Span<T> dH0, Span<T> dC0, RnnLayerGrads<T> dWeights,
        ReadOnlySpan<T> dY, int ldy, ReadOnlySpan<T> dHN, ReadOnlySpan<T> dCN, ReadOnlySpan<T> cache,
        ReadOnlySpan<T> x, ReadOnlySpan<T> c0, RnnLayerWeights<T> weights, in RnnLayerSizes sizes, ReadOnlySpan<int> batchSizes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        sizes.Validate();
        int n = CheckBatchSizes(batchSizes);
        int b = batchSizes.Length > 0 ? batchSizes[0] : 0, h = sizes.HiddenSize, hOut = sizes.OutSize, gh = sizes.Gates * h;
        bool lstm = sizes.Mode == RnnMode.Lstm;
        CheckWeights(weights, in sizes);
        CheckOptional(dX.Length, (long)n * sizes.InputSize, "dX");
        CheckOptional(dH0.Length, (long)b * hOut, "dH0");
        CheckOptional(dC0.Length, lstm ? (long)b * h : 0, "dC0");
        CheckOptional(dWeights.WeightIh.Length, (long)gh * sizes.InputSize, "dWeights.WeightIh");
        CheckOptional(dWeights.WeightHh.Length, (long)gh * hOut, "dWeights.WeightHh");
        CheckOptional(dWeights.BiasIh.Length, sizes.HasBias ? gh : 0, "dWeights.BiasIh");
        CheckOptional(dWeights.BiasHh.Length, sizes.HasBias ? gh : 0, "dWeights.BiasHh");
        CheckOptional(dWeights.WeightHr.Length, (long)sizes.ProjSize * h, "dWeights.WeightHr");
        if (!dY.IsEmpty) CheckMatrix(dY.Length, n, hOut, ldy, "dY");
        CheckOptional(dHN.Length, (long)b * hOut, "dHN");
        CheckOptional(dCN.Length, lstm ? (long)b * h : 0, "dCN");
        CheckMatrix(x.Length, n, sizes.InputSize, sizes.InputSize, "x");
        CheckOptional(c0.Length, lstm ? (long)b * h : 0, "c0");
        long need = new RnnLayerCacheLayout(in sizes, n).Size;
        if (cache.Length < need)
            throw new ArgumentException($"cache is too short for this layer and sequence. Expected at least {need} elements, got {cache.Length}.", nameof(cache));

        fixed (T* pdX = dX, pdH0 = dH0, pdC0 = dC0, pdY = dY, pdHN = dHN, pdCN = dCN, pCache = cache, px = x, pc0 = c0)
        fixed (T* wih = weights.WeightIh, whh = weights.WeightHh, whr = weights.WeightHr)
        fixed (T* gwih = dWeights.WeightIh, gwhh = dWeights.WeightHh, gbih = dWeights.BiasIh, gbhh = dWeights.BiasHh, gwhr = dWeights.WeightHr)
        {
            var w = new RnnLayerPtrs<T> { Wih = wih, Whh = whh, Whr = whr };
            var g = new RnnLayerPtrs<T>
            {
                Wih = NullIfEmpty(gwih, dWeights.WeightIh.Length), Whh = NullIfEmpty(gwhh, dWeights.WeightHh.Length),
                Bih = NullIfEmpty(gbih, dWeights.BiasIh.Length), Bhh = NullIfEmpty(gbhh, dWeights.BiasHh.Length),
                Whr = NullIfEmpty(gwhr, dWeights.WeightHr.Length),
            };
            RnnLayerCore<T>.Backward(in sizes, batchSizes, n, NullIfEmpty(pdX, dX.Length), NullIfEmpty(pdH0, dH0.Length),
                NullIfEmpty(pdC0, dC0.Length), in g, NullIfEmpty(pdY, dY.Length), ldy, NullIfEmpty(pdHN, dHN.Length),
                NullIfEmpty(pdCN, dCN.Length), pCache, px, sizes.InputSize, NullIfEmpty(pc0, c0.Length), in w);
        }
    }

    // ============================================================================================
    // Stack level
    // ============================================================================================

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
    /// <param name="weights">Parameters in PyTorch's flat order: per layer, per direction:
    /// w_ih, w_hh, [b_ih, b_hh], [w_hr] (<see cref="RnnStackSizes.WeightsPerLayer"/> each).</param>
    /// <param name="sizes">Mode and sizes of the stack.</param>
    /// <param name="batchSizes">(T) rows per step.</param>
    /// <param name="dropoutMask">((L-1), N, dirs * OutSize) multipliers applied to the output of
    /// every layer but the last (0 or 1/(1-p)), or empty for no dropout.</param>
    public static void StackForward<T>(Span<T> y, Span<T> hN, Span<T> cN, Span<T> cache,
        ReadOnlySpan<T> x, ReadOnlySpan<T> h0, ReadOnlySpan<T> c0, ReadOnlyMemory<T>[] weights,
        in RnnStackSizes sizes, ReadOnlySpan<int> batchSizes, ReadOnlySpan<T> dropoutMask = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        sizes.Validate();
        int n = CheckBatchSizes(batchSizes);
        var layout = new RnnStackLayout(in sizes, n);
        int b = batchSizes.Length > 0 ? batchSizes[0] : 0, L = sizes.NumLayers, dirs = sizes.Directions;
        int h = sizes.HiddenSize, hOut = sizes.OutSize, width = dirs * hOut;
        bool lstm = sizes.Mode == RnnMode.Lstm;
        CheckMatrix(y.Length, n, width, width, "y");
        CheckMatrix(x.Length, n, sizes.InputSize, sizes.InputSize, "x");
        CheckOptional(hN.Length, (long)L * dirs * b * hOut, "hN");
        CheckOptional(cN.Length, lstm ? (long)L * dirs * b * h : 0, "cN");
        CheckOptional(h0.Length, (long)L * dirs * b * hOut, "h0");
        CheckOptional(c0.Length, lstm ? (long)L * dirs * b * h : 0, "c0");
        CheckOptional(cache.Length, layout.Size, "cache", atLeast: true);
        CheckOptional(dropoutMask.Length, (long)(L - 1) * n * width, "dropoutMask");
        var handles = PinWeights(weights, in sizes, forGrad: false);
        nuint mark = RnnArena.Mark();
        try
        {
            fixed (T* py = y, phN = hN, pcN = cN, pCache = cache, px = x, ph0 = h0, pc0 = c0, pMask = dropoutMask)
            {
                bool training = !cache.IsEmpty;
                T* bufA = !training && L > 1 ? RnnArena.Rent<T>((long)n * width) : null;
                T* bufB = !training && L > 2 ? RnnArena.Rent<T>((long)n * width) : null;
                T* input = px;
                int ldIn = sizes.InputSize;
                for (int l = 0; l < L; l++)
                {
                    T* output = l == L - 1 ? py : training ? pCache + layout.LayerInput(l + 1) : (l % 2 == 0 ? bufA : bufB);
                    for (int d = 0; d < dirs; d++)
                    {
                        var ls = sizes.Layer(l, d);
                        int k = l * dirs + d;
                        var w = LayerPtrs<T>(handles, k, in sizes);
                        RnnLayerCore<T>.Forward(in ls, batchSizes, n, output + d * hOut, width,
                            hN.IsEmpty ? null : phN + (nint)k * b * hOut, cN.IsEmpty ? null : pcN + (nint)k * b * h,
                            training ? pCache + layout.LayerCache(k) : null, input, ldIn,
                            h0.IsEmpty ? null : ph0 + (nint)k * b * hOut, c0.IsEmpty ? null : pc0 + (nint)k * b * h, in w);
                    }
                    if (l < L - 1 && !dropoutMask.IsEmpty)
                        RnnBlas<T>.MulInPlace(output, pMask + (nint)l * n * width, n * width);
                    input = output;
                    ldIn = width;
                }
            }
        }
        finally
        {
            RnnArena.Release(mark);
            Unpin(handles);
        }
    }

    /// <summary>
    /// Backward through time of a whole stack: accumulates (+=) the gradients of x, h0, c0 and
    /// every parameter.
    /// </summary>
    /// <param name="dX">(N, InputSize) += gradient of x, or empty.</param>
    /// <param name="dH0">(L * dirs, B, OutSize) += gradient of h0, or empty.</param>
    /// <param name="dC0">(L * dirs, B, H) += gradient of c0, or empty.</param>
    /// <param name="dWeights">+= parameter gradients in the order of the weights; empty entries skipped.</param>
    /// <param name="dY">(N, dirs * OutSize) gradient of y, or empty for zeros.</param>
    /// <param name="dHN">(L * dirs, B, OutSize) gradient of h_n, or empty.</param>
    /// <param name="dCN">(L * dirs, B, H) gradient of c_n, or empty.</param>
    /// <param name="cache">The cache filled by <see cref="StackForward{T}"/>.</param>
    /// <param name="x">(N, InputSize) the forward input.</param>
    /// <param name="c0">(L * dirs, B, H) the forward c0, or empty for zeros.</param>
    /// <param name="weights">The forward parameters.</param>
    /// <param name="sizes">As in the forward.</param>
    /// <param name="batchSizes">As in the forward.</param>
    /// <param name="dropoutMask">The forward's dropout masks, or empty.</param>
    public static void StackBackward<T>(Span<T> dX, Span<T> dH0, Span<T> dC0, Memory<T>[] dWeights,
        ReadOnlySpan<T> dY, ReadOnlySpan<T> dHN, ReadOnlySpan<T> dCN, ReadOnlySpan<T> cache,
        ReadOnlySpan<T> x, ReadOnlySpan<T> c0, ReadOnlyMemory<T>[] weights, in RnnStackSizes sizes,
        ReadOnlySpan<int> batchSizes, ReadOnlySpan<T> dropoutMask = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckType<T>();
        sizes.Validate();
        int n = CheckBatchSizes(batchSizes);
        var layout = new RnnStackLayout(in sizes, n);
        int b = batchSizes.Length > 0 ? batchSizes[0] : 0, L = sizes.NumLayers, dirs = sizes.Directions;
        int h = sizes.HiddenSize, hOut = sizes.OutSize, width = dirs * hOut;
        bool lstm = sizes.Mode == RnnMode.Lstm;
        CheckOptional(dX.Length, (long)n * sizes.InputSize, "dX");
        CheckOptional(dH0.Length, (long)L * dirs * b * hOut, "dH0");
        CheckOptional(dC0.Length, lstm ? (long)L * dirs * b * h : 0, "dC0");
        CheckOptional(dY.Length, (long)n * width, "dY");
        CheckOptional(dHN.Length, (long)L * dirs * b * hOut, "dHN");
        CheckOptional(dCN.Length, lstm ? (long)L * dirs * b * h : 0, "dCN");
        CheckMatrix(x.Length, n, sizes.InputSize, sizes.InputSize, "x");
        CheckOptional(c0.Length, lstm ? (long)L * dirs * b * h : 0, "c0");
        CheckOptional(dropoutMask.Length, (long)(L - 1) * n * width, "dropoutMask");
        if (cache.Length < layout.Size)
            throw new ArgumentException($"cache is too short for this stack and sequence. Expected at least {layout.Size} elements, got {cache.Length}.", nameof(cache));
        Guard.NotNull(dWeights, nameof(dWeights));
        if (dWeights.Length != weights.Length)
            throw new ArgumentException($"dWeights must have one entry per weight. Expected {weights.Length}, got {dWeights.Length}.", nameof(dWeights));
        var handles = PinWeights(weights, in sizes, forGrad: false);
        var gradHandles = PinGrads(dWeights, in sizes);
        nuint mark = RnnArena.Mark();
        try
        {
            fixed (T* pdX = dX, pdH0 = dH0, pdC0 = dC0, pdY = dY, pdHN = dHN, pdCN = dCN, pCache = cache, px = x, pc0 = c0, pMask = dropoutMask)
            {
                T* bufA = L > 1 ? RnnArena.Rent<T>((long)n * width) : null;
                T* bufB = L > 2 ? RnnArena.Rent<T>((long)n * width) : null;
                T* dOut = dY.IsEmpty ? null : pdY;
                for (int l = L - 1; l >= 0; l--)
                {
                    T* dIn;
                    if (l == 0) dIn = dX.IsEmpty ? null : pdX;
                    else
                    {
                        dIn = l % 2 == 1 ? bufA : bufB;
                        new Span<T>(dIn, n * width).Clear();
                    }
                    T* input = l == 0 ? px : pCache + layout.LayerInput(l);
                    int ldIn = l == 0 ? sizes.InputSize : width;
                    for (int d = 0; d < dirs; d++)
                    {
                        var ls = sizes.Layer(l, d);
                        int k = l * dirs + d;
                        var w = LayerPtrs<T>(handles, k, in sizes);
                        var g = LayerPtrs<T>(gradHandles, k, in sizes);
                        RnnLayerCore<T>.Backward(in ls, batchSizes, n, dIn,
                            dH0.IsEmpty ? null : pdH0 + (nint)k * b * hOut, dC0.IsEmpty ? null : pdC0 + (nint)k * b * h, in g,
                            dOut == null ? null : dOut + d * hOut, width,
                            dHN.IsEmpty ? null : pdHN + (nint)k * b * hOut, dCN.IsEmpty ? null : pdCN + (nint)k * b * h,
                            pCache + layout.LayerCache(k), input, ldIn, c0.IsEmpty ? null : pc0 + (nint)k * b * h, in w);
                    }
                    // x_l = y_{l-1} * mask_{l-1}:  dy_{l-1} = dx_l * mask_{l-1}
                    if (l > 0 && !dropoutMask.IsEmpty) RnnBlas<T>.MulInPlace(dIn, pMask + (nint)(l - 1) * n * width, n * width);
                    dOut = dIn;
                }
            }
        }
        finally
        {
            RnnArena.Release(mark);
            Unpin(handles);
            Unpin(gradHandles);
        }
    }

    // ============================================================================================
    // Checks and pinning
    // ============================================================================================

    private static void CheckType<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Recurrent kernels support float and double, not {typeof(T).Name}.");
    }

    // Returns N = sum of batch sizes after checking they are positive and non-increasing.
    private static int CheckBatchSizes(ReadOnlySpan<int> batchSizes)
    {
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

    private static void CheckMatrix(int length, int rows, int cols, int ld, string name)
    {
        if (ld < cols) throw new ArgumentOutOfRangeException("ld" + name, ld, $"Row stride of {name} must be at least {cols}, but got {ld}");
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

    private static void CheckWeights<T>(RnnLayerWeights<T> w, in RnnLayerSizes s)
    {
        int gh = s.Gates * s.HiddenSize;
        Expect(w.WeightIh.Length, (long)gh * s.InputSize, "weights.WeightIh");
        Expect(w.WeightHh.Length, (long)gh * s.OutSize, "weights.WeightHh");
        Expect(w.BiasIh.Length, s.HasBias ? gh : 0, "weights.BiasIh");
        Expect(w.BiasHh.Length, s.HasBias ? gh : 0, "weights.BiasHh");
        Expect(w.WeightHr.Length, (long)s.ProjSize * s.HiddenSize, "weights.WeightHr");
    }

    private static void Expect(long length, long expected, string name)
    {
        if (length != expected) throw new ArgumentException($"{name} must have {expected} elements, but got {length}.", name);
    }

    // Expected element count of flat weight slot `slot` (0..WeightsPerLayer-1) of layer l.
    private static long SlotSize(in RnnStackSizes s, int layer, int slot)
    {
        var ls = s.Layer(layer, 0);
        int gh = ls.Gates * s.HiddenSize;
        if (slot == 0) return (long)gh * ls.InputSize;
        if (slot == 1) return (long)gh * s.OutSize;
        if (s.HasBias && slot <= 3) return gh;
        return (long)s.ProjSize * s.HiddenSize;
    }

    private static MemoryHandle[] PinWeights<T>(ReadOnlyMemory<T>[] weights, in RnnStackSizes s, bool forGrad)
    {
        Guard.NotNull(weights, nameof(weights));
        int per = s.WeightsPerLayer, count = s.NumLayers * s.Directions * per;
        if (weights.Length != count)
            throw new ArgumentException($"weights must hold {per} tensors per layer and direction. Expected {count}, got {weights.Length}.", nameof(weights));
        var handles = new MemoryHandle[count];
        for (int i = 0; i < count; i++)
        {
            long need = SlotSize(in s, i / per / s.Directions, i % per);
            if (weights[i].Length != need)
                throw new ArgumentException($"weights[{i}] must have {need} elements, but got {weights[i].Length}.", nameof(weights));
            handles[i] = weights[i].Pin();
        }
        return handles;
    }

    private static MemoryHandle[] PinGrads<T>(Memory<T>[] grads, in RnnStackSizes s)
    {
        int per = s.WeightsPerLayer;
        var handles = new MemoryHandle[grads.Length];
        for (int i = 0; i < grads.Length; i++)
        {
            if (grads[i].IsEmpty) continue;
            long need = SlotSize(in s, i / per / s.Directions, i % per);
            if (grads[i].Length != need)
                throw new ArgumentException($"dWeights[{i}] must be empty or have {need} elements, but got {grads[i].Length}.", nameof(grads));
            handles[i] = grads[i].Pin();
        }
        return handles;
    }

    private static void Unpin(MemoryHandle[] handles)
    {
        foreach (var h in handles) h.Dispose();
    }

    private static RnnLayerPtrs<T> LayerPtrs<T>(MemoryHandle[] handles, int k, in RnnStackSizes s) where T : unmanaged
    {
        int per = s.WeightsPerLayer, at = k * per;
        var p = new RnnLayerPtrs<T> { Wih = (T*)handles[at].Pointer, Whh = (T*)handles[at + 1].Pointer };
        if (s.HasBias)
        {
            p.Bih = (T*)handles[at + 2].Pointer;
            p.Bhh = (T*)handles[at + 3].Pointer;
        }
        if (s.ProjSize > 0) p.Whr = (T*)handles[at + per - 1].Pointer;
        return p;
    }

    private static T* NullIfEmpty<T>(T* p, int length) where T : unmanaged => length == 0 ? null : p;
}

/// <summary>Where each layer's cache and each layer input lives in a stack's training cache.</summary>
internal readonly struct RnnStackLayout
{
    private readonly long[] _layerCache;   // per (layer * dirs + dir)
    private readonly long[] _layerInput;   // per layer >= 1: x_l (N, dirs * OutSize)
    public readonly long Size;

    public RnnStackLayout(in RnnStackSizes s, int n)
    {
        int L = s.NumLayers, dirs = s.Directions;
        _layerCache = new long[L * dirs];
        _layerInput = new long[L];
        long at = 0;
        for (int l = 1; l < L; l++)
        {
            _layerInput[l] = at;
            at += ((long)n * dirs * s.OutSize + 15) & ~15L;
        }
        for (int l = 0; l < L; l++)
            for (int d = 0; d < dirs; d++)
            {
                _layerCache[l * dirs + d] = at;
                at += new RnnLayerCacheLayout(s.Layer(l, d), n).Size;
            }
        Size = at;
    }

    public long LayerCache(int k) => _layerCache[k];
    public long LayerInput(int l) => _layerInput[l];
}
