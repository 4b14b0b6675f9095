// LanguageModelStream: token-by-token inference of the classic recurrent language model,
// Embedding -> Rnn/Lstm/Gru -> Linear, on a RecurrentStream. Token ids in, logits out, the recurrent
// state carried between calls, no tensors and no managed allocation per step (the embedding rows are
// gathered into a reused buffer, the head is one GEMM into the caller's span). It computes exactly
// what the modules' Forward calls compute on the same tokens (same kernels, same products, the bias
// added the same way), so a sampler built on it draws the same text as one built on Forward.
using System.Numerics;
using System.Runtime.InteropServices;
using System.Numerics.Tensors;
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>
/// Stateful, allocation-free token-by-token inference of an <see cref="Embedding"/> -&gt; <see cref="Rnn"/>/<see cref="Lstm"/>/<see cref="Gru"/>
/// -&gt; <see cref="Linear"/> language model (the character-level model of the <c>recurrent</c> tool, and of the
/// PyTorch tutorials): token ids in, next-token logits out, the recurrent state carried between calls.
/// </summary>
/// <remarks>
/// <para>Equivalent to <c>head.Forward(recurrent.Forward(embedding.Forward(tokens), state).Output)</c> bit for bit
/// (dropout between the modules is the identity in eval mode and is not applied). Tokens are time-major:
/// (T, B) for T steps of B sequences; logits are (T, B, vocab) or, for <see cref="Run(ReadOnlySpan{long}, Span{float})"/>,
/// (B, vocab) for the last step only. A <see cref="Step(ReadOnlySpan{long}, Span{float})"/> allocates no managed memory
/// after the first; a <c>Run</c> of more steps than any before grows the stream's scratch once.</para>
/// <para>Dynamically quantized (int8) recurrent modules and heads run through the int8 kernels their <c>Forward</c> runs,
/// with the same bits.</para>
/// <para>Threads: as <see cref="RecurrentStream"/>: one stream per conversation, used from one thread at a time; any
/// number of streams over the same modules may run at once.</para>
/// </remarks>
public sealed unsafe class LanguageModelStream
{
    private readonly Embedding _embedding;
    private readonly Linear _head;
    private readonly RecurrentStream _stream;
    private Array _x, _y, _logits;   // scratch: (T*B, E) embedded rows, (T*B, H_out) recurrent outputs, (T*B, V) logits

    /// <summary>Creates a stream of <paramref name="batchSize"/> sequences from zero state.</summary>
    /// <param name="embedding">The token embedding (num_embeddings = vocabulary, embedding_dim = the recurrent module's input_size); no <c>maxNorm</c>.</param>
    /// <param name="recurrent">A unidirectional Rnn, Lstm or Gru.</param>
    /// <param name="head">The output layer (in_features = the recurrent module's H_out).</param>
    /// <param name="batchSize">How many sequences advance together (B).</param>
    /// <exception cref="ArgumentException">The modules do not fit together, the recurrent module is bidirectional, or the embedding renormalises (<c>maxNorm</c>).</exception>
    public LanguageModelStream(Embedding embedding, RecurrentBase recurrent, Linear head, int batchSize = 1)
    {
        Guard.NotNull(embedding, nameof(embedding));
        Guard.NotNull(recurrent, nameof(recurrent));
        Guard.NotNull(head, nameof(head));
        _stream = new RecurrentStream(recurrent, batchSize);
        if (embedding.EmbeddingDim != recurrent.InputSize)
            throw new ArgumentException($"embedding: its embedding_dim must equal the recurrent module's input_size. Expected {recurrent.InputSize}, got {embedding.EmbeddingDim}", nameof(embedding));
        if (embedding.MaxNorm is not null)
            throw new ArgumentException($"embedding: max_norm={PyFormat.Float(embedding.MaxNorm.Value)} renormalises rows of the weight during every forward, which a stream does not do. Expected an Embedding without maxNorm, got maxNorm {PyFormat.Float(embedding.MaxNorm.Value)}", nameof(embedding));
        if (head.InFeatures != recurrent.OutputSize)
            throw new ArgumentException($"head: its in_features must equal the recurrent module's output features (H_out). Expected {recurrent.OutputSize}, got {head.InFeatures}", nameof(head));
        if (embedding.Weight.DType != _stream.DType || HeadDType(head) != _stream.DType)
            throw new ArgumentException($"the modules must share one dtype. Expected {Tensor.DTypeName(_stream.DType)} (the recurrent module's), got embedding {Tensor.DTypeName(embedding.Weight.DType)} and head {Tensor.DTypeName(HeadDType(head))}. Convert them with Module.To(DType.{_stream.DType}).", nameof(embedding));
        _embedding = embedding;
        _head = head;
        // One step's scratch now, so that the first Step allocates nothing; the first Run grows them (checked there).
        long xCount = (long)batchSize * embedding.EmbeddingDim, yCount = (long)batchSize * recurrent.OutputSize;
        if (Math.Max(xCount, yCount) > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"batchSize: one step of {batchSize} sequences needs {Math.Max(xCount, yCount)} values of embedding or output, more than one array holds ({Array.MaxLength}). Expected at most {Array.MaxLength / Math.Max(embedding.EmbeddingDim, recurrent.OutputSize)} sequences, got {batchSize}.");
        _x = Tensor.NewArray(DType, (int)xCount);
        _y = Tensor.NewArray(DType, (int)yCount);
        _logits = Tensor.NewArray(DType, 0);
    }

    /// <summary>The embedding.</summary>
    public Embedding Embedding => _embedding;

    /// <summary>The recurrent stream (its state is this stream's state).</summary>
    public RecurrentStream Recurrent => _stream;

    /// <summary>The output layer.</summary>
    public Linear Head => _head;

    /// <summary>The number of sequences that advance together (B).</summary>
    public int BatchSize => _stream.BatchSize;

    /// <summary>The number of logits per sequence and step (the head's out_features).</summary>
    public int VocabSize => _head.OutFeatures;

    /// <summary>The element type of the logits (the modules' dtype).</summary>
    public DType DType => _stream.DType;

    /// <summary>Steps taken since the stream was created or reset.</summary>
    public long Position => _stream.Position;

    /// <summary>The recurrent state (copies); see <see cref="RecurrentStream.State"/>.</summary>
    public RecurrentState State
    {
        get => _stream.State;
        set => _stream.State = value;
    }

    /// <summary>Starts every sequence over (zero state).</summary>
    public void Reset() => _stream.Reset();

    /// <summary>Feeds one token per sequence, tokens (B), and writes the next-token logits (B, vocab).</summary>
    /// <exception cref="ArgumentException">A span has the wrong length.</exception>
    /// <exception cref="IndexOutOfRangeException">A token id is not in [0, num_embeddings).</exception>
    /// <exception cref="InvalidOperationException">The stream is float64, or a module was converted to another dtype.</exception>
    public void Step(ReadOnlySpan<long> tokens, Span<float> logits) => Advance(tokens, logits, 1);

    /// <summary>Feeds one token per sequence (float64 models). See <see cref="Step(ReadOnlySpan{long}, Span{float})"/>.</summary>
    public void Step(ReadOnlySpan<long> tokens, Span<double> logits) => Advance(tokens, logits, 1);

    /// <summary>
    /// Feeds T tokens per sequence in one call, tokens (T, B) time-major (a prompt), as <c>Forward</c> over them; writes the
    /// logits of every step (T, B, vocab) or, when <paramref name="logits"/> holds B * vocab values, of the last step only.
    /// </summary>
    /// <exception cref="ArgumentException">No tokens, not whole steps, or logits of neither length.</exception>
    /// <exception cref="IndexOutOfRangeException">A token id is not in [0, num_embeddings).</exception>
    public void Run(ReadOnlySpan<long> tokens, Span<float> logits) => Advance(tokens, logits, StepsOf(tokens.Length));

    /// <summary>Feeds T tokens per sequence (float64 models). See <see cref="Run(ReadOnlySpan{long}, Span{float})"/>.</summary>
    public void Run(ReadOnlySpan<long> tokens, Span<double> logits) => Advance(tokens, logits, StepsOf(tokens.Length));

    private int StepsOf(int count)
    {
        if (count == 0 || count % BatchSize != 0)
            throw new ArgumentException($"tokens: expected a positive whole number of steps of BatchSize = {BatchSize} ids (a (T, {BatchSize}) sequence), got {count} ids", "tokens");
        return count / BatchSize;
    }

    private void Advance<T>(ReadOnlySpan<long> tokens, Span<T> logits, int steps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = BatchSize, rows = steps * b, v = VocabSize;
        if (tokens.Length != rows)
            throw new ArgumentException($"tokens: expected {rows} ids ({steps} step(s) of batch {b}), got {tokens.Length}", "tokens");
        // In long: rows * v can pass int's range, and a wrapped product must not match a short buffer the int8 head
        // then writes past.
        long allCount = (long)rows * v, lastCount = (long)b * v;
        bool lastOnly = logits.Length == lastCount && steps > 1;
        if (logits.Length != allCount && !lastOnly)
            throw new ArgumentException($"logits: expected {allCount} values ({steps} step(s) x batch {b} x vocab {v}){(steps > 1 ? $" or {lastCount} (the last step only)" : "")}, got {logits.Length}", "logits");
        var wE = _embedding.Weight;
        var qH = _head.QuantizedWeight;                  // the int8 weight of a dynamically quantized head, else null
        var wH = qH is null ? _head.Weight : null;
        var bias = _head.Bias;
        if (wE.DType != DType || HeadDType(_head) != DType || (bias is not null && bias.DType != DType))
            throw new InvalidOperationException($"the embedding or head was converted from {Tensor.DTypeName(DType)} after this stream was created; create a new stream.");
        if (qH is not null && _head.Training) throw Quantization.QuantizedWeights.InferenceOnly(_head.TypeName, "it is in training mode");

        // Embedding: gather rows (every id is checked before the state moves).
        int num = wE.Size(0), e = wE.Size(1), hOut = _stream.OutputSize;
        foreach (long id in tokens)
            if ((ulong)id >= (ulong)num)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"index out of range in self: embedding index {id} is not in [0, {num}) (num_embeddings = {num})");
        // Every scratch buffer before the state moves: one too large for an array refuses the call and leaves the
        // stream where it was (the last-step-only logits of a long run, rows x vocab, are the likeliest).
        var x = Scratch<T>(ref _x, (long)rows * e);
        var y = Scratch<T>(ref _y, (long)rows * hOut);
        var all = lastOnly ? Scratch<T>(ref _logits, allCount) : logits;
        var table = wE.AsSpan<T>();
        for (int r = 0; r < rows; r++) table.Slice((int)tokens[r] * e, e).CopyTo(x.Slice(r * e, e));

        // The recurrent steps.
        _stream.Advance<T>(x, y, steps);

        // Head: logits = y W^T + b over every step's rows, the product and the bias as Functional.Linear computes them.
        if (v > 0 && qH is not null)
        {
            // Int8 head: the product QuantizedLinear runs (rows quantized per call, int32 accumulation, bias added).
            var yf = MemoryMarshal.Cast<T, float>(y);
            var lf = MemoryMarshal.Cast<T, float>(all);
            var bf = bias is null ? ReadOnlySpan<float>.Empty : bias.AsSpan<float>();
            fixed (float* py = yf, pl = lf, pb = bf)
                Int8Gemm.Linear(rows, py, hOut, qH.View, bias is null ? null : pb, false, pl, v);
            GC.KeepAlive(qH);
        }
        else if (v > 0)
        {
            // The operands Linear hands the GEMM: W^T is a transposed view of W (v, hOut), unless it has one column.
            bool transB = v != 1;
            int ldb = transB ? hOut : 1;
            if (typeof(T) == typeof(float))
                MatMulDispatch.Sgemm(false, transB, rows, v, hOut, 1f, MemoryMarshal.Cast<T, float>(y), hOut,
                    MemoryMarshal.Cast<T, float>(wH!.AsSpan<T>()), ldb, 0f, MemoryMarshal.Cast<T, float>(all), v);
            else
                MatMulDispatch.Dgemm(false, transB, rows, v, hOut, 1.0, MemoryMarshal.Cast<T, double>(y), hOut,
                    MemoryMarshal.Cast<T, double>(wH!.AsSpan<T>()), ldb, 0.0, MemoryMarshal.Cast<T, double>(all), v);
            if (bias is not null)
            {
                var bs = bias.AsSpan<T>();
                for (int r = 0; r < rows; r++) TensorPrimitives.Add(all.Slice(r * v, v), bs, all.Slice(r * v, v));
            }
        }
        if (lastOnly) all.Slice((rows - b) * v, b * v).CopyTo(logits);
    }

    private static DType HeadDType(Linear head) => head.IsQuantized ? DType.Float32 : head.Weight.DType;

    // A span of exactly `count` elements over `buffer`, grown (a new array) only when it is too small.
    private Span<T> Scratch<T>(ref Array buffer, long count) where T : unmanaged
    {
        if (buffer.Length < count)
        {
            if (count > Array.MaxLength)
                throw new ArgumentException($"tokens: the call needs {count} scratch values, more than one array holds ({Array.MaxLength}); feed the sequence in shorter runs.", "tokens");
            buffer = Tensor.NewArray(DType, (int)Math.Max(count, Math.Min(2L * buffer.Length, Array.MaxLength)));
        }
        return ((T[])buffer).AsSpan(0, (int)count);
    }
}
