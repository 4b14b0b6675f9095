// Tests of TensorDataset, DataLoader and the collate functions: batch layout, drop_last, deterministic shuffling from
// a seeded Generator (a new permutation per epoch, every sample once), packed variable-length batches that a GRU runs
// as it runs each sequence alone, and the error messages.
using Recurrent.Data;
using Recurrent.Nn;

namespace Recurrent.Tests.Data;

public sealed class DataLoaderTests
{
    // inputs[i] = [i, 10 i], labels[i] = i % 3
    private static TensorDataset Numbered(int n) => new(
        Tensor.FromArray(Enumerable.Range(0, n).SelectMany(i => new[] { (float)i, 10f * i }).ToArray(), n, 2),
        Tensor.FromArray(Enumerable.Range(0, n).Select(i => (long)(i % 3)).ToArray(), n));

    private static long[] SampleIds(Tensor[] batch) => batch[0].Select(1, 0).ToArray<float>().Select(v => (long)v).ToArray();

    [Fact]
    public void TensorDatasetRowsAreViewsOfEachTensor()
    {
        var ds = Numbered(5);
        Assert.Equal(5, ds.Count);
        var (x, y) = ds[3];
        Assert.Equal([3f, 30f], x.ToArray<float>());
        Assert.Equal(0L, y.Item<long>());
        Assert.Equal(5, ds.Count());
        var e = Assert.Throws<ArgumentException>(() => new TensorDataset(Tensor.Zeros(4, 2), Tensor.Zeros(3)));
        Assert.Contains("Size mismatch between tensors", e.Message);
        Assert.Contains("expected every tensor to have 4 samples in dimension 0", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ds[5]);
        Assert.Throws<ArgumentException>(() => new TensorDataset());
    }

    [Fact]
    public void InOrderBatchesWithASmallerLastOneOrDropLast()
    {
        var loader = new DataLoader(Numbered(10), batchSize: 4);
        Assert.Equal(3, loader.Count);
        var batches = loader.ToList();
        Assert.Equal(3, batches.Count);
        Assert.Equal([0L, 1, 2, 3], SampleIds(batches[0]));
        Assert.Equal([8L, 9], SampleIds(batches[2]));
        Assert.Equal([4, 2], batches[0][0].Shape);
        Assert.Equal([2, 2], batches[2][0].Shape);
        Assert.Equal([2L, 0], batches[2][1].ToArray<long>());                   // labels follow their inputs

        var dropped = new DataLoader(Numbered(10), batchSize: 4, dropLast: true);
        Assert.Equal(2, dropped.Count);
        Assert.Equal([[0L, 1, 2, 3], [4L, 5, 6, 7]], dropped.Select(SampleIds));
        Assert.Empty(new DataLoader(Numbered(3), batchSize: 4, dropLast: true));
        Assert.Single(new DataLoader(Numbered(3), batchSize: 4));
    }

    [Fact]
    public void ShuffleIsAPermutationPerEpochAndDeterministicPerSeed()
    {
        var loader = new DataLoader(Numbered(23), batchSize: 5, shuffle: true, generator: new Generator(7));
        var epoch1 = loader.SelectMany(SampleIds).ToArray();
        var epoch2 = loader.SelectMany(SampleIds).ToArray();
        Assert.Equal(Enumerable.Range(0, 23).Select(i => (long)i), epoch1.Order());  // every sample exactly once
        Assert.Equal(Enumerable.Range(0, 23).Select(i => (long)i), epoch2.Order());
        Assert.NotEqual(epoch1, epoch2);                                           // a new order each epoch
        Assert.NotEqual(Enumerable.Range(0, 23).Select(i => (long)i), epoch1);

        // The same seed gives the same epochs; another seed another order.
        var again = new DataLoader(Numbered(23), batchSize: 5, shuffle: true, generator: new Generator(7));
        Assert.Equal(epoch1, again.SelectMany(SampleIds));
        Assert.Equal(epoch2, again.SelectMany(SampleIds));
        var other = new DataLoader(Numbered(23), batchSize: 5, shuffle: true, generator: new Generator(8));
        Assert.NotEqual(epoch1, other.SelectMany(SampleIds));

        // EpochOrder is the order the batches take, drawn from the same generator.
        Assert.Equal(new DataLoader(Numbered(23), shuffle: true, generator: new Generator(7)).EpochOrder().Select(i => (long)i), epoch1);
    }

    [Fact]
    public void TupleDeconstructionAndAnyListOfSamples()
    {
        var ds = Numbered(7);
        var g1 = new Generator(3); var g2 = new Generator(3);
        var fast = new DataLoader(ds, batchSize: 3, shuffle: true, generator: g1);         // gathers per tensor
        var plain = new DataLoader(ds.ToList(), batchSize: 3, shuffle: true, generator: g2); // stacks per sample
        foreach (var ((x1, y1), (x2, y2)) in fast.Zip(plain))
        {
            Assert.Equal(x1.ToArray<float>(), x2.ToArray<float>());
            Assert.Equal(y1.ToArray<long>(), y2.ToArray<long>());
            Assert.Equal(DType.Int64, y1.DType);
        }
        var e = Assert.Throws<ArgumentException>(() => { var (a, b, c) = ds[0]; });
        Assert.Contains("cannot unpack 2 tensors into 3 variables", e.Message);
    }

    [Fact]
    public void PackedBatchesRunAsEachSequenceAlone()
    {
        var g = new Generator(4);
        int[] lengths = [3, 7, 1, 5, 5, 2];
        var samples = lengths.Select((n, i) => (Sequence: Tensor.Randn([n, 4], DType.Float32, g), Target: Tensor.Scalar(i, DType.Int64))).ToList();
        var loader = new DataLoader<(Tensor Sequence, Tensor Target), PackedBatch>(samples, Collate.PackSequences, batchSize: 4,
            shuffle: true, generator: new Generator(9));
        var gru = new Gru(4, 6, bidirectional: true);
        int seen = 0;
        foreach (var batch in loader)
        {
            var ids = batch.Target.ToArray<long>();
            Assert.Equal(ids.Select(i => (long)lengths[i]), batch.Lengths.ToArray<long>());
            Assert.Equal(ids.Length, batch.BatchSize);
            // Unpacking gives the sequences back in the batch's order.
            var unpacked = batch.Input.ToSequences();
            for (int b = 0; b < ids.Length; b++) Assert.Equal(samples[(int)ids[b]].Sequence.ToArray<float>(), unpacked[b].ToArray<float>());
            // h_n of the packed batch is each sequence's own final state, in the batch's order.
            var (_, hN) = gru.Forward(batch.Input);
            for (int b = 0; b < ids.Length; b++)
            {
                var (_, alone) = gru.Forward(samples[(int)ids[b]].Sequence.Unsqueeze(1));
                var a = alone.Select(1, 0).ToArray<float>(); var p = hN.Select(1, b).ToArray<float>();
                for (int k = 0; k < a.Length; k++) Assert.Equal(a[k], p[k], 5);
            }
            seen += ids.Length;
        }
        Assert.Equal(lengths.Length, seen);
    }

    [Fact]
    public void ClearErrors()
    {
        var bs = Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(Numbered(3), batchSize: 0));
        Assert.Contains("batch_size should be a positive integer value, but got batch_size=0", bs.Message);
        Assert.Throws<ArgumentNullException>(() => new DataLoader(null!));
        Assert.Throws<ArgumentNullException>(() => new DataLoader<Tensor, Tensor>(new[] { Tensor.Zeros(2) }, null!));

        // Variable-length samples cannot be stacked: the message names the collate that packs them.
        var ragged = new List<Tensor[]> { new[] { Tensor.Zeros(3) }, new[] { Tensor.Zeros(4) } };
        var st = Assert.Throws<ArgumentException>(() => new DataLoader(ragged, batchSize: 2).First());
        Assert.Contains("stack expects each tensor to be equal size, but got [3] at entry 0 and [4] at entry 1", st.Message);
        Assert.Contains("Collate.PackSequences", st.Message);
        var fields = Assert.Throws<ArgumentException>(() => Collate.Stack(new List<Tensor[]> { new[] { Tensor.Zeros(1) }, new[] { Tensor.Zeros(1), Tensor.Zeros(1) } }));
        Assert.Contains("each element in list of batch should be of equal size", fields.Message);
        var empty = Assert.Throws<ArgumentException>(() => Collate.PackSequences([(Tensor.Zeros(2, 3), Tensor.Zeros(1)), (Tensor.Zeros(0, 3), Tensor.Zeros(1))]));
        Assert.Contains("sample 1 has an empty sequence", empty.Message);
        Assert.Throws<ArgumentException>(() => Collate.Stack(Array.Empty<Tensor>()));
    }
}
