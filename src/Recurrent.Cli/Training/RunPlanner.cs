// From the `train` command line to a resolved plan: the run folder, the model and training settings (the defaults of
// the built-in task or of a text file, or the checkpoint's when resuming), and the prepared data. Every option is
// checked before any data is read and before anything is written.
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Model;
using Recurrent.Cli.Tasks;
using Recurrent.Training;

namespace Recurrent.Cli.Training;

/// <summary>Everything a run needs, resolved and checked.</summary>
internal sealed class RunPlan
{
    public required string RunFolder { get; init; }
    public required ModelConfig Model { get; init; }
    public required TrainingConfig Training { get; init; }
    public required TrainingData Data { get; init; }
    public LoadedCheckpoint? Resumed { get; init; }
    public required int LogEvery { get; init; }
    public TimeSpan? TimeLimit { get; init; }
}

/// <summary>Resolves <see cref="TrainArguments"/> into a <see cref="RunPlan"/>.</summary>
internal static class RunPlanner
{
    /// <summary>The plan for <paramref name="a"/>.</summary>
    /// <exception cref="UsageException">Nonsensical options (nothing on disk has been touched).</exception>
    /// <exception cref="CliException">Unusable data or checkpoint (nothing on disk has been touched).</exception>
    public static RunPlan Plan(TrainArguments a)
    {
        bool builtin = a.Data is null && !a.Resume;
        string runFolder = a.Out is not null
            ? Path.GetFullPath(a.Out)
            : DefaultRunFolder(Path.GetFullPath(Path.Combine(a.RunsRoot, a.Data is null ? AdditionTask.TaskName : SafeStem(a.Data))), a.Resume);
        if (File.Exists(runFolder)) throw new UsageException($"--out '{a.Out}' is a file; give a folder for the run.");
        // A checkpoint folder is not a run: training there would write its checkpoints inside it, which the run's own
        // LATEST never names (and which a later resume of the run would prune with it).
        if (File.Exists(Path.Combine(runFolder, CheckpointStore.ManifestFileName)))
            throw new UsageException($"--out '{a.Out ?? runFolder}' is a checkpoint folder of the run '{Path.GetDirectoryName(runFolder)}'; give the run folder to --out{(a.Resume ? " to resume it" : "")}.");
        string? existing = CheckpointStore.TryResolve(runFolder);
        if (a.Resume)
        {
            if (existing is null)
                throw new UsageException($"--resume: there is no checkpoint in '{runFolder}' to resume; check --out, or train without --resume first.");
            return PlanResume(a, runFolder);
        }
        if (existing is not null)
            throw new UsageException($"'{runFolder}' already holds a checkpoint ({Path.GetFileName(existing)}); add --resume to continue it, or choose another --out.");
        return PlanNew(a, runFolder, builtin);
    }

    private static RunPlan PlanNew(TrainArguments a, string runFolder, bool builtin)
    {
        TrainArguments d = builtin ? Trainer.TaskDefaults : Trainer.FileDefaults;
        if (!builtin && a.Digits is not null) throw new UsageException("--digits applies to the built-in task only; drop it when training on --data.");
        if (!builtin && a.TargetAccuracy is > 0) throw new UsageException("--target-accuracy applies to the built-in task only (a text file has no skill metric).");
        var training = new TrainingConfig
        {
            SeqLen = a.SeqLen ?? d.SeqLen!.Value,
            BatchSize = a.BatchSize ?? d.BatchSize!.Value,
            Optimizer = (a.Optimizer ?? d.Optimizer!).ToLowerInvariant(),
            LearningRate = a.LearningRate ?? d.LearningRate!.Value,
            LrSchedule = (a.LrSchedule ?? "constant").ToLowerInvariant(),
            WarmupSteps = a.WarmupSteps ?? 0,
            WeightDecay = a.WeightDecay ?? d.WeightDecay!.Value,
            ClipNorm = a.Clip ?? d.Clip!.Value,
            Seed = a.Seed ?? d.Seed!.Value,
            Threads = a.Threads ?? Environment.ProcessorCount,
            Steps = a.Steps ?? d.Steps!.Value,
            EvalEvery = a.EvalEvery ?? d.EvalEvery!.Value,
            CheckpointEvery = a.CheckpointEvery ?? d.CheckpointEvery!.Value,
            ValFraction = a.ValFraction ?? d.ValFraction!.Value,
            ValChars = a.ValChars ?? d.ValChars!.Value,
            StopOnNonFinite = a.StopOnNonFinite ?? d.StopOnNonFinite!.Value,
            TargetAccuracy = a.TargetAccuracy ?? d.TargetAccuracy!.Value,
        };
        training.Validate();
        var modelShape = new ModelConfig
        {
            Kind = (a.Model ?? d.Model!).ToLowerInvariant(),
            VocabSize = 1, // replaced once the data is read
            EmbeddingSize = a.EmbeddingSize ?? d.EmbeddingSize!.Value,
            HiddenSize = a.HiddenSize ?? d.HiddenSize!.Value,
            NumLayers = a.Layers ?? d.Layers!.Value,
            Dropout = a.Dropout ?? d.Dropout!.Value,
        };
        modelShape.Validate();
        ResourceLimits.CheckTraining(modelShape, training.SeqLen, training.BatchSize, RunEvaluator.BatchSize(training));
        int logEvery = CheckLogEvery(a.LogEvery ?? d.LogEvery!.Value);
        TimeSpan? limit = CheckMinutes(a.Minutes);

        // The data, read only once every option is known to be sensible.
        DataSource source = builtin
            ? new DataSource { Kind = AdditionTask.TaskName, Digits = a.Digits ?? d.Digits!.Value }
            : new DataSource { Kind = "file" };
        TrainingData data = TrainingData.Prepare(source, a.Data, vocab: null, training);
        ModelConfig model = modelShape with { VocabSize = data.Vocab.Count };
        model.Validate();
        ResourceLimits.CheckTraining(model, training.SeqLen, training.BatchSize, RunEvaluator.BatchSize(training));
        return new RunPlan
        {
            RunFolder = runFolder, Model = model, Training = training with { Data = data.Source },
            Data = data, LogEvery = logEvery, TimeLimit = limit,
        };
    }

    private static RunPlan PlanResume(TrainArguments a, string runFolder)
    {
        LoadedCheckpoint ck = CharLmCheckpoint.Load(runFolder, forTraining: true);
        ModelConfig m = ck.Config.Model;
        TrainingConfig t = ck.Config.Training;
        // Options that decide the computation must agree with the checkpoint (or be left out).
        Same("--model", a.Model?.ToLowerInvariant(), m.Kind);
        Same("--embedding-size", a.EmbeddingSize, m.EmbeddingSize);
        Same("--hidden-size", a.HiddenSize, m.HiddenSize);
        Same("--layers", a.Layers, m.NumLayers);
        Same("--dropout", a.Dropout, m.Dropout);
        Same("--seq-len", a.SeqLen, t.SeqLen);
        Same("--batch-size", a.BatchSize, t.BatchSize);
        Same("--optimizer", a.Optimizer?.ToLowerInvariant(), t.Optimizer);
        Same("--lr", a.LearningRate, t.LearningRate);
        Same("--lr-schedule", a.LrSchedule?.ToLowerInvariant(), t.LrSchedule);
        Same("--warmup-steps", a.WarmupSteps, t.WarmupSteps);
        if (t.LrSchedule == "cosine" && a.Steps is { } newSteps && newSteps != t.Steps)
            throw new UsageException($"--steps {newSteps}: the checkpoint's cosine schedule spans its --steps {t.Steps}, which a resumed run keeps; drop --steps.");
        if (a.Steps is { } fewer && fewer < t.WarmupSteps)
            throw new UsageException($"--steps {fewer} is below the checkpoint's --warmup-steps {t.WarmupSteps}; give at least that many.");
        Same("--weight-decay", a.WeightDecay, t.WeightDecay);
        Same("--clip", a.Clip, t.ClipNorm);
        Same("--seed", a.Seed, t.Seed);
        Same("--val-fraction", a.ValFraction, t.ValFraction);
        Same("--val-chars", a.ValChars, t.ValChars);
        Same("--digits", a.Digits, t.Data.Digits);

        if (t.Data.Kind != AdditionTask.TaskName && a.TargetAccuracy is > 0)
            throw new UsageException("--target-accuracy applies to the built-in task only (a text file has no skill metric).");
        TrainingConfig training = t with
        {
            // A run trained on a larger machine resumes with this machine's processors (the header warns that the last
            // bits may then differ); an explicit --threads beyond them is refused.
            Threads = a.Threads ?? Math.Min(t.Threads, Environment.ProcessorCount),
            Steps = a.Steps ?? t.Steps,
            EvalEvery = a.EvalEvery ?? t.EvalEvery,
            CheckpointEvery = a.CheckpointEvery ?? t.CheckpointEvery,
            StopOnNonFinite = a.StopOnNonFinite ?? t.StopOnNonFinite,
            TargetAccuracy = a.TargetAccuracy ?? t.TargetAccuracy,
        };
        training.Validate();
        ResourceLimits.CheckTraining(m, training.SeqLen, training.BatchSize, RunEvaluator.BatchSize(training));
        bool builtin = t.Data.Kind == AdditionTask.TaskName;
        int logEvery = CheckLogEvery(a.LogEvery ?? (builtin ? Trainer.TaskDefaults : Trainer.FileDefaults).LogEvery!.Value);
        TimeSpan? limit = CheckMinutes(a.Minutes);
        long done = ck.State!.Step;
        if (training.Steps < done)
            throw new UsageException($"--steps {training.Steps} is below the checkpoint's step {done}; give a larger --steps to train further.");
        if (builtin && a.Data is not null)
            throw new UsageException($"the checkpoint in '{runFolder}' was trained on the built-in task; drop --data to resume it.");
        string? path = builtin ? null : a.Data ?? t.Data.Path ?? throw new CliException("the checkpoint does not record its data file; give --data.");

        TrainingData data = TrainingData.Prepare(t.Data, path, ck.Vocabulary, training);
        return new RunPlan
        {
            RunFolder = runFolder, Model = m, Training = training, Data = data, Resumed = ck, LogEvery = logEvery, TimeLimit = limit,
        };
    }

    private static int CheckLogEvery(int logEvery) =>
        logEvery >= 1 ? logEvery : throw new UsageException($"--log-every must be at least 1, got {logEvery}.");

    private static TimeSpan? CheckMinutes(double? minutes)
    {
        if (minutes is null || minutes == 0) return null;
        if (!(minutes > 0 && minutes <= 10_000_000)) throw new UsageException($"--minutes must be positive (or 0 for no limit), got {minutes}.");
        return TimeSpan.FromMinutes(minutes.Value);
    }

    /// <summary>
    /// Without --out: a new run goes to the first of runs/NAME, runs/NAME-2, runs/NAME-3, ... that holds no checkpoint
    /// (so running `train` twice never collides); --resume picks the one whose checkpoint was written last.
    /// </summary>
    private static string DefaultRunFolder(string baseFolder, bool resume)
    {
        static bool HasCheckpoint(string dir)
        {
            try { return CheckpointStore.TryResolve(dir) is not null; }
            catch (CheckpointException) { return true; } // damaged: occupied, and reported if resumed
        }
        if (resume)
        {
            string? parent = Path.GetDirectoryName(baseFolder);
            string name = Path.GetFileName(baseFolder);
            if (parent is null || !Directory.Exists(parent)) return baseFolder;
            var candidates = Directory.EnumerateDirectories(parent)
                .Where(d => Path.GetFileName(d) == name || IsNumberedSibling(Path.GetFileName(d), name))
                .Where(d => File.Exists(Path.Combine(d, CheckpointStore.PointerFileName)))
                .OrderByDescending(d => File.GetLastWriteTimeUtc(Path.Combine(d, CheckpointStore.PointerFileName)))
                .ToList();
            return candidates.Count > 0 ? candidates[0] : baseFolder;
        }
        if (!HasCheckpoint(baseFolder)) return baseFolder;
        for (int i = 2; ; i++)
        {
            string candidate = $"{baseFolder}-{i}";
            if (!HasCheckpoint(candidate)) return candidate;
        }
    }

    private static bool IsNumberedSibling(string dirName, string name) =>
        dirName.Length > name.Length + 1 && dirName.StartsWith(name + "-", StringComparison.Ordinal)
        && dirName[(name.Length + 1)..].All(char.IsAsciiDigit);

    private static void Same(string option, object? given, object? saved)
    {
        if (given is null || Equals(given, saved)) return;
        throw new UsageException($"{option} {Format(given)} differs from the checkpoint's {Format(saved)}; drop {option} when resuming (it is taken from the checkpoint).");
    }

    private static string Format(object? v) => v switch
    {
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        null => "(none)",
        _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    private static string SafeStem(string path)
    {
        string stem = Path.GetFileNameWithoutExtension(path);
        var chars = stem.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray();
        return chars.Length == 0 ? "run" : new string(chars);
    }
}
