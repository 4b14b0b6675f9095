// The reference implementation of the recurrent math, composed from tensor ops so autograd
// differentiates it, in ATen's three levels: the cell (one step: input projection + hidden state ->
// new state), shared by the cell modules; the layer (a scan over time, forward or reversed, dense or
// packed); and the stack (layers, directions, dropout between layers). It stays available
// permanently as the cross-check for the fused kernels (tests switch a module's runner to it).
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>One time step of each recurrence, on tensors (differentiable).</summary>
internal static class CellMath
{
    /// <summary>The input projection x W_ih^T + b_ih: (N, I) -> (N, G*H).</summary>
    public static Tensor InputProjection(Tensor x, Tensor weightIh, Tensor? biasIh)
    {
        var gi = x.Mm(weightIh.T());
        return biasIh is null ? gi : gi.Add(biasIh);
    }

    /// <summary>
    /// One step. <paramref name="gi"/> (n, G*H) is the input projection of this step (with b_ih);
    /// <paramref name="h"/> (n, H_out), <paramref name="c"/> (n, H) for LSTM. Returns (h', c').
    /// </summary>
    public static (Tensor H, Tensor? C) Step(RnnMode mode, Tensor gi, Tensor h, Tensor? c, Tensor weightHh, Tensor? biasHh, Tensor? weightHr)
    {
        // gh = h W_hh^T + b_hh: (n, G*H)
        var gh = h.Mm(weightHh.T());
        if (biasHh is not null) gh = gh.Add(biasHh);
        return Gates(mode, gi, gh, h, c, weightHr);
    }

    /// <summary>
    /// The gate arithmetic of one step from its two projections: <paramref name="gi"/> = x W_ih^T + b_ih and
    /// <paramref name="gh"/> = h W_hh^T + b_hh, both (n, G*H). Returns (h', c').
    /// </summary>
    public static (Tensor H, Tensor? C) Gates(RnnMode mode, Tensor gi, Tensor gh, Tensor h, Tensor? c, Tensor? weightHr)
    {
        switch (mode)
        {
            case RnnMode.RnnTanh:
                return (gi.Add(gh).Tanh(), null);
            case RnnMode.RnnRelu:
                return (gi.Add(gh).Relu(), null);
            case RnnMode.Lstm:
            {
                int hs = gi.Size(1) / 4;
                var g4 = gi.Add(gh).SplitWithSizes(new[] { hs, hs, hs, hs }, 1);
                var i = g4[0].Sigmoid();
                var f = g4[1].Sigmoid();
                var g = g4[2].Tanh();
                var o = g4[3].Sigmoid();
                // c' = f*c + i*g ; h' = o*tanh(c') ; with projection h' = (o*tanh(c')) W_hr^T
                var cNext = f.Mul(c!).Add(i.Mul(g));
                var hNext = o.Mul(cNext.Tanh());
                if (weightHr is not null) hNext = hNext.Mm(weightHr.T());
                return (hNext, cNext);
            }
            case RnnMode.Gru:
            {
                int hs = gi.Size(1) / 3;
                var sizes = new[] { hs, hs, hs };
                var i3 = gi.SplitWithSizes(sizes, 1);
                var h3 = gh.SplitWithSizes(sizes, 1);
                var r = i3[0].Add(h3[0]).Sigmoid();
                var z = i3[1].Add(h3[1]).Sigmoid();
                // n = tanh(W_in x + b_in + r*(W_hn h + b_hn)) ; h' = (1-z)*n + z*h = (h - n)*z + n
                var n = i3[2].Add(r.Mul(h3[2])).Tanh();
                return (h.Sub(n).Mul(z).Add(n), null);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown recurrent mode");
        }
    }
}

/// <summary>
/// The composed (tensor ops + autograd) stack: per layer and direction one input-projection GEMM for all
/// steps, then per step one h W_hh^T product and the gate arithmetic of <see cref="CellMath.Step"/>.
/// </summary>
internal sealed class ComposedStackRunner : IStackRunner
{
    /// <summary>The shared instance (stateless).</summary>
    public static ComposedStackRunner Instance { get; } = new();

    private ComposedStackRunner() { }

    public StackResult Run(in StackCall call)
    {
        var s = call.Sizes;
        int dirs = s.Directions;
        var h0s = call.H0.Unbind(0);
        var c0s = call.C0?.Unbind(0);
        var hs = new List<Tensor>(s.NumLayers * dirs);
        var cs = new List<Tensor>(s.NumLayers * dirs);
        var layerInput = call.X;
        for (int layer = 0; layer < s.NumLayers; layer++)
        {
            if (layer > 0 && call.Dropout > 0)
            {
                // The fused runner draws the same masks from the same generator, layer by layer.
                var mask = Tensor.Allocate(layerInput.DType, layerInput.ShapeRef, clear: false);
                if (mask.DType == DType.Float32) DropoutMask.Fill(mask.AsSpan<float>(), call.Dropout, call.Generator);
                else DropoutMask.Fill(mask.AsSpan<double>(), call.Dropout, call.Generator);
                layerInput = layerInput.Mul(mask);
            }
            var outs = new Tensor[dirs];
            for (int direction = 0; direction < dirs; direction++)
            {
                var (output, hN, cN) = Scan(s.Mode, call.Weights!.Layer(layer, direction), layerInput, call.BatchSizes, direction == 1,
                    h0s[layer * dirs + direction], c0s?[layer * dirs + direction]);
                outs[direction] = output;
                hs.Add(hN);
                if (cN is not null) cs.Add(cN);
            }
            layerInput = dirs == 1 ? outs[0] : Tensor.Cat(outs, 1);
        }
        return new StackResult(layerInput, Tensor.Stack(hs, 0), s.Mode == RnnMode.Lstm ? Tensor.Stack(cs, 0) : null);
    }

    // One layer and direction over the packed rows: output (N, H_out), h_n (B, H_out), c_n (B, H).
    private static (Tensor Output, Tensor HN, Tensor? CN) Scan(RnnMode mode, RecurrentLayerWeights w, Tensor x, int[] batchSizes, bool reverse,
        Tensor h0, Tensor? c0)
    {
        int steps = batchSizes.Length;
        int batch = batchSizes[0];
        // gi: (N, G*H) = x W_ih^T + b_ih for every step at once, then one view per step (one autograd node).
        var gi = CellMath.InputProjection(x, w.WeightIh, w.BiasIh).SplitWithSizes(batchSizes, 0);
        var outs = new Tensor[steps];
        Tensor h, hN;
        Tensor? c, cN;
        if (!reverse)
        {
            h = h0; c = c0;
            // States of sequences that have ended, highest batch indices first.
            List<(Tensor H, Tensor? C)>? done = null;
            for (int t = 0; t < steps; t++)
            {
                int n = batchSizes[t];
                int rows = h.Size(0);
                if (n < rows)
                {
                    (done ??= new()).Add((h.Narrow(0, n, rows - n), c?.Narrow(0, n, rows - n)));
                    h = h.Narrow(0, 0, n);
                    c = c?.Narrow(0, 0, n);
                }
                (h, c) = CellMath.Step(mode, gi[t], h, c, w.WeightHh, w.BiasHh, w.WeightHr);
                outs[t] = h;
            }
            if (done is null) { hN = h; cN = c; }
            else
            {
                var hs = new List<Tensor> { h };
                var cs = new List<Tensor>();
                if (c is not null) cs.Add(c);
                for (int k = done.Count - 1; k >= 0; k--)
                {
                    hs.Add(done[k].H);
                    if (done[k].C is { } dc) cs.Add(dc);
                }
                hN = Tensor.Cat(hs, 0);
                cN = c is null ? null : Tensor.Cat(cs, 0);
            }
        }
        else
        {
            // Each sequence starts from its own h0 row at its own last step: the batch grows as t decreases.
            int first = batchSizes[steps - 1];
            h = first == batch ? h0 : h0.Narrow(0, 0, first);
            c = c0 is null ? null : first == batch ? c0 : c0.Narrow(0, 0, first);
            for (int t = steps - 1; t >= 0; t--)
            {
                int n = batchSizes[t];
                int rows = h.Size(0);
                if (n > rows)
                {
                    h = Tensor.Cat(new[] { h, h0.Narrow(0, rows, n - rows) }, 0);
                    if (c is not null) c = Tensor.Cat(new[] { c, c0!.Narrow(0, rows, n - rows) }, 0);
                }
                (h, c) = CellMath.Step(mode, gi[t], h, c, w.WeightHh, w.BiasHh, w.WeightHr);
                outs[t] = h;
            }
            hN = h; cN = c;
        }
        var output = steps == 1 ? outs[0] : Tensor.Cat(outs, 0);
        return (output, hN, cN);
    }
}
