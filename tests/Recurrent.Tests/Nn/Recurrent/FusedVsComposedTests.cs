// Property test: the fused stack runner (one autograd node over the flat weights) against the
// composed reference runner (tensor ops + autograd) on random configurations of Rnn / Lstm / Gru:
// mode, layers, directions, bias, projection, batch_first, dense / packed / padded-with-lengths
// input, given or default initial states, inter-layer dropout in training mode, float32 and
// float64. Outputs, h_n, c_n and the gradients of every parameter, x, h0 and c0 must agree, also
// after a second backward that accumulates into existing grads, after ZeroGrad, and when the module
// runs twice in one graph. Plus the flat gradient buffer contract.
using Recurrent.Nn;

namespace Recurrent.Tests.Nn.Recurrent;

public class FusedVsComposedTests
{
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

    // Every input kind through the polymorphic API (no type switch over Rnn / Lstm / Gru).
    private static (Tensor Out, Tensor HN, Tensor? CN) Forward(RecurrentBase m, Config c, Tensor x, Tensor? h0, Tensor? c0, long[] lengths)
    {
        RecurrentState? state = h0 is null ? null : new RecurrentState(h0, c0);
        switch (c.InputKind)
        {
            case 1:
            {
                var (o, s) = m.Forward(RnnUtils.PackPaddedSequence(x, lengths, c.BatchFirst, enforceSorted: false), state);
                return (o.Data, s.H, s.C);
            }
            case 2:
            {
                var (o, s) = m.ForwardPadded(x, Tensor.FromArray(lengths, lengths.Length), state);
                return (o, s.H, s.C);
            }
            default:
            {
                var (o, s) = m.Forward(x, state);
                return (o, s.H, s.C);
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
            composed.Runner = ComposedStackRunner.Instance;
            composed.Train(c.Dropout > 0);
            var data = MakeData(c, g);
            var state = composed.StateDict();
            var expected = Run(composed, c, data, dropoutSeed: 7);

            var fused = Make(c, new Generator(1));
            fused.LoadStateDict(state);
            fused.Train(c.Dropout > 0);
            Assert.Same(FusedStackRunner.Instance, fused.Runner);
            var actual = Run(fused, c, data, dropoutSeed: 7);
            double atol = c.DType == DType.Float64 ? 1e-10 : 2e-5, rtol = c.DType == DType.Float64 ? 1e-9 : 1e-4;
            string at = $"trial {trial} ({c})";
            Close(expected.Out, actual.Out, atol, rtol, $"{at} output");
            Close(expected.HN, actual.HN, atol, rtol, $"{at} h_n");
            Close(expected.CN, actual.CN, atol, rtol, $"{at} c_n");
            foreach (var (key, grad) in expected.Grads)
                Close(grad, actual.Grads[key], atol, rtol, $"{at} grad {key}");
        }
    }

    // loss = sum over calls of (out . G); the module runs `calls` times in one graph.
    private static Tensor Loss(RecurrentBase m, Tensor x, int calls, Tensor g)
    {
        Tensor? loss = null;
        for (int i = 0; i < calls; i++)
        {
            var (o, _) = m.Forward(x.Mul(1.0 + i));
            var l = o.Mul(g).Sum();
            loss = loss is null ? l : loss.Add(l);
        }
        return loss!;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void WeightGradients_LandInTheFlatGradientBuffer_ForEveryZeroGradStyle(int calls)
    {
        var gen = new Generator(12);
        var fused = new Gru(3, 5, numLayers: 2, bidirectional: true, generator: gen);
        var composed = new Gru(3, 5, numLayers: 2, bidirectional: true, generator: gen);
        composed.LoadStateDict(fused.StateDict());
        composed.Runner = ComposedStackRunner.Instance;
        var x = Tensor.Randn([4, 2, 3], generator: gen);
        var g = Tensor.Randn([4, 2, 10], generator: gen);
        Tensor[] Grads(RecurrentBase m) => m.Parameters().Select(p => p.Grad!.Detach().Clone()).ToArray();
        void Same(Tensor[] expected, IEnumerable<Tensor> parameters, string what)
        {
            var actual = parameters.ToArray();
            for (int i = 0; i < expected.Length; i++) Close(expected[i], actual[i].Grad, 1e-5, 1e-5, $"{what} {i}");
        }

        // 1. Fresh grads (null): the fused backward writes the flat buffer and the parameters adopt views of it.
        Loss(composed, x, calls, g).Backward();
        Loss(fused, x, calls, g).Backward();
        var once = Grads(composed);
        Same(once, fused.Parameters(), "first backward");
        // Run once per graph, the parameters keep views of the flat buffer; run twice, the engine sums the two
        // nodes' gradients into fresh tensors (the second node cannot use the buffer the first handed out).
        var flat = fused.Flat.GradBuffer;
        foreach (var p in fused.Parameters())
            Assert.Equal(calls == 1, ReferenceEquals(flat.Data, p.Grad!.Data));

        // 2. Accumulate into the views (no ZeroGrad): twice the gradient, still the same storage.
        Loss(composed, x, calls, g).Backward();
        Loss(fused, x, calls, g).Backward();
        Same(Grads(composed), fused.Parameters(), "accumulated");
        Assert.All(fused.Parameters(), p => Assert.Equal(calls == 1, ReferenceEquals(flat.Data, p.Grad!.Data)));

        // 3. ZeroGrad(setToNone: true): overwritten, not accumulated.
        composed.ZeroGrad(); fused.ZeroGrad();
        Assert.All(fused.Parameters(), p => Assert.Null(p.Grad));
        Loss(composed, x, calls, g).Backward();
        Loss(fused, x, calls, g).Backward();
        Same(once, fused.Parameters(), "after ZeroGrad()");

        // 4. ZeroGrad(setToNone: false): zeroed in place, then accumulated.
        composed.ZeroGrad(setToNone: false); fused.ZeroGrad(setToNone: false);
        Loss(composed, x, calls, g).Backward();
        Loss(fused, x, calls, g).Backward();
        Same(once, fused.Parameters(), "after ZeroGrad(false)");

        // 5. A gradient set by the user: added to, in its own storage.
        var first = fused.Parameters().First();
        var own = Tensor.Ones(first.ShapeRef);
        fused.ZeroGrad();
        first.Grad = own;
        Loss(fused, x, calls, g).Backward();
        Close(once[0].Add(1.0), first.Grad, 1e-5, 1e-5, "user gradient + backward");
        Same(once[1..], fused.Parameters().Skip(1), "others");
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
