// The fused recurrent path: the span kernels of Kernels/Rnn (RecurrentKernels) wrapped as autograd
// nodes. A whole stack (layers x directions, inter-layer dropout) is one node, "FusedRnnBackward0"
// (FusedScan.RunStack, used by RecurrentBase); a single layer and direction is one node too
// (FusedScan.Scan, the IRecurrentScan contract). The node owns the saved activations (a pooled
// cache array, handed back when the graph is released) and calls the backward kernels.
//
// Gradient delivery: the kernels accumulate (+=). For a leaf input that already has a matching,
// contiguous .Grad (weights and x after the first step, when grads are zeroed rather than set to
// None) the kernels add straight into it and the node returns no gradient for that input: the same
// result as returning a fresh gradient for AccumulateGrad to add, without allocating it.
using System.Numerics;
using Recurrent.Autograd;
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>The fused-kernel implementation of the recurrent math (one autograd node per stack or layer).</summary>
internal sealed class FusedScan : IRecurrentScan
{
    public static readonly FusedScan Instance = new();

    private FusedScan() { }

    internal static RnnMode KernelMode(RecurrentMode mode) => mode switch
    {
        RecurrentMode.RnnTanh => RnnMode.RnnTanh,
        RecurrentMode.RnnRelu => RnnMode.RnnRelu,
        RecurrentMode.Lstm => RnnMode.Lstm,
        _ => RnnMode.Gru,
    };

    /// <inheritdoc/>
    public ScanResult Scan(RecurrentMode mode, in LayerWeights weights, Tensor x, int[] batchSizes, bool reverse, Tensor h0, Tensor? c0)
    {
        var sizes = new RnnLayerSizes(KernelMode(mode), x.Size(1), weights.WeightHh.Size(0) / mode.GateCount(),
            weights.WeightHr?.Size(0) ?? 0, weights.BiasIh is not null, reverse);
        var ws = new List<Tensor> { weights.WeightIh, weights.WeightHh };
        if (weights.BiasIh is not null) { ws.Add(weights.BiasIh); ws.Add(weights.BiasHh!); }
        if (weights.WeightHr is not null) ws.Add(weights.WeightHr);
        var plan = new FusedPlan(null, sizes, batchSizes, 0);
        var (y, hN, cN) = x.DType == DType.Float32
            ? FusedFunction<float>.Run(plan, x, h0, c0, ws.ToArray(), null)
            : FusedFunction<double>.Run(plan, x, h0, c0, ws.ToArray(), null);
        return new ScanResult(y, hN.View(h0.ShapeRef), cN?.View(c0!.ShapeRef));
    }

    /// <summary>
    /// The whole stack of <paramref name="module"/> as one node: x (N, I), h0 (L*D, B, H_out),
    /// c0 (L*D, B, H) -> output (N, D*H_out), h_n, c_n. Dropout masks are drawn from the module's
    /// generator exactly as the composed path draws them (layer by layer, same order).
    /// </summary>
    public (Tensor Output, Tensor HN, Tensor? CN) RunStack(RecurrentBase module, Tensor x, int[] batchSizes, Tensor h0, Tensor? c0)
    {
        var sizes = new RnnStackSizes(KernelMode(module.Mode), module.InputSize, module.HiddenSize, module.NumLayers,
            module.Bidirectional, module.ProjSize, module.Bias);
        bool dropout = module.NumLayers > 1 && module.Dropout > 0 && module.Training;
        var plan = new FusedPlan(sizes, default, batchSizes, dropout ? module.Dropout : 0);
        var weights = module.FlatWeights.ToArray();
        return x.DType == DType.Float32
            ? FusedFunction<float>.Run(plan, x, h0, c0, weights, module.Generator)
            : FusedFunction<double>.Run(plan, x, h0, c0, weights, module.Generator);
    }
}

/// <summary>What one fused call computes: a stack (Stack set) or one layer and direction.</summary>
internal sealed record FusedPlan(RnnStackSizes? Stack, RnnLayerSizes Layer, int[] BatchSizes, double DropoutP)
{
    public bool IsLstm => (Stack?.Mode ?? Layer.Mode) == RnnMode.Lstm;
}

/// <summary>Forward and backward of one fused call for element type <typeparamref name="T"/>.</summary>
internal static class FusedFunction<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static (Tensor Y, Tensor HN, Tensor? CN) Run(FusedPlan plan, Tensor x, Tensor h0, Tensor? c0, Tensor[] weights, Generator? generator)
    {
        x = x.Contiguous();
        h0 = h0.Contiguous();
        c0 = plan.IsLstm ? c0!.Contiguous() : null;
        for (int i = 0; i < weights.Length; i++) weights[i] = weights[i].Contiguous();
        var dtype = x.DType;
        int n = x.Size(0), b = plan.BatchSizes[0];
        int outWidth, hOut, h, states;
        if (plan.Stack is { } s)
        {
            outWidth = s.Directions * s.OutSize;
            hOut = s.OutSize;
            h = s.HiddenSize;
            states = s.NumLayers * s.Directions;
        }
        else
        {
            outWidth = hOut = plan.Layer.OutSize;
            h = plan.Layer.HiddenSize;
            states = 1;
        }
        var y = Tensor.Allocate(dtype, [n, outWidth], clear: false);   // every element is written by the kernels
        var hN = Tensor.Empty(dtype, [states, b, hOut]);
        var cN = plan.IsLstm ? Tensor.Empty(dtype, [states, b, h]) : null;

        var inputs = new Tensor?[3 + weights.Length];
        inputs[0] = x; inputs[1] = h0; inputs[2] = c0;
        Array.Copy(weights, 0, inputs, 3, weights.Length);
        bool record = GradMode.IsEnabled && inputs.Any(t => t is not null && t.RequiresGrad);

        // Dropout masks between layers ((L-1), N, D*H_out), drawn as RecurrentBase.ApplyDropout does.
        T[]? mask = null;
        if (plan.Stack is { } st && plan.DropoutP > 0)
        {
            int per = n * outWidth;
            mask = CachePool<T>.Rent((st.NumLayers - 1) * per);
            var gen = generator ?? Generator.Default;
            double p = plan.DropoutP;
            T scale = p >= 1 ? T.Zero : T.CreateChecked(1.0 / (1.0 - p));
            for (int i = 0; i < (st.NumLayers - 1) * per; i++) mask[i] = gen.NextDouble() >= p ? scale : T.Zero;
        }
        int maskLength = mask is null ? 0 : (plan.Stack!.Value.NumLayers - 1) * n * outWidth;

        long cacheSize = record ? CacheSize(plan) : 0;
        T[]? cache = record ? CachePool<T>.Rent(cacheSize) : null;
        var cacheSpan = cache is null ? Span<T>.Empty : cache.AsSpan(0, checked((int)cacheSize));
        var yS = y.AsSpan<T>();
        var hNS = hN.AsSpan<T>();
        var cNS = cN is null ? Span<T>.Empty : cN.AsSpan<T>();
        var xS = x.AsSpan<T>();
        var h0S = h0.AsSpan<T>();
        var c0S = c0 is null ? ReadOnlySpan<T>.Empty : c0.AsSpan<T>();
        if (plan.Stack is { } stack)
        {
            RecurrentKernels.StackForward<T>(yS, hNS, cNS, cacheSpan, xS, h0S, c0S, Memories(weights), stack, plan.BatchSizes,
                mask is null ? ReadOnlySpan<T>.Empty : mask.AsSpan(0, maskLength));
        }
        else
        {
            RecurrentKernels.LayerForward<T>(yS, outWidth, hNS, cNS, cacheSpan, xS, h0S, c0S, LayerWeights(weights, plan.Layer),
                plan.Layer, plan.BatchSizes);
        }

        if (!record)
        {
            if (mask is not null) CachePool<T>.Return(mask);
            return (y, hN, cN);
        }
        var node = new FusedRecurrentNode<T>(plan, inputs, cache!, cacheSize, mask, maskLength);
        var outputs = plan.IsLstm ? new[] { y, hN, cN! } : new[] { y, hN };
        for (int i = 0; i < outputs.Length; i++)
        {
            outputs[i].GradFn = node;
            outputs[i].OutputNr = i;
            outputs[i].RequiresGrad = true;
        }
        return (y, hN, cN);
    }

    internal static long CacheSize(FusedPlan plan) => plan.Stack is { } s
        ? RecurrentKernels.StackCacheSize(s, plan.BatchSizes)
        : RecurrentKernels.LayerCacheSize(plan.Layer, plan.BatchSizes);

    internal static ReadOnlyMemory<T>[] Memories(Tensor[] weights)
    {
        var m = new ReadOnlyMemory<T>[weights.Length];
        for (int i = 0; i < weights.Length; i++) m[i] = new ReadOnlyMemory<T>(weights[i].Arr<T>(), weights[i].Offset, weights[i].Numel);
        return m;
    }

    // PyTorch's order of one layer's parameters: w_ih, w_hh, [b_ih, b_hh], [w_hr].
    internal static RnnLayerWeights<T> LayerWeights(Tensor[] w, in RnnLayerSizes s) => new()
    {
        WeightIh = w[0].AsSpan<T>(),
        WeightHh = w[1].AsSpan<T>(),
        BiasIh = s.HasBias ? w[2].AsSpan<T>() : default,
        BiasHh = s.HasBias ? w[3].AsSpan<T>() : default,
        WeightHr = s.ProjSize > 0 ? w[^1].AsSpan<T>() : default,
    };
}

/// <summary>The autograd node of one fused call: inputs (x, h0, c0, weights...), outputs (y, h_n[, c_n]).</summary>
internal sealed class FusedRecurrentNode<T> : Node where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly FusedPlan _plan;
    private Tensor?[]? _inputs;
    private T[]? _cache, _mask;
    private readonly long _cacheSize;
    private readonly int _maskLength;

    public FusedRecurrentNode(FusedPlan plan, Tensor?[] inputs, T[] cache, long cacheSize, T[]? mask, int maskLength)
        : base(plan.IsLstm ? 3 : 2)
    {
        _plan = plan;
        _inputs = inputs;
        _cache = cache;
        _cacheSize = cacheSize;
        _mask = mask;
        _maskLength = maskLength;
        var edges = new Edge[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) edges[i] = EdgeOf(inputs[i]);
        NextEdges = edges;
    }

    public override string Name => _plan.Stack is null ? "FusedRnnLayerBackward0" : "FusedRnnBackward0";

    public override Tensor?[] Apply(Tensor?[] gradOutputs)
    {
        if (_inputs is null || _cache is null)
            throw new InvalidOperationException("Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.");
        var inputs = _inputs;
        var result = new Tensor?[inputs.Length];
        var x = inputs[0]!;
        var c0 = inputs[2];
        var weights = new Tensor[inputs.Length - 3];
        for (int i = 0; i < weights.Length; i++) weights[i] = inputs[3 + i]!;

        // Gradient targets: a leaf's own .Grad when it can take the sum in place, else a fresh zero tensor.
        Span<T> Target(int i)
        {
            var t = inputs[i];
            if (t is null || !t.RequiresGrad) return Span<T>.Empty;
            if (t.IsLeaf && t.Grad is { } g && g.DType == t.DType && g.SameShape(t) && g.IsContiguous && g.Data is T[])
                return g.AsSpan<T>();
            var fresh = Tensor.Empty(t.DType, t.ShapeRef);
            result[i] = fresh;
            return fresh.AsSpan<T>();
        }
        var dX = Target(0);
        var dH0 = Target(1);
        var dC0 = Target(2);
        var dY = Contig(gradOutputs[0]);
        var dHN = Contig(gradOutputs[1]);
        var dCN = gradOutputs.Length > 2 ? Contig(gradOutputs[2]) : ReadOnlySpan<T>.Empty;
        var cache = _cache.AsSpan(0, checked((int)_cacheSize));
        var c0S = c0 is null ? ReadOnlySpan<T>.Empty : c0.AsSpan<T>();

        if (_plan.Stack is { } stack)
        {
            var dW = new Memory<T>[weights.Length];
            for (int i = 0; i < weights.Length; i++)
            {
                var span = Target(3 + i);
                if (span.IsEmpty) continue;
                var owner = result[3 + i] ?? inputs[3 + i]!.Grad!;
                dW[i] = new Memory<T>(owner.Arr<T>(), owner.Offset, owner.Numel);
            }
            RecurrentKernels.StackBackward<T>(dX, dH0, dC0, dW, dY, dHN, dCN, cache, x.AsSpan<T>(), c0S,
                FusedFunction<T>.Memories(weights), stack, _plan.BatchSizes,
                _mask is null ? ReadOnlySpan<T>.Empty : _mask.AsSpan(0, _maskLength));
        }
        else
        {
            var s = _plan.Layer;
            var g = new RnnLayerGrads<T>
            {
                WeightIh = Target(3),
                WeightHh = Target(4),
                BiasIh = s.HasBias ? Target(5) : default,
                BiasHh = s.HasBias ? Target(6) : default,
                WeightHr = s.ProjSize > 0 ? Target(inputs.Length - 1) : default,
            };
            RecurrentKernels.LayerBackward<T>(dX, dH0, dC0, g, dY, s.OutSize, dHN, dCN, cache, x.AsSpan<T>(), c0S,
                FusedFunction<T>.LayerWeights(weights, s), s, _plan.BatchSizes);
        }
        return result;
    }

    private static ReadOnlySpan<T> Contig(Tensor? g) => g is null ? ReadOnlySpan<T>.Empty : g.Contiguous().AsSpan<T>();

    public override void Release()
    {
        _inputs = null;
        if (_cache is { } c) CachePool<T>.Return(c);
        if (_mask is { } m) CachePool<T>.Return(m);
        _cache = null;
        _mask = null;
    }
}

/// <summary>
/// Reused arrays for the fused nodes' saved activations and dropout masks. Big arrays are
/// expensive to allocate here (zeroing, page faults, gen-2 collections of the large object heap),
/// so a released node's cache is kept for the next forward. Holds a few arrays; thread safe.
/// </summary>
internal static class CachePool<T> where T : unmanaged
{
    private const int MaxArrays = 8;
    private static readonly List<T[]> s_free = new();

    /// <summary>An array of at least <paramref name="length"/> elements (contents undefined).</summary>
    public static T[] Rent(long length)
    {
        int n = checked((int)Math.Max(1, length));
        lock (s_free)
        {
            int best = -1;
            for (int i = 0; i < s_free.Count; i++)
                if (s_free[i].Length >= n && (best < 0 || s_free[i].Length < s_free[best].Length)) best = i;
            if (best >= 0)
            {
                var a = s_free[best];
                s_free.RemoveAt(best);
                return a;
            }
        }
        return GC.AllocateUninitializedArray<T>(n);
    }

    /// <summary>Gives an array back for reuse (the smallest is dropped when the pool is full).</summary>
    public static void Return(T[] array)
    {
        lock (s_free)
        {
            s_free.Add(array);
            if (s_free.Count > MaxArrays)
            {
                int smallest = 0;
                for (int i = 1; i < s_free.Count; i++) if (s_free[i].Length < s_free[smallest].Length) smallest = i;
                s_free.RemoveAt(smallest);
            }
        }
    }
}
