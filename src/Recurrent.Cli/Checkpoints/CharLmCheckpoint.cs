// The contents of a language-model checkpoint folder and how they are written and read back:
//   model.safetensors      weights, PyTorch state_dict keys (emb.weight, rnn.weight_ih_l0, ..., fc.bias)
//   optimizer.safetensors  optimizer state_dict, flattened (state.{i}.exp_avg, param_groups.0.lr, ...)
//   config.json            format + version, model architecture, training hyperparameters and data source
//   vocab.json             the characters, in id order
//   trainer.json           step, RNG states (data order, dropout), loss history, evaluations
//   manifest.json          written last by CheckpointStore (sizes and SHA-256 of the above)
// Tensors go through Recurrent.IO.TensorIO; atomicity and the manifest through CheckpointStore.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Recurrent.Cli.Model;
using Recurrent.Cli.Training;
using Recurrent.Data;
using Recurrent.IO;
using Recurrent.Optim;

namespace Recurrent.Cli.Checkpoints;

/// <summary>config.json of a checkpoint.</summary>
public sealed record CheckpointConfig
{
    /// <summary>Always <see cref="CharLmCheckpoint.FormatName"/>.</summary>
    [JsonPropertyName("format")] public string Format { get; init; } = CharLmCheckpoint.FormatName;

    /// <summary>The content version (see <see cref="CharLmCheckpoint.FormatVersion"/>).</summary>
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = CharLmCheckpoint.FormatVersion;

    /// <summary>The architecture.</summary>
    [JsonPropertyName("model")] public ModelConfig Model { get; init; } = new();

    /// <summary>The training hyperparameters.</summary>
    [JsonPropertyName("training")] public TrainingConfig Training { get; init; } = new();
}

/// <summary>A checkpoint read back from disk.</summary>
public sealed class LoadedCheckpoint
{
    /// <summary>The checkpoint folder.</summary>
    public required string Folder { get; init; }

    /// <summary>config.json.</summary>
    public required CheckpointConfig Config { get; init; }

    /// <summary>vocab.json.</summary>
    public required CharVocabulary Vocabulary { get; init; }

    /// <summary>model.safetensors.</summary>
    public required Dictionary<string, Tensor> Weights { get; init; }

    /// <summary>optimizer.safetensors (only when loaded for training).</summary>
    public Dictionary<string, Tensor>? OptimizerState { get; init; }

    /// <summary>trainer.json (only when loaded for training).</summary>
    public TrainerState? State { get; init; }

    /// <summary>A model with the checkpoint's weights (in eval mode).</summary>
    public CharLanguageModel BuildModel()
    {
        var model = new CharLanguageModel(Config.Model, new Generator(0), new Generator(0));
        try { model.LoadStateDict(Weights, strict: true); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            throw new CliException($"the weights in '{Folder}' do not fit its config.json: {e.Message}", e);
        }
        model.Eval();
        return model;
    }
}

/// <summary>Writes and reads language-model checkpoints.</summary>
public static class CharLmCheckpoint
{
    /// <summary>config.json's format name.</summary>
    public const string FormatName = "recurrent-charlm";

    /// <summary>The content version this build writes and reads.</summary>
    public const int FormatVersion = 1;

    /// <summary>File names.</summary>
    public const string ModelFile = "model.safetensors", OptimizerFile = "optimizer.safetensors", ConfigFile = "config.json",
        VocabFile = "vocab.json", TrainerFile = "trainer.json";

    /// <summary>JSON settings of every checkpoint JSON file (NaN losses of skipped steps are written as "NaN").</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Saves a checkpoint into <paramref name="runDir"/> (atomically; see <see cref="CheckpointStore"/>).</summary>
    public static string Save(CheckpointStore store, string runDir, CharLanguageModel model, Optimizer optimizer,
        CharVocabulary vocab, TrainingConfig training, TrainerState state)
    {
        var config = new CheckpointConfig { Model = model.Config, Training = training };
        Dictionary<string, Tensor> weights = model.StateDict();
        Dictionary<string, Tensor> optimizerState = optimizer.StateDict();
        var meta = new Dictionary<string, string>
        {
            ["format"] = FormatName,
            ["step"] = state.Step.ToString(CultureInfo.InvariantCulture),
        };
        CheckpointFile[] files =
        [
            new(ModelFile, s => s.Write(TensorIO.Serialize(weights, meta))),
            new(OptimizerFile, s => s.Write(TensorIO.Serialize(optimizerState, new Dictionary<string, string> { ["optimizer"] = training.Optimizer }))),
            new(ConfigFile, s => JsonSerializer.Serialize(s, config, Json)),
            new(VocabFile, s => s.Write(Encoding.UTF8.GetBytes(vocab.ToJson()))),
            new(TrainerFile, s => JsonSerializer.Serialize(s, state, Json)),
        ];
        return store.Save(runDir, state.Step, files);
    }

    /// <summary>
    /// Reads the checkpoint at <paramref name="path"/> (a checkpoint folder or a run folder), verifying its manifest.
    /// With <paramref name="forTraining"/> the optimizer and trainer state are read too.
    /// </summary>
    /// <exception cref="CliException">Missing, damaged, incomplete or incompatible checkpoint (one-line message).</exception>
    public static LoadedCheckpoint Load(string path, bool forTraining = false)
    {
        string folder = CheckpointStore.Resolve(path);
        CheckpointManifest manifest = CheckpointStore.Verify(folder);
        string[] required = forTraining ? [ConfigFile, VocabFile, ModelFile, OptimizerFile, TrainerFile] : [ConfigFile, VocabFile, ModelFile];
        foreach (string name in required)
            if (!manifest.Files.Any(f => f.Name == name))
                throw new CliException($"the checkpoint '{folder}' has no {name}; it was not written by '{CliApp.Name} train' or is incomplete.");

        CheckpointConfig config = ReadJson<CheckpointConfig>(folder, ConfigFile);
        if (config.Format != FormatName)
            throw new CliException($"'{folder}' holds a '{config.Format}' checkpoint, not a {FormatName} one.");
        if (config.FormatVersion != FormatVersion)
            throw new CliException(config.FormatVersion > FormatVersion
                ? $"the checkpoint '{folder}' was written by a newer version of {CliApp.Name} (model format {config.FormatVersion}; this build reads {FormatVersion}); update {CliApp.Name}."
                : $"the checkpoint '{folder}' uses the old model format {config.FormatVersion}, which this build ({FormatVersion}) cannot read; train again.");
        try { config.Model.Validate(); }
        catch (UsageException e) { throw new CliException($"the checkpoint '{folder}' has an invalid config.json: {e.Message}"); }

        CharVocabulary vocab;
        try { vocab = CharVocabulary.FromJson(File.ReadAllText(Path.Combine(folder, VocabFile), Encoding.UTF8)); }
        catch (TextDataException e) { throw new CliException($"the checkpoint '{folder}' has a damaged {VocabFile}: {e.Message}"); }
        if (vocab.Count != config.Model.VocabSize)
            throw new CliException($"the checkpoint '{folder}' is inconsistent: {VocabFile} has {vocab.Count} characters but config.json says vocab_size {config.Model.VocabSize}.");

        Dictionary<string, Tensor> weights = ReadTensors(folder, ModelFile);
        Dictionary<string, Tensor>? optimizerState = null;
        TrainerState? state = null;
        if (forTraining)
        {
            optimizerState = ReadTensors(folder, OptimizerFile);
            state = ReadJson<TrainerState>(folder, TrainerFile);
            if (state.Step != manifest.Step || state.DataRng.Length != 6 || state.DropoutRng.Length != 6)
                throw new CliException($"the checkpoint '{folder}' has a damaged {TrainerFile} (step or RNG state does not fit).");
        }
        return new LoadedCheckpoint
        {
            Folder = folder, Config = config, Vocabulary = vocab, Weights = weights,
            OptimizerState = optimizerState, State = state,
        };
    }

    /// <summary>A one-line description of the model in <paramref name="folder"/>, or null if it has no readable config.json.</summary>
    public static string? TryDescribe(string folder)
    {
        try
        {
            var c = JsonSerializer.Deserialize<CheckpointConfig>(File.ReadAllText(Path.Combine(folder, ConfigFile)), Json);
            if (c is null) return null;
            var m = c.Model;
            return string.Create(CultureInfo.InvariantCulture,
                $"model: {m.Kind}, vocab {m.VocabSize}, embedding {m.EmbeddingSize}, hidden {m.HiddenSize}, layers {m.NumLayers}, dropout {m.Dropout}; trained on {c.Training.Data.Describe()}");
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Dictionary<string, Tensor> ReadTensors(string folder, string name)
    {
        try { return TensorIO.ReadTensors(Path.Combine(folder, name)); }
        catch (NotSupportedException e) { throw new CliException($"the checkpoint '{folder}' has an unusable {name}: {e.Message}", e); }
    }

    private static T ReadJson<T>(string folder, string name)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(Path.Combine(folder, name), Encoding.UTF8), Json)
                ?? throw new CliException($"the checkpoint '{folder}' has an empty {name}.");
        }
        catch (JsonException e)
        {
            throw new CliException($"the checkpoint '{folder}' has a damaged {name}: {e.Message}", e);
        }
    }
}
