// A recurrent stack fed straight from an Embedding works per id in its first layer (InputGroups,
// DECISIONS 33): float64 finite-difference gradients through the pair (batch_first, unbatched, 1 and 2
// layers, bidirectional, proj_size, GRU, RNN, the output used twice), the grouped path against the ordinary
// one (padding_idx and scale_grad_by_freq, which gradcheck cannot judge: the same output bits in float32,
// float32 gradients within assert_close's float32 tolerances of the ordinary path's in float64), the
// same bits at one and two threads, and the cases that must run the ordinary way: an output changed in
// place after the lookup, one that retains its gradient, and too many distinct ids.
using Recurrent.Autograd;
using Recurrent.Kernels;
using Recurrent.Nn;

namespace Recurrent.Tests.Nn.Recurrent;

[Collection(Serial.Name)]
public class EmbeddingInputTests
{
    private static Tensor Ids(Random r, int num, params int[] shape)
    {
        var ids = new long[shape.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < ids.Length; i++) ids[i] = r.Next(num);
        return Tensor.FromArray(ids, shape);
    }

    private static void Check(Func<Tensor[], Tensor[]> f, IEnumerable<Tensor> inputs)
    {
        var result = GradCheck.Check(f, inputs.ToArray());
        Assert.True(result is null, result);
    }

    // Whether a stack's last run went per id with its gradient to the table: the node's first edge is the table's accumulator.
    private static bool RoutedToTable(Tensor hN, Embedding emb)
    {
        var node = hN.GradFn!;
        while (node.Name != "FusedRnnBackward0") node = node.NextEdges[0].Node!;   // through the views of unbatched input
        return node.NextEdges[0].Node is AccumulateGrad acc && ReferenceEquals(acc.Leaf, emb.Weight);
    }

    [Fact]
    public void Lstm_TwoLayersBidirectional_MatchesFiniteDifferences()
    {
        var g = new Generator(11);
        var emb = new Embedding(5, 3, dtype: DType.Float64, generator: g);
        var lstm = new Lstm(3, 4, 2, bidirectional: true, dtype: DType.Float64, generator: g);
        var ids = Ids(new Random(1), 5, 6, 3);   // 18 rows, at most 5 ids
        Tensor hN0 = lstm.Forward(emb.Forward(ids)).State.H;
        Assert.True(RoutedToTable(hN0, emb));
        Check(_ => { var (o, (h, c)) = lstm.Forward(emb.Forward(ids)); return [o, h, c]; }, new[] { emb.Weight }.Concat(lstm.Parameters()));
    }

    [Fact]
    public void OneLayer_BatchFirst_Proj_Gru_Rnn_MatchFiniteDifferences()
    {
        var g = new Generator(12);
        var r = new Random(2);
        var emb = new Embedding(4, 3, dtype: DType.Float64, generator: g);
        var lstm = new Lstm(3, 4, batchFirst: true, projSize: 2, dtype: DType.Float64, generator: g);
        var ids = Ids(r, 4, 2, 5);
        Assert.True(RoutedToTable(lstm.Forward(emb.Forward(ids)).State.H, emb));
        Check(_ => { var (o, (h, c)) = lstm.Forward(emb.Forward(ids)); return [o, h, c]; }, new[] { emb.Weight }.Concat(lstm.Parameters()));

        var gru = new Gru(3, 4, 2, bidirectional: true, dtype: DType.Float64, generator: g);
        var gIds = Ids(r, 4, 6, 3);
        Assert.True(RoutedToTable(gru.Forward(emb.Forward(gIds)).HN, emb));
        Check(_ => { var (o, h) = gru.Forward(emb.Forward(gIds)); return [o, h]; }, new[] { emb.Weight }.Concat(gru.Parameters()));

        var gru1 = new Gru(3, 4, dtype: DType.Float64, generator: g);
        Assert.True(RoutedToTable(gru1.Forward(emb.Forward(gIds)).HN, emb));
        Check(_ => { var (o, h) = gru1.Forward(emb.Forward(gIds)); return [o, h]; }, new[] { emb.Weight }.Concat(gru1.Parameters()));

        var rnn = new Rnn(3, 5, 2, nonlinearity: "relu", dtype: DType.Float64, generator: g);
        var seq = Ids(r, 4, 9);   // unbatched (T)
        Assert.True(RoutedToTable(rnn.Forward(emb.Forward(seq)).HN, emb));
        Check(_ => { var (o, h) = rnn.Forward(emb.Forward(seq)); return [o, h]; }, new[] { emb.Weight }.Concat(rnn.Parameters()));
    }

    [Fact]
    public void OutputUsedTwice_GradientsOfBothUsesReachTheTable()
    {
        var g = new Generator(13);
        var emb = new Embedding(6, 3, dtype: DType.Float64, generator: g);
        var lstm = new Lstm(3, 3, 2, dtype: DType.Float64, generator: g);
        var ids = Ids(new Random(3), 6, 7, 2);
        Check(_ =>
        {
            var e = emb.Forward(ids);
            var (o, _) = lstm.Forward(e);
            return [o, e.Mul(e)];
        }, new[] { emb.Weight }.Concat(lstm.Parameters()));
    }

    private sealed record Run(double[] Out, double[] HN, double[] Table, double[][] Params);

    private static double[] D(Tensor t) => t.Contiguous().Double().ToArray<double>();

    // One forward and backward of emb -> lstm -> sum(out * r); grouped: the stack reads the lookup's own output,
    // else a detached copy whose gradient is handed to the lookup's backward by hand (the ordinary path).
    private static Run TrainStep(Embedding emb, RecurrentBase rnn, Tensor ids, Tensor weightOut, bool grouped)
    {
        emb.ZeroGrad();
        rnn.ZeroGrad();
        var e = emb.Forward(ids);
        var x = grouped ? e : e.Detach().RequiresGrad_();
        var (o, h) = rnn switch
        {
            Lstm lstm => Unpack(lstm.Forward(x)),
            Gru gru => gru.Forward(x),
            _ => ((Rnn)rnn).Forward(x),
        };
        Assert.Equal(grouped, RoutedToTable(h, emb));
        o.SumProduct(weightOut).Add(h.Sum()).Backward();
        if (!grouped) e.Backward(x.Grad!);
        return new Run(D(o), D(h), D(emb.Weight.Grad!), rnn.Parameters().Select(p => D(p.Grad!)).ToArray());

        static (Tensor, Tensor) Unpack((Tensor O, (Tensor H, Tensor C) S) r) => (r.O, r.S.H);
    }

    // assert_close's float32 defaults against the float64 result.
    private static void AssertClose(double[] expected, double[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 + 1.3e-6 * Math.Abs(expected[i]), $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
    }


    [Theory]
    [InlineData(2, false, false, false)]
    [InlineData(2, true, false, true)]
    [InlineData(1, false, true, true)]
    [InlineData(3, true, true, false)]
    [InlineData(-1, false, false, true)]
    [InlineData(-2, true, true, false)]
    public void Grouped_MatchesTheOrdinaryPath_AndIsTheSameAtOneAndTwoThreads(int layers, bool bidir, bool batchFirst, bool scaleGradByFreq)
    {
        var g = new Generator((ulong)(20 + layers + 10));
        var emb = new Embedding(11, 16, paddingIdx: 0, scaleGradByFreq: scaleGradByFreq, generator: g);
        // layers < 0: a GRU of -layers layers
        RecurrentBase lstm = layers > 0 ? new Lstm(16, 24, layers, bidirectional: bidir, batchFirst: batchFirst, generator: g)
            : new Gru(16, 24, -layers, bidirectional: bidir, batchFirst: batchFirst, generator: g);
        var ids = Ids(new Random(layers + 10), 11, batchFirst ? 9 : 40, batchFirst ? 40 : 9);
        var wOut = Tensor.Randn([40, 9, (bidir ? 2 : 1) * 24], DType.Float32, g);
        if (batchFirst) wOut = wOut.Transpose(0, 1).Contiguous();
        var plain = TrainStep(emb, lstm, ids, wOut, grouped: false);
        var one = WithThreads(1, () => TrainStep(emb, lstm, ids, wOut, grouped: true));
        var two = WithThreads(2, () => TrainStep(emb, lstm, ids, wOut, grouped: true));

        // The same rows multiplied by the same blocks: the forward's bits do not change.
        Assert.Equal(plain.Out, one.Out);
        Assert.Equal(plain.HN, one.HN);
        // The gradients sum the same terms per id in another order: both float32 paths against the ordinary path in float64.
        emb.To(DType.Float64);
        lstm.To(DType.Float64);
        var reference = TrainStep(emb, lstm, ids, wOut.Double(), grouped: false);
        AssertClose(reference.Table, one.Table, "table");
        for (int p = 0; p < plain.Params.Length; p++) AssertClose(reference.Params[p], one.Params[p], $"param {p}");
        Assert.Equal(0f, one.Table.AsSpan(0, 16).ToArray().Select(Math.Abs).Max());   // padding_idx's row
        // Thread-count independent.
        Assert.Equal(one.Out, two.Out);
        Assert.Equal(one.Table, two.Table);
        for (int p = 0; p < one.Params.Length; p++) Assert.Equal(one.Params[p], two.Params[p]);
    }

    [Fact]
    public void Inference_GroupedForward_IsBitIdenticalToTheOrdinaryOne()
    {
        var g = new Generator(31);
        var emb = new Embedding(7, 8, generator: g);
        var lstm = new Lstm(8, 12, 2, generator: g);
        var rnn = new Rnn(8, 12, generator: g);
        var ids = Ids(new Random(4), 7, 20, 4);
        // A single-layer LSTM whose steps split by hidden units at two threads (the sliced step reads the groups too).
        var wide = new Embedding(9, 48, generator: g);
        var sliced = new Lstm(48, 128, generator: g);
        var wideIds = Ids(new Random(5), 9, 12, 16);
        Assert.True(RnnLayerCore<float>.SplitsStepsByUnits(new RnnStackSizes(RnnMode.Lstm, 48, 128).Layer(0, 0), 16, quantized: false, threads: 2));
        using var _ = new NoGrad();
        foreach (int threads in new[] { 1, 2 })
            WithThreads(threads, () =>
            {
                var e = emb.Forward(ids);
                Assert.Equal(lstm.Forward(e.Clone()).Output.ToArray<float>(), lstm.Forward(e).Output.ToArray<float>());
                Assert.Equal(rnn.Forward(e.Clone()).Output.ToArray<float>(), rnn.Forward(e).Output.ToArray<float>());
                var we = wide.Forward(wideIds);
                Assert.Equal(sliced.Forward(we.Clone()).Output.ToArray<float>(), sliced.Forward(we).Output.ToArray<float>());
                return 0;
            });
    }

    [Fact]
    public void OutputChangedInPlace_RunsTheOrdinaryWay()
    {
        var g = new Generator(41);
        var emb = new Embedding(5, 4, generator: g);
        var lstm = new Lstm(4, 6, 2, generator: g);
        var ids = Ids(new Random(5), 5, 10, 3);
        var e = emb.Forward(ids);
        using (new NoGrad()) e.Select(0, 3).Select(0, 1).Mul_(2.0);   // one row of one id now differs from the others
        var (o, (h, _)) = lstm.Forward(e);
        Assert.False(RoutedToTable(h, emb));
        var (expected, _) = lstm.Forward(e.Detach().Clone());
        Assert.Equal(expected.ToArray<float>(), o.ToArray<float>());
    }

    [Fact]
    public void RetainedGrad_AndManyIds_RunTheOrdinaryWay()
    {
        var g = new Generator(51);
        var r = new Random(6);
        var emb = new Embedding(50, 4, generator: g);
        var lstm = new Lstm(4, 5, generator: g);

        var e = emb.Forward(Ids(r, 5, 8, 2));
        e.RetainGrad();
        var (_, (h, _)) = lstm.Forward(e);
        Assert.False(RoutedToTable(h, emb));
        h.Sum().Backward();
        Assert.NotNull(e.Grad);

        // 50 distinct ids in 60 rows: not worth grouping (fewer than two rows per id).
        var many = new long[60];
        for (int i = 0; i < many.Length; i++) many[i] = i % 50;
        Assert.False(RoutedToTable(lstm.Forward(emb.Forward(Tensor.FromArray(many, 60, 1))).State.H, emb));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void RetainGradAfterTheForward_GetsTheStacksShare(bool batchFirst, bool otherUse)
    {
        var g = new Generator(61);
        var emb = new Embedding(5, 4, paddingIdx: 2, dtype: DType.Float64, generator: g);
        var lstm = new Lstm(4, 5, 2, batchFirst: batchFirst, dtype: DType.Float64, generator: g);
        var ids = Ids(new Random(7), 5, 8, 3);

        (double[] E, double[] Table) Run(bool grouped)
        {
            emb.ZeroGrad();
            var e = emb.Forward(ids);
            var x = grouped ? e : e.Detach().RequiresGrad_();
            var (o, (h, _)) = lstm.Forward(x);
            Assert.Equal(grouped, RoutedToTable(h, emb));
            if (grouped) e.RetainGrad();   // after the stack's forward
            var loss = o.SumProduct(o).Add(h.Sum());
            if (otherUse) loss = loss.Add(e.Mul(e).Sum());
            loss.Backward(retainGraph: !grouped && otherUse);   // the ordinary run backs e up by hand below
            if (grouped) return (D(e.Grad!), D(emb.Weight.Grad!));
            var total = otherUse ? x.Grad!.Add(e.Detach().Mul(2.0)) : x.Grad!;
            e.Backward(x.Grad!);
            return (D(total), D(emb.Weight.Grad!));
        }
        var (plainE, plainTable) = Run(grouped: false);
        var (groupedE, groupedTable) = Run(grouped: true);
        for (int i = 0; i < plainE.Length; i++) Assert.True(Math.Abs(plainE[i] - groupedE[i]) <= 1e-12 * (1 + Math.Abs(plainE[i])), $"e.grad[{i}]: {plainE[i]} vs {groupedE[i]}");
        for (int i = 0; i < plainTable.Length; i++) Assert.True(Math.Abs(plainTable[i] - groupedTable[i]) <= 1e-12 * (1 + Math.Abs(plainTable[i])), $"table[{i}]");
    }

    [Fact]
    public void SingleLayer_FewRows_KeepsTheForwardBits()
    {
        // Up to 64 rows the ordinary projection may run on the GEMM's dot-product kernels: the forward then projects
        // every row as usual, so the output is the same bits.
        var g = new Generator(71);
        var emb = new Embedding(3, 16, generator: g);
        var lstm = new Lstm(16, 32, generator: g);
        var gru = new Gru(16, 32, generator: g);
        var r = new Random(8);
        using var _ = new NoGrad();
        for (int trial = 0; trial < 10; trial++)
        {
            var e = emb.Forward(Ids(r, 3, 4, 2));
            Assert.Equal(lstm.Forward(e.Clone()).Output.ToArray<float>(), lstm.Forward(e).Output.ToArray<float>());
            Assert.Equal(gru.Forward(e.Clone()).Output.ToArray<float>(), gru.Forward(e).Output.ToArray<float>());
        }
    }

    [Fact]
    public void Kernels_RejectGroupsThatDoNotFitTheRows()
    {
        var s = new RnnStackSizes(RnnMode.Lstm, 2, 3);
        int[] bs = [2, 2];
        var y = new float[4 * 3];
        var x = new float[4 * 2];
        var w = new float[s.WeightCount];
        var e = Assert.Throws<ArgumentException>(() => RecurrentKernels.StackForwardGrouped<float>(y, default, default, default, x, default, default, w,
            s, bs, default, new[] { 0, 1, 2, 0 }, new float[2 * 2]));
        Assert.Contains("groups[2] must be in [0, 2), but got 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => RecurrentKernels.StackForwardGrouped<float>(y, default, default, default, x, default, default, w,
            s, bs, default, new[] { 0, 1, 0 }, new float[2 * 2]));
        Assert.Contains("one entry per input row (4), but got 3", e.Message);
    }

    private static T WithThreads<T>(int threads, Func<T> run)
    {
        int keep = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try { return run(); }
        finally { Parallelism.MaxThreads = keep; }
    }
}
