// The contract between the recurrent modules (PyTorch's semantics) and the code that does the math
// of a whole stack (layers x directions over a packed sequence). RecurrentBase validates, lays the
// input out as time-major packed rows, defaults and permutes h0/c0, and hands one StackCall to a
// runner; the runner returns the output rows and the final states. Two runners: FusedStackRunner
// (the span kernels of Kernels/Rnn, one autograd node) and ComposedStackRunner (tensor ops and
// autograd, the tests' cross-check). A runner reads nothing from the module but the call.
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>
/// One run of a stack.
/// <para>
/// Row layout (PyTorch's packed layout, also used for dense input): <see cref="X"/> is (N, I) with the rows
/// of step t = 0..T-1 stored one block after another; block t holds <c>BatchSizes[t]</c> rows, one per
/// sequence still running at step t, in batch order (sequences sorted by decreasing length, so batch sizes
/// never increase). Dense input (T, B, I) is the case <c>BatchSizes = [B, ..., B]</c>, <c>X = input.reshape(T*B, I)</c>.
/// </para>
/// <para>
/// Forward direction: sequence b starts at h0[b] and steps t = 0..len_b-1. Reverse direction: it starts at
/// h0[b] at its own last step and steps down to 0. Layer l &gt; 0 reads layer l-1's output (forward features,
/// then reverse), times a fresh dropout mask when <see cref="Dropout"/> &gt; 0.
/// </para>
/// </summary>
/// <param name="Sizes">Mode and sizes of the stack.</param>
/// <param name="Weights">The stack's parameters (flat buffer and its views); null for a quantized module (its runner has int8 weights).</param>
/// <param name="X">(N, I) input rows, N = sum of <paramref name="BatchSizes"/>, the weights' dtype.</param>
/// <param name="BatchSizes">(T) rows per step, non-increasing, all &gt; 0; or all 0 (a dense batch of no sequences).</param>
/// <param name="H0">(L*D, B, H_out) initial hidden states, B = BatchSizes[0].</param>
/// <param name="C0">(L*D, B, H) initial cell states for LSTM, else null.</param>
/// <param name="Dropout">Probability of zeroing each input of layers 1..L-1 (0 outside training).</param>
/// <param name="Generator">Random source of the dropout masks.</param>
/// <param name="Groups">The rows' groups when the input is an embedding's output (a runner may ignore them), else null.</param>
internal readonly record struct StackCall(RnnStackSizes Sizes, FlatParameters? Weights, Tensor X, int[] BatchSizes, Tensor H0, Tensor? C0,
    double Dropout, Generator Generator, InputGroups? Groups = null);

/// <summary>What a stack run returns.</summary>
/// <param name="Output">(N, D*H_out) the last layer's output rows, in the input's row layout.</param>
/// <param name="HN">(L*D, B, H_out) each sequence's final state per layer and direction.</param>
/// <param name="CN">(L*D, B, H) LSTM cell states likewise; null for RNN and GRU.</param>
internal readonly record struct StackResult(Tensor Output, Tensor HN, Tensor? CN);

/// <summary>
/// Runs a <see cref="StackCall"/>. Implementations are differentiable with respect to x, h0, c0 and every
/// parameter, do not modify their inputs, and work for float32 and float64.
/// </summary>
internal interface IStackRunner
{
    StackResult Run(in StackCall call);
}

/// <summary>
/// A stack's parameters in cuDNN's contract: one contiguous buffer (in the layout of
/// <see cref="RnnStackSizes.Slots"/>, PyTorch's <c>_flat_weights</c> order) whose views are the module's
/// parameters, and one gradient buffer in the same layout that the fused backward writes and the
/// parameters' <see cref="Tensor.Grad"/> views.
/// </summary>
internal sealed class FlatParameters
{
    private Tensor? _grad;
    private Tensor?[]? _gradViews;   // views of _grad handed out before, by parameter
    private long _handedOutInPass = -1;

    public FlatParameters(RnnStackSizes sizes, Tensor buffer, Tensor[] views)
    {
        Sizes = sizes;
        Buffer = buffer;
        Views = views;
    }

    /// <summary>The layout.</summary>
    public RnnStackSizes Sizes { get; }

    /// <summary>(WeightCount) every parameter, detached from autograd and from dispose scopes.</summary>
    public Tensor Buffer { get; }

    /// <summary>The parameters (views of <see cref="Buffer"/>) in slot order.</summary>
    public Tensor[] Views { get; }

    /// <summary>The parameters of one layer and direction.</summary>
    public RecurrentLayerWeights Layer(int layer, int direction)
    {
        int per = 2 + (Sizes.HasBias ? 2 : 0) + (Sizes.ProjSize > 0 ? 1 : 0);
        int at = (layer * Sizes.Directions + direction) * per;
        return new RecurrentLayerWeights(Views[at], Views[at + 1], Sizes.HasBias ? Views[at + 2] : null, Sizes.HasBias ? Views[at + 3] : null,
            Sizes.ProjSize > 0 ? Views[at + per - 1] : null);
    }

    /// <summary>The dtype of every parameter.</summary>
    public DType DType => Buffer.DType;

    /// <summary>True when some parameter takes part in autograd.</summary>
    public bool AnyRequiresGrad
    {
        get
        {
            foreach (var v in Views) if (v.RequiresGrad) return true;
            return false;
        }
    }

    /// <summary>The flat gradient buffer (created on first use, then kept for the module's life).</summary>
    public Tensor GradBuffer => _grad ??= Tensor.Allocate(DType, [Buffer.Numel], clear: true).DetachFromDisposeScope();

    /// <summary>Lets go of <see cref="GradBuffer"/> (a caller may hold views of it): the next use allocates a new one.</summary>
    public void RenewGradBuffer()
    {
        _grad = null;
        _gradViews = null;
    }

    /// <summary>True when parameter <paramref name="i"/>'s gradient is its view of <see cref="GradBuffer"/>.</summary>
    public bool GradIsFlatView(int i) =>
        _grad is { } g && Views[i].GradUnseen is { } pg && ReferenceEquals(pg.Data, g.Data) && pg.Offset == Views[i].Offset - Buffer.Offset + g.Offset
        && pg.IsContiguous && pg.SameShape(Views[i]);

    /// <summary>A view of <paramref name="gradBuffer"/> shaped and placed like parameter <paramref name="i"/>.</summary>
    /// <remarks>
    /// A view of <see cref="GradBuffer"/> is made once per parameter and handed out again by later backward passes:
    /// the backward node adopts the buffer only when every parameter's gradient is unset and no caller read a dropped
    /// one (else it renews the buffer, and with it these views), so no caller holds a view it hands out again. A view
    /// that stayed in a dispose scope, was disposed or was made to require grad is replaced. A training loop then makes
    /// no gradient tensors after its first step.
    /// </remarks>
    public Tensor GradView(Tensor gradBuffer, int i)
    {
        var p = Views[i];
        bool own = ReferenceEquals(gradBuffer, _grad);
        if (own && _gradViews?[i] is { } kept && kept.Scope is null && !kept.IsDisposed && !kept.RequiresGrad)
            return kept;
        var view = new Tensor(gradBuffer, gradBuffer.Offset + p.Offset - Buffer.Offset, p.ShapeRef, p.StridesRef);
        if (own) (_gradViews ??= new Tensor?[Views.Length])[i] = view;
        return view;
    }

    /// <summary>
    /// Whether a backward node may write <see cref="GradBuffer"/> now and hand out views of it for the
    /// parameters to adopt: not when views handed out earlier in this same backward pass are still waiting to
    /// be adopted (a module run twice in one graph), in which case the caller uses a scratch buffer.
    /// </summary>
    public bool TryClaimGradBuffer(long pass)
    {
        if (_handedOutInPass == pass) return false;
        _handedOutInPass = pass;
        return true;
    }
}
