// RnnCell: one step of an Elman RNN (torch.nn.RNNCell); checks and parameters are RecurrentCellBase's.
using Recurrent.Kernels;
using Recurrent.Tracing;

namespace Recurrent.Nn;

/// <summary>
/// An Elman RNN cell with tanh or ReLU non-linearity, as <c>torch.nn.RNNCell</c>:
/// <code>h' = tanh(W_ih x + b_ih + W_hh h + b_hh)</code> (ReLU in place of tanh when
/// <c>nonlinearity = "relu"</c>). Parameters <c>weight_ih</c> (hidden_size, input_size),
/// <c>weight_hh</c> (hidden_size, hidden_size), <c>bias_ih</c>, <c>bias_hh</c> (hidden_size), all
/// initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
/// </summary>
public sealed class RnnCell : RecurrentCellBase
{
    /// <summary>Creates the cell.</summary>
    /// <param name="inputSize">features of x.</param>
    /// <param name="hiddenSize">features of h.</param>
    /// <param name="bias">false: no b_ih, b_hh.</param>
    /// <param name="nonlinearity"><c>"tanh"</c> (default) or <c>"relu"</c>.</param>
    /// <param name="dtype">parameter dtype (float32 or float64).</param>
    /// <param name="generator">random source of the initialisation (default: <see cref="Generator.Default"/>).</param>
    public RnnCell(int inputSize, int hiddenSize, bool bias = true, string nonlinearity = "tanh", DType dtype = DType.Float32, Generator? generator = null)
        : base(RecurrentBase.ParseNonlinearity(nonlinearity), inputSize, hiddenSize, bias, dtype, generator) { }

    /// <inheritdoc/>
    public override string TypeName => "RNNCell";

    /// <summary><c>"tanh"</c> or <c>"relu"</c>.</summary>
    public string Nonlinearity => Mode == RnnMode.RnnRelu ? "relu" : "tanh";

    /// <summary>
    /// One step, as <c>cell(input, hx)</c>: input (N, input_size) or (input_size); hx of the same
    /// batching with hidden_size features, zeros when null. Returns h' (N, hidden_size) or (hidden_size).
    /// </summary>
    public Tensor Forward(Tensor input, Tensor? hx = null)
    {
        using var trace = TraceScope.Begin();
        var (x, s, batched) = Prepare(input, hx is null ? null : new[] { hx }, new[] { "hx" });
        var (h, _) = StepBatched(x, s[0], null);
        var result = batched ? h : h.Squeeze(0);
        trace.End()?.Op("Cell", result, [input, hx, null], this);
        return result;
    }
}
