// The fused stack runner: the span kernels of Kernels/Rnn (RecurrentKernels.StackForward /
// StackBackward over the flat weight buffer) wrapped as one autograd node, "FusedRnnBackward0".
// The node owns the saved activations and the dropout masks (pooled workspace tensors, returned when
// the graph is released or when the dispose scope they were made in ends, whichever comes first).
//
// Gradient delivery, as cuDNN: the weight gradients land in the stack's flat gradient buffer.
//   - every parameter's .Grad is already its view of that buffer (after a first backward, or after
//     ZeroGrad(setToNone: false)): the kernels add into it and the node returns nothing for them;
//   - every .Grad is null (ZeroGrad's default): the kernels overwrite the buffer (no zeroing pass) and
//     the node returns the views, which AccumulateGrad adopts as the parameters' .Grad; when a caller
//     read one of the dropped views (Tensor.DroppedGradSeen) or a frozen parameter still holds its view,
//     a new buffer first, as PyTorch never overwrites a gradient a caller holds;
//   - anything else (gradients set by the user, the module run twice in one graph, a frozen parameter
//     holding its view while the others add into theirs): a scratch buffer,
//     returned as ordinary gradients for AccumulateGrad to add.
// x, h0 and c0 likewise add into a leaf's matching .Grad, else into a fresh tensor.
using System.Numerics;
using Recurrent.Autograd;
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>Runs a stack on the fused kernels as one autograd node.</summary>
internal sealed class FusedStackRunner : IStackRunner
{
    public static readonly FusedStackRunner Instance = new();

    private FusedStackRunner() { }

    public StackResult Run(in StackCall call) => call.X.DType == DType.Float32 ? Run<float>(call) : Run<double>(call);

    private static StackResult Run<T>(StackCall call) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = call.Sizes;
        var weights = call.Weights ?? throw new InvalidOperationException("the stack has no float weights (quantized)");
        var x = call.X.Contiguous();
        var h0 = call.H0.Contiguous();
        var c0 = s.Mode == RnnMode.Lstm ? call.C0!.Contiguous() : null;
        var dtype = x.DType;
        int n = x.Size(0), b = call.BatchSizes[0], states = s.NumLayers * s.Directions, width = s.Directions * s.OutSize;
        var y = Tensor.Allocate(dtype, [n, width], clear: false);    // every element is written by the kernels
        var hN = Tensor.Allocate(dtype, [states, b, s.OutSize], clear: false);
        var cN = c0 is null ? null : Tensor.Allocate(dtype, [states, b, s.HiddenSize], clear: false);
        bool record = GradMode.IsEnabled && (x.RequiresGrad || h0.RequiresGrad || (c0?.RequiresGrad ?? false) || weights.AnyRequiresGrad);

        Tensor? mask = null;
        if (call.Dropout > 0 && s.NumLayers > 1)
        {
            long maskCount = (long)(s.NumLayers - 1) * n * width;
            if (maskCount > Array.MaxLength)
                throw new ArgumentException($"input: the sequence is too long to train on in one call: the dropout masks between its {s.NumLayers} layers need {maskCount} elements, the most one buffer holds is {Array.MaxLength}. Split the sequence (truncated backpropagation through time) or run it in eval mode.", "input");
            mask = Tensor.AllocateWorkspace(dtype, (int)maskCount);
            DropoutMask.Fill(mask.AsSpan<T>(), call.Dropout, call.Generator);
        }
        Tensor? cache = record ? Tensor.AllocateWorkspace(dtype, CacheElements(s, call.BatchSizes)) : null;
        // An embedding's output: the first layer works per id (InputGroups), once its rows are checked equal per id.
        var groups = call.Groups is { } cg && cg.RowsMatch(x.AsSpan<T>(), s.InputSize) ? cg : null;
        if (groups is null) call.Groups?.Return();
        Tensor? xu = null;
        if (groups is not null)
        {
            xu = Tensor.Allocate(dtype, [groups.Count, s.InputSize], clear: false);
            groups.GatherRows(x.AsSpan<T>(), s.InputSize, xu.AsSpan<T>());
        }
        RecurrentKernels.StackForwardGrouped<T>(y.AsSpan<T>(), hN.AsSpan<T>(), cN is null ? Span<T>.Empty : cN.AsSpan<T>(),
            cache is null ? Span<T>.Empty : cache.AsSpan<T>(), x.AsSpan<T>(), h0.AsSpan<T>(), c0 is null ? ReadOnlySpan<T>.Empty : c0.AsSpan<T>(),
            weights.Buffer.AsSpan<T>(), s, call.BatchSizes, mask is null ? ReadOnlySpan<T>.Empty : mask.AsSpan<T>(),
            groups is null ? ReadOnlySpan<int>.Empty : groups.RowGroup, xu is null ? ReadOnlySpan<T>.Empty : xu.AsSpan<T>());

        if (!record)
        {
            mask?.ReleaseWorkspace();
            groups?.Return();
            return new StackResult(y, hN, cN);
        }
        var node = new FusedStackNode<T>(s, call.BatchSizes, x, h0, c0, weights, cache!, mask, groups, xu);
        var outputs = cN is null ? new[] { y, hN } : new[] { y, hN, cN };
        for (int i = 0; i < outputs.Length; i++) outputs[i].SetGradFn(node, i);
        return new StackResult(y, hN, cN);
    }

    private static int CacheElements(in RnnStackSizes s, int[] batchSizes)
    {
        long size = RecurrentKernels.StackCacheSize(s, batchSizes);
        if (size > Array.MaxLength)
            throw new ArgumentException($"input: the sequence is too long to train on in one call: its saved activations need {size} elements, the most one buffer holds is {Array.MaxLength}. Split the sequence (truncated backpropagation through time) or run it under NoGrad.", "input");
        return (int)size;
    }
}

/// <summary>The autograd node of one fused stack call: inputs (x, h0, c0, parameters...), outputs (y, h_n[, c_n]).</summary>
internal sealed class FusedStackNode<T> : Node, IRoutesAroundLookup where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly RnnStackSizes _sizes;
    private readonly int[] _batchSizes;
    private readonly FlatParameters _weights;
    private Tensor? _x, _h0, _c0;
    private Tensor? _cache, _mask, _xu;
    private readonly InputGroups? _groups;
    private volatile bool _unrouted;

    public FusedStackNode(RnnStackSizes sizes, int[] batchSizes, Tensor x, Tensor h0, Tensor? c0, FlatParameters weights, Tensor cache, Tensor? mask,
        InputGroups? groups, Tensor? xu)
        : base(sizes.Mode == RnnMode.Lstm ? 3 : 2)
    {
        _groups = groups;
        _xu = xu;
        _sizes = sizes;
        _batchSizes = batchSizes;
        _weights = weights;
        _x = x;
        _h0 = h0;
        _c0 = c0;
        _cache = cache;
        _mask = mask;
        // Grouped rows whose gradient goes to the table: the first edge is the lookup's own edge to the table, and one
        // more edge, last, is x's own, which carries the rows instead once a hook on the embedding output stops the
        // routing (StopRouting). The edges never change, so the engine's dependency counts hold whenever that happens.
        bool routed = groups is { RouteToTable: true };
        var edges = new Edge[3 + weights.Views.Length + (routed ? 1 : 0)];
        edges[0] = routed ? groups!.Lookup.Node!.NextEdges[0] : EdgeOf(x);
        if (routed)
        {
            edges[^1] = EdgeOf(x);
            groups!.Lookup.AddRouted(this);
        }
        edges[1] = EdgeOf(h0);
        edges[2] = EdgeOf(c0);
        for (int i = 0; i < weights.Views.Length; i++) edges[3 + i] = EdgeOf(weights.Views[i]);
        NextEdges = edges;
    }

    public override string Name => "FusedRnnBackward0";

    /// <inheritdoc/>
    public void StopRouting() => _unrouted = true;

    public override Tensor?[] Apply(Tensor?[] gradOutputs)
    {
        if (_x is null || _cache is null)
            throw new InvalidOperationException("Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .Backward(). Specify retainGraph: true (Backward(retainGraph: true)) if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.");
        var views = _weights.Views;
        var result = new Tensor?[NextEdges.Length];
        var groups = _groups;
        // A RetainGrad() on the embedding's output after this forward: that gradient must hold this stack's share, so the
        // input gradient is computed per row (the ordinary backward: the forward's cache is the same), summed per id for
        // the table, and added to the retained gradient here (the lookup's own node does not see it). A hook registered
        // on the output after this forward (StopRouting): the rows go to the output itself, as without grouping.
        bool unrouted = _unrouted;
        bool perRow = groups is { RouteToTable: true } && (unrouted || groups.Lookup.Node!.Retained.Count > 0);
        int I = _sizes.InputSize;
        var dRows = perRow ? Tensor.Allocate(_x.DType, [_x.Size(0), I], clear: true) : null;
        var dU = groups is not null && _x.RequiresGrad && !perRow ? Tensor.AllocateWorkspace(_x.DType, groups.Count * I) : null;
        dU?.AsSpan<T>().Clear();
        var dX = dRows is not null ? dRows.AsSpan<T>() : groups is not null ? (dU is null ? Span<T>.Empty : dU.AsSpan<T>()) : InputGrad(_x, result, 0);
        var kernelGroups = perRow ? null : groups;
        var dH0 = InputGrad(_h0!, result, 1);
        var dC0 = _c0 is null ? Span<T>.Empty : InputGrad(_c0, result, 2);
        var dWBuffer = WeightGrads(result, out bool accumulate);
        var dW = dWBuffer is null ? Span<T>.Empty : dWBuffer.AsSpan<T>();

        RecurrentKernels.StackBackwardGrouped<T>(dX, dH0, dC0, dW, accumulate, Contig(gradOutputs[0]), Contig(gradOutputs[1]),
            gradOutputs.Length > 2 ? Contig(gradOutputs[2]) : ReadOnlySpan<T>.Empty, _cache.AsSpan<T>(),
            _x.AsSpan<T>(), _c0 is null ? ReadOnlySpan<T>.Empty : _c0.AsSpan<T>(), _weights.Buffer.AsSpan<T>(), _sizes, _batchSizes,
            _mask is null ? ReadOnlySpan<T>.Empty : _mask.AsSpan<T>(),
            kernelGroups is null ? ReadOnlySpan<int>.Empty : kernelGroups.RowGroup, kernelGroups is null || _xu is null ? ReadOnlySpan<T>.Empty : _xu.AsSpan<T>());
        if (dRows is not null && unrouted) result[^1] = dRows;   // x's own edge: the stack's time-major rows
        else if (dRows is not null)
        {
            var rows = dRows.AsSpan<T>();
            var sums = new T[groups!.Count * I];
            var rowGroup = groups.RowGroup;
            for (int r = 0; r < rowGroup.Length; r++)
            {
                var dst = sums.AsSpan(rowGroup[r] * I, I);
                System.Numerics.Tensors.TensorPrimitives.Add(dst, rows.Slice(r * I, I), dst);
            }
            result[0] = groups.TableGrad<T>(sums, I, _x.DType);
            var inputGrad = groups.InInputLayout(dRows);
            foreach (var (_, retained) in groups.Lookup.Node!.Retained) AccumulateGrad.Accumulate(retained, inputGrad);
        }
        if (dU is not null)
        {
            result[0] = groups!.TableGrad<T>(dU.AsSpan<T>(), _sizes.InputSize, _x.DType);
            dU.ReleaseWorkspace();
        }
        return result;
    }

    // Where the gradient of x, h0 or c0 goes: a leaf's own matching .Grad (added in place), else a fresh zero tensor returned.
    private static Span<T> InputGrad(Tensor t, Tensor?[] result, int i)
    {
        if (!t.RequiresGrad) return Span<T>.Empty;
        if (t.IsLeaf && t.GradUnseen is { } g && g.DType == t.DType && g.SameShape(t) && g.IsContiguous && !t.HasGradHooks)
            return g.AsSpan<T>();
        var fresh = Tensor.Allocate(t.DType, t.ShapeRef, clear: true);
        result[i] = fresh;
        return fresh.AsSpan<T>();
    }

    // The flat weight gradient (null: none wanted) and whether the kernels add into it (see the file header).
    private Tensor? WeightGrads(Tensor?[] result, out bool accumulate)
    {
        accumulate = false;
        var views = _weights.Views;
        bool any = false, allFlat = true, allNull = true, callerMayHoldBuffer = false, frozenHoldsBuffer = false, hooked = false;
        for (int i = 0; i < views.Length; i++)
        {
            if (views[i].DroppedGradSeen) callerMayHoldBuffer = true;
            if (!views[i].RequiresGrad)
            {
                // A frozen parameter still holding its view: the kernels write the whole buffer, and PyTorch never
                // touches a frozen parameter's .grad, so the buffer is neither added into nor reused.
                if (_weights.GradIsFlatView(i)) frozenHoldsBuffer = true;
                continue;
            }
            any = true;
            if (views[i].HasGradHooks) hooked = true;
            if (!_weights.GradIsFlatView(i)) allFlat = false;
            if (views[i].GradUnseen is not null) allNull = false;
        }
        if (!any) return null;
        // A parameter with a gradient hook gets this backward's gradient through its AccumulateGrad, which runs the hooks,
        // in a buffer of its own (the hook may keep it, so the module's buffer is not reused under it).
        if (allFlat && !frozenHoldsBuffer && !hooked)
        {
            accumulate = true;
            return _weights.GradBuffer;
        }
        bool adopt = allNull && !hooked && _weights.TryClaimGradBuffer(Engine.CurrentPass);
        if (adopt)
        {
            // A caller read a gradient that ZeroGrad then dropped: it may still hold a view of the buffer, which
            // PyTorch never overwrites, so this backward writes a new one (unseen gradients reuse the storage).
            if (callerMayHoldBuffer || frozenHoldsBuffer) _weights.RenewGradBuffer();
            foreach (var v in views) v.ClearDroppedGradSeen();
        }
        var buffer = adopt ? _weights.GradBuffer : Tensor.Allocate(_weights.DType, [_weights.Buffer.Numel], clear: false);
        for (int i = 0; i < views.Length; i++)
        {
            if (!views[i].RequiresGrad) continue;
            var g = _weights.GradView(buffer, i);
            g.AdoptableAsGrad = adopt;
            result[3 + i] = g;
        }
        return buffer;
    }

    private static ReadOnlySpan<T> Contig(Tensor? g) => g is null ? ReadOnlySpan<T>.Empty : g.Contiguous().AsSpan<T>();

    public override void Release()
    {
        _x = _h0 = _c0 = _xu = null;
        if (_groups is { RouteToTable: true } routed) routed.Lookup.RemoveRouted(this);
        _groups?.Return();
        _cache?.ReleaseWorkspace();
        _mask?.ReleaseWorkspace();
        _cache = _mask = null;
    }
}
