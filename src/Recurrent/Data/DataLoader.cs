// DataLoader: batches of a dataset in order or shuffled by a seedable Generator (torch.utils.data.DataLoader with
// batch_size, shuffle, generator, drop_last and collate_fn; single process).
namespace Recurrent.Data;

/// <summary>
/// Iterates over a dataset in batches, as <c>torch.utils.data.DataLoader(dataset, batch_size, shuffle, generator=,
/// drop_last, collate_fn)</c>. Each enumeration is one epoch: with <see cref="Shuffle"/> it draws a fresh permutation
/// of the sample indices from <see cref="Generator"/> when it starts (a generator with a manual seed gives the same
/// order of epochs in every run), otherwise it goes through the samples in order. The samples of each batch are
/// handed to the collate function. Batches are made lazily, one per step, on the enumerating thread.
/// </summary>
/// <typeparam name="TItem">The type of one sample (e.g. <c>Tensor[]</c> for a <see cref="TensorDataset"/>).</typeparam>
/// <typeparam name="TBatch">The type of one batch, what the collate function returns.</typeparam>
public class DataLoader<TItem, TBatch> : IEnumerable<TBatch>
{
    private readonly Func<int[], TBatch> _fetch;

    /// <summary>Creates a loader over <paramref name="dataset"/> whose batches are <paramref name="collate"/> of their samples.</summary>
    /// <param name="dataset">The samples (any list: a <see cref="TensorDataset"/>, a <c>List</c> of tuples, ...).</param>
    /// <param name="collate">Makes one batch of a list of samples (see <see cref="Collate"/>).</param>
    /// <param name="batchSize">Samples per batch (the last batch may be smaller unless <paramref name="dropLast"/>).</param>
    /// <param name="shuffle">Draw a new order of the samples for every epoch.</param>
    /// <param name="generator">The random source of the order; null uses <see cref="Recurrent.Generator.Default"/>.</param>
    /// <param name="dropLast">Skip the last batch when it would be smaller than <paramref name="batchSize"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="dataset"/> or <paramref name="collate"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    public DataLoader(IReadOnlyList<TItem> dataset, Func<IReadOnlyList<TItem>, TBatch> collate, int batchSize = 1, bool shuffle = false,
        Generator? generator = null, bool dropLast = false)
        : this(dataset, batchSize, shuffle, generator, dropLast, Fetcher(dataset, collate))
    {
    }

    private protected DataLoader(IReadOnlyList<TItem> dataset, int batchSize, bool shuffle, Generator? generator, bool dropLast, Func<int[], TBatch> fetch)
    {
        Guard.NotNull(dataset, nameof(dataset));
        if (batchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"batch_size should be a positive integer value, but got batch_size={batchSize}");
        if (shuffle && dataset.Count == 0)   // PyTorch's RandomSampler: an empty dataset would make every epoch empty
            throw new ArgumentException("num_samples should be a positive integer value, but got num_samples=0 (shuffle: true over an empty dataset)", nameof(dataset));
        Dataset = dataset;
        BatchSize = batchSize;
        Shuffle = shuffle;
        Generator = generator;
        DropLast = dropLast;
        _fetch = fetch;
    }

    private static Func<int[], TBatch> Fetcher(IReadOnlyList<TItem> dataset, Func<IReadOnlyList<TItem>, TBatch> collate)
    {
        Guard.NotNull(dataset, nameof(dataset));
        Guard.NotNull(collate, nameof(collate));
        return indices =>
        {
            var samples = new TItem[indices.Length];
            for (int i = 0; i < samples.Length; i++) samples[i] = dataset[indices[i]];
            return collate(samples);
        };
    }

    /// <summary>The samples.</summary>
    public IReadOnlyList<TItem> Dataset { get; }
    /// <summary>Samples per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Whether every epoch draws a new order.</summary>
    public bool Shuffle { get; }
    /// <summary>The random source of the order (null: <see cref="Recurrent.Generator.Default"/>).</summary>
    public Generator? Generator { get; }
    /// <summary>Whether a last, smaller batch is skipped.</summary>
    public bool DropLast { get; }

    /// <summary>The number of batches in an epoch, as <c>len(loader)</c>.</summary>
    public int Count => DropLast ? Dataset.Count / BatchSize : (int)(((long)Dataset.Count + BatchSize - 1) / BatchSize);

    /// <summary>
    /// The sample indices of one epoch, in the order the batches take them (a permutation drawn from the generator when
    /// shuffling, as a Fisher-Yates shuffle; 0..n-1 otherwise). Each call is a new epoch.
    /// </summary>
    public int[] EpochOrder()
    {
        int n = Dataset.Count;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        if (Shuffle)
        {
            var g = Generator ?? Generator.Default;
            for (int i = n - 1; i > 0; i--)
            {
                int j = (int)g.NextLong(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
        }
        return order;
    }

    /// <summary>One epoch of batches. The order is drawn when the enumeration starts.</summary>
    public IEnumerator<TBatch> GetEnumerator()
    {
        var order = EpochOrder();
        int batches = Count;
        for (int b = 0; b < batches; b++)
        {
            int start = b * BatchSize, size = Math.Min(BatchSize, order.Length - start);
            yield return _fetch(order.AsSpan(start, size).ToArray());
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// A loader of tensor samples (e.g. a <see cref="TensorDataset"/>) whose batches stack each field:
/// <c>foreach (var (x, y) in new DataLoader(new TensorDataset(inputs, labels), batchSize: 32, shuffle: true,
/// generator: new Generator(0)))</c> gives x = inputs[indices] and y = labels[indices], as PyTorch's default collate.
/// </summary>
public sealed class DataLoader : DataLoader<Tensor[], Tensor[]>
{
    /// <summary>
    /// Creates the loader; see <see cref="DataLoader{TItem, TBatch}"/> for the arguments. A <see cref="TensorDataset"/> is
    /// batched by one gather per tensor; other lists of samples by <see cref="Collate.Stack(IReadOnlyList{Tensor[]})"/>.
    /// </summary>
    public DataLoader(IReadOnlyList<Tensor[]> dataset, int batchSize = 1, bool shuffle = false, Generator? generator = null, bool dropLast = false)
        : base(dataset, batchSize, shuffle, generator, dropLast, dataset is TensorDataset td ? td.Gather : Fetcher(dataset))
    {
    }

    private static Func<int[], Tensor[]> Fetcher(IReadOnlyList<Tensor[]> dataset)
    {
        Guard.NotNull(dataset, nameof(dataset));
        return indices =>
        {
            var samples = new Tensor[indices.Length][];
            for (int i = 0; i < samples.Length; i++) samples[i] = dataset[indices[i]];
            return Collate.Stack(samples);
        };
    }
}
