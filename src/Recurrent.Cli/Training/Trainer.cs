// `recurrent train`, callable in-process: plans the run (RunPlanner: options, defaults or the checkpoint being
// resumed, data), runs it (TrainingSession: the step loop, evaluations, atomic checkpoints through the library's
// CheckpointStore) with the kernel thread count of the run, and reports how it ended. A resumed run continues bit for
// bit: the data order, dropout masks, weights and optimizer state all come back from the checkpoint.
using System.Globalization;
using Recurrent.Cli.Model;
using Recurrent.Optim;
using Recurrent.Training;

namespace Recurrent.Cli.Training;

/// <summary>Why a training run stopped.</summary>
public enum StopReason
{
    /// <summary>Reached --steps.</summary>
    StepsDone,

    /// <summary>Reached the held-out accuracy target.</summary>
    TargetReached,

    /// <summary>Reached the --minutes budget.</summary>
    TimeLimit,

    /// <summary>Cancelled (Ctrl+C / SIGTERM / the caller's token).</summary>
    Cancelled,

    /// <summary>Non-finite gradients with --stop-on-nonfinite.</summary>
    NonFinite,
}

/// <summary>The result of <see cref="Trainer.Run"/>.</summary>
public sealed record TrainOutcome(StopReason Reason, string RunFolder, string? CheckpointFolder, TrainerState State,
    EvalRecord? LastEval, TimeSpan Elapsed)
{
    /// <summary>The process exit code for this outcome.</summary>
    public int ExitCode => Reason switch
    {
        StopReason.Cancelled => ExitCodes.Interrupted,
        StopReason.NonFinite => ExitCodes.Failure,
        _ => ExitCodes.Success,
    };
}

/// <summary>Runs training.</summary>
public static class Trainer
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The plot written next to the checkpoints.</summary>
    public const string PlotFile = "loss.svg";

    /// <summary>
    /// Defaults of the built-in task, chosen by measurement to pass 90% held-out accuracy in under 3 minutes on 2 cores:
    /// small batches (more updates per second matter more than more windows per update), a high Adam learning rate,
    /// windows of three problems.
    /// </summary>
    internal static readonly TrainArguments TaskDefaults = new()
    {
        Model = "lstm", EmbeddingSize = 16, HiddenSize = 128, Layers = 1, Dropout = 0, SeqLen = 30, BatchSize = 16,
        Optimizer = "adam", LearningRate = 1e-2, WeightDecay = 0, Clip = 1.0, Seed = 1, Steps = 4000, EvalEvery = 200,
        CheckpointEvery = 1000, LogEvery = 200, ValFraction = 0.1, ValChars = 20_000, StopOnNonFinite = false,
        TargetAccuracy = 0.99, Digits = 2,
    };

    /// <summary>Defaults for training on a text file.</summary>
    internal static readonly TrainArguments FileDefaults = new()
    {
        Model = "lstm", EmbeddingSize = 64, HiddenSize = 256, Layers = 1, Dropout = 0, SeqLen = 100, BatchSize = 32,
        Optimizer = "adam", LearningRate = 2e-3, WeightDecay = 0, Clip = 1.0, Seed = 1, Steps = 2000, EvalEvery = 200,
        CheckpointEvery = 500, LogEvery = 50, ValFraction = 0.1, ValChars = 100_000, StopOnNonFinite = false,
        TargetAccuracy = 0, Digits = null,
    };

    /// <summary>Trains as <paramref name="args"/> say, reporting to <paramref name="ctx"/>; stops when <see cref="CliContext.Cancellation"/> fires.</summary>
    /// <exception cref="UsageException">Nonsensical options (nothing on disk has been touched).</exception>
    /// <exception cref="CliException">Unusable data (nothing on disk has been touched).</exception>
    /// <exception cref="CheckpointException">The checkpoint to resume is missing, damaged or does not fit.</exception>
    public static TrainOutcome Run(TrainArguments args, CliContext ctx)
    {
        RunPlan plan = RunPlanner.Plan(args);
        bool created = !Directory.Exists(plan.RunFolder);
        int previousThreads = Kernels.Parallelism.MaxThreads;
        try
        {
            EnsureWritableFolder(plan.RunFolder);
            Kernels.Parallelism.MaxThreads = plan.Training.Threads;
            var session = new TrainingSession(plan, ctx, args.OnStep, args.Store);
            WriteHeader(plan, session, ctx);
            StopReason reason;
            using (ctx.ObserveCancellation())
            {
                reason = session.Run(plan.TimeLimit, plan.LogEvery);
                session.Finish(reason);
            }
            TrainerState final = session.Snapshot();
            WriteSummary(plan, session, reason, ctx);
            return new TrainOutcome(reason, plan.RunFolder, session.LastCheckpoint, final, session.LastEval, session.Elapsed);
        }
        finally
        {
            Kernels.Parallelism.MaxThreads = previousThreads;
            // A run that wrote nothing (stopped before its first checkpoint, or failed, the write probe included) leaves no
            // folder behind; a failure to remove it must not hide the run's own outcome or exception.
            try
            {
                if (created && Directory.Exists(plan.RunFolder) && !Directory.EnumerateFileSystemEntries(plan.RunFolder).Any())
                    Directory.Delete(plan.RunFolder);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    // The first checkpoint is written after CheckpointEvery steps (or at Ctrl+C): a run folder that cannot be created
    // or written must fail now, not after that much training is lost.
    private static void EnsureWritableFolder(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            using (new FileStream(Path.Combine(folder, ".write-probe-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew, FileAccess.Write,
                FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write the run folder '{folder}': {e.Message} Choose another --out (nothing was trained).");
        }
    }

    private static void WriteHeader(RunPlan plan, TrainingSession session, CliContext ctx)
    {
        ModelConfig m = plan.Model;
        TrainingConfig cfg = plan.Training;
        TrainingData data = plan.Data;
        ctx.Out.WriteLine(string.Create(Inv,
            $"{(plan.Resumed is null ? "training" : $"resuming {Path.GetFileName(plan.Resumed.Folder)} at step {session.StartStep}:")} {m.Kind} (embedding {m.EmbeddingSize}, hidden {m.HiddenSize}, {m.NumLayers} layer{(m.NumLayers == 1 ? "" : "s")}, {session.Model.ParameterCount:N0} parameters) on {data.Description}"));
        ctx.Out.WriteLine(string.Create(Inv,
            $"  {data.TrainTokens.Length:N0} training / {data.ValTokens.Length:N0} validation characters, vocabulary {data.Vocab.Count}; seq-len {cfg.SeqLen}, batch {cfg.BatchSize}, {cfg.Optimizer} {cfg.DescribeLr()}, clip {cfg.ClipNorm}, seed {cfg.Seed}, {cfg.Threads} thread{(cfg.Threads == 1 ? "" : "s")} ({Recurrent.Kernels.Gemm.InstructionSet} kernels); steps {cfg.Steps}{(plan.TimeLimit is { } tl ? $", time limit {ProgressReporter.Format(tl)}" : "")}; run folder {plan.RunFolder}"));
        if (plan.Resumed is { } ck && cfg.Threads != ck.Config.Training.Threads)
            ctx.Error.WriteLine($"{CliApp.Name}: warning: the checkpoint was trained with {ck.Config.Training.Threads} threads and this run uses {cfg.Threads}; losses may differ in the last bits from an uninterrupted run.");
    }

    private static void WriteSummary(RunPlan plan, TrainingSession session, StopReason reason, CliContext ctx)
    {
        TrainingConfig cfg = plan.Training;
        long step = session.Step;
        string why = reason switch
        {
            StopReason.StepsDone => $"reached step {step} of {cfg.Steps}",
            StopReason.TargetReached => string.Create(Inv, $"reached the target accuracy {cfg.TargetAccuracy:P0} at step {step}"),
            StopReason.TimeLimit => $"time limit reached at step {step}",
            StopReason.Cancelled => $"interrupted at step {step}",
            _ => $"stopped at step {step}: gradients not finite (--stop-on-nonfinite)",
        };
        long skipped = session.Skipped;
        ctx.Out.WriteLine(string.Create(Inv, $"{why} after {ProgressReporter.Format(session.Elapsed)} ({session.Tokens:N0} characters in total, {skipped} skipped step{(skipped == 1 ? "" : "s")})"));
        if (session.LastEval is { } last)
            ctx.Out.WriteLine((last.Step == step ? "final: " : $"last evaluation (step {last.Step}): ") + RunEvaluator.Describe(last));
        if (plan.Data.Problems is { Count: > 0 } problems && step > session.StartStep && reason != StopReason.Cancelled)
        {
            // A few held-out problems as the model completes them now (greedy).
            var shown = problems.Take(6).ToList();
            string[] answers = Evaluation.GreedyComplete(session.Model, plan.Data.Vocab, shown.Select(p => p.Prompt).ToList(), shown[0].Answer.Length);
            ctx.Out.WriteLine("held-out examples: " + string.Join("  ", shown.Select((p, i) =>
                $"{p.Prompt.Trim()}{answers[i].TrimEnd('\n')} {(answers[i] == p.Answer ? "(right)" : $"(wrong, expected {p.Answer.TrimEnd('\n')})")}")));
        }
        if (session.LastCheckpoint is null)
        {
            ctx.Out.WriteLine("no checkpoint written: no training step was done");
        }
        else
        {
            ctx.Out.WriteLine($"checkpoint: {session.LastCheckpoint}");
            ctx.Out.WriteLine($"loss plot:  {Path.Combine(plan.RunFolder, PlotFile)}");
        }
        if (reason == StopReason.Cancelled && session.LastCheckpoint is not null)
            ctx.Out.WriteLine($"continue with: {CliApp.Name} train --resume --out {plan.RunFolder}");
        if (reason == StopReason.NonFinite)
            ctx.Error.WriteLine($"{CliApp.Name}: error: training stopped at step {step} because the gradients were not finite; lower --lr or --clip (or drop --stop-on-nonfinite to skip such steps).");
        ctx.Out.Flush();
    }

    /// <summary>The optimizer named by the config over <paramref name="parameters"/>.</summary>
    internal static Optimizer CreateOptimizer(TrainingConfig cfg, IEnumerable<Tensor> parameters) => cfg.Optimizer switch
    {
        "adam" => new Adam(parameters, cfg.LearningRate, weightDecay: cfg.WeightDecay),
        "adamw" => new AdamW(parameters, cfg.LearningRate, weightDecay: cfg.WeightDecay),
        "sgd" => new Sgd(parameters, cfg.LearningRate, momentum: 0.9, weightDecay: cfg.WeightDecay),
        "rmsprop" => new RmsProp(parameters, cfg.LearningRate, weightDecay: cfg.WeightDecay),
        _ => throw new UsageException($"--optimizer must be adam, adamw, sgd or rmsprop, got '{cfg.Optimizer}'."),
    };

    /// <summary>
    /// The learning-rate schedule of the config over <paramref name="optimizer"/>, or null for a constant rate: a factor
    /// of the rate at each step (a <see cref="LambdaLR"/> stepped once per training step, skipped ones included), rising
    /// linearly over the warm-up steps, then 1 or half a cosine falling towards 0 at the last step.
    /// </summary>
    internal static LrScheduler? CreateScheduler(TrainingConfig cfg, Optimizer optimizer)
    {
        if (!cfg.HasSchedule) return null;
        long warmup = cfg.WarmupSteps, span = Math.Max(1, cfg.Steps - cfg.WarmupSteps);
        bool cosine = cfg.LrSchedule == "cosine";
        return new LambdaLR(optimizer, step =>
            step < warmup ? (step + 1.0) / warmup
            : cosine ? 0.5 * (1 + Math.Cos(Math.PI * Math.Min(step - warmup, span) / span))
            : 1.0);
    }

    /// <summary>An independent seed for stream <paramref name="stream"/> of a run seeded with <paramref name="seed"/>.</summary>
    internal static ulong DeriveSeed(ulong seed, ulong stream)
    {
        ulong z = seed + stream * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
