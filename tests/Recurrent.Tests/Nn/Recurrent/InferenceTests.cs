// Inference that forgives: eval mode without NoGrad gives the same bits as with it (over every
// option of the family), and inside a dispose scope it leaks nothing to the GC — the saved
// activations of a forward that is never backpropagated go back to the pool when the scope ends.
using Recurrent.Nn;

namespace Recurrent.Tests.Nn.Recurrent;

[Collection(Serial.Name)]
public class InferenceTests
{
    public static TheoryData<string, int, bool, bool, int, int> Options()
    {
        var data = new TheoryData<string, int, bool, bool, int, int>();
        foreach (var mode in new[] { "tanh", "relu", "lstm", "gru" })
            foreach (int layers in new[] { 1, 2 })
                foreach (bool bidir in new[] { false, true })
                    foreach (int input in new[] { 0, 1, 2, 3 })   // dense, batch_first, packed, padded with lengths
                        data.Add(mode, layers, bidir, input % 2 == 1, input, mode == "lstm" && layers == 2 ? 3 : 0);
        return data;
    }

    private static RecurrentBase Make(string mode, int layers, bool bidir, bool batchFirst, int proj, Generator g) => mode switch
    {
        "lstm" => new Lstm(5, 8, layers, batchFirst: batchFirst, dropout: 0.3, bidirectional: bidir, projSize: proj, generator: g),
        "gru" => new Gru(5, 8, layers, batchFirst: batchFirst, dropout: 0.3, bidirectional: bidir, generator: g),
        _ => new Rnn(5, 8, layers, mode, batchFirst: batchFirst, dropout: 0.3, bidirectional: bidir, generator: g),
    };

    private static Tensor[] Run(RecurrentBase m, Tensor x, long[] lengths, int input, bool batchFirst)
    {
        if (input == 2)
        {
            var (po, ps) = m.Forward(RnnUtils.PackPaddedSequence(x, lengths, batchFirst, enforceSorted: false));
            return ps.C is null ? [po.Data, ps.H] : [po.Data, ps.H, ps.C];
        }
        var (o, s) = input == 3 ? m.ForwardPadded(x, Tensor.FromArray(lengths, lengths.Length)) : m.Forward(x);
        return s.C is null ? [o, s.H] : [o, s.H, s.C];
    }

    [Theory]
    [MemberData(nameof(Options))]
    public void EvalOutputs_AreBitIdentical_WithAndWithoutNoGrad(string mode, int layers, bool bidir, bool batchFirst, int input, int proj)
    {
        var g = new Generator(41);
        var m = Make(mode, layers, bidir, batchFirst, proj, g);
        m.Eval();
        var x = Tensor.Randn(batchFirst ? [5, 6, 5] : [6, 5, 5], generator: g);
        long[] lengths = [6, 2, 5, 1, 3];
        var recorded = Run(m, x, lengths, input, batchFirst);
        Assert.True(recorded[0].RequiresGrad);   // parameters require grad: the graph is recorded
        Tensor[] plain;
        using (new NoGrad()) plain = Run(m, x, lengths, input, batchFirst);
        for (int i = 0; i < plain.Length; i++)
            Assert.Equal(plain[i].ToArray<float>(), recorded[i].ToArray<float>());
    }

    [Fact]
    public void EvalWithoutNoGrad_InsideDisposeScopes_ReturnsItsSavedActivations()
    {
        // Large enough that the saved activations (about 1.3 MB) and the output are pooled arrays.
        var m = new Lstm(64, 128, numLayers: 2);
        m.Eval();
        var x = Tensor.Randn([20, 16, 64]).DetachFromDisposeScope();
        void Step(bool noGrad)
        {
            using var scope = Tensor.NewDisposeScope();
            using var _ = noGrad ? new NoGrad() : default;
            var (o, _) = m.Forward(x);
            Assert.Equal(!noGrad, o.RequiresGrad);
        }
        long PerCall(bool noGrad)
        {
            for (int i = 0; i < 20; i++) Step(noGrad);
            long before = GC.GetAllocatedBytesForCurrentThread();
            const int Calls = 200;
            for (int i = 0; i < Calls; i++) Step(noGrad);
            return (GC.GetAllocatedBytesForCurrentThread() - before) / Calls;
        }
        GC.Collect();
        int gen2 = GC.CollectionCount(2);
        long plain = PerCall(noGrad: true), recorded = PerCall(noGrad: false);
        Assert.Equal(gen2, GC.CollectionCount(2));
        // Recording adds the graph node and its edges (small objects), never a large array per call.
        Assert.True(recorded - plain < 4_000, $"allocated {recorded} bytes per call without NoGrad, {plain} with it");
    }
}
