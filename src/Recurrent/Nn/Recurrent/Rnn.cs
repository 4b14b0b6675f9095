// Rnn: the multi-layer Elman RNN (torch.nn.RNN). Only the mode lives here; the forward signatures
// are HiddenStateRecurrent's; construction, checks, layouts and the stack RecurrentBase's.
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>
/// A multi-layer Elman RNN with tanh or ReLU non-linearity, as <c>torch.nn.RNN</c>. For each
/// element of the input sequence each layer computes
/// <code>h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)</code>
/// (ReLU instead of tanh when <c>nonlinearity = "relu"</c>), where x_t is the input at time t for
/// the first layer and the (concatenated forward/reverse) output of the previous layer otherwise,
/// multiplied by a dropout mask in training mode when <see cref="RecurrentBase.Dropout"/> &gt; 0.
/// A plain reference loop (one layer, one direction):
/// <code>
/// h = h0[layer]
/// for t in 0..L-1:  h = act(x[t] @ weight_ih_l0.T + bias_ih_l0 + h @ weight_hh_l0.T + bias_hh_l0); output[t] = h
/// h_n[layer] = h
/// </code>
/// Shapes (N = batch, L = sequence length, D = 2 if bidirectional else 1, H_out = hidden_size):
/// input (L, N, H_in), or (N, L, H_in) when batch_first, or (L, H_in) unbatched, or a
/// <see cref="PackedSequence"/>; h_0 and h_n (D*num_layers, N, H_out) or (D*num_layers, H_out)
/// unbatched, defaulting to zeros. <b>batch_first does not apply to h_0 and h_n.</b> output
/// (L, N, D*H_out) (batch_first: (N, L, D*H_out)); features [:H_out] are the forward direction,
/// [H_out:] the reverse one. Row <c>layer*D + direction</c> of h_n belongs to that layer and
/// direction (see <see cref="RecurrentBase.LayerState"/>).
/// Parameters <c>weight_ih_l{k}</c> (hidden_size, input_size for k = 0 else D*hidden_size),
/// <c>weight_hh_l{k}</c> (hidden_size, hidden_size), <c>bias_ih_l{k}</c>, <c>bias_hh_l{k}</c>
/// (hidden_size), with <c>_reverse</c> twins; all initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
/// </summary>
public sealed class Rnn : HiddenStateRecurrent
{
    /// <summary>Creates the module (argument order as <c>torch.nn.RNN</c>).</summary>
    /// <param name="inputSize">features of the input x.</param>
    /// <param name="hiddenSize">features of the hidden state h.</param>
    /// <param name="numLayers">stacked layers.</param>
    /// <param name="nonlinearity"><c>"tanh"</c> or <c>"relu"</c>.</param>
    /// <param name="bias">false: no b_ih, b_hh.</param>
    /// <param name="batchFirst">input/output as (batch, seq, feature); not h_0/h_n.</param>
    /// <param name="dropout">inter-layer dropout probability (training mode only).</param>
    /// <param name="bidirectional">also run every layer in reverse.</param>
    /// <param name="dtype">parameter dtype.</param>
    /// <param name="generator">random source of the initialisation and the dropout masks.</param>
    public Rnn(int inputSize, int hiddenSize, int numLayers = 1, string nonlinearity = "tanh", bool bias = true, bool batchFirst = false,
        double dropout = 0.0, bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
        : base(ParseNonlinearity(nonlinearity), inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator) { }

    /// <inheritdoc/>
    public override string TypeName => "RNN";

    /// <summary><c>"tanh"</c> or <c>"relu"</c>.</summary>
    public string Nonlinearity => Mode == RnnMode.RnnRelu ? "relu" : "tanh";
}
