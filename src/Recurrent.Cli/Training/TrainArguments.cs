// The `train` command line as given (null = not given), before defaults and the checkpoint are applied.
namespace Recurrent.Cli.Training;

/// <summary>One finished training step, as reported to <see cref="TrainArguments.OnStep"/>.</summary>
/// <param name="Step">The step number (1-based).</param>
/// <param name="Loss">Its training loss (NaN or infinite when it was skipped because of non-finite values).</param>
/// <param name="GradNorm">The total gradient norm before clipping.</param>
/// <param name="Skipped">True when the update was not applied because the loss or gradients were not finite.</param>
public readonly record struct StepRecord(long Step, double Loss, double GradNorm, bool Skipped);

/// <summary>Options of <c>recurrent train</c>; null means "not given" (use the default, or the checkpoint's value).</summary>
public sealed record TrainArguments
{
    /// <summary>--data: a UTF-8 text file; null trains on the built-in addition task.</summary>
    public string? Data { get; init; }

    /// <summary>--out: the run folder (checkpoints, loss plot).</summary>
    public string? Out { get; init; }

    /// <summary>--resume: continue the checkpoint in the run folder.</summary>
    public bool Resume { get; init; }

    /// <summary>--model: lstm, gru or rnn.</summary>
    public string? Model { get; init; }

    /// <summary>--embedding-size.</summary>
    public int? EmbeddingSize { get; init; }

    /// <summary>--hidden-size.</summary>
    public int? HiddenSize { get; init; }

    /// <summary>--layers.</summary>
    public int? Layers { get; init; }

    /// <summary>--dropout.</summary>
    public double? Dropout { get; init; }

    /// <summary>--seq-len.</summary>
    public int? SeqLen { get; init; }

    /// <summary>--batch-size.</summary>
    public int? BatchSize { get; init; }

    /// <summary>--optimizer.</summary>
    public string? Optimizer { get; init; }

    /// <summary>--lr.</summary>
    public double? LearningRate { get; init; }

    /// <summary>--lr-schedule.</summary>
    public string? LrSchedule { get; init; }

    /// <summary>--warmup-steps.</summary>
    public long? WarmupSteps { get; init; }

    /// <summary>--weight-decay.</summary>
    public double? WeightDecay { get; init; }

    /// <summary>--clip.</summary>
    public double? Clip { get; init; }

    /// <summary>--seed.</summary>
    public ulong? Seed { get; init; }

    /// <summary>--threads.</summary>
    public int? Threads { get; init; }

    /// <summary>--steps: total steps of the run.</summary>
    public long? Steps { get; init; }

    /// <summary>--minutes: time budget of this invocation (0 or null: none).</summary>
    public double? Minutes { get; init; }

    /// <summary>--eval-every.</summary>
    public int? EvalEvery { get; init; }

    /// <summary>--checkpoint-every.</summary>
    public int? CheckpointEvery { get; init; }

    /// <summary>--log-every: plain progress line interval when the output is not a terminal.</summary>
    public int? LogEvery { get; init; }

    /// <summary>--val-fraction.</summary>
    public double? ValFraction { get; init; }

    /// <summary>--val-chars.</summary>
    public int? ValChars { get; init; }

    /// <summary>--stop-on-nonfinite.</summary>
    public bool? StopOnNonFinite { get; init; }

    /// <summary>--target-accuracy (built-in task): stop once reached; 0 never stops early.</summary>
    public double? TargetAccuracy { get; init; }

    /// <summary>--digits (built-in task).</summary>
    public int? Digits { get; init; }

    /// <summary>Called after every step (tests use it to cancel at a chosen step). Not a command-line option.</summary>
    public Action<StepRecord>? OnStep { get; init; }

    /// <summary>Where default run folders go when --out is not given (tests point it at a temporary folder).</summary>
    internal string RunsRoot { get; init; } = "runs";

    /// <summary>Test hook: the checkpoint store to save with (to inject failures). Not a command-line option.</summary>
    internal Recurrent.Training.CheckpointStore? Store { get; init; }
}
