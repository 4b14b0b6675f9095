// Every ported tutorial program runs and gives the tutorial's results.
using Recurrent.Samples;

namespace Recurrent.Tests.Samples;

public class SampleTests
{
    [Fact]
    public void HandComputedReluRnnGives5_8_16_18()
    {
        var log = new StringWriter();
        var r = ReluRnnWorkedExample.Run(log);
        Assert.Equal(new float[] { 5, 8, 16, 18 }, r.CellOutputs);
        Assert.Equal(new float[] { 5, 8, 16, 18 }, r.RnnOutputs);
        Assert.Equal(18f, r.HN);
        Assert.Contains("tensor([[[ 5.]],\n\n        [[ 8.]],\n\n        [[16.]],\n\n        [[18.]]]", log.ToString());
    }

    // The train_hello_* trajectories (PyTorch's losses epoch by epoch) are checked by Parity/TrainingKinds.cs.

    [Fact]
    public void HelloFromRandomInitLearnsOhlol()
    {
        var r = HelloOhlol.TrainEmbeddingRnn(TextWriter.Null, epochs: 30);
        Assert.True(r.Losses[^1] < r.Losses[0] / 4, $"loss {r.Losses[0]} -> {r.Losses[^1]}");
        Assert.Equal("ohlol", r.Predictions[^1]);
    }

    [Fact]
    public void HandBuiltCellsEqualLibraryCells()
    {
        var r = HandBuiltCellsDemo.Run(TextWriter.Null);
        Assert.True(r.LstmMaxDiff < 1e-6, $"LSTM diff {r.LstmMaxDiff}");
        Assert.True(r.GruMaxDiff < 1e-6, $"GRU diff {r.GruMaxDiff}");
        Assert.Equal(1.0, r.LogSoftmaxRowSum, 5);
    }

    [Fact]
    public void LstmTaggerLearnsTheToyCorpus()
    {
        var r = LstmTaggerDemo.Run(TextWriter.Null);
        Assert.True(r.LastLoss < r.FirstLoss / 5, $"loss {r.FirstLoss} -> {r.LastLoss}");
        for (int i = 0; i < r.Expected.Length; i++) Assert.Equal(r.Expected[i], r.Predicted[i]);
    }

    [Fact]
    public void AttentionSeq2SeqLearnsToReverseDigitStrings()
    {
        // The translation tutorial's encoder, Bahdanau attention and decoder on a toy task: greedy decoding (topk(1)
        // fed back, padded source steps masked) of 200 strings it never saw.
        var r = AttentionSeq2SeqDemo.Run(TextWriter.Null);
        Assert.True(r.LastLoss < r.FirstLoss / 10, $"loss {r.FirstLoss} -> {r.LastLoss}");
        Assert.True(r.ExactMatch >= 0.9, $"exact reversals {r.ExactMatch:P1} ({r.Example} -> {r.ExampleOutput})");
        Assert.Equal(new string(r.Example.Reverse().ToArray()), r.ExampleOutput);
    }

    [Fact]
    public void ShapeWalkthroughShowsTutorialShapes()
    {
        var s = ShapeWalkthrough.Run(TextWriter.Null).Shapes;
        Assert.Equal(new[] { 35, 2, 256 }, s["rnn_1027.output"]);
        Assert.Equal(new[] { 1, 2, 256 }, s["rnn_1027.h_n"]);
        Assert.Equal(new[] { 100, 32, 50 }, s["rnn.output"]);
        Assert.Equal(new[] { 2, 32, 50 }, s["rnn.h_n"]);
        Assert.Equal(new[] { 50, 20 }, s["rnn.weight_ih_l0"]);
        Assert.Equal(new[] { 100, 32, 50 }, s["lstm.output"]);
        Assert.Equal(new[] { 2, 32, 50 }, s["lstm.c_n"]);
        Assert.Equal(new[] { 200, 20 }, s["lstm.weight_ih_l0"]);
        Assert.Equal(new[] { 150, 20 }, s["gru.weight_ih_l0"]);
        Assert.Equal(new[] { 2, 32, 50 }, s["gru.h_n"]);
    }

    [Fact]
    public void EveryDemoIsRegisteredOnce()
    {
        Assert.Equal(Demos.All.Count, Demos.All.Select(d => d.Name).Distinct().Count());
        Assert.NotNull(Demos.Find("relu-rnn"));
        Assert.Null(Demos.Find("nope"));
    }
}
