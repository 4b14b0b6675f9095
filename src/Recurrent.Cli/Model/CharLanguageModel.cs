// The character-level language model: Embedding -> Lstm|Gru|Rnn -> (Dropout) -> Linear, time-major.
using Recurrent.Nn;

namespace Recurrent.Cli.Model;

/// <summary>The recurrent state carried between calls: h (layers, batch, hidden) and, for an LSTM, c.</summary>
/// <param name="H">h_n, shape (num_layers, batch, hidden_size).</param>
/// <param name="C">c_n for an LSTM (same shape), otherwise null.</param>
public readonly record struct RecurrentState(Tensor H, Tensor? C);

/// <summary>
/// A character-level language model with PyTorch state_dict keys: <c>emb.weight</c>; <c>rnn.weight_ih_l0</c>,
/// <c>rnn.weight_hh_l0</c>, <c>rnn.bias_ih_l0</c>, <c>rnn.bias_hh_l0</c> (per layer); <c>fc.weight</c>, <c>fc.bias</c> —
/// the same as <c>nn.Module</c> with attributes <c>emb</c>, <c>rnn</c>, <c>fc</c> in PyTorch, so weights move both ways.
/// </summary>
public sealed class CharLanguageModel : Module
{
    /// <summary>Builds the model; parameters are initialised from <paramref name="init"/> with PyTorch's rules.</summary>
    /// <param name="config">The architecture (validated).</param>
    /// <param name="init">Random source of the initial weights.</param>
    /// <param name="dropout">Random source of the dropout masks (training mode only); kept so a resumed run continues it.</param>
    public CharLanguageModel(ModelConfig config, Generator init, Generator dropout)
    {
        config.Validate();
        Config = config;
        _emb = RegisterModule("emb", new Embedding(config.VocabSize, config.EmbeddingSize, generator: init));
        RecurrentBase rnn = config.ParsedKind switch
        {
            ModelKind.Lstm => new Lstm(config.EmbeddingSize, config.HiddenSize, config.NumLayers, dropout: LayerDropout(config), generator: init),
            ModelKind.Gru => new Gru(config.EmbeddingSize, config.HiddenSize, config.NumLayers, dropout: LayerDropout(config), generator: init),
            _ => new Rnn(config.EmbeddingSize, config.HiddenSize, config.NumLayers, dropout: LayerDropout(config), generator: init),
        };
        rnn.Generator = dropout;
        _rnn = RegisterModule("rnn", rnn);
        _drop = RegisterModule("drop", new Dropout(config.Dropout, dropout));
        _fc = RegisterModule("fc", new Linear(config.HiddenSize, config.VocabSize, generator: init));
    }

    /// <summary>The architecture.</summary>
    public ModelConfig Config { get; }

    /// <inheritdoc/>
    public override string TypeName => "CharLanguageModel";

    // Submodules are fixed for the model's life (only their parameter tensors may be replaced), so they can be cached.
    private readonly Embedding _emb;
    private readonly RecurrentBase _rnn;
    private readonly Dropout _drop;
    private readonly Linear _fc;

    private static double LayerDropout(ModelConfig c) => c.NumLayers > 1 ? c.Dropout : 0.0;

    /// <summary>
    /// Runs the model over <paramref name="tokens"/> from <paramref name="state"/> (zeros when null).
    /// Returns logits (seq, batch, vocab) and the final state.
    /// </summary>
    /// <param name="tokens">int64 token ids, shape (seq, batch).</param>
    /// <param name="state">The state to start from, or null.</param>
    public (Tensor Logits, RecurrentState State) Forward(Tensor tokens, RecurrentState? state = null)
    {
        Tensor x = _emb.Forward(tokens);                        // (seq, batch, embedding)
        Tensor output;
        RecurrentState next;
        switch (_rnn)
        {
            case Lstm lstm:
            {
                var (o, (h, c)) = lstm.Forward(x, state is { } s ? (s.H, s.C!) : null);
                (output, next) = (o, new RecurrentState(h, c));
                break;
            }
            case Gru gru:
            {
                var (o, h) = gru.Forward(x, state?.H);
                (output, next) = (o, new RecurrentState(h, null));
                break;
            }
            case Rnn rnn:
            {
                var (o, h) = rnn.Forward(x, state?.H);
                (output, next) = (o, new RecurrentState(h, null));
                break;
            }
            default:
                throw new InvalidOperationException("unreachable: unknown recurrent layer");
        }
        Tensor logits = _fc.Forward(_drop.Forward(output));   // (seq, batch, vocab)
        return (logits, next);
    }

    /// <summary>
    /// A token-by-token inference stream over this model (Embedding -> recurrent layer -> Linear; dropout is off, as in
    /// eval mode): the same logits as <see cref="Forward"/>, bit for bit, with no allocation per step.
    /// </summary>
    /// <param name="batchSize">How many sequences advance together.</param>
    public LanguageModelStream CreateStream(int batchSize = 1) => new(_emb, _rnn, _fc, batchSize);

    /// <summary>The number of trainable scalars.</summary>
    public long ParameterCount => Parameters().Sum(p => (long)p.Numel);
}
