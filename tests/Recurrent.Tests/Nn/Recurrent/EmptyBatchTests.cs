// A dense batch of 0 sequences, as PyTorch's test_RNN_input_size_zero: nn.RNN/LSTM/GRU on input (5, 0, 3) return an
// output of shape (5, 0, H), and a backward through it runs (each weight's gradient is a sum over no rows: zeros).
// A sequence of length 0 stays an error ("Expected sequence length to be larger than 0 in RNN").
using Recurrent.Kernels;
using Recurrent.Nn;
using Recurrent.Quantization;

namespace Recurrent.Tests.Nn.Recurrent;

public class EmptyBatchTests
{
    private static RecurrentBase Make(string mode, int layers, bool bidir, bool batchFirst, int proj, DType dtype) => mode switch
    {
        "lstm" => new Lstm(3, 4, layers, bias: true, batchFirst, dropout: 0, bidir, proj, dtype, new Generator(5)),
        "gru" => new Gru(3, 4, layers, bias: true, batchFirst, dropout: 0, bidir, dtype, new Generator(5)),
        _ => new Rnn(3, 4, layers, mode, bias: true, batchFirst, dropout: 0, bidir, dtype, new Generator(5)),
    };

    [Theory]
    [InlineData("tanh", 1, false, false, 0, false)]
    [InlineData("relu", 2, true, true, 0, false)]
    [InlineData("lstm", 1, false, false, 0, false)]
    [InlineData("lstm", 2, true, false, 0, false)]
    [InlineData("lstm", 2, false, true, 2, true)]
    [InlineData("gru", 1, false, true, 0, false)]
    [InlineData("gru", 3, true, false, 0, true)]
    public void EmptyBatch_GivesEmptyOutputs_AndZeroWeightGradients(string mode, int layers, bool bidir, bool batchFirst, int proj, bool composed)
    {
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
        {
            var m = Make(mode, layers, bidir, batchFirst, proj, dtype);
            if (composed) m.Runner = ComposedStackRunner.Instance;
            int dirs = bidir ? 2 : 1, hOut = proj > 0 ? proj : 4;
            var x = Tensor.Zeros(batchFirst ? new[] { 0, 5, 3 } : new[] { 5, 0, 3 }, dtype).RequiresGrad_();
            var (output, state) = m.Forward(x);
            Assert.Equal(batchFirst ? new[] { 0, 5, dirs * hOut } : new[] { 5, 0, dirs * hOut }, output.Shape);
            Assert.Equal(new[] { layers * dirs, 0, hOut }, state.H.Shape);
            if (mode == "lstm") Assert.Equal(new[] { layers * dirs, 0, 4 }, state.C!.Shape);

            output.Sum().Add(state.H.Sum()).Backward();
            foreach (var (_, p) in m.NamedParameters())
            {
                Assert.NotNull(p.Grad);
                Assert.Equal(p.Shape, p.Grad!.Shape);
                Assert.All(p.Grad.ToArray<double>(), v => Assert.Equal(0.0, v));
            }
            Assert.Equal(x.Shape, x.Grad!.Shape);
        }
    }

    [Fact]
    public void EmptyBatch_AddsNothingToExistingGradients_AndWritesZerosIntoAReusedBuffer()
    {
        var m = new Lstm(3, 4, 2, bias: true, batchFirst: false, dropout: 0, bidirectional: true, projSize: 0, DType.Float32, new Generator(3));
        var full = Tensor.Randn(new[] { 5, 2, 3 }, DType.Float32, new Generator(4));
        m.Forward(full).Output.Sum().Backward();
        var before = m.Parameters().Select(p => p.Grad!.ToArray<float>()).ToArray();
        Assert.Contains(before, g => g.Any(v => v != 0));

        // Existing gradients: the empty batch adds zeros.
        m.Forward(Tensor.Zeros(new[] { 5, 0, 3 }, DType.Float32)).Output.Sum().Backward();
        Assert.Equal(before, m.Parameters().Select(p => p.Grad!.ToArray<float>()).ToArray());

        // After ZeroGrad() a buffer no caller has read is overwritten, not added into (DECISIONS 27): it must come back
        // all zeros, not with the previous step's gradients.
        var fresh = new Lstm(3, 4, 2, bias: true, batchFirst: false, dropout: 0, bidirectional: true, projSize: 0, DType.Float32, new Generator(3));
        fresh.Forward(full).Output.Sum().Backward();
        fresh.ZeroGrad();
        fresh.Forward(Tensor.Zeros(new[] { 5, 0, 3 }, DType.Float32)).Output.Sum().Backward();
        Assert.All(fresh.Parameters(), p => Assert.All(p.Grad!.ToArray<float>(), v => Assert.Equal(0f, v)));
    }

    [Fact]
    public void EmptyBatch_WithGivenEmptyStates_AndQuantizedWeights()
    {
        var m = new Lstm(3, 4, 2, bias: true, batchFirst: false, dropout: 0, bidirectional: false, projSize: 0, DType.Float32, new Generator(3));
        var state = (Tensor.Zeros(new[] { 2, 0, 4 }, DType.Float32), Tensor.Zeros(new[] { 2, 0, 4 }, DType.Float32));
        var (o, (h, c)) = m.Forward(Tensor.Zeros(new[] { 7, 0, 3 }, DType.Float32), state);
        Assert.Equal(new[] { 7, 0, 4 }, o.Shape);
        Assert.Equal(new[] { 2, 0, 4 }, h.Shape);
        Assert.Equal(new[] { 2, 0, 4 }, c.Shape);

        m.Eval();
        var q = Quantizer.QuantizeDynamic(m);
        var (qo, (qh, _)) = q.Forward(Tensor.Zeros(new[] { 7, 0, 3 }, DType.Float32));
        Assert.Equal(new[] { 7, 0, 4 }, qo.Shape);
        Assert.Equal(new[] { 2, 0, 4 }, qh.Shape);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EmptyBatch_WithDropoutBetweenLayersInTraining(bool composed)
    {
        var m = new Gru(3, 4, 3, bias: true, batchFirst: false, dropout: 0.5, bidirectional: true, DType.Float32, new Generator(8));
        if (composed) m.Runner = ComposedStackRunner.Instance;
        m.Train();
        var (o, h) = m.Forward(Tensor.Zeros(new[] { 6, 0, 3 }, DType.Float32), (Tensor?)null);
        Assert.Equal(new[] { 6, 0, 8 }, o.Shape);
        Assert.Equal(new[] { 6, 0, 4 }, h.Shape);
        o.Sum().Backward();
        Assert.All(m.Parameters(), p => Assert.All(p.Grad!.ToArray<float>(), v => Assert.Equal(0f, v)));
    }

    [Fact]
    public void Kernels_TakeAllZeroBatchSizes_AsAnEmptyBatch()
    {
        var s = new RnnStackSizes(RnnMode.Lstm, 3, 4, 2);
        int[] batchSizes = [0, 0, 0];
        var w = new float[s.WeightCount];
        Assert.Equal(0L, RecurrentKernels.StackCacheSize(s, batchSizes));
        RecurrentKernels.StackForward<float>(default, default, default, default, default, default, default, w, s, batchSizes);
        var dW = Enumerable.Repeat(7f, (int)s.WeightCount).ToArray();
        RecurrentKernels.StackBackward<float>(default, default, default, dW, true, default, default, default, default, default, default, w, s, batchSizes);
        Assert.All(dW, v => Assert.Equal(7f, v));   // accumulate: nothing added
        RecurrentKernels.StackBackward<float>(default, default, default, dW, false, default, default, default, default, default, default, w, s, batchSizes);
        Assert.All(dW, v => Assert.Equal(0f, v));   // overwrite: a sum over no rows
        // A batch that ends mid-sequence is still not a packed sequence's batch sizes.
        var e = Assert.Throws<ArgumentException>(() => RecurrentKernels.StackCacheSize(s, [2, 0, 0]));
        Assert.Equal("batchSizes", e.ParamName);
    }

    [Fact]
    public void Cells_TakeAnEmptyBatch()
    {
        var lstm = new LstmCell(3, 4, generator: new Generator(2));
        var (h, c) = lstm.Forward(Tensor.Zeros(new[] { 0, 3 }, DType.Float32));
        Assert.Equal(new[] { 0, 4 }, h.Shape);
        Assert.Equal(new[] { 0, 4 }, c.Shape);
        h.Sum().Add(c.Sum()).Backward();
        Assert.All(lstm.Parameters(), p => Assert.All(p.Grad!.ToArray<float>(), v => Assert.Equal(0f, v)));

        var gru = new GruCell(3, 4, generator: new Generator(2));
        Assert.Equal(new[] { 0, 4 }, gru.Forward(Tensor.Zeros(new[] { 0, 3 }, DType.Float32)).Shape);
    }

    [Fact]
    public void ZeroLengthSequence_IsStillRefused()
    {
        var m = new Gru(3, 4, 1, bias: true, batchFirst: false, dropout: 0, bidirectional: false, DType.Float32, new Generator(3));
        var e = Assert.Throws<ArgumentException>(() => m.Forward(Tensor.Zeros(new[] { 0, 2, 3 }, DType.Float32), (Tensor?)null));
        Assert.Contains("Expected sequence length to be larger than 0 in RNN", e.Message);
        Assert.Equal("input", e.ParamName);
    }
}
