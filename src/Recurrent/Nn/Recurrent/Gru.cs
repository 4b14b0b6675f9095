// Gru: the multi-layer GRU (torch.nn.GRU). Only the mode lives here; the forward signatures are
// HiddenStateRecurrent's, everything else RecurrentBase's.
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>
/// A multi-layer gated recurrent unit RNN, as <c>torch.nn.GRU</c>. Each layer computes, for each
/// step t (gate blocks of the weights in the order r, z, n):
/// <code>
/// r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
/// z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
/// n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
/// h_t = (1 - z_t) * n_t + z_t * h_{t-1}
/// </code>
/// (b_hn sits inside the reset-gate product, as in PyTorch and cuDNN.) x_t is the input for the
/// first layer and the (concatenated forward/reverse) output of the previous layer otherwise, times a
/// dropout mask in training mode when dropout &gt; 0.
/// Shapes (N = batch, L = sequence length, D = 2 if bidirectional else 1, H_out = hidden_size):
/// input (L, N, H_in), (N, L, H_in) when batch_first, (L, H_in) unbatched, or a
/// <see cref="PackedSequence"/>; h_0/h_n (D*num_layers, N, H_out) ((D*num_layers, H_out) unbatched),
/// defaulting to zeros. <b>batch_first does not apply to h_0 and h_n.</b> output (L, N, D*H_out)
/// (batch_first: (N, L, D*H_out)). Row <c>layer*D + direction</c> of h_n belongs to that layer and direction.
/// Parameters <c>weight_ih_l{k}</c> (3*hidden_size, input_size or D*hidden_size),
/// <c>weight_hh_l{k}</c> (3*hidden_size, hidden_size), <c>bias_ih_l{k}</c>, <c>bias_hh_l{k}</c>
/// (3*hidden_size), with <c>_reverse</c> twins; all ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
/// </summary>
public sealed class Gru : HiddenStateRecurrent
{
    /// <summary>Creates the module (argument order as <c>torch.nn.GRU</c>).</summary>
    /// <param name="inputSize">features of the input x.</param>
    /// <param name="hiddenSize">features of the hidden state h.</param>
    /// <param name="numLayers">stacked layers.</param>
    /// <param name="bias">false: no b_ih, b_hh.</param>
    /// <param name="batchFirst">input/output as (batch, seq, feature); not h_0/h_n.</param>
    /// <param name="dropout">inter-layer dropout probability (training mode only).</param>
    /// <param name="bidirectional">also run every layer in reverse.</param>
    /// <param name="dtype">parameter dtype.</param>
    /// <param name="generator">random source of the initialisation and the dropout masks.</param>
    public Gru(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false, double dropout = 0.0,
        bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
        : base(RnnMode.Gru, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator) { }

    /// <inheritdoc/>
    public override string TypeName => "GRU";
}
