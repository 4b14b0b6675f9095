// The architecture of the character-level language model, as stored in a checkpoint's config.json.
using System.Text.Json.Serialization;

namespace Recurrent.Cli.Model;

/// <summary>The recurrent layer of the model.</summary>
public enum ModelKind
{
    /// <summary>nn.LSTM.</summary>
    Lstm,

    /// <summary>nn.GRU.</summary>
    Gru,

    /// <summary>nn.RNN (tanh).</summary>
    Rnn,
}

/// <summary>
/// Embedding(vocab, embedding) -> Lstm|Gru|Rnn(embedding, hidden, layers, dropout) -> Linear(hidden, vocab).
/// Its state_dict keys are PyTorch's: <c>emb.weight</c>, <c>rnn.weight_ih_l0</c>, ..., <c>fc.weight</c>, <c>fc.bias</c>.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>The recurrent layer kind, lower-case in JSON: "lstm", "gru", "rnn".</summary>
    [JsonPropertyName("kind")] public string Kind { get; init; } = "lstm";

    /// <summary>Vocabulary size (embedding rows and output classes).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }

    /// <summary>Embedding width (the recurrent layer's input_size).</summary>
    [JsonPropertyName("embedding_size")] public int EmbeddingSize { get; init; }

    /// <summary>hidden_size of the recurrent layer.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }

    /// <summary>num_layers of the recurrent layer.</summary>
    [JsonPropertyName("num_layers")] public int NumLayers { get; init; }

    /// <summary>Dropout between recurrent layers and on the recurrent output (training only).</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; }

    /// <summary>The parsed <see cref="Kind"/>.</summary>
    [JsonIgnore]
    public ModelKind ParsedKind => ParseKind(Kind) ?? throw new CliException($"unknown model kind '{Kind}' (expected lstm, gru or rnn).");

    /// <summary>Parses "lstm", "gru" or "rnn" (any case); null otherwise.</summary>
    public static ModelKind? ParseKind(string? kind) => kind?.ToLowerInvariant() switch
    {
        "lstm" => ModelKind.Lstm,
        "gru" => ModelKind.Gru,
        "rnn" => ModelKind.Rnn,
        _ => null,
    };

    /// <summary>Checks every size; the message names the option to fix.</summary>
    /// <exception cref="UsageException">A size is out of range.</exception>
    public void Validate()
    {
        _ = ParseKind(Kind) ?? throw new UsageException($"--model must be lstm, gru or rnn, got '{Kind}'.");
        if (VocabSize < 1) throw new UsageException($"the vocabulary must have at least 1 character, got {VocabSize}.");
        if (EmbeddingSize < 1) throw new UsageException($"--embedding-size must be at least 1, got {EmbeddingSize}.");
        if (HiddenSize < 1) throw new UsageException($"--hidden-size must be at least 1, got {HiddenSize}.");
        if (NumLayers < 1) throw new UsageException($"--layers must be at least 1, got {NumLayers}.");
        if (!(Dropout >= 0 && Dropout < 1)) throw new UsageException($"--dropout must be in [0, 1), got {Dropout}.");
        const long maxParams = 2_000_000_000;
        long weights = ResourceLimits.ParameterCount(this with { VocabSize = Math.Max(VocabSize, 1) });
        if (weights > maxParams)
            throw new UsageException($"the model would have about {weights:N0} parameters, more than {maxParams:N0}; use fewer --layers or a smaller --hidden-size or --embedding-size.");
    }
}
