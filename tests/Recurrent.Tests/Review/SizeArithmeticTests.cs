// Regression tests for the defects a review of size arithmetic and state changes found (stop 30): sizes that wrapped in
// int or long and passed a check, and calls that changed an object's state before a check that could come first.
using System.Runtime.InteropServices;
using Recurrent.Cli.Model;
using Recurrent.IO;
using Recurrent.Nn;
using Recurrent.Optim;
using Recurrent.Quantization;

namespace Recurrent.Tests.Review;

public class SizeArithmeticTests
{
    [Fact]
    public void View_WhoseSizesMultiplyPastAnyArray_IsRefused_EvenWhereTheProductWrapsToTheElementCount()
    {
        // (2^64 - 1)^2 = 1 modulo 2^64: the long product came back to one element and the view was accepted.
        int[] wraps = [641, 6700417, 3, 5, 17, 257, 65537, 641, 6700417, 3, 5, 17, 257, 65537];
        var e = Assert.Throws<ArgumentException>(() => Tensor.Ones(1).View(wraps));
        Assert.Contains("is invalid for input of size 1", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Ones(1).Reshape(wraps));
        // An empty view whose other sizes pass an array: its strides would not fit an int.
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(0).View(0, 1 << 30, 4));
        Assert.Equal([0, 1 << 20, 4], Tensor.Zeros(0).View(0, 1 << 20, 4).Shape.ToArray());
        Assert.Equal([2, 3], Tensor.Ones(6).View(-1, 3).Shape.ToArray());
    }

    [Fact]
    public void Cat_WhoseSizesAddPastAnInt_IsRefused()
    {
        var a = Tensor.Zeros(2_000_000_000, 0);
        var e = Assert.Throws<ArgumentException>(() => Tensor.Cat([a, a]));
        Assert.Equal("tensors", e.ParamName);
        Assert.Contains("add up to 4000000000", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Cat([a, a, a]));      // wrapped to a positive size before
        Assert.Equal([2_000_000_001, 0], Tensor.Cat([a, Tensor.Zeros(1, 0)]).Shape.ToArray());
    }

    [Fact]
    public void Expand_ToANegativeSize_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.Ones(1, 1).Expand(-2, -3));
        Assert.Equal("shape", e.ParamName);
        Assert.Contains("expanded size -2 at dimension 0 is invalid", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Ones(1).Expand(-5));
        Assert.Throws<ArgumentException>(() => Tensor.Ones(1).Expand(-1, 3));   // -1 in a new leading dimension
        Assert.Equal([2, 3], Tensor.Ones(1, 1).Expand(2, 3).Shape.ToArray());
        Assert.Equal([4, 1], Tensor.Ones(1, 1).Expand(4, -1).Shape.ToArray());
    }

    [Fact]
    public void ChunkAndSplit_OfADimensionNearIntsLimit_CountInLong()
    {
        var big = Tensor.Zeros(2147483591, 0);
        var chunks = big.Chunk(100);                       // each = ceil(2147483591 / 100) = 21474836: 100 pieces
        Assert.Equal(100, chunks.Length);
        Assert.Equal(21474836, chunks[0].Size(0));
        Assert.Equal(2147483591L, chunks.Sum(c => (long)c.Size(0)));
        var halves = Tensor.Zeros(2_000_000_000, 0).Split(1_500_000_000);   // s += 1.5e9 wrapped negative
        Assert.Equal([1_500_000_000, 500_000_000], halves.Select(h => h.Size(0)).ToArray());
    }

    [Fact]
    public void SplitBySizes_RefusesNegativeSizesAndSumsInLong()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.Zeros(3).Split([-1, 4]));
        Assert.Equal("sizes", e.ParamName);
        Assert.Contains("non-negative", e.Message);
        e = Assert.Throws<ArgumentException>(() => Tensor.Zeros(3).Split([int.MaxValue, int.MaxValue, 5]));   // checked Sum: OverflowException
        Assert.Contains("sum exactly to 3", e.Message);
        Assert.Equal([1, 2], Tensor.Zeros(3).Split([1, 2]).Select(t => t.Size(0)).ToArray());
    }

    [Fact]
    public void QuantizeDynamic_ThatCannotQuantizeAWeight_LeavesEveryModuleAsItWas()
    {
        var model = new Sequential(new Linear(4, 4, generator: new Generator(1)), new Linear(4, 4, generator: new Generator(2)));
        var second = (Linear)model.NamedModules().Single(m => m.Name == "1").Module;
        second.Weight.AsSpan<float>()[3] = float.NaN;
        var first = (Linear)model.NamedModules().Single(m => m.Name == "0").Module;
        var before = first.Weight.ToArray<float>();
        Assert.Throws<ArgumentException>(() => Quantizer.QuantizeDynamic(model));
        Assert.False(first.IsQuantized, "the first Linear was int8 with its float weight gone");
        Assert.Equal(before, first.Weight.ToArray<float>());
        Assert.False(second.IsQuantized);
    }

    [Fact]
    public void LanguageModelStream_WithATrainingInt8Head_RefusesBeforeTheStateMoves()
    {
        var g = new Generator(5);
        var emb = new Embedding(7, 3, generator: g);
        var lstm = new Lstm(3, 4, generator: g);
        lstm.Eval();
        var head = new Linear(4, 7, generator: g);
        Quantizer.QuantizeDynamic(head);                   // the head stays in training mode
        var stream = new LanguageModelStream(emb, lstm, head);
        var e = Assert.Throws<InvalidOperationException>(() => stream.Step([1], new float[7]));
        Assert.Contains("training mode", e.Message);
        Assert.Equal(0, stream.Position);
        head.Eval();
        stream.Step([1], new float[7]);
        Assert.Equal(1, stream.Position);
    }

    [Fact]
    public void Streams_WhoseBatchPassesOneArray_AreRefusedNamingBatchSize()
    {
        var lstm = new Lstm(8, 1024, numLayers: 2, generator: new Generator(6));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => lstm.CreateStream(1_100_000));   // checked: OverflowException
        Assert.Equal("batchSize", e.ParamName);
        Assert.Contains("Expected at most 1048575, got 1100000", e.Message);

        var g = new Generator(7);
        var gru = new Gru(50_000, 1, generator: g);
        gru.Eval();
        var lm = Assert.Throws<ArgumentOutOfRangeException>(() => new LanguageModelStream(new Embedding(10, 50_000, generator: g), gru, new Linear(1, 10, generator: g), 50_000));
        Assert.Equal("batchSize", lm.ParamName);
        Assert.Contains("got 50000", lm.Message);
    }

    [Fact]
    public void ClipGradsWithNorm_WithANullEntry_ScalesNothing()
    {
        var g0 = Tensor.Ones(3);
        var e = Assert.Throws<ArgumentNullException>(() => ClipGrad.ClipGradsWithNorm([g0, null!], 0.5, Tensor.Scalar(10f)));
        Assert.Contains("grads[1] is null", e.Message);
        Assert.Equal([1f, 1f, 1f], g0.ToArray<float>());
        Assert.Throws<ArgumentNullException>(() => ClipGrad.GetTotalNorm([g0, null!]));
    }

    [Fact]
    public void SafeTensors_LittleEndianValues_AreWrittenInPieces_WithTheSameBytes()
    {
        // Past 2^29 float32 values one span of bytes cannot hold a tensor (checked arithmetic threw OverflowException);
        // the pieces are tested here small.
        float[] values = Enumerable.Range(0, 10).Select(i => i * 1.5f - 4).ToArray();
        foreach (int piece in new[] { 1, 3, 4, 10, 64, 0 })
        {
            using var ms = new MemoryStream();
            SafeTensorsWriter.WriteLittleEndian<float>(ms, values, piece);
            Assert.Equal(MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), ms.ToArray());
        }
    }

    [Fact]
    public void Sampler_WithANegativeLength_IsRefusedBeforeTheModelChangesMode()
    {
        var model = new CharLanguageModel(new ModelConfig { Kind = "lstm", VocabSize = 5, EmbeddingSize = 3, HiddenSize = 4, NumLayers = 1 }, new Generator(8), new Generator(9));
        Assert.True(model.Training);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Sampler.Generate(model, [1, 2], -1, 1.0, 0, new Generator(10)));
        Assert.Equal("length", e.ParamName);
        Assert.True(model.Training);
    }
}
