// Unit tests of PackedSequence and RnnUtils (pack/pad functions, their gradients, sorting), and
// of packed and padded-with-lengths input to the recurrent layers: each sequence sees only its own
// steps, the reverse direction starts at its own last element, h_n is in the caller's order.
using Recurrent.Nn;
using static Recurrent.Tests.Nn.Recurrent.CellTests;

namespace Recurrent.Tests.Nn.Recurrent;

public class PackedTests
{
    /// <summary>(T=4, B=3, 2) with element value 100*t + 10*b + feature.</summary>
    private static Tensor Padded()
    {
        var a = new float[4 * 3 * 2];
        for (int t = 0; t < 4; t++) for (int b = 0; b < 3; b++) for (int f = 0; f < 2; f++) a[(t * 3 + b) * 2 + f] = 100 * t + 10 * b + f;
        return Tensor.FromArray(a, 4, 3, 2);
    }

    [Fact]
    public void PackPaddedSequenceLayoutAndStableSort()
    {
        // Lengths [2, 4, 2]: stable descending order is [1, 0, 2].
        var packed = RnnUtils.PackPaddedSequence(Padded(), new long[] { 2, 4, 2 }, enforceSorted: false);
        Assert.Equal(new long[] { 3, 3, 1, 1 }, packed.BatchSizes.ToArray<long>());
        Assert.Equal(new long[] { 1, 0, 2 }, packed.SortedIndices!.ToArray<long>());
        Assert.Equal(new long[] { 1, 0, 2 }, packed.UnsortedIndices!.ToArray<long>());
        var firstFeature = packed.Data.Select(1, 0).ToArray<float>();
        Assert.Equal(new float[] { 10, 0, 20, 110, 100, 120, 210, 310 }, firstFeature);

        var sorted = RnnUtils.PackPaddedSequence(Padded(), new[] { 4, 2, 1 });
        Assert.Null(sorted.SortedIndices);
        Assert.Null(sorted.UnsortedIndices);
        Assert.Equal(new long[] { 3, 2, 1, 1 }, sorted.BatchSizes.ToArray<long>());
        Assert.Equal(7, sorted.Data.Size(0));

        var bf = RnnUtils.PackPaddedSequence(Padded().Transpose(0, 1), new long[] { 2, 4, 2 }, batchFirst: true, enforceSorted: false);
        AssertClose(packed.Data, bf.Data, 0);
    }

    [Fact]
    public void PadPackedRoundTripsAndHonoursTotalLengthAndPaddingValue()
    {
        var input = Padded();
        var lengths = new long[] { 2, 4, 3 };
        var packed = PackedSequence.FromPadded(input, lengths, enforceSorted: false);
        var (padded, outLengths) = packed.ToPadded(paddingValue: -1, totalLength: 5);
        Assert.Equal(new[] { 5, 3, 2 }, padded.Shape);
        Assert.Equal(lengths, outLengths.ToArray<long>());
        for (int t = 0; t < 5; t++)
            for (int b = 0; b < 3; b++)
                for (int f = 0; f < 2; f++)
                    Assert.Equal(t < lengths[b] ? input.GetDouble(t, b, f) : -1, padded.GetDouble(t, b, f));
        var (bfPadded, _) = RnnUtils.PadPackedSequence(packed, batchFirst: true, paddingValue: -1);
        Assert.Equal(new[] { 3, 4, 2 }, bfPadded.Shape);
        AssertClose(padded.Narrow(0, 0, 4).Transpose(0, 1), bfPadded, 0);
        Assert.Contains("Expected total_length to be at least the length of the longest sequence in input, but got total_length=3 and max sequence length being 4",
            Assert.Throws<ArgumentException>(() => packed.ToPadded(totalLength: 3)).Message);
    }

    [Fact]
    public void GradientsFlowThroughPackAndPadAndAreZeroAtPadding()
    {
        var input = Padded().RequiresGrad_();
        var packed = RnnUtils.PackPaddedSequence(input, new long[] { 1, 4, 2 }, enforceSorted: false);
        var (padded, _) = packed.ToPadded(totalLength: 4);
        padded.Mul(padded).Sum().Backward();
        long[] lengths = { 1, 4, 2 };
        for (int t = 0; t < 4; t++)
            for (int b = 0; b < 3; b++)
                for (int f = 0; f < 2; f++)
                    Assert.Equal(t < lengths[b] ? 2 * input.GetDouble(t, b, f) : 0, input.Grad!.GetDouble(t, b, f));
    }

    [Fact]
    public void SequenceListFunctions()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3 }, 3);
        var b = Tensor.FromArray(new float[] { 4, 5 }, 2);
        var c = Tensor.FromArray(new float[] { 6 }, 1);
        var packed = RnnUtils.PackSequence(new[] { a, b, c });
        Assert.Equal(new float[] { 1, 4, 6, 2, 5, 3 }, packed.Data.ToArray<float>());
        Assert.Equal(new long[] { 3, 2, 1 }, packed.BatchSizes.ToArray<long>());
        Assert.Contains("must be sorted in decreasing order", Assert.Throws<ArgumentException>(() => RnnUtils.PackSequence(new[] { c, a })).Message);
        var unsorted = PackedSequence.FromSequences(new[] { c, a, b }, enforceSorted: false);
        var back = unsorted.ToSequences();
        Assert.Equal(new[] { 1, 3, 2 }, back.Select(t => t.Size(0)));
        Assert.Equal(a.ToArray<float>(), back[1].ToArray<float>());
        Assert.Equal(c.ToArray<float>(), back[0].ToArray<float>());

        var right = RnnUtils.PadSequence(new[] { a, b, c }, batchFirst: true, paddingValue: 9);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 9, 6, 9, 9 }, right.ToArray<float>());
        var left = RnnUtils.PadSequence(new[] { a, b, c }, batchFirst: true, paddingSide: "left");
        Assert.Equal(new float[] { 1, 2, 3, 0, 4, 5, 0, 0, 6 }, left.ToArray<float>());
        Assert.Equal(new[] { 3, 3 }, RnnUtils.PadSequence(new[] { a, b, c }).Shape);
        Assert.Contains("Expected padding_side to be one of left or right, but got middle.",
            Assert.Throws<ArgumentException>(() => RnnUtils.PadSequence(new[] { a }, paddingSide: "middle")).Message);
        Assert.Contains("received an empty list of sequences", Assert.Throws<ArgumentException>(() => RnnUtils.PadSequence(Array.Empty<Tensor>())).Message);

        var unpadded = RnnUtils.UnpadSequence(RnnUtils.PadSequence(new[] { a, b, c }), new long[] { 3, 2, 1 });
        Assert.Equal(new[] { a, b, c }.Select(t => t.ToArray<float>()), unpadded.Select(t => t.ToArray<float>()));
    }

    [Fact]
    public void PackingErrorsUsePyTorchWording()
    {
        var x = Padded();
        Assert.Contains("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass enforceSorted: false to RnnUtils.PackPaddedSequence, RnnUtils.PackSequence or PackedSequence.FromPadded to sidestep this requirement if you do not need ONNX exportability.",
            Assert.Throws<ArgumentException>(() => RnnUtils.PackPaddedSequence(x, new long[] { 2, 3, 1 })).Message);
        Assert.Contains("Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0",
            Assert.Throws<ArgumentException>(() => RnnUtils.PackPaddedSequence(x, new long[] { 3, 2, 0 })).Message);
        Assert.Contains("Length of all samples has to be greater than 0",
            Assert.Throws<ArgumentException>(() => RnnUtils.PackPaddedSequence(x, new long[] { 0, 2, 3 }, enforceSorted: false)).Message);
        Assert.Contains("to be at least the largest length in 'lengths', but got 5",
            Assert.Throws<ArgumentException>(() => RnnUtils.PackPaddedSequence(x, new long[] { 5, 2, 1 })).Message);
        Assert.Contains("Expected `len(lengths)` to be equal to batch_size, but got 2 (batch_size=3)",
            Assert.Throws<ArgumentException>(() => RnnUtils.PackPaddedSequence(x, new long[] { 4, 2 })).Message);
        Assert.Throws<ArgumentException>(() => new PackedSequence(Tensor.Zeros(3, 2), Tensor.FromArray(new long[] { 1, 2 }, 2)));
        Assert.Throws<ArgumentException>(() => new PackedSequence(Tensor.Zeros(4, 2), Tensor.FromArray(new long[] { 2, 1 }, 2)));
    }

    [Fact]
    public void PackedDataNeverSharesTheInputsMemory()
    {
        // Every length 1 packs one step: the data is still a new tensor (pack_padded_sequence's cat), so writing to
        // the input afterwards leaves the packed batch as it was.
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 1, 3, 2);
        var packed = RnnUtils.PackPaddedSequence(x, new long[] { 1, 1, 1 });
        x.AsSpan<float>().Fill(-1);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, packed.Data.ToArray<float>());

        // PackSequence pads (a copy) before it packs: a guard for that path, not a test of the fix above.
        var seq = Tensor.FromArray(new float[] { 7, 8 }, 1, 2);
        var single = RnnUtils.PackSequence(new[] { seq });
        seq.AsSpan<float>().Fill(-1);
        Assert.Equal(new float[] { 7, 8 }, single.Data.ToArray<float>());
    }

    [Fact]
    public void PackedSequenceChecksTheCallersPermutationBeforeUsingIt()
    {
        var data = Tensor.Zeros(3, 2);
        var bs = Tensor.FromArray(new long[] { 2, 1 }, 2);
        var e = Assert.Throws<ArgumentException>(() => new PackedSequence(data, bs, Tensor.FromArray(new long[] { 0, 5 }, 2)));
        Assert.Equal("sortedIndices", e.ParamName);
        Assert.Contains("must be a permutation of 0..1", e.Message);
        e = Assert.Throws<ArgumentException>(() => new PackedSequence(data, bs, Tensor.FromArray(new long[] { 1, 1 }, 2)));
        Assert.Equal("sortedIndices", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => new PackedSequence(data, bs, Tensor.FromArray(new long[] { 0, 1, 2 }, 3)));
        Assert.Equal("sortedIndices", e.ParamName);
        Assert.Contains("expected shape [2], got [3]", e.Message);
        var ok = new PackedSequence(data, bs, Tensor.FromArray(new long[] { 1, 0 }, 2));
        Assert.Equal(new long[] { 1, 0 }, ok.UnsortedIndices!.ToArray<long>());
    }

    [Fact]
    public void PadSequenceConvertsEverySequenceToTheFirstsDType()
    {
        // pad_sequence copies each sequence into a tensor of sequence 0's dtype: float64 rounds to float32, int64
        // converts; the gradient flows back to each sequence in its own dtype.
        var a = Tensor.FromArray(new float[] { 1, 2 }, 2, 1).RequiresGrad_();
        var b = Tensor.FromArray(new double[] { 1.0 / 3 }, 1, 1).RequiresGrad_();
        var c = Tensor.FromArray(new long[] { 5, 6, 7 }, 3, 1);
        var padded = RnnUtils.PadSequence(new[] { a, b, c }, batchFirst: true, paddingValue: -1);
        Assert.Equal(DType.Float32, padded.DType);
        Assert.Equal(new float[] { 1, 2, -1, 1f / 3, -1, -1, 5, 6, 7 }, padded.ToArray<float>());
        padded.Sum().Backward();
        Assert.Equal(DType.Float64, b.Grad!.DType);
        Assert.Equal(new double[] { 1 }, b.Grad.ToArray<double>());
        Assert.Equal(new float[] { 1, 1 }, a.Grad!.ToArray<float>());

        var packed = RnnUtils.PackSequence(new[] { c, Tensor.FromArray(new float[] { 2.5f }, 1, 1) });
        Assert.Equal(DType.Int64, packed.Data.DType);
        Assert.Equal(new long[] { 5, 2, 6, 7 }, packed.Data.ToArray<long>());
    }

    [Fact]
    public void PackedLayersMatchRunningEachSequenceAlone()
    {
        var gen = new Generator(17);
        long[] lengths = { 2, 5, 3, 5 };
        var x = Tensor.Randn(new[] { 5, 4, 3 }, DType.Float64, gen);
        foreach (var mode in new[] { "rnn", "lstm", "gru" })
        {
            RecurrentBase m = mode switch
            {
                "rnn" => new Rnn(3, 4, 2, bidirectional: true, dtype: DType.Float64, generator: gen),
                "lstm" => new Lstm(3, 4, 2, bidirectional: true, projSize: 3, dtype: DType.Float64, generator: gen),
                _ => new Gru(3, 4, 2, bidirectional: true, dtype: DType.Float64, generator: gen),
            };
            int hOut = m.OutputSize;
            var h0 = Tensor.Randn(new[] { 4, 4, hOut }, DType.Float64, gen);
            var c0 = Tensor.Randn(new[] { 4, 4, 4 }, DType.Float64, gen);
            var packed = RnnUtils.PackPaddedSequence(x, lengths, enforceSorted: false);
            (PackedSequence o, Tensor h, Tensor? c) Run(PackedSequence p) => m switch
            {
                Rnn r => Pair(r.Forward(p, h0)),
                Gru g => Pair(g.Forward(p, h0)),
                Lstm l => Triple(l.Forward(p, (h0, c0))),
                _ => throw new InvalidOperationException(),
            };
            var (outPacked, hN, cN) = Run(packed);
            var (output, _) = outPacked.ToPadded(totalLength: 5);
            for (int b = 0; b < 4; b++)
            {
                int len = (int)lengths[b];
                var xb = x.Narrow(0, 0, len).Narrow(1, b, 1);
                var h0b = h0.Narrow(1, b, 1);
                var c0b = c0.Narrow(1, b, 1);
                (Tensor o, Tensor h, Tensor? c) alone = m switch
                {
                    Rnn r => Pair2(r.Forward(xb, h0b)),
                    Gru g => Pair2(g.Forward(xb, h0b)),
                    Lstm l => Triple2(l.Forward(xb, (h0b, c0b))),
                    _ => throw new InvalidOperationException(),
                };
                AssertClose(alone.o, output.Narrow(0, 0, len).Narrow(1, b, 1), 1e-12);
                AssertClose(alone.h, hN.Narrow(1, b, 1), 1e-12);
                if (cN is not null) AssertClose(alone.c!, cN.Narrow(1, b, 1), 1e-12);
                Assert.All(output.Narrow(1, b, 1).Narrow(0, len, 5 - len).ToArray<double>(), v => Assert.Equal(0.0, v));
            }

            // The padded-with-lengths overload is the same computation, with batch_first honoured.
            var (padOut, padH, padC) = m switch
            {
                Rnn r => Pair2(r.ForwardPadded(x, lengths, h0)),
                Gru g => Pair2(g.ForwardPadded(x, Tensor.FromArray(lengths, 4), h0)),
                Lstm l => Triple2(l.ForwardPadded(x, lengths.Select(v => (int)v).ToArray(), (h0, c0))),
                _ => throw new InvalidOperationException(),
            };
            AssertClose(output, padOut, 0);
            AssertClose(hN, padH, 0);
            if (cN is not null) AssertClose(cN, padC!, 0);
        }

        static (PackedSequence, Tensor, Tensor?) Pair((PackedSequence O, Tensor H) r) => (r.O, r.H, null);
        static (PackedSequence, Tensor, Tensor?) Triple((PackedSequence O, (Tensor H, Tensor C) S) r) => (r.O, r.S.H, r.S.C);
        static (Tensor, Tensor, Tensor?) Pair2((Tensor O, Tensor H) r) => (r.O, r.H, null);
        static (Tensor, Tensor, Tensor?) Triple2((Tensor O, (Tensor H, Tensor C) S) r) => (r.O, r.S.H, r.S.C);
    }

    [Fact]
    public void PaddedOverloadHonoursBatchFirstAndKeepsTheInputLength()
    {
        var gen = new Generator(23);
        var gru = new Gru(3, 4, batchFirst: true, generator: gen);
        var x = Tensor.Randn(new[] { 3, 6, 3 }, generator: gen);    // (B, T, I), longest real length 4 < 6
        var (output, hN) = gru.ForwardPadded(x, new long[] { 4, 1, 3 });
        Assert.Equal(new[] { 3, 6, 4 }, output.Shape);
        Assert.Equal(new[] { 1, 3, 4 }, hN.Shape);
        AssertClose(output.Select(0, 2).Select(0, 2), hN.Select(0, 0).Select(0, 2), 0);
        Assert.All(output.Select(0, 1).Narrow(0, 1, 5).ToArray<float>(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void PackedHiddenStateChecks()
    {
        var lstm = new Lstm(2, 3);
        var packed = RnnUtils.PackSequence(new[] { Tensor.Zeros(3, 2), Tensor.Zeros(1, 2) });
        Assert.Contains("Expected hidden[0] size (1, 2, 3), got [1, 3, 3]",
            Assert.Throws<ArgumentException>(() => lstm.Forward(packed, (Tensor.Zeros(1, 3, 3), Tensor.Zeros(1, 2, 3)))).Message);
        Assert.Contains("input.size(-1) must be equal to input_size. Expected 2, got 4",
            Assert.Throws<ArgumentException>(() => lstm.Forward(RnnUtils.PackSequence(new[] { Tensor.Zeros(3, 4) }))).Message);
    }
}
