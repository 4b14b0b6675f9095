// The contract between the recurrent modules (semantics) and the code that does the math of one
// layer in one direction over a whole sequence (a "scan"). RecurrentBase owns validation, layouts,
// packing, h0 defaults, permutations and the layer stack; an IRecurrentScan only turns
// (input rows, batch sizes, weights, initial state) into (output rows, final state). Two
// implementations: ComposedScan (tensor ops + autograd, the reference path, always available)
// and, later, the fused span kernels of Kernels/Rnn*.cs (one autograd node per call).
namespace Recurrent.Nn;

/// <summary>Which recurrence a module computes (PyTorch's RNNBase.mode).</summary>
internal enum RecurrentMode
{
    /// <summary><c>RNN_TANH</c>: h' = tanh(W_ih x + b_ih + W_hh h + b_hh).</summary>
    RnnTanh,
    /// <summary><c>RNN_RELU</c>: h' = relu(W_ih x + b_ih + W_hh h + b_hh).</summary>
    RnnRelu,
    /// <summary><c>LSTM</c>: gates i, f, g, o.</summary>
    Lstm,
    /// <summary><c>GRU</c>: gates r, z, n.</summary>
    Gru,
}

internal static class RecurrentModeExtensions
{
    /// <summary>Number of gate blocks stacked in the rows of weight_ih / weight_hh (1, 4 or 3).</summary>
    public static int GateCount(this RecurrentMode mode) => mode switch
    {
        RecurrentMode.Lstm => 4,
        RecurrentMode.Gru => 3,
        _ => 1,
    };
}

/// <summary>
/// The parameters of one layer and direction, read from the module at call time (never cached:
/// To(dtype), LoadStateDict and FlattenParameters may replace them).
/// </summary>
/// <param name="WeightIh">(G*H, I_l): G gate blocks (LSTM i,f,g,o; GRU r,z,n), I_l = input features of layer l.</param>
/// <param name="WeightHh">(G*H, H_out): H_out = proj_size if > 0 else hidden_size.</param>
/// <param name="BiasIh">(G*H), or null when bias=False.</param>
/// <param name="BiasHh">(G*H), or null when bias=False.</param>
/// <param name="WeightHr">(proj_size, H): LSTM projection, or null.</param>
internal readonly record struct LayerWeights(Tensor WeightIh, Tensor WeightHh, Tensor? BiasIh, Tensor? BiasHh, Tensor? WeightHr);

/// <summary>What one scan returns.</summary>
/// <param name="Output">(N, H_out): the new hidden state of every step, in the same row layout as the input.</param>
/// <param name="HN">(B, H_out): each sequence's state after its own last step (for the reverse direction: after step 0).</param>
/// <param name="CN">(B, H): LSTM cell state likewise; null for RNN and GRU.</param>
internal readonly record struct ScanResult(Tensor Output, Tensor HN, Tensor? CN);

/// <summary>
/// Runs one layer in one direction over a whole (possibly packed) sequence.
/// <para>
/// Row layout (PyTorch's packed layout, also used for dense input): <c>x</c> is (N, I) with the rows of
/// step t = 0..T-1 stored one block after another; block t holds <c>batchSizes[t]</c> rows, one per
/// sequence still running at step t, in the order of the batch (sequences sorted by decreasing length,
/// so batch sizes never increase). Dense input of shape (T, B, I) is the special case
/// <c>batchSizes = [B, B, ..., B]</c> and <c>x = input.reshape(T*B, I)</c>. B = batchSizes[0].
/// </para>
/// <para>
/// Forward direction: the state of sequence b starts at h0[b] and steps t = 0..len_b-1.
/// Reverse direction: it starts at h0[b] at the sequence's own last step t = len_b-1 and steps down to 0.
/// </para>
/// Implementations must be differentiable with respect to x, h0, c0 and every weight (autograd),
/// must not modify their inputs, and must work for float32 and float64.
/// </summary>
internal interface IRecurrentScan
{
    /// <param name="mode">the recurrence.</param>
    /// <param name="weights">this layer's and direction's parameters.</param>
    /// <param name="x">(N, I_l) input rows, N = sum(batchSizes).</param>
    /// <param name="batchSizes">(T) rows per step, non-increasing, all &gt; 0.</param>
    /// <param name="reverse">true for the <c>_reverse</c> direction.</param>
    /// <param name="h0">(B, H_out) initial hidden state.</param>
    /// <param name="c0">(B, H) initial cell state for LSTM, else null.</param>
    ScanResult Scan(RecurrentMode mode, in LayerWeights weights, Tensor x, int[] batchSizes, bool reverse, Tensor h0, Tensor? c0);
}
