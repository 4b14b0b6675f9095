// A language-model checkpoint: the library's checkpoint store (Recurrent.Training: weights, optimizer state, the data
// and dropout generators, step, manifest, atomic save) plus the program's own files:
//   config.json    format + version, model architecture, training hyperparameters and data source
//   vocab.json     the characters, in id order
//   trainer.json   loss and gradient norm of every step, evaluations, counters
// Folders written before the store moved into the library (checkpoint format 1) are still read: there the generator
// states are in trainer.json ("data_rng", "dropout_rng") and there is no training.json.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Recurrent.Cli.Model;
using Recurrent.Cli.Tasks;
using Recurrent.Cli.Training;
using Recurrent.Data;
using Recurrent.Optim;
using Recurrent.Training;

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

/// <summary>Source-generated JSON contracts of the program's checkpoint files (no reflection: trimming- and AOT-safe).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(CheckpointConfig))]
[JsonSerializable(typeof(TrainerState))]
internal sealed partial class CliJson : JsonSerializerContext;

/// <summary>A checkpoint read back from disk (verified against its manifest).</summary>
public sealed class LoadedCheckpoint
{
    /// <summary>The library's view of the folder: step, manifest, tensors, generator states.</summary>
    public required Checkpoint Checkpoint { get; init; }

    /// <summary>The checkpoint folder.</summary>
    public string Folder => Checkpoint.Folder;

    /// <summary>config.json.</summary>
    public required CheckpointConfig Config { get; init; }

    /// <summary>vocab.json.</summary>
    public required CharVocabulary Vocabulary { get; init; }

    /// <summary>model.safetensors.</summary>
    public required Dictionary<string, Tensor> Weights { get; init; }

    /// <summary>trainer.json (only when loaded for training).</summary>
    public TrainerState? State { get; init; }

    /// <summary>Whether the checkpoint holds an int8 model written by <c>quantize</c> (inference only).</summary>
    public bool IsQuantized { get; init; }

    /// <summary>A model with the checkpoint's weights (in eval mode).</summary>
    public CharLanguageModel BuildModel()
    {
        var model = new CharLanguageModel(Config.Model, new Generator(0), new Generator(0));
        if (IsQuantized)
        {
            Checkpoint.RestoreQuantized(model);
            model.Eval();
            return model;
        }
        try { model.LoadStateDict(Weights, strict: true); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            throw new CliException($"the weights in '{Folder}' do not fit its config.json: {e.Message}", e);
        }
        model.Eval();
        return model;
    }

    /// <summary>
    /// Puts the training state back: weights into <paramref name="model"/>, the optimizer state, the learning-rate
    /// schedule's step (when the run has one), and the data-order and dropout generators. Nothing changes when it throws.
    /// </summary>
    /// <exception cref="CheckpointException">The state does not fit the model, optimizer or schedule.</exception>
    public void Restore(CharLanguageModel model, Optimizer optimizer, LrScheduler? scheduler, Generator data, Generator dropout)
    {
        if (Checkpoint.GetGeneratorState(CharLmCheckpoint.DataGenerator) is not null)
        {
            Checkpoint.Restore(model, optimizer,
                new Dictionary<string, Generator> { [CharLmCheckpoint.DataGenerator] = data, [CharLmCheckpoint.DropoutGenerator] = dropout },
                restoreDefaultGenerator: false, scheduler);
            return;
        }
        // Format 1: the generator states are in trainer.json (checked when it was read for training). Read without it
        // (Load's default), there are none to restore: refused before anything changes.
        if (State?.DataRng is not { Length: 6 } dataRng || State.DropoutRng is not { Length: 6 } dropoutRng)
            throw new CheckpointException(CheckpointProblem.Mismatch, Folder,
                $"the checkpoint '{Folder}' keeps its generator states in trainer.json, which was not read: load it with forTraining: true to resume training from it.");
        try
        {
            new Generator(0).SetState(dataRng);             // the same checks, on a scratch generator, before anything changes
            new Generator(0).SetState(dropoutRng);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointException(CheckpointProblem.Damaged, Folder, $"the checkpoint '{Folder}' has a damaged trainer.json: {e.Message}", e);
        }
        Checkpoint.Restore(model, optimizer, restoreDefaultGenerator: false, scheduler: scheduler);
        data.SetState(dataRng);
        dropout.SetState(dropoutRng);
    }
}

/// <summary>Writes and reads language-model checkpoints.</summary>
public static class CharLmCheckpoint
{
    /// <summary>config.json's format name.</summary>
    public const string FormatName = "recurrent-charlm";

    /// <summary>
    /// The newest content version of config.json this build reads: 2 adds the learning-rate schedule (lr_schedule,
    /// warmup_steps, and scheduler.safetensors). A run without one is written as version 1, which older builds read too;
    /// a run with one as version 2, which they refuse instead of resuming it at a constant rate.
    /// </summary>
    public const int FormatVersion = 2;

    /// <summary>The oldest content version this build reads.</summary>
    public const int MinFormatVersion = 1;

    /// <summary>The version a config with these training settings is written as.</summary>
    internal static int VersionFor(TrainingConfig training) => training.HasSchedule ? 2 : 1;

    /// <summary>The program's own file names (the store adds model.safetensors, optimizer.safetensors, training.json).</summary>
    public const string ConfigFile = "config.json", VocabFile = "vocab.json", TrainerFile = "trainer.json";

    /// <summary>Names of the saved generators.</summary>
    public const string DataGenerator = "data", DropoutGenerator = "dropout";

    /// <summary>Saves a checkpoint into <paramref name="store"/> (atomically; see <see cref="CheckpointStore"/>).</summary>
    public static string Save(CheckpointStore store, CharLanguageModel model, Optimizer optimizer, LrScheduler? scheduler, Generator data,
        Generator dropout, CharVocabulary vocab, TrainingConfig training, TrainerState state)
    {
        var config = new CheckpointConfig { FormatVersion = VersionFor(training), Model = model.Config, Training = training };
        CheckpointFile[] files =
        [
            new(ConfigFile, s => JsonSerializer.Serialize(s, config, CliJson.Default.CheckpointConfig)),
            CheckpointFile.FromText(VocabFile, vocab.ToJson()),
            new(TrainerFile, s => JsonSerializer.Serialize(s, state, CliJson.Default.TrainerState)),
        ];
        return store.Save(state.Step, model, optimizer,
            new Dictionary<string, Generator> { [DataGenerator] = data, [DropoutGenerator] = dropout },
            new Dictionary<string, string> { ["format"] = FormatName }, files, scheduler);
    }

    /// <summary>Saves an int8 model (from <c>quantize</c>) with its config and vocabulary, no optimizer or trainer state.</summary>
    public static string SaveQuantized(CheckpointStore store, long step, CharLanguageModel model, CharVocabulary vocab, TrainingConfig training)
    {
        var config = new CheckpointConfig { FormatVersion = VersionFor(training), Model = model.Config, Training = training };
        CheckpointFile[] files =
        [
            new(ConfigFile, s => JsonSerializer.Serialize(s, config, CliJson.Default.CheckpointConfig)),
            CheckpointFile.FromText(VocabFile, vocab.ToJson()),
        ];
        return store.Save(step, model, optimizer: null, generators: null,
            new Dictionary<string, string> { ["format"] = FormatName, ["quantized"] = "int8-dynamic" }, files);
    }

    /// <summary>
    /// Reads the checkpoint at <paramref name="path"/> (a checkpoint folder or a run folder), verifying its manifest.
    /// With <paramref name="forTraining"/> the optimizer and trainer state must be there too.
    /// </summary>
    /// <exception cref="CheckpointException">Missing, damaged, incomplete or incompatible checkpoint folder.</exception>
    /// <exception cref="CliException">The folder is intact but its program files are unusable (one-line message).</exception>
    public static LoadedCheckpoint Load(string path, bool forTraining = false)
    {
        Checkpoint ck = CheckpointStore.Load(path);
        string folder = ck.Folder;
        string[] required = forTraining
            ? [ConfigFile, VocabFile, CheckpointStore.ModelFileName, CheckpointStore.OptimizerFileName, TrainerFile]
            : [ConfigFile, VocabFile, CheckpointStore.ModelFileName];
        foreach (string name in required)
            if (!ck.HasFile(name))
                throw new CliException($"the checkpoint '{folder}' has no {name}; it was not written by '{CliApp.Name} train' or is incomplete.");

        CheckpointConfig config = ReadJson(ck, ConfigFile, CliJson.Default.CheckpointConfig);
        if (config.Format != FormatName)
            throw new CliException($"'{folder}' holds a '{config.Format}' checkpoint, not a {FormatName} one.");
        if (config.FormatVersion is < MinFormatVersion or > FormatVersion)
            throw new CliException(config.FormatVersion > FormatVersion
                ? $"the checkpoint '{folder}' was written by a newer version of {CliApp.Name} (model format {config.FormatVersion}; this build reads {FormatVersion}); update {CliApp.Name}."
                : $"the checkpoint '{folder}' uses the old model format {config.FormatVersion}, which this build ({FormatVersion}) cannot read; train again.");
        if (config.Model is null || config.Training is null || config.Training.Data is null)
            throw new CliException($"the checkpoint '{folder}' has an incomplete {ConfigFile} (no model, training or data section).");
        try
        {
            config.Model.Validate();
            // The training and data sections too (a hand-edited or crafted file is read like any other): the thread
            // count is the one setting a resume adapts to this machine, so it is not judged here.
            (config.Training with { Threads = 1 }).Validate();
            if (config.Training.Data.Kind == AdditionTask.TaskName) _ = new AdditionTask(config.Training.Data.Digits ?? 2, config.Training.Data.HeldOut);
        }
        catch (UsageException e) { throw new CliException($"the checkpoint '{folder}' has an invalid {ConfigFile}: {e.Message}"); }

        CharVocabulary vocab;
        try { vocab = CharVocabulary.FromJson(ck.ReadAllText(VocabFile)); }
        catch (TextDataException e) { throw new CliException($"the checkpoint '{folder}' has a damaged {VocabFile}: {e.Message}"); }
        if (vocab.Count != config.Model.VocabSize)
            throw new CliException($"the checkpoint '{folder}' is inconsistent: {VocabFile} has {vocab.Count} characters but {ConfigFile} says vocab_size {config.Model.VocabSize}.");

        bool quantized = ck.ModelIsQuantized;
        if (quantized && forTraining)
            throw new CliException($"the checkpoint '{folder}' holds an int8 model written by '{CliApp.Name} quantize' (inference only); resume the float run it came from.");
        // The model config.json describes is built before the weights are copied in: a config that does not match the
        // weights' size would allocate (and initialise) a model of its own size first, gigabytes for a few edited digits.
        long parameters = ResourceLimits.ParameterCount(config.Model);
        Dictionary<string, Tensor> weights = quantized ? [] : ck.ReadModelState();
        long held = quantized ? new FileInfo(ck.GetFilePath(CheckpointStore.ModelFileName)).Length : weights.Values.Sum(t => (long)t.Numel);
        if (quantized ? parameters > held : parameters != held)
            throw new CliException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"the checkpoint '{folder}' is inconsistent: {ConfigFile} describes a model of {parameters:N0} parameters, but {CheckpointStore.ModelFileName} holds {(quantized ? $"{held:N0} bytes" : $"{held:N0} values")}."));
        TrainerState? state = null;
        if (forTraining)
        {
            state = ReadJson(ck, TrainerFile, CliJson.Default.TrainerState);
            bool legacy = ck.GetGeneratorState(DataGenerator) is null;
            bool generatorsOk = legacy
                ? state.DataRng is { Length: 6 } && state.DropoutRng is { Length: 6 }
                : ck.GetGeneratorState(DropoutGenerator) is not null;
            if (state.Step != ck.Step || !generatorsOk || state.TrainLoss is null || state.GradNorm is null || state.Evals is null)
                throw new CliException($"the checkpoint '{folder}' has a damaged {TrainerFile} (step or generator states do not fit).");
        }
        return new LoadedCheckpoint { Checkpoint = ck, Config = config, Vocabulary = vocab, Weights = weights, State = state, IsQuantized = quantized };
    }

    /// <summary>A one-line description of the model in <paramref name="folder"/>, or null if it has no readable config.json.</summary>
    public static string? TryDescribe(string folder)
    {
        try
        {
            var c = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(folder, ConfigFile)), CliJson.Default.CheckpointConfig);
            if (c?.Model is not { } m || c.Training?.Data is null) return null;
            return string.Create(CultureInfo.InvariantCulture,
                $"model: {m.Kind}, vocab {m.VocabSize}, embedding {m.EmbeddingSize}, hidden {m.HiddenSize}, layers {m.NumLayers}, dropout {m.Dropout}; trained on {c.Training.Data.Describe()}");
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static T ReadJson<T>(Checkpoint ck, string name, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(ck.ReadAllBytes(name), type)
                ?? throw new CliException($"the checkpoint '{ck.Folder}' has an empty {name}.");
        }
        catch (JsonException e)
        {
            throw new CliException($"the checkpoint '{ck.Folder}' has a damaged {name}: {e.Message}", e);
        }
    }
}
