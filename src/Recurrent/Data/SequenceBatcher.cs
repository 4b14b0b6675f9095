// Cutting a token stream into (seq, batch) windows: random windows for training, consecutive ones for evaluation.
namespace Recurrent.Data;

/// <summary>
/// Makes next-token batches from one token stream. <see cref="Sample"/> draws windows at random start offsets from
/// a <see cref="Generator"/>, so the data order of a run is a pure function of the generator's state (save
/// <see cref="Generator.GetState"/> and the order resumes exactly). <see cref="Sequential"/> covers the stream once,
/// in order, for evaluation.
/// </summary>
public sealed class SequenceBatcher
{
    private readonly long[] _tokens;

    /// <summary>Creates a batcher over <paramref name="tokens"/>.</summary>
    /// <param name="tokens">The token stream (not copied; do not modify it while the batcher is in use).</param>
    /// <param name="seqLen">Window length (time steps); each window also needs the one token after it.</param>
    /// <param name="batchSize">Windows per batch.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is zero or negative.</exception>
    /// <exception cref="TextDataException">The stream is shorter than <paramref name="seqLen"/> + 1 tokens.</exception>
    /// <param name="windowStarts">Optional: the only offsets a sampled window may start at (e.g. line starts), each in
    /// [0, tokens.Length - seqLen - 1]; null allows every offset.</param>
    /// <exception cref="ArgumentException">A window start is out of range, or none is given.</exception>
    public SequenceBatcher(long[] tokens, int seqLen, int batchSize, int[]? windowStarts = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        Guard.Positive(seqLen, nameof(seqLen));
        Guard.Positive(batchSize, nameof(batchSize));
        if ((long)seqLen * batchSize > Array.MaxLength)   // a batch is one (seqLen, batchSize) array of ids
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize,
                $"seqLen * batchSize must fit one array. Expected at most {Array.MaxLength} ids a batch, got {seqLen} * {batchSize} = {(long)seqLen * batchSize}.");
        if (tokens.Length < (long)seqLen + 1)
            throw new TextDataException(
                $"The sequence length {seqLen} needs at least {seqLen + 1} characters of text, but there are only {tokens.Length}; use a shorter sequence length or more text.");
        _tokens = tokens;
        SeqLen = seqLen;
        BatchSize = batchSize;
        if (windowStarts is not null)
        {
            if (windowStarts.Length == 0) throw new ArgumentException("windowStarts must not be empty.", nameof(windowStarts));
            foreach (int start in windowStarts)
                if (start < 0 || start > tokens.Length - seqLen - 1)
                    throw new ArgumentException(
                        $"windowStarts: {start} is outside [0, {tokens.Length - seqLen - 1}] for {tokens.Length} tokens and sequence length {seqLen}.",
                        nameof(windowStarts));
            _starts = (int[])windowStarts.Clone();
        }
    }

    private readonly int[]? _starts;

    /// <summary>Window length.</summary>
    public int SeqLen { get; }

    /// <summary>Windows per batch.</summary>
    public int BatchSize { get; }

    /// <summary>Number of tokens in the stream.</summary>
    public int TokenCount => _tokens.Length;

    /// <summary>Number of distinct window start offsets (all of 0 .. TokenCount - SeqLen - 1, or the given starts).</summary>
    public int WindowCount => _starts?.Length ?? _tokens.Length - SeqLen;

    /// <summary>
    /// A batch of <see cref="BatchSize"/> windows whose start offsets are drawn uniformly (with replacement, among the
    /// allowed starts) from <paramref name="generator"/>: exactly <see cref="BatchSize"/> draws of <see cref="Generator.NextLong"/>.
    /// </summary>
    public TokenBatch Sample(Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        Span<int> starts = BatchSize <= 1024 ? stackalloc int[BatchSize] : new int[BatchSize];
        for (int b = 0; b < starts.Length; b++)
        {
            int k = (int)generator.NextLong(WindowCount);
            starts[b] = _starts is null ? k : _starts[k];
        }
        return Gather(starts, SeqLen);
    }

    /// <summary>
    /// Consecutive non-overlapping windows covering every next-token prediction of the stream exactly once
    /// (windows of <see cref="SeqLen"/>; a final shorter window for the remainder), grouped into batches of up to
    /// <see cref="BatchSize"/> windows of equal length.
    /// </summary>
    public IEnumerable<TokenBatch> Sequential()
    {
        int predictions = _tokens.Length - 1;
        int full = predictions / SeqLen;
        for (int first = 0; first < full; first += BatchSize)
        {
            int n = Math.Min(BatchSize, full - first);
            var starts = new int[n];
            for (int b = 0; b < n; b++) starts[b] = (first + b) * SeqLen;
            yield return Gather(starts, SeqLen);
        }
        int rest = predictions - full * SeqLen;
        if (rest > 0) yield return Gather([full * SeqLen], rest);
    }

    private TokenBatch Gather(ReadOnlySpan<int> starts, int len)
    {
        int batch = starts.Length;
        var input = new long[len * batch];
        var target = new long[len * batch];
        for (int b = 0; b < batch; b++)
        {
            int s = starts[b];
            for (int t = 0; t < len; t++)
            {
                input[t * batch + b] = _tokens[s + t];      // input: (seq, batch)
                target[t * batch + b] = _tokens[s + t + 1]; // target: (seq, batch), shifted by one
            }
        }
        return new TokenBatch(Tensor.FromArray(input, len, batch), Tensor.FromArray(target, len, batch));
    }
}
