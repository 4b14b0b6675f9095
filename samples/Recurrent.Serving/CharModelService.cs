// The model behind the endpoints: one checkpoint loaded once at startup and shared by every request.
//
// Concurrency: the model is only ever read. /predict runs the model's Forward (concurrent Forward calls on one module
// in eval mode are safe and give the same bits as serial ones: README "Serving"); /generate gives each request its own
// LanguageModelStream (its own (h, c)) through Sampler.Generate. NoGrad and dispose scopes are per thread, so each
// request opens and closes them synchronously on its own thread, with no await in between.
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Model;
using Recurrent.Data;

namespace Recurrent.Serving;

/// <summary>A loaded character-level model, its vocabulary, and the two operations the service offers.</summary>
public sealed class CharModelService
{
    /// <summary>The longest prompt or input text accepted, in characters.</summary>
    public const int MaxInputChars = 4096;

    /// <summary>The largest request body the app reads (Kestrel's limit): room for <see cref="MaxInputChars"/> ids as JSON.</summary>
    public const long MaxRequestBytes = 256 * 1024;

    /// <summary>The most characters one /generate request may ask for.</summary>
    public const int MaxLength = 4096;

    private readonly CharLanguageModel _model;
    private readonly CharVocabulary _vocab;

    private CharModelService(CharLanguageModel model, CharVocabulary vocab, string folder, long step)
    {
        _model = model;
        _vocab = vocab;
        Info = new ModelInfo(folder, step, model.Config.Kind, vocab.Count, model.Config.EmbeddingSize, model.Config.HiddenSize,
            model.Config.NumLayers, model.ParameterCount);
    }

    /// <summary>Loads the checkpoint in <paramref name="path"/> (a run folder written by <c>recurrent train</c>, or one of its checkpoints).</summary>
    /// <exception cref="InvalidOperationException">No path is configured.</exception>
    public static CharModelService Load(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new InvalidOperationException("No model configured: set Model:Path to a run folder written by `recurrent train` (e.g. --Model:Path runs/shakespeare, or the environment variable Model__Path).");
        LoadedCheckpoint ck = CharLmCheckpoint.Load(path);
        CharLanguageModel model = ck.BuildModel();        // eval mode; from here on only read
        return new CharModelService(model, ck.Vocabulary, ck.Folder, ck.Checkpoint.Step);
    }

    /// <summary>What is being served.</summary>
    public ModelInfo Info { get; }

    /// <summary>
    /// The prompt's continuation: <see cref="GenerateRequest.Length"/> characters drawn at the request's temperature and top-k
    /// from a generator seeded with <see cref="GenerateRequest.Seed"/> (same request, same text).
    /// </summary>
    /// <exception cref="ArgumentException">An argument is out of range, or the prompt has characters the model does not know.</exception>
    public GenerateResponse Generate(GenerateRequest request)
    {
        string prompt = string.IsNullOrEmpty(request.Prompt) ? "\n" : request.Prompt;
        if (prompt.Length > MaxInputChars) throw new ArgumentException($"prompt: expected at most {MaxInputChars} characters, got {prompt.Length}.");
        if (request.Length is < 0 or > MaxLength) throw new ArgumentException($"length: expected 0 to {MaxLength}, got {request.Length}.");
        if (!(request.Temperature >= 0 && double.IsFinite(request.Temperature))) throw new ArgumentException($"temperature: expected a finite number >= 0, got {request.Temperature}.");
        if (request.TopK < 0) throw new ArgumentException($"topK: expected 0 (all) or more, got {request.TopK}.");
        long[] ids = Encode(prompt, "prompt");
        long[] generated = Sampler.Generate(_model, ids, request.Length, request.Temperature, request.TopK, new Generator(request.Seed));
        return new GenerateResponse(prompt, _vocab.Decode(generated), generated.Length, request.Seed);
    }

    /// <summary>
    /// The next-character distribution after <see cref="PredictRequest.Text"/> (or <see cref="PredictRequest.Ids"/>): the
    /// softmax of the model's last logits, the most likely id and its character.
    /// </summary>
    /// <exception cref="ArgumentException">Neither or both inputs are given, the input is empty or too long, or it has unknown characters or ids.</exception>
    public PredictResponse Predict(PredictRequest request)
    {
        if ((request.Text is null) == (request.Ids is null)) throw new ArgumentException("expected exactly one of text or ids.");
        // Characters may be surrogate pairs: a text longer than twice the limit in UTF-16 units is refused before encoding.
        if (request.Text is { Length: > 2 * MaxInputChars } text)
            throw new ArgumentException($"the input must have 1 to {MaxInputChars} characters, got at least {text.Length / 2}.");
        long[] ids = request.Ids ?? Encode(request.Text!, "text");
        if (ids.Length is 0 or > MaxInputChars) throw new ArgumentException($"the input must have 1 to {MaxInputChars} characters, got {ids.Length}.");
        foreach (long id in ids)
            if (id < 0 || id >= _vocab.Count) throw new ArgumentException($"ids: expected ids in [0, {_vocab.Count}), got {id}.");

        float[] probabilities;
        using (Tensor.NewDisposeScope())
        using (new NoGrad())
        {
            var (logits, _) = _model.Forward(Tensor.FromArray(ids, ids.Length, 1));   // (T, 1, vocab)
            probabilities = logits.Select(0, ids.Length - 1).Select(0, 0).Softmax(0).ToArray<float>();
        }
        int best = 0;
        for (int j = 1; j < probabilities.Length; j++) if (probabilities[j] > probabilities[best]) best = j;
        return new PredictResponse(best, _vocab[best], probabilities);
    }

    private long[] Encode(string text, string name)
    {
        try { return _vocab.Encode(text, name); }
        catch (TextDataException e) { throw new ArgumentException(e.Message + " Use only characters the model was trained on.", e); }
    }
}
