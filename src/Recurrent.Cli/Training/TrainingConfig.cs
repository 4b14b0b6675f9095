// The training hyperparameters and data source of a run, as stored in a checkpoint's config.json. Everything that
// decides the sequence of losses lives here, so a resumed run can check that it continues the same computation.
using System.Text.Json.Serialization;

namespace Recurrent.Cli.Training;

/// <summary>Where the training text comes from.</summary>
public sealed record DataSource
{
    /// <summary>"file" (a UTF-8 text file) or "addition" (the built-in task).</summary>
    [JsonPropertyName("kind")] public string Kind { get; init; } = "file";

    /// <summary>For "file": the file's full path when training started.</summary>
    [JsonPropertyName("path")] public string? Path { get; init; }

    /// <summary>For "file": SHA-256 of the file's bytes, to refuse resuming on different text.</summary>
    [JsonPropertyName("sha256")] public string? Sha256 { get; init; }

    /// <summary>For "addition": digits per operand.</summary>
    [JsonPropertyName("digits")] public int? Digits { get; init; }

    /// <summary>For "addition": number of held-out problems.</summary>
    [JsonPropertyName("held_out")] public int? HeldOut { get; init; }

    /// <summary>A short description for logs.</summary>
    public string Describe() => Kind == "addition" ? $"built-in {Digits}-digit addition task" : $"'{Path}'";
}

/// <summary>Training hyperparameters (validated by <see cref="Validate"/>).</summary>
public sealed record TrainingConfig
{
    /// <summary>Time steps per training window (truncated BPTT length).</summary>
    [JsonPropertyName("seq_len")] public int SeqLen { get; init; }

    /// <summary>Windows per batch.</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; }

    /// <summary>"adam", "adamw", "sgd" or "rmsprop".</summary>
    [JsonPropertyName("optimizer")] public string Optimizer { get; init; } = "adam";

    /// <summary>Learning rate.</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; }

    /// <summary>
    /// "constant" or "cosine" (from the learning rate towards 0 at <see cref="Steps"/>). A config.json written before
    /// the option existed has none: the source-generated reader then sets it empty, which reads as "constant".
    /// </summary>
    [JsonPropertyName("lr_schedule")]
    public string LrSchedule { get => string.IsNullOrEmpty(field) ? "constant" : field; init; } = "constant";

    /// <summary>Steps over which the learning rate rises linearly to its value (0: none).</summary>
    [JsonPropertyName("warmup_steps")] public long WarmupSteps { get; init; }

    /// <summary>Weight decay (L2 for adam/sgd/rmsprop, decoupled for adamw).</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; }

    /// <summary>Maximum gradient norm (0: no clipping; the norm is still measured and logged).</summary>
    [JsonPropertyName("clip_norm")] public double ClipNorm { get; init; }

    /// <summary>Seed of the initial weights, the data order and the dropout masks.</summary>
    [JsonPropertyName("seed")] public ulong Seed { get; init; }

    /// <summary>Kernel threads (results are bit-identical for a given count).</summary>
    [JsonPropertyName("threads")] public int Threads { get; init; }

    /// <summary>Total steps of the run.</summary>
    [JsonPropertyName("steps")] public long Steps { get; init; }

    /// <summary>Evaluate (validation loss and skill) every this many steps.</summary>
    [JsonPropertyName("eval_every")] public int EvalEvery { get; init; }

    /// <summary>Save a checkpoint every this many steps (and at the end and on interruption).</summary>
    [JsonPropertyName("checkpoint_every")] public int CheckpointEvery { get; init; }

    /// <summary>Fraction of a text file held out for validation.</summary>
    [JsonPropertyName("val_fraction")] public double ValFraction { get; init; }

    /// <summary>At most this many validation characters are evaluated (the head of the validation part).</summary>
    [JsonPropertyName("val_chars")] public int ValChars { get; init; }

    /// <summary>Stop (instead of skipping the step) when the gradients are not finite.</summary>
    [JsonPropertyName("stop_on_nonfinite")] public bool StopOnNonFinite { get; init; }

    /// <summary>Stop early once the held-out skill metric reaches this (0: never; built-in task only).</summary>
    [JsonPropertyName("target_accuracy")] public double TargetAccuracy { get; init; }

    /// <summary>The training text.</summary>
    [JsonPropertyName("data")] public DataSource Data { get; init; } = new();

    /// <summary>Whether the learning rate changes during the run (a schedule or a warm-up).</summary>
    public bool HasSchedule => LrSchedule != "constant" || WarmupSteps > 0;

    /// <summary>The learning rate and its schedule, for logs ("lr 0.002, 100 warm-up steps, then cosine to 0 at step 2000").</summary>
    public string DescribeLr() =>
        FormattableString.Invariant($"lr {LearningRate}") + (WarmupSteps > 0 ? $", {WarmupSteps} warm-up steps" : "")
        + (LrSchedule == "cosine" ? $"{(WarmupSteps > 0 ? ", then" : ",")} cosine to 0 at step {Steps}" : "");

    /// <summary>Checks every value; the message names the option to fix.</summary>
    /// <exception cref="UsageException">A value is out of range.</exception>
    public void Validate()
    {
        if (SeqLen < 1) throw new UsageException($"--seq-len must be at least 1, got {SeqLen}.");
        if (BatchSize < 1) throw new UsageException($"--batch-size must be at least 1, got {BatchSize}.");
        if (Optimizer is not ("adam" or "adamw" or "sgd" or "rmsprop"))
            throw new UsageException($"--optimizer must be adam, adamw, sgd or rmsprop, got '{Optimizer}'.");
        if (!(LearningRate > 0 && double.IsFinite(LearningRate))) throw new UsageException($"--lr must be a positive number, got {LearningRate}.");
        if (!(WeightDecay >= 0 && double.IsFinite(WeightDecay))) throw new UsageException($"--weight-decay must be zero or positive, got {WeightDecay}.");
        if (LrSchedule is not ("constant" or "cosine")) throw new UsageException($"--lr-schedule must be constant or cosine, got '{LrSchedule}'.");
        if (!(ClipNorm >= 0 && double.IsFinite(ClipNorm))) throw new UsageException($"--clip must be zero (no clipping) or positive, got {ClipNorm}.");
        Model.ResourceLimits.CheckThreads(Threads);
        if (Steps < 1) throw new UsageException($"--steps must be at least 1, got {Steps}.");
        if (WarmupSteps < 0 || WarmupSteps > Steps) throw new UsageException($"--warmup-steps must be between 0 and --steps ({Steps}), got {WarmupSteps}.");
        if (HasSchedule && Steps > int.MaxValue)   // the schedule counts steps in LambdaLR's int epoch
            throw new UsageException($"--steps must be at most {int.MaxValue} with --lr-schedule cosine or --warmup-steps, got {Steps}.");
        if (EvalEvery < 1) throw new UsageException($"--eval-every must be at least 1, got {EvalEvery}.");
        if (CheckpointEvery < 1) throw new UsageException($"--checkpoint-every must be at least 1, got {CheckpointEvery}.");
        if (!(ValFraction > 0 && ValFraction <= 0.5)) throw new UsageException($"--val-fraction must be in (0, 0.5], got {ValFraction}.");
        if (ValChars < 2) throw new UsageException($"--val-chars must be at least 2, got {ValChars}.");
        if (!(TargetAccuracy >= 0 && TargetAccuracy <= 1)) throw new UsageException($"--target-accuracy must be in [0, 1], got {TargetAccuracy}.");
        if ((long)SeqLen * BatchSize > 50_000_000)
            throw new UsageException($"--seq-len x --batch-size = {(long)SeqLen * BatchSize:N0} characters per step is too large; use at most 50,000,000.");
    }
}

/// <summary>One evaluation: validation loss and, for the built-in task, the held-out accuracy.</summary>
public sealed record EvalRecord
{
    /// <summary>The step after which it was measured.</summary>
    [JsonPropertyName("step")] public long Step { get; init; }

    /// <summary>Validation loss in nats per character.</summary>
    [JsonPropertyName("loss")] public double Loss { get; init; }

    /// <summary>Held-out exact-match accuracy in [0, 1], or null when the data has no skill metric.</summary>
    [JsonPropertyName("accuracy")] public double? Accuracy { get; init; }
}

/// <summary>trainer.json: the history of a run (what a resumed run continues besides the weights, optimizer and generators).</summary>
public sealed record TrainerState
{
    /// <summary>Steps completed (applied or skipped).</summary>
    [JsonPropertyName("step")] public long Step { get; init; }

    /// <summary>
    /// Checkpoint format 1 only: the state of the data-order generator. Since format 2 the generator states are in the
    /// store's training.json (generators "data" and "dropout"), and this is not written.
    /// </summary>
    [JsonPropertyName("data_rng"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ulong[]? DataRng { get; init; }

    /// <summary>Checkpoint format 1 only: the state of the dropout generator.</summary>
    [JsonPropertyName("dropout_rng"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ulong[]? DropoutRng { get; init; }

    /// <summary>Steps skipped because their gradients were not finite.</summary>
    [JsonPropertyName("skipped_steps")] public long SkippedSteps { get; init; }

    /// <summary>Characters trained on.</summary>
    [JsonPropertyName("tokens")] public long Tokens { get; init; }

    /// <summary>Training time so far, all invocations together.</summary>
    [JsonPropertyName("train_seconds")] public double TrainSeconds { get; init; }

    /// <summary>Training loss of every step (index = step - 1).</summary>
    [JsonPropertyName("train_loss")] public List<double> TrainLoss { get; init; } = [];

    /// <summary>Gradient norm (before clipping) of every step.</summary>
    [JsonPropertyName("grad_norm")] public List<double> GradNorm { get; init; } = [];

    /// <summary>Every evaluation.</summary>
    [JsonPropertyName("evals")] public List<EvalRecord> Evals { get; init; } = [];
}
