// Unit tests of Rnn, Lstm and Gru: the tutorial's worked example and shape walk-throughs,
// PyTorch's parameter contract (names, order, shapes, init), printed form, batch_first and
// unbatched layouts, bidirectional h_n semantics, inter-layer dropout, state dict round trips,
// FlattenParameters, and the contract with the per-layer scan that the fused kernels will fill.
using Recurrent.IO;
using Recurrent.Nn;
using static Recurrent.Tests.Nn.Recurrent.CellTests;

namespace Recurrent.Tests.Nn.Recurrent;

public class LayerTests
{
    [Fact]
    public void TutorialReluWorkedExample_Rnn_Gives_5_8_16_18()
    {
        var rnn = new Rnn(2, 1, nonlinearity: "relu", bias: false);
        rnn.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["weight_ih_l0"] = Tensor.FromArray(new float[] { -1, 3 }, 1, 2),
            ["weight_hh_l0"] = Tensor.FromArray(new float[] { 2 }, 1, 1),
        });
        var x = Tensor.FromArray(new float[] { 1, 2, 2, 0, 3, 1, -1, -5 }, 4, 1, 2);
        var (output, hN) = rnn.Forward(x, h0: null);
        Assert.Equal(new float[] { 5, 8, 16, 18 }, output.ToArray<float>());
        Assert.Equal(new[] { 1, 1, 1 }, hN.Shape);
        Assert.Equal(18f, hN.Item<float>());
    }

    [Fact]
    public void TutorialShapeWalkThrough()
    {
        using var _ = new NoGrad();
        var gen = new Generator(11);
        // Character RNN: RNN(1027 -> 256) over 35 steps, batch 2.
        var charRnn = new Rnn(1027, 256, generator: gen);
        var (o1, h1) = charRnn.Forward(Tensor.Randn(new[] { 35, 2, 1027 }, generator: gen));
        Assert.Equal(new[] { 35, 2, 256 }, o1.Shape);
        Assert.Equal(new[] { 1, 2, 256 }, h1.Shape);
        // RNN/LSTM/GRU(20, 50, num_layers=2) on (100, 32, 20).
        var x = Tensor.Randn(new[] { 100, 32, 20 }, generator: gen);
        var (o2, h2) = new Rnn(20, 50, 2, generator: gen).Forward(x);
        Assert.Equal(new[] { 100, 32, 50 }, o2.Shape);
        Assert.Equal(new[] { 2, 32, 50 }, h2.Shape);
        var (o3, (h3, c3)) = new Lstm(20, 50, 2, generator: gen).Forward(x);
        Assert.Equal(new[] { 100, 32, 50 }, o3.Shape);
        Assert.Equal(new[] { 2, 32, 50 }, h3.Shape);
        Assert.Equal(new[] { 2, 32, 50 }, c3.Shape);
        var (o4, h4) = new Gru(20, 50, 2, generator: gen).Forward(x);
        Assert.Equal(new[] { 100, 32, 50 }, o4.Shape);
        Assert.Equal(new[] { 2, 32, 50 }, h4.Shape);
        // The last layer's h_n is the output's last step.
        AssertClose(o3.Select(0, 99), h3.Select(0, 1), 0);
    }

    [Fact]
    public void ParameterNamesOrderShapesAsPyTorchFlatWeightsNames()
    {
        var lstm = new Lstm(3, 6, numLayers: 2, bidirectional: true, projSize: 4);
        string[] expected =
        {
            "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
            "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_hr_l0_reverse",
            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_hr_l1",
            "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse", "weight_hr_l1_reverse",
        };
        Assert.Equal(expected, lstm.NamedParameters().Select(p => p.Name));
        Assert.Equal(expected, lstm.StateDict().Keys);
        Assert.Equal(expected, lstm.FlatWeightsNames);
        var p = lstm.NamedParameters().ToDictionary(x => x.Name, x => x.Parameter.Shape);
        Assert.Equal(new[] { 24, 3 }, p["weight_ih_l0"]);
        Assert.Equal(new[] { 24, 4 }, p["weight_hh_l0"]);
        Assert.Equal(new[] { 24 }, p["bias_ih_l0"]);
        Assert.Equal(new[] { 4, 6 }, p["weight_hr_l0"]);
        Assert.Equal(new[] { 24, 8 }, p["weight_ih_l1_reverse"]);

        var gru = new Gru(5, 7, numLayers: 2, bias: false, bidirectional: true);
        Assert.Equal(new[] { "weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse" },
            gru.NamedParameters().Select(x => x.Name));
        Assert.Equal(new[] { 21, 14 }, gru.NamedParameters().Single(x => x.Name == "weight_ih_l1").Parameter.Shape);
        var projNoBias = new Lstm(2, 3, projSize: 1, bias: false);
        Assert.Equal(new[] { "weight_ih_l0", "weight_hh_l0", "weight_hr_l0" }, projNoBias.NamedParameters().Select(x => x.Name));

        var rnn = new Rnn(4, 9, generator: new Generator(5));
        double k = 1 / Math.Sqrt(9);
        foreach (var (_, t) in rnn.NamedParameters())
            Assert.All(t.ToArray<float>(), v => Assert.InRange(v, -k, k));
        Assert.True(rnn.Parameters().SelectMany(t => t.ToArray<float>()).Distinct().Count() > 50);
    }

    [Fact]
    public void ToStringAsPyTorch()
    {
        Assert.Equal("LSTM(20, 50, num_layers=2)", new Lstm(20, 50, 2).ToString());
        Assert.Equal("GRU(10, 20, batch_first=True, bidirectional=True)", new Gru(10, 20, batchFirst: true, bidirectional: true).ToString());
        // PyTorch's RNNBase.extra_repr does not print the nonlinearity.
        Assert.Equal("RNN(4, 4)", new Rnn(4, 4, nonlinearity: "relu").ToString());
        Assert.Equal("LSTM(4, 8, proj_size=2, num_layers=3, bias=False, dropout=0.5)", new Lstm(4, 8, 3, bias: false, dropout: 0.5, projSize: 2).ToString());
        Assert.Equal("RNN(1, 2, num_layers=2, dropout=1.0)", new Rnn(1, 2, 2, dropout: 1).ToString());
        Assert.Equal("RNN", new Rnn(1, 1).TypeName);
        Assert.Equal("LSTM", new Lstm(1, 2).TypeName);
        Assert.Equal("GRU", new Gru(1, 1).TypeName);
    }

    [Fact]
    public void BatchFirstIsATransposeAndDoesNotApplyToStates()
    {
        var gen = new Generator(2);
        var a = new Lstm(3, 4, 2, bidirectional: true, generator: gen);
        var b = new Lstm(3, 4, 2, batchFirst: true, bidirectional: true, generator: gen);
        b.LoadStateDict(a.StateDict());
        var x = Tensor.Randn(new[] { 5, 2, 3 }, generator: gen);
        var h0 = Tensor.Randn(new[] { 4, 2, 4 }, generator: gen);
        var c0 = Tensor.Randn(new[] { 4, 2, 4 }, generator: gen);
        var (oa, (ha, ca)) = a.Forward(x, (h0, c0));
        var (ob, (hb, cb)) = b.Forward(x.Transpose(0, 1).Contiguous(), (h0, c0));
        Assert.Equal(new[] { 2, 5, 8 }, ob.Shape);
        AssertClose(oa.Transpose(0, 1), ob, 0);
        AssertClose(ha, hb, 0);
        AssertClose(ca, cb, 0);
    }

    [Fact]
    public void UnbatchedEqualsBatchOfOne()
    {
        var gen = new Generator(4);
        foreach (bool batchFirst in new[] { false, true })
        {
            var gru = new Gru(3, 5, 2, batchFirst: batchFirst, bidirectional: true, generator: gen);
            var x = Tensor.Randn(new[] { 6, 3 }, generator: gen);
            var h0 = Tensor.Randn(new[] { 4, 5 }, generator: gen);
            var (ou, hu) = gru.Forward(x, h0);
            Assert.Equal(new[] { 6, 10 }, ou.Shape);
            Assert.Equal(new[] { 4, 5 }, hu.Shape);
            var (ob, hb) = gru.Forward(x.Unsqueeze(batchFirst ? 0 : 1), h0.Unsqueeze(1));
            AssertClose(ob.Squeeze(batchFirst ? 0 : 1), ou, 0);
            AssertClose(hb.Squeeze(1), hu, 0);
        }
        var lstm = new Lstm(3, 5, projSize: 2, generator: gen);
        var (o, (h, c)) = lstm.Forward(Tensor.Randn(new[] { 4, 3 }, generator: gen));
        Assert.Equal(new[] { 4, 2 }, o.Shape);
        Assert.Equal(new[] { 1, 2 }, h.Shape);
        Assert.Equal(new[] { 1, 5 }, c.Shape);
    }

    [Fact]
    public void BidirectionalFinalStatesAndLayerState()
    {
        var gen = new Generator(9);
        var rnn = new Rnn(2, 3, numLayers: 2, bidirectional: true, generator: gen);
        var x = Tensor.Randn(new[] { 4, 2, 2 }, generator: gen);
        var (output, hN) = rnn.Forward(x);
        // h_n[-2] = forward half at the last step; h_n[-1] = reverse half at step 0.
        AssertClose(output.Select(0, 3).Narrow(1, 0, 3), rnn.LayerState(hN, 1, 0), 0);
        AssertClose(output.Select(0, 0).Narrow(1, 3, 3), rnn.LayerState(hN, 1, 1), 0);
        AssertClose(hN.Select(0, 3), hN.LayerState(1, 1, bidirectional: true), 0);
        AssertClose(hN.Select(0, 1), hN.LayerState(0, 1, bidirectional: true), 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => hN.LayerState(2, 0, bidirectional: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => rnn.LayerState(hN, 0, 2));
        Assert.Throws<ArgumentException>(() => rnn.LayerState(Tensor.Zeros(3, 2, 3), 0));
    }

    [Fact]
    public void DropoutOnlyBetweenLayersInTrainingAndSeedable()
    {
        var x = Tensor.Randn(new[] { 5, 3, 4 }, generator: new Generator(1));
        Tensor Run(double p, bool training, ulong seed, int layers = 2)
        {
            var m = new Gru(4, 6, layers, dropout: p, generator: new Generator(42));
            m.Train(training);
            m.Generator = new Generator(seed);
            return m.Forward(x).Output;
        }
        var plain = Run(0, true, 1);
        AssertClose(plain, Run(0.5, false, 1), 0);                 // eval: identity
        var d1 = Run(0.5, true, 1);
        var d1Again = Run(0.5, true, 1);
        var d2 = Run(0.5, true, 2);
        AssertClose(d1, d1Again, 0);                               // same seed, same masks
        Assert.NotEqual(plain.ToArray<float>(), d1.ToArray<float>());
        Assert.NotEqual(d1.ToArray<float>(), d2.ToArray<float>());
        AssertClose(Run(0, true, 1, 1), Run(0.9, true, 3, 1), 0);  // one layer: nothing between layers

        // p = 1 zeroes layer 0's output: layer 1 then sees only zeros, whatever the input.
        var m1 = new Rnn(4, 6, 2, dropout: 1.0, generator: new Generator(8));
        var (oa, _) = m1.Forward(x);
        var (ob, _) = m1.Forward(x.Mul(3.0));
        AssertClose(oa, ob, 0);
    }

    [Fact]
    public void StateDictSavedByLstmReloadsIntoFreshLstmAndReproducesOutputs()
    {
        var gen = new Generator(13);
        var a = new Lstm(3, 5, 2, bidirectional: true, projSize: 2, generator: gen);
        var x = Tensor.Randn(new[] { 4, 2, 3 }, generator: gen);
        var (oa, (ha, ca)) = a.Forward(x);
        string path = Path.Combine(Path.GetTempPath(), $"rec-lstm-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensorsFile.Write(path, a.StateDict().Select(kv => (kv.Key, kv.Value.Shape.Select(s => (long)s).ToArray(), kv.Value.ToArray<float>())));
            var file = SafeTensorsFile.Read(path);
            var sd = file.Entries.ToDictionary(e => e.Name, e => Tensor.FromArray(file.GetFloat32(e.Name), e.ToShapeArray().Select(s => (int)s).ToArray()));
            var b = new Lstm(3, 5, 2, bidirectional: true, projSize: 2, generator: new Generator(99));
            var (o0, _) = b.Forward(x);
            Assert.NotEqual(oa.ToArray<float>(), o0.ToArray<float>());
            b.LoadStateDict(sd, strict: true);
            var (ob, (hb, cb)) = b.Forward(x);
            AssertClose(oa, ob, 0);
            AssertClose(ha, hb, 0);
            AssertClose(ca, cb, 0);
            // Strict loading of a stack with another shape fails with PyTorch's text.
            var wrong = new Lstm(3, 5, 2, bidirectional: true);
            Assert.Contains("Unexpected key(s) in state_dict: \"weight_hr_l0\"", Assert.Throws<InvalidOperationException>(() => wrong.LoadStateDict(sd)).Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void FlattenParametersMakesOneContiguousBufferOfViews()
    {
        var gen = new Generator(21);
        var m = new Lstm(3, 4, 2, bidirectional: true, projSize: 2, generator: gen);
        AssertFlat(m);
        var x = Tensor.Randn(new[] { 3, 2, 3 }, generator: gen);
        var (before, _) = m.Forward(x);

        // Idempotent: a second call keeps the very same tensors.
        var tensors = m.Parameters().ToList();
        m.FlattenParameters();
        Assert.True(tensors.Zip(m.Parameters()).All(p => ReferenceEquals(p.First, p.Second)));

        // Un-flattened parameters (e.g. after To) are re-flattened automatically, values kept.
        m.Double();
        AssertFlat(m);
        Assert.Equal(DType.Float64, m.Flat.Buffer.DType);
        var (afterDouble, _) = m.Forward(x.Double());
        AssertClose(before, afterDouble, 1e-6);
        m.Float();
        AssertFlat(m);
        var (afterFloat, _) = m.Forward(x);
        AssertClose(before, afterFloat, 0);

        // LoadStateDict writes into the views: still flat, new values visible in the buffer.
        var other = new Lstm(3, 4, 2, bidirectional: true, projSize: 2, generator: new Generator(5));
        m.LoadStateDict(other.StateDict());
        AssertFlat(m);
        var w = m.NamedParameters().First(p => p.Name == "weight_hh_l1").Parameter;
        Assert.Equal(other.NamedParameters().First(p => p.Name == "weight_hh_l1").Parameter.ToArray<float>(), w.ToArray<float>());
        Assert.Equal(w.ToArray<float>(), m.Flat.Buffer.Narrow(0, w.Offset, w.Numel).ToArray<float>());

        // Gradients reach the views, and a no-op re-flatten keeps them.
        var (o, (h, _)) = m.Forward(x);
        o.Sum().Add(h.Sum()).Backward();
        Assert.All(m.Parameters(), p => Assert.NotNull(p.Grad));
        var grads = m.Parameters().Select(p => p.Grad!).ToList();
        m.FlattenParameters();
        Assert.True(grads.Zip(m.Parameters()).All(g => ReferenceEquals(g.First, g.Second.Grad)));
    }

    private static void AssertFlat(RecurrentBase m)
    {
        var ps = m.FlatWeights;
        var buffer = m.Flat.Buffer;
        Assert.True(buffer.IsContiguous);
        Assert.Equal(ps.Sum(p => p.Numel), buffer.Numel);
        int offset = 0;
        foreach (var p in ps)
        {
            Assert.Same(buffer.Data, p.Data);
            Assert.Equal(offset, p.Offset);
            Assert.True(p.IsContiguous && p.IsLeaf && p.RequiresGrad);
            offset += p.Numel;
        }
        Assert.Equal(ps, m.Parameters());
        // The kernels' layout: every parameter starts at its slot.
        for (int l = 0; l < m.NumLayers; l++)
            for (int d = 0; d < m.NumDirections; d++)
            {
                var slots = m.Sizes.Slots(l, d);
                var w = m.Weights(l, d);
                Assert.Equal(slots.WeightIh, w.WeightIh.Offset);
                Assert.Equal(slots.WeightHh, w.WeightHh.Offset);
                Assert.Equal(slots.BiasIh, w.BiasIh?.Offset ?? -1);
                Assert.Equal(slots.WeightHr, w.WeightHr?.Offset ?? -1);
            }
    }

    /// <summary>A runner that records each call and delegates to the composed reference.</summary>
    private sealed class RecordingRunner : IStackRunner
    {
        public readonly List<StackCall> Calls = new();

        public StackResult Run(in StackCall call)
        {
            Calls.Add(call);
            var r = ComposedStackRunner.Instance.Run(call);
            var s = call.Sizes;
            Assert.Equal(new[] { call.X.Size(0), s.Directions * s.OutSize }, r.Output.Shape);
            Assert.Equal(call.H0.Shape, r.HN.Shape);
            return r;
        }
    }

    [Fact]
    public void TheWholeStackIsOneRunnerCallWithThePackedRowContract()
    {
        var gen = new Generator(31);
        var m = new Lstm(3, 5, 2, dropout: 0.25, bidirectional: true, projSize: 2, generator: gen);
        var rec = new RecordingRunner();
        m.Runner = rec;
        var x = Tensor.Randn(new[] { 4, 2, 3 }, generator: gen);
        var (o, _) = m.Forward(x);
        var call = Assert.Single(rec.Calls);
        Assert.Equal(new[] { 2, 2, 2, 2 }, call.BatchSizes);
        Assert.Equal(new[] { 8, 3 }, call.X.Shape);
        Assert.Equal(new[] { 4, 2, 2 }, call.H0.Shape);
        Assert.Equal(new[] { 4, 2, 5 }, call.C0!.Shape);
        Assert.Equal(0.25, call.Dropout);
        Assert.Same(m.Flat, call.Weights);
        Assert.Same(m.NamedParameters().First(p => p.Name == "weight_ih_l1_reverse").Parameter, m.Weights(1, 1).WeightIh);

        // Eval mode: no dropout reaches the runner; packed input: the packed batch sizes.
        rec.Calls.Clear();
        m.Eval();
        var packed = RnnUtils.PackPaddedSequence(x, new long[] { 2, 4 }, enforceSorted: false);
        m.Forward(packed);
        call = Assert.Single(rec.Calls);
        Assert.Equal(new[] { 2, 2, 1, 1 }, call.BatchSizes);
        Assert.Equal(6, call.X.Size(0));
        Assert.Equal(0.0, call.Dropout);

        // A fresh module uses the default (fused) runner; it computes what the composed runner did (to rounding).
        m.Train();
        var fresh = new Lstm(3, 5, 2, bidirectional: true, projSize: 2);
        Assert.Same(FusedStackRunner.Instance, fresh.Runner);
        fresh.LoadStateDict(m.StateDict());
        m.Runner = ComposedStackRunner.Instance;
        m.Eval();
        AssertClose(m.Forward(x).Output, fresh.Forward(x).Output, 1e-6);
    }
}
