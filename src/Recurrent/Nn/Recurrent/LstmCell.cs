// LstmCell: one step of an LSTM (torch.nn.LSTMCell); checks and parameters are RecurrentCellBase's.
using Recurrent.Kernels;
using Recurrent.Tracing;

namespace Recurrent.Nn;

/// <summary>
/// A long short-term memory cell, as <c>torch.nn.LSTMCell</c>:
/// <code>
/// i = σ(W_ii x + b_ii + W_hi h + b_hi)
/// f = σ(W_if x + b_if + W_hf h + b_hf)
/// g = tanh(W_ig x + b_ig + W_hg h + b_hg)
/// o = σ(W_io x + b_io + W_ho h + b_ho)
/// c' = f * c + i * g
/// h' = o * tanh(c')
/// </code>
/// <c>weight_ih</c> (4*hidden_size, input_size) and <c>weight_hh</c> (4*hidden_size, hidden_size)
/// stack the gate blocks in the order i, f, g, o; biases (4*hidden_size).
/// </summary>
public sealed class LstmCell : RecurrentCellBase
{
    /// <summary>Creates the cell.</summary>
    public LstmCell(int inputSize, int hiddenSize, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
        : base(RnnMode.Lstm, inputSize, hiddenSize, bias, dtype, generator) { }

    /// <inheritdoc/>
    public override string TypeName => "LSTMCell";

    /// <summary>
    /// One step, as <c>cell(input, (hx, cx))</c>: input (N, input_size) or (input_size); the state
    /// (h, c) of the same batching with hidden_size features, zeros when null. Returns (h', c').
    /// </summary>
    public (Tensor H, Tensor C) Forward(Tensor input, (Tensor H, Tensor C)? state = null)
    {
        using var trace = TraceScope.Begin();
        var (x, s, batched) = Prepare(input, state is { } st ? new[] { st.H, st.C } : null, new[] { "hx", "cx" });
        var (h, c) = StepBatched(x, s[0], s[1]);
        var result = batched ? (h, c!) : (h.Squeeze(0), c!.Squeeze(0));
        trace.End()?.Op("Cell", result, [input, state?.H, state?.C], this);
        return result;
    }
}
