// GruCell: one step of a GRU (torch.nn.GRUCell); checks and parameters are RecurrentCellBase's.
using Recurrent.Kernels;
using Recurrent.Tracing;

namespace Recurrent.Nn;

/// <summary>
/// A gated recurrent unit cell, as <c>torch.nn.GRUCell</c>:
/// <code>
/// r = σ(W_ir x + b_ir + W_hr h + b_hr)
/// z = σ(W_iz x + b_iz + W_hz h + b_hz)
/// n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
/// h' = (1 - z) * n + z * h
/// </code>
/// <c>weight_ih</c> (3*hidden_size, input_size), <c>weight_hh</c> (3*hidden_size, hidden_size), gate
/// blocks in the order r, z, n; note that b_hn sits inside the reset-gate product.
/// </summary>
public sealed class GruCell : RecurrentCellBase
{
    /// <summary>Creates the cell.</summary>
    public GruCell(int inputSize, int hiddenSize, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
        : base(RnnMode.Gru, inputSize, hiddenSize, bias, dtype, generator) { }

    /// <inheritdoc/>
    public override string TypeName => "GRUCell";

    /// <summary>One step, as <c>cell(input, hx)</c>; shapes as <see cref="RnnCell.Forward"/>.</summary>
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
