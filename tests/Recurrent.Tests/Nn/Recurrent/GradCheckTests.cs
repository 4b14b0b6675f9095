// Float64 finite-difference gradient checks of every cell and of the layers in small
// configurations covering 2 layers, bidirectional, proj_size, packed input (sorted and unsorted,
// batch_first) and training-mode dropout: gradients of input, initial states and every parameter.
using Recurrent.Autograd;
using Recurrent.Nn;

namespace Recurrent.Tests.Nn.Recurrent;

public class GradCheckTests
{
    private static Tensor R(Generator g, params int[] shape) => Tensor.Randn(shape, DType.Float64, g).RequiresGrad_();

    private static void Check(Func<Tensor[], Tensor[]> f, IEnumerable<Tensor> inputs)
    {
        var result = GradCheck.Check(f, inputs.ToArray());
        Assert.True(result is null, result);
    }

    [Fact]
    public void Cells()
    {
        var g = new Generator(101);
        var x = R(g, 2, 3);
        var h = R(g, 2, 4);
        var c = R(g, 2, 4);
        foreach (var nl in new[] { "tanh", "relu" })
        {
            var rnn = new RnnCell(3, 4, nonlinearity: nl, dtype: DType.Float64, generator: g);
            Check(_ => new[] { rnn.Forward(x, h) }, new[] { x, h }.Concat(rnn.Parameters()));
        }
        var gru = new GruCell(3, 4, dtype: DType.Float64, generator: g);
        Check(_ => new[] { gru.Forward(x, h) }, new[] { x, h }.Concat(gru.Parameters()));
        var lstm = new LstmCell(3, 4, dtype: DType.Float64, generator: g);
        Check(_ => { var (hh, cc) = lstm.Forward(x, (h, c)); return new[] { hh, cc }; }, new[] { x, h, c }.Concat(lstm.Parameters()));
        var unbatched = R(g, 3);
        var noBias = new GruCell(3, 4, bias: false, dtype: DType.Float64, generator: g);
        Check(_ => new[] { noBias.Forward(unbatched) }, new[] { unbatched }.Concat(noBias.Parameters()));
    }

    [Fact]
    public void DenseTwoLayerBidirectionalLayers()
    {
        var g = new Generator(202);
        var x = R(g, 3, 2, 3);
        var rnn = new Rnn(3, 2, 2, bidirectional: true, dtype: DType.Float64, generator: g);
        var h0 = R(g, 4, 2, 2);
        Check(_ => { var (o, h) = rnn.Forward(x, h0); return new[] { o, h }; }, new[] { x, h0 }.Concat(rnn.Parameters()));

        var gru = new Gru(3, 2, 2, batchFirst: true, bidirectional: true, dtype: DType.Float64, generator: g);
        Check(_ => { var (o, h) = gru.Forward(x.Transpose(0, 1), h0); return new[] { o, h }; }, new[] { x, h0 }.Concat(gru.Parameters()));

        var lstm = new Lstm(3, 3, 2, bidirectional: true, projSize: 2, dtype: DType.Float64, generator: g);
        var lh0 = R(g, 4, 2, 2);
        var lc0 = R(g, 4, 2, 3);
        Check(_ => { var (o, (h, c)) = lstm.Forward(x, (lh0, lc0)); return new[] { o, h, c }; }, new[] { x, lh0, lc0 }.Concat(lstm.Parameters()));
    }

    [Fact]
    public void PackedLayers()
    {
        var g = new Generator(303);
        var x = R(g, 3, 3, 2);                        // (T, B, I); lengths below
        long[] lengths = { 2, 3, 1 };
        var gru = new Gru(2, 2, 2, bidirectional: true, dtype: DType.Float64, generator: g);
        var h0 = R(g, 4, 3, 2);
        Check(_ =>
        {
            var (o, h) = gru.Forward(RnnUtils.PackPaddedSequence(x, lengths, enforceSorted: false), h0);
            return new[] { o.Data, h };
        }, new[] { x, h0 }.Concat(gru.Parameters()));

        var lstm = new Lstm(2, 3, bidirectional: true, projSize: 2, batchFirst: true, dtype: DType.Float64, generator: g);
        var lh0 = R(g, 2, 3, 2);
        var lc0 = R(g, 2, 3, 3);
        Check(_ =>
        {
            var (o, (h, c)) = lstm.ForwardPadded(x, lengths, (lh0, lc0));
            return new[] { o, h, c };
        }, new[] { x, lh0, lc0 }.Concat(lstm.Parameters()));

        var seqs = new[] { R(g, 3, 2), R(g, 1, 2) };
        var rnn = new Rnn(2, 2, nonlinearity: "relu", dtype: DType.Float64, generator: g);
        Check(_ =>
        {
            var (o, h) = rnn.Forward(RnnUtils.PackSequence(seqs));
            var (padded, _) = o.ToPadded();
            return new[] { padded, h };
        }, seqs.Concat(rnn.Parameters()));
    }

    [Fact]
    public void TrainingModeDropoutWithFixedMasks()
    {
        var g = new Generator(404);
        var x = R(g, 3, 2, 2);
        var lstm = new Lstm(2, 3, 2, dropout: 0.4, dtype: DType.Float64, generator: g);
        Check(_ =>
        {
            lstm.Generator = new Generator(7);        // the same masks in every evaluation
            var (o, (h, c)) = lstm.Forward(x);
            return new[] { o, h, c };
        }, new[] { x }.Concat(lstm.Parameters()));
    }
}
