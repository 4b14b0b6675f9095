// Sizes the program refuses up front, as usage errors that say the limit: a model or batch whose buffers would not fit
// in one .NET array (the recurrent layers keep every step's activations of every layer for backpropagation, in one
// cache per stack), or whose training would need more memory than the machine has, and thread counts beyond the
// machine's processors.
using System.Globalization;

namespace Recurrent.Cli.Model;

/// <summary>Checks of sizes and thread counts against what one array and this machine can hold.</summary>
public static class ResourceLimits
{
    /// <summary>The most elements one buffer may have (a .NET array's limit).</summary>
    public static long MaxBufferElements => Array.MaxLength;

    /// <summary>The memory the process may use, as the runtime sees it (physical memory or the container's limit).</summary>
    public static long AvailableMemoryBytes => MemoryOverride.Value ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>Test hook: a smaller machine, for the calls on this logical thread.</summary>
    internal static readonly AsyncLocal<long?> MemoryOverride = new();

    /// <summary>Checks a --threads value against this machine's processors.</summary>
    /// <exception cref="UsageException">Below 1 or above <see cref="Environment.ProcessorCount"/>.</exception>
    public static void CheckThreads(int threads)
    {
        if (threads < 1) throw new UsageException($"--threads must be at least 1, got {threads}.");
        if (threads > Environment.ProcessorCount)
            throw new UsageException($"--threads must be at most {Environment.ProcessorCount} (the processors of this machine), got {threads}.");
    }

    /// <summary>
    /// Values a recurrent stack keeps per token (one row of one time step) for backpropagation, over all layers: each
    /// layer's gates, cell/hidden states and input, plus the dropout mask between layers. An upper bound of what the
    /// fused kernels save, so that a run that passes this check never overflows their cache.
    /// </summary>
    public static long ActivationsPerToken(ModelConfig m)
    {
        long gates = m.ParsedKind switch { ModelKind.Lstm => 4, ModelKind.Gru => 3, _ => 1 };
        long perLayer = (gates + 5) * m.HiddenSize + Math.Max(m.EmbeddingSize, m.HiddenSize);
        return m.NumLayers * perLayer;
    }

    /// <summary>
    /// Checks that training <paramref name="m"/> with windows of <paramref name="seqLen"/> x <paramref name="batch"/>
    /// tokens (and evaluating with <paramref name="evalBatch"/> windows) fits in one array per buffer and in memory.
    /// </summary>
    /// <exception cref="UsageException">A buffer or the whole would be too large; the message names the options to lower.</exception>
    public static void CheckTraining(ModelConfig m, int seqLen, int batch, int evalBatch)
    {
        long tokens = (long)seqLen * batch;
        long evalTokens = (long)seqLen * evalBatch;
        CheckBuffer("the activations kept for backpropagation", Multiply(tokens, ActivationsPerToken(m)),
            "fewer --layers, a smaller --hidden-size, --seq-len or --batch-size");
        CheckBuffer("the output logits", Multiply(Math.Max(tokens, evalTokens), m.VocabSize), "a smaller --seq-len or --batch-size");
        // Weights, gradients and up to three optimizer buffers each; activations and their gradients; logits, their
        // gradient and softmax; all float32.
        long parameters = ParameterCount(m);
        long values = Add(Multiply(parameters, 5), Multiply(tokens, Add(Multiply(ActivationsPerToken(m), 2), Multiply(m.VocabSize, 3))));
        CheckMemory(Multiply(values, sizeof(float)), "training", "a smaller model, --seq-len or --batch-size");
    }

    /// <summary>Checks that evaluating <paramref name="m"/> on windows of <paramref name="seqLen"/> x <paramref name="batch"/> fits.</summary>
    /// <exception cref="UsageException">A buffer or the whole would be too large.</exception>
    public static void CheckEvaluation(ModelConfig m, int seqLen, int batch)
    {
        long tokens = (long)seqLen * batch;
        long perToken = Add(Multiply(Math.Max(m.EmbeddingSize, m.HiddenSize), 6), m.VocabSize);
        CheckBuffer("the evaluation buffers", Multiply(tokens, perToken), "a smaller --seq-len or --batch-size");
        CheckMemory(Multiply(Add(Multiply(tokens, Multiply(perToken, 2)), ParameterCount(m)), sizeof(float)), "evaluation",
            "a smaller --seq-len or --batch-size");
    }

    /// <summary>The model's parameter count (exact for the language model's layers).</summary>
    public static long ParameterCount(ModelConfig m)
    {
        long gates = m.ParsedKind switch { ModelKind.Lstm => 4, ModelKind.Gru => 3, _ => 1 };
        long recurrent = 0;
        for (int layer = 0; layer < Math.Min(m.NumLayers, 2); layer++)
        {
            long input = layer == 0 ? m.EmbeddingSize : m.HiddenSize;
            long one = Multiply(Multiply(gates, m.HiddenSize), input + m.HiddenSize + 2);
            recurrent = Add(recurrent, layer == 0 ? one : Multiply(one, m.NumLayers - 1));
        }
        return Add(Add(Multiply(m.VocabSize, m.EmbeddingSize), recurrent), Multiply(m.VocabSize, m.HiddenSize + 1L));
    }

    private static void CheckBuffer(string what, long elements, string advice)
    {
        if (elements > MaxBufferElements)
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"{what} would need about {Describe(elements)} values in one buffer, more than the limit of {MaxBufferElements:N0}; use {advice}."));
    }

    private static void CheckMemory(long bytes, string what, string advice)
    {
        long available = AvailableMemoryBytes;
        if (available > 0 && bytes > available)
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"{what} would need about {Gigabytes(bytes)} of memory, more than the {Gigabytes(available)} this machine has; use {advice}."));
    }

    private static string Describe(long n) => n == long.MaxValue ? "more than 9,223,372,036,854,775,807" : n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Gigabytes(long bytes) =>
        bytes == long.MaxValue ? "an unbounded amount" : (bytes / 1e9).ToString(bytes < 10e9 ? "0.0" : "N0", CultureInfo.InvariantCulture) + " GB";

    private static long Multiply(long a, long b)
    {
        if (a < 0 || b < 0) return long.MaxValue;
        return a != 0 && b > long.MaxValue / a ? long.MaxValue : a * b;
    }

    private static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;
}
