// Property test: the fused path (FusedScan: one autograd node per stack, and the per-layer node)
// against the composed reference path (ComposedScan: tensor ops + autograd) on random
// configurations of Rnn / Lstm / Gru: mode, layers, directions, bias, projection, batch_first,
// dense / packed / padded-with-lengths input, given or default initial states, inter-layer dropout
// in training mode, float32 and float64. Outputs, h_n, c_n and the gradients of every parameter,
// x, h0 and c0 must agree, also after a second backward that accumulates into existing grads.
using Recurrent.Nn;

namespace Recurrent.Tests.Kernels;

public class RnnFusedVsComposedTests
{
    /// <summary>Calls the fused per-layer node for every layer and direction (not the stack node).</summary>
    private sealed class PerLayerFused : IRecurrentScan
    {
        public ScanResult Scan(RecurrentMode mode, in LayerWeights weights, Tensor x, int[] batchSizes, bool reverse, Tensor h0, Tensor? c0) =>
            FusedScan.Instance.Scan(mode, weights, x, batchSizes, reverse, h0, c0);
    }

    private sealed record Config(int Mode, int Input, int Hidden, int Layers, bool Bidir, bool Bias, int Proj, bool BatchFirst,
        int InputKind, bool GiveState, double Dropout, DType DType, int Steps, int Batch)
    {
        public override string ToString() =>
            $"mode={Mode} I={Input} H={Hidden} L={Layers} bidir={Bidir} bias={Bias} proj={Proj} batchFirst={BatchFirst} input={InputKind} state={GiveState} dropout={Dropout} {DType} T={Steps} B={Batch}";
    }

    private static Config RandomConfig(Random r)
    {
        int mode = r.Next(4); // 0 tanh, 1 relu, 2 lstm, 3 gru
        int hidden = r.Next(1, 40);
        return new Config(mode, r.Next(1, 12), hidden, r.Next(1, 4), r.Next(2) == 1, r.Next(4) != 0,
            mode == 2 && hidden > 1 && r.Next(3) == 0 ? r.Next(1, hidden) : 0, r.Next(2) == 1, r.Next(3), r.Next(2) == 1,
            r.Next(3) == 0 ? 0.4 : 0, r.Next(2) == 0 ? DType.Float32 : DType.Float64, r.Next(1, 7), r.Next(1, 6));
    }

    private static RecurrentBase Make(Config c, Generator g) => c.Mode switch
    {
        0 => new Rnn(c.Input, c.Hidden, c.Layers, "tanh", c.Bias, c.BatchFirst, c.Dropout, c.Bidir, c.DType, g),
        1 => new Rnn(c.Input, c.Hidden, c.Layers, "relu", c.Bias, c.BatchFirst, c.Dropout, c.Bidir, c.DType, g),
        2 => new Lstm(c.Input, c.Hidden, c.Layers, c.Bias, c.BatchFirst, c.Dropout, c.Bidir, c.Proj, c.DType, g),
        _ => new Gru(c.Input, c.Hidden, c.Layers, c.Bias, c.BatchFirst, c.Dropout, c.Bidir, c.DType, g),
    };

    private sealed record Data(Tensor X, Tensor? H0, Tensor? C0, long[] Lengths, Tensor GOut, Tensor GH, Tensor? GC);

    private static Data MakeData(Config c, Generator g)
    {
        int dirs = c.Bidir ? 2 : 1, hOut = c.Proj > 0 ? c.Proj : c.Hidden;
        var xShape = c.BatchFirst ? new[] { c.Batch, c.Steps, c.Input } : new[] { c.Steps, c.Batch, c.Input };
        var x = Tensor.Randn(xShape, c.DType, g);
        var lengths = Enumerable.Range(0, c.Batch).Select(i => i == 0 ? (long)c.Steps : 1 + (long)(g.NextDouble() * c.Steps)).ToArray();
        var h0 = c.GiveState ? Tensor.Randn(new[] { c.Layers * dirs, c.Batch, hOut }, c.DType, g) : null;
        var c0 = c.GiveState && c.Mode == 2 ? Tensor.Randn(new[] { c.Layers * dirs, c.Batch, c.Hidden }, c.DType, g) : null;
        int rows = c.InputKind == 1 ? (int)lengths.Sum() : c.Steps * c.Batch;
        var gOut = c.InputKind == 1 ? Tensor.Randn(new[] { rows, dirs * hOut }, c.DType, g)
            : Tensor.Randn(c.BatchFirst ? new[] { c.Batch, c.Steps, dirs * hOut } : new[] { c.Steps, c.Batch, dirs * hOut }, c.DType, g);
        var gH = Tensor.Randn(new[] { c.Layers * dirs, c.Batch, hOut }, c.DType, g);
        var gC = c.Mode == 2 ? Tensor.Randn(new[] { c.Layers * dirs, c.Batch, c.Hidden }, c.DType, g) : null;
        return new Data(x, h0, c0, lengths, gOut, gH, gC);
    }

    private sealed record Outcome(Tensor Out, Tensor HN, Tensor? CN, Dictionary<string, Tensor?> Grads);

    // Two forward + backward passes (the second accumulates into the grads of the first).
    private static Outcome Run(RecurrentBase m, Config c, Data d, ulong dropoutSeed)
    {
        m.Generator = new Generator(dropoutSeed);
        var x = d.X.Detach().Clone().RequiresGrad_();
        var h0 = d.H0?.Detach().Clone().RequiresGrad_();
        var c0 = d.C0?.Detach().Clone().RequiresGrad_();
        Tensor output = null!, hN = null!;
        Tensor? cN = null;
        for (int pass = 0; pass < 2; pass++)
        {
            (output, hN, cN) = Forward(m, c, x, h0, c0, d.Lengths);
            var loss = output.Mul(d.GOut).Sum().Add(hN.Mul(d.GH).Sum());
            if (cN is not null) loss = loss.Add(cN.Mul(d.GC!).Sum());
            loss.Backward();
        }
        var grads = m.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Grad);
        grads["x"] = x.Grad;
        grads["h0"] = h0?.Grad;
        grads["c0"] = c0?.Grad;
        return new Outcome(output, hN, cN, grads);
    }

    private static (Tensor Out, Tensor HN, Tensor? CN) Forward(RecurrentBase m, Config c, Tensor x, Tensor? h0, Tensor? c0, long[] lengths)
    {
        switch (c.InputKind)
        {
            case 1:
            {
                var packed = RnnUtils.PackPaddedSequence(x, lengths, c.BatchFirst, enforceSorted: false);
                if (m is Lstm l)
                {
                    var (o, (h, cc)) = l.Forward(packed, h0 is null ? null : (h0, c0!));
                    return (o.Data, h, cc);
                }
                var (po, ph) = m is Rnn r ? r.Forward(packed, h0) : ((Gru)m).Forward(packed, h0);
                return (po.Data, ph, null);
            }
            case 2:
            {
                if (m is Lstm l)
                {
                    var (o, (h, cc)) = l.Forward(x, lengths, h0 is null ? null : (h0, c0!));
                    return (o, h, cc);
                }
                var (po, ph) = m is Rnn r ? r.Forward(x, lengths, h0) : ((Gru)m).Forward(x, lengths, h0);
                return (po, ph, null);
            }
            default:
            {
                if (m is Lstm l)
                {
                    var (o, (h, cc)) = l.Forward(x, h0 is null ? null : (h0, c0!));
                    return (o, h, cc);
                }
                var (po, ph) = m is Rnn r ? r.Forward(x, h0) : ((Gru)m).Forward(x, h0);
                return (po, ph, null);
            }
        }
    }

    private static void Close(Tensor? expected, Tensor? actual, double atol, double rtol, string what)
    {
        if (expected is null || actual is null)
        {
            Assert.True(expected is null && actual is null, $"{what}: one side has no value");
            return;
        }
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.Contiguous().Double().ToArray<double>();
        var a = actual.Contiguous().Double().ToArray<double>();
        for (int i = 0; i < e.Length; i++)
            if (!(Math.Abs(a[i] - e[i]) <= atol + rtol * Math.Abs(e[i])))
                Assert.Fail($"{what}[{i}]: composed {e[i]:R}, fused {a[i]:R}");
    }

    [Fact]
    public void FusedMatchesComposed_OnRandomConfigurations()
    {
        var rng = new Random(20240601);
        for (int trial = 0; trial < 60; trial++)
        {
            var c = RandomConfig(rng);
            var g = new Generator((ulong)(1000 + trial));
            var composed = Make(c, g);
            composed.Scan = ComposedScan.Instance;
            composed.Train(c.Dropout > 0);
            var data = MakeData(c, g);
            var state = composed.StateDict();
            var expected = Run(composed, c, data, dropoutSeed: 7);

            var variants = new (string Name, IRecurrentScan? Scan)[] { ("stack", null), ("per-layer", new PerLayerFused()) };
            foreach (var (name, scan) in variants)
            {
                var fused = Make(c, new Generator(1));
                fused.LoadStateDict(state);
                fused.Train(c.Dropout > 0);
                if (scan is not null) fused.Scan = scan;
                else Assert.IsType<FusedScan>(fused.Scan);
                var actual = Run(fused, c, data, dropoutSeed: 7);
                double atol = c.DType == DType.Float64 ? 1e-10 : 2e-5, rtol = c.DType == DType.Float64 ? 1e-9 : 1e-4;
                string at = $"trial {trial} ({c}) {name}";
                Close(expected.Out, actual.Out, atol, rtol, $"{at} output");
                Close(expected.HN, actual.HN, atol, rtol, $"{at} h_n");
                Close(expected.CN, actual.CN, atol, rtol, $"{at} c_n");
                foreach (var (key, grad) in expected.Grads)
                    Close(grad, actual.Grads[key], atol, rtol, $"{at} grad {key}");
            }
        }
    }

    [Fact]
    public void FusedStackIsOneNode_AndInferenceRecordsNothing()
    {
        var m = new Lstm(4, 6, numLayers: 3, bidirectional: true, generator: new Generator(3));
        var x = Tensor.Randn(new[] { 5, 2, 4 }, generator: new Generator(4));
        var (o, (h, c)) = m.Forward(x);
        Assert.Equal("FusedRnnBackward0", h.GradFnName);
        Assert.Equal("FusedRnnBackward0", c.GradFnName);
        using (new NoGrad())
        {
            var (o2, (h2, _)) = m.Forward(x);
            Assert.Null(o2.GradFnName);
            Assert.Null(h2.GradFnName);
            CellTestsClose(o, o2);
        }
        // Backward twice without retain_graph fails as PyTorch does.
        var loss = o.Sum();
        loss.Backward();
        Assert.Throws<InvalidOperationException>(() => o.Sum().Backward());
    }

    private static void CellTestsClose(Tensor a, Tensor b) => Close(a.Detach(), b, 0, 0, "inference vs training forward");
}
