// Lstm: the multi-layer LSTM (torch.nn.LSTM), with optional projections (proj_size). Only the
// mode and the forward signatures live here; everything else is RecurrentBase's.
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>
/// A multi-layer long short-term memory RNN, as <c>torch.nn.LSTM</c>. Each layer computes, for
/// each step t (gate blocks of the weights in the order i, f, g, o):
/// <code>
/// i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
/// f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
/// g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
/// o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
/// c_t = f_t * c_{t-1} + i_t * g_t
/// h_t = o_t * tanh(c_t)                 (with proj_size &gt; 0: h_t = W_hr (o_t * tanh(c_t)))
/// </code>
/// x_t is the input for the first layer and the (concatenated forward/reverse) output of the previous
/// layer otherwise, times a dropout mask in training mode when dropout &gt; 0.
/// Shapes (N = batch, L = sequence length, D = 2 if bidirectional else 1, H_cell = hidden_size,
/// H_out = proj_size if &gt; 0 else hidden_size): input (L, N, H_in), (N, L, H_in) when batch_first,
/// (L, H_in) unbatched, or a <see cref="PackedSequence"/>; h_0/h_n (D*num_layers, N, H_out) and
/// c_0/c_n (D*num_layers, N, H_cell) (without N when unbatched), defaulting to zeros.
/// <b>batch_first does not apply to h_0, c_0, h_n and c_n.</b> output (L, N, D*H_out)
/// (batch_first: (N, L, D*H_out)). Row <c>layer*D + direction</c> of h_n/c_n belongs to that layer and
/// direction. For a bidirectional LSTM, h_n's reverse row is the reverse half of output at step 0, not at the last step.
/// Parameters per layer k and direction: <c>weight_ih_l{k}</c> (4*hidden_size, input_size or D*H_out),
/// <c>weight_hh_l{k}</c> (4*hidden_size, H_out), <c>bias_ih_l{k}</c>, <c>bias_hh_l{k}</c> (4*hidden_size),
/// <c>weight_hr_l{k}</c> (proj_size, hidden_size) when proj_size &gt; 0; all ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
/// </summary>
public sealed class Lstm : RecurrentBase
{
    /// <summary>Creates the module (argument order as <c>torch.nn.LSTM</c>).</summary>
    /// <param name="inputSize">features of the input x.</param>
    /// <param name="hiddenSize">features of the cell state c (and of h unless projected).</param>
    /// <param name="numLayers">stacked layers.</param>
    /// <param name="bias">false: no b_ih, b_hh.</param>
    /// <param name="batchFirst">input/output as (batch, seq, feature); not the states.</param>
    /// <param name="dropout">inter-layer dropout probability (training mode only).</param>
    /// <param name="bidirectional">also run every layer in reverse.</param>
    /// <param name="projSize">if &gt; 0, h is projected to this many features by weight_hr.</param>
    /// <param name="dtype">parameter dtype.</param>
    /// <param name="generator">random source of the initialisation and the dropout masks.</param>
    public Lstm(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false, double dropout = 0.0,
        bool bidirectional = false, int projSize = 0, DType dtype = DType.Float32, Generator? generator = null)
        : base(RnnMode.Lstm, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, projSize, dtype, generator) { }

    /// <inheritdoc/>
    public override string TypeName => "LSTM";

    /// <summary>Runs the LSTM, as <c>output, (h_n, c_n) = lstm(input, (h_0, c_0))</c>; the state defaults to zeros.</summary>
    public (Tensor Output, (Tensor H, Tensor C) State) Forward(Tensor input, (Tensor H, Tensor C)? state = null)
    {
        var (o, h, c) = ForwardDense(input, H(state), C(state));
        return (o, (h, c!));
    }

    /// <summary>Runs the LSTM on packed sequences; the states are in the caller's batch order.</summary>
    public (PackedSequence Output, (Tensor H, Tensor C) State) Forward(PackedSequence input, (Tensor H, Tensor C)? state = null)
    {
        var (o, h, c) = ForwardPacked(input, H(state), C(state));
        return (o, (h, c!));
    }

    /// <summary>
    /// Runs the LSTM on a padded batch with per-sequence lengths (any order): packs internally, returns the
    /// padded output (zeros at padding, the input's length, batch_first honoured) and (h_n, c_n) at each
    /// sequence's own last step.
    /// </summary>
    public (Tensor Output, (Tensor H, Tensor C) State) ForwardPadded(Tensor padded, Tensor lengths, (Tensor H, Tensor C)? state = null)
    {
        var (o, h, c) = ForwardPaddedCore(padded, lengths, H(state), C(state));
        return (o, (h, c!));
    }

    /// <summary>Same as <see cref="ForwardPadded(Tensor, Tensor, ValueTuple{Tensor, Tensor}?)"/> with the lengths as an array.</summary>
    public (Tensor Output, (Tensor H, Tensor C) State) ForwardPadded(Tensor padded, long[] lengths, (Tensor H, Tensor C)? state = null) => ForwardPadded(padded, RnnUtils.LengthsTensor(lengths), state);

    /// <summary>Same as <see cref="ForwardPadded(Tensor, Tensor, ValueTuple{Tensor, Tensor}?)"/> with the lengths as an array.</summary>
    public (Tensor Output, (Tensor H, Tensor C) State) ForwardPadded(Tensor padded, int[] lengths, (Tensor H, Tensor C)? state = null) => ForwardPadded(padded, RnnUtils.LengthsTensor(lengths), state);

    // The (h_0, c_0) tuple's parts, each required once the tuple is given (null would fail deep in the checks).
    private Tensor? H((Tensor H, Tensor C)? state) =>
        state is { } s && s.H is null ? throw new ArgumentException($"{TypeName}: state.H must be given with state.C (an LSTM carries (h, c)), but got null", "state") : state?.H;

    private Tensor? C((Tensor H, Tensor C)? state) =>
        state is { } s && s.C is null ? throw new ArgumentException($"{TypeName}: state.C must be given with state.H (an LSTM carries (h, c)), but got null", "state") : state?.C;
}
