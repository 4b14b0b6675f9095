// Tests for (seq, batch) windowing: layout, shifted targets, determinism, full coverage and the split.
using Recurrent.Data;

namespace Recurrent.Tests.Data;

public sealed class SequenceBatcherTests
{
    private static long[] Range(int n) => Enumerable.Range(0, n).Select(i => (long)i).ToArray();

    [Fact]
    public void SampledWindowsAreContiguousTimeMajorWithShiftedTargets()
    {
        var batcher = new SequenceBatcher(Range(50), seqLen: 7, batchSize: 5);
        TokenBatch batch = batcher.Sample(new Generator(1));
        Assert.Equal([7, 5], batch.Input.Shape);
        Assert.Equal([7, 5], batch.Target.Shape);
        Assert.Equal(DType.Int64, batch.Input.DType);
        long[] x = batch.Input.ToArray<long>(), y = batch.Target.ToArray<long>();
        for (int b = 0; b < 5; b++)
        {
            long start = x[b];
            Assert.InRange(start, 0, 50 - 7 - 1);
            for (int t = 0; t < 7; t++)
            {
                Assert.Equal(start + t, x[t * 5 + b]);
                Assert.Equal(start + t + 1, y[t * 5 + b]);
            }
        }
    }

    [Fact]
    public void SamplingIsAFunctionOfTheGeneratorState()
    {
        var batcher = new SequenceBatcher(Range(1000), 10, 4);
        var g = new Generator(42);
        batcher.Sample(g);
        ulong[] state = g.GetState();
        long[] next = batcher.Sample(g).Input.ToArray<long>();
        var h = new Generator(7);
        h.SetState(state);
        Assert.Equal(next, batcher.Sample(h).Input.ToArray<long>());
        Assert.NotEqual(next, batcher.Sample(h).Input.ToArray<long>());
    }

    [Fact]
    public void EveryStartOffsetCanBeDrawn()
    {
        var batcher = new SequenceBatcher(Range(6), seqLen: 3, batchSize: 64);
        Assert.Equal(3, batcher.WindowCount);
        var seen = new HashSet<long>();
        var g = new Generator(3);
        for (int i = 0; i < 5; i++)
        {
            long[] x = batcher.Sample(g).Input.ToArray<long>();
            for (int b = 0; b < 64; b++) seen.Add(x[b]);
        }
        Assert.Equal([0L, 1L, 2L], seen.Order());
    }

    [Fact]
    public void SamplingCanBeRestrictedToGivenStarts()
    {
        var batcher = new SequenceBatcher(Range(100), seqLen: 9, batchSize: 50, windowStarts: [0, 10, 90]);
        Assert.Equal(3, batcher.WindowCount);
        long[] x = batcher.Sample(new Generator(5)).Input.ToArray<long>();
        Assert.Equal([0L, 10L, 90L], x[..50].Distinct().Order());
        Assert.Throws<ArgumentException>(() => new SequenceBatcher(Range(100), 9, 1, windowStarts: [91]));
        Assert.Throws<ArgumentException>(() => new SequenceBatcher(Range(100), 9, 1, windowStarts: [-1]));
        Assert.Throws<ArgumentException>(() => new SequenceBatcher(Range(100), 9, 1, windowStarts: []));
    }

    [Theory]
    [InlineData(23, 5, 2)]
    [InlineData(21, 5, 3)]
    [InlineData(6, 5, 8)]
    [InlineData(2, 1, 1)]
    public void SequentialCoversEveryPredictionExactlyOnce(int n, int seqLen, int batchSize)
    {
        var batcher = new SequenceBatcher(Range(n), seqLen, batchSize);
        var predicted = new List<(long, long)>();
        foreach (TokenBatch batch in batcher.Sequential())
        {
            Assert.True(batch.BatchSize <= batchSize);
            Assert.True(batch.SeqLen <= seqLen);
            long[] x = batch.Input.ToArray<long>(), y = batch.Target.ToArray<long>();
            for (int i = 0; i < x.Length; i++)
            {
                Assert.Equal(x[i] + 1, y[i]);
                predicted.Add((x[i], y[i]));
            }
        }
        Assert.Equal(Enumerable.Range(0, n - 1).Select(i => ((long)i, (long)i + 1)), predicted.OrderBy(p => p.Item1));
    }

    [Fact]
    public void TooShortStreamAndBadSizesAreRejected()
    {
        var e = Assert.Throws<TextDataException>(() => new SequenceBatcher(Range(10), 10, 1));
        Assert.Contains("at least 11 characters", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SequenceBatcher(Range(10), 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SequenceBatcher(Range(10), 3, -1));
    }

    [Fact]
    public void SplitKeepsTheTailForValidation()
    {
        var (train, val) = TrainValidationSplit.Split(Range(100), 0.1);
        Assert.Equal(Range(90), train);
        Assert.Equal(Enumerable.Range(90, 10).Select(i => (long)i), val);
        var (all, none) = TrainValidationSplit.Split(Range(5), 0);
        Assert.Equal(5, all.Length);
        Assert.Empty(none);
        Assert.Equal(2, TrainValidationSplit.Split(Range(10), 0.01).Validation.Length);
        Assert.Throws<TextDataException>(() => TrainValidationSplit.Split(Range(10), 0.5, minTrainTokens: 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainValidationSplit.Split(Range(10), 0.95));
    }
}
