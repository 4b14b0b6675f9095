// The training loop of `recurrent train`, callable in-process: resolves options against defaults or the checkpoint
// being resumed, loads the data, trains with clipping and non-finite-step skipping, evaluates, and saves atomic
// checkpoints (periodically, at the end, and when cancelled). A resumed run continues bit for bit: the data order,
// dropout masks, weights and optimizer state all come back from the checkpoint.
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Model;
using Recurrent.Cli.Plotting;
using Recurrent.Cli.Tasks;
using Recurrent.Data;
using Recurrent.Nn;
using Recurrent.Optim;

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

    /// <summary>Everything a run needs, resolved.</summary>
    private sealed class Setup
    {
        public required string RunFolder;
        public required ModelConfig Model;
        public required TrainingConfig Training;
        public required CharVocabulary Vocab;
        public required long[] TrainTokens;
        public required long[] ValTokens;
        public IReadOnlyList<SkillProblem>? Problems;
        public int? LineLength;
        public LoadedCheckpoint? Resumed;
        public required int LogEvery;
        public TimeSpan? TimeLimit;
        public required string DataDescription;
    }

    /// <summary>Trains as <paramref name="args"/> say, reporting to <paramref name="ctx"/>; stops when <see cref="CliContext.Cancellation"/> fires.</summary>
    /// <exception cref="UsageException">Nonsensical options (nothing on disk has been touched).</exception>
    /// <exception cref="CliException">Unusable data or checkpoint (nothing on disk has been touched).</exception>
    public static TrainOutcome Run(TrainArguments args, CliContext ctx)
    {
        Setup setup = Prepare(args);
        return Loop(setup, args, ctx);
    }

    // ------------------------------------------------------------------ setup

    private static Setup Prepare(TrainArguments a)
    {
        bool builtin = a.Data is null;
        string runFolder = a.Out is not null
            ? Path.GetFullPath(a.Out)
            : DefaultRunFolder(Path.GetFullPath(Path.Combine(a.RunsRoot, builtin ? AdditionTask.TaskName : SafeStem(a.Data!))), a.Resume);
        if (File.Exists(runFolder)) throw new UsageException($"--out '{a.Out}' is a file; give a folder for the run.");
        string? existing = CheckpointStore.TryResolve(runFolder);
        if (a.Resume)
        {
            if (existing is null)
                throw new UsageException($"--resume: there is no checkpoint in '{runFolder}' to resume; check --out, or train without --resume first.");
            return PrepareResume(a, runFolder);
        }
        if (existing is not null)
            throw new UsageException($"'{runFolder}' already holds a checkpoint ({Path.GetFileName(existing)}); add --resume to continue it, or choose another --out.");

        TrainArguments d = builtin ? TaskDefaults : FileDefaults;
        if (!builtin && a.Digits is not null) throw new UsageException("--digits applies to the built-in task only; drop it when training on --data.");
        if (!builtin && a.TargetAccuracy is > 0) throw new UsageException("--target-accuracy applies to the built-in task only (a text file has no skill metric).");
        int threads = a.Threads ?? Environment.ProcessorCount;
        var training = new TrainingConfig
        {
            SeqLen = a.SeqLen ?? d.SeqLen!.Value,
            BatchSize = a.BatchSize ?? d.BatchSize!.Value,
            Optimizer = (a.Optimizer ?? d.Optimizer!).ToLowerInvariant(),
            LearningRate = a.LearningRate ?? d.LearningRate!.Value,
            WeightDecay = a.WeightDecay ?? d.WeightDecay!.Value,
            ClipNorm = a.Clip ?? d.Clip!.Value,
            Seed = a.Seed ?? d.Seed!.Value,
            Threads = threads,
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
        int logEvery = CheckLogEvery(a.LogEvery ?? d.LogEvery!.Value);
        TimeSpan? limit = CheckMinutes(a.Minutes);

        // Data (read only after every option is known to be sensible).
        CharVocabulary vocab;
        long[] trainTokens, valTokens;
        IReadOnlyList<SkillProblem>? problems = null;
        DataSource source;
        string description;
        if (builtin)
        {
            var task = new AdditionTask(a.Digits ?? d.Digits!.Value);
            var (trainText, valText, heldOut) = task.Generate();
            vocab = CharVocabulary.Build(AdditionTask.Alphabet);
            trainTokens = vocab.Encode("\n" + trainText);
            valTokens = vocab.Encode("\n" + valText);
            problems = heldOut;
            source = new DataSource { Kind = AdditionTask.TaskName, Digits = task.Digits, HeldOut = task.HeldOutCount };
            description = $"the built-in {task.Description} task ({heldOut.Count} held-out problems)";
        }
        else
        {
            string path = Path.GetFullPath(a.Data!);
            string text = ReadData(a.Data!);
            vocab = CharVocabulary.Build(text);
            long[] all = vocab.Encode(text);
            (trainTokens, valTokens) = SplitData(all, training);
            source = new DataSource { Kind = "file", Path = path, Sha256 = Sha256(path) };
            description = $"'{a.Data}'";
        }
        CheckSeqLen(training.SeqLen, trainTokens.Length, builtin);
        var model = modelShape with { VocabSize = vocab.Count };
        training = training with { Data = source };
        return new Setup
        {
            RunFolder = runFolder, Model = model, Training = training, Vocab = vocab, TrainTokens = trainTokens,
            ValTokens = Cap(valTokens, training.ValChars), Problems = problems, LogEvery = logEvery, TimeLimit = limit,
            DataDescription = description, LineLength = builtin ? AdditionTask.LineLengthFor(training.Data.Digits!.Value) : null,
        };
    }

    private static Setup PrepareResume(TrainArguments a, string runFolder)
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
        Same("--weight-decay", a.WeightDecay, t.WeightDecay);
        Same("--clip", a.Clip, t.ClipNorm);
        Same("--seed", a.Seed, t.Seed);
        Same("--val-fraction", a.ValFraction, t.ValFraction);
        Same("--val-chars", a.ValChars, t.ValChars);
        Same("--digits", a.Digits, t.Data.Digits);

        TrainingConfig training = t with
        {
            Threads = a.Threads ?? t.Threads,
            Steps = a.Steps ?? t.Steps,
            EvalEvery = a.EvalEvery ?? t.EvalEvery,
            CheckpointEvery = a.CheckpointEvery ?? t.CheckpointEvery,
            StopOnNonFinite = a.StopOnNonFinite ?? t.StopOnNonFinite,
            TargetAccuracy = a.TargetAccuracy ?? t.TargetAccuracy,
        };
        training.Validate();
        int logEvery = CheckLogEvery(a.LogEvery ?? (t.Data.Kind == AdditionTask.TaskName ? TaskDefaults : FileDefaults).LogEvery!.Value);
        TimeSpan? limit = CheckMinutes(a.Minutes);
        long done = ck.State!.Step;
        if (training.Steps < done)
            throw new UsageException($"--steps {training.Steps} is below the checkpoint's step {done}; give a larger --steps to train further.");

        long[] trainTokens, valTokens;
        IReadOnlyList<SkillProblem>? problems = null;
        string description;
        if (t.Data.Kind == AdditionTask.TaskName)
        {
            if (a.Data is not null)
                throw new UsageException($"the checkpoint in '{runFolder}' was trained on the built-in task; drop --data to resume it.");
            var task = new AdditionTask(t.Data.Digits ?? 2, t.Data.HeldOut ?? 500);
            var (trainText, valText, heldOut) = task.Generate();
            trainTokens = ck.Vocabulary.Encode("\n" + trainText);
            valTokens = ck.Vocabulary.Encode("\n" + valText);
            problems = heldOut;
            description = $"the built-in {task.Description} task ({heldOut.Count} held-out problems)";
        }
        else
        {
            string path = a.Data ?? t.Data.Path ?? throw new CliException("the checkpoint does not record its data file; give --data.");
            string text = ReadData(path);
            if (Sha256(path) != t.Data.Sha256)
                throw new CliException($"'{path}' is not the text the checkpoint was trained on (its SHA-256 differs); resume with the same --data file.");
            (trainTokens, valTokens) = SplitData(ck.Vocabulary.Encode(text, $"'{path}'"), training);
            description = $"'{path}'";
        }
        return new Setup
        {
            RunFolder = runFolder, Model = m, Training = training, Vocab = ck.Vocabulary, TrainTokens = trainTokens,
            ValTokens = Cap(valTokens, training.ValChars), Problems = problems, Resumed = ck, LogEvery = logEvery,
            TimeLimit = limit, DataDescription = description,
            LineLength = problems is null ? null : AdditionTask.LineLengthFor(t.Data.Digits ?? 2),
        };
    }

    // ------------------------------------------------------------------ the loop

    private static TrainOutcome Loop(Setup s, TrainArguments args, CliContext ctx)
    {
        TrainingConfig cfg = s.Training;
        int previousThreads = Kernels.Parallelism.MaxThreads;
        Kernels.Parallelism.MaxThreads = cfg.Threads;
        try
        {
            return LoopCore(s, args, ctx);
        }
        finally
        {
            Kernels.Parallelism.MaxThreads = previousThreads;
        }
    }

    private static TrainOutcome LoopCore(Setup s, TrainArguments args, CliContext ctx)
    {
        TrainingConfig cfg = s.Training;
        var initRng = new Generator(cfg.Seed);
        var dataRng = new Generator(DeriveSeed(cfg.Seed, 1));
        var dropoutRng = new Generator(DeriveSeed(cfg.Seed, 2));
        var model = new CharLanguageModel(s.Model, initRng, dropoutRng);
        TrainerState state = new();
        if (s.Resumed is { } ck)
        {
            try { model.LoadStateDict(ck.Weights, strict: true); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
            {
                throw new CliException($"the weights in '{ck.Folder}' do not fit its config.json: {e.Message}", e);
            }
            state = ck.State!;
            dataRng.SetState(state.DataRng);
            dropoutRng.SetState(state.DropoutRng);
        }
        // The optimizer is built after loading: loading may replace the parameter tensors.
        List<Tensor> parameters = model.Parameters().ToList();
        Optimizer optimizer = CreateOptimizer(cfg, parameters);
        if (s.Resumed?.OptimizerState is { } optState)
        {
            try { optimizer.LoadStateDict(optState); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
            {
                throw new CliException($"the optimizer state in '{s.Resumed.Folder}' does not fit the model: {e.Message}", e);
            }
        }
        model.Train();

        // Built-in task: windows start at a line's newline, as the held-out prompts do ("\n07+45="), so every problem in
        // a window is seen from its start. Text files: any offset.
        int[]? starts = s.Problems is null ? null : LineStarts(s.TrainTokens, s.Vocab.IndexOf("\n"), cfg.SeqLen);
        var batcher = new SequenceBatcher(s.TrainTokens, cfg.SeqLen, cfg.BatchSize, starts);
        CheckpointStore store = args.Store ?? new CheckpointStore();
        long startStep = state.Step;
        var losses = new List<double>(state.TrainLoss);
        var norms = new List<double>(state.GradNorm);
        var evals = new List<EvalRecord>(state.Evals);
        long skipped = state.SkippedSteps, tokens = state.Tokens;
        double previousSeconds = state.TrainSeconds;

        ctx.Out.WriteLine(string.Create(Inv,
            $"{(s.Resumed is null ? "training" : $"resuming {Path.GetFileName(s.Resumed.Folder)} at step {startStep}:")} {s.Model.Kind} (embedding {s.Model.EmbeddingSize}, hidden {s.Model.HiddenSize}, {s.Model.NumLayers} layer{(s.Model.NumLayers == 1 ? "" : "s")}, {model.ParameterCount:N0} parameters) on {s.DataDescription}"));
        ctx.Out.WriteLine(string.Create(Inv,
            $"  {s.TrainTokens.Length:N0} training / {s.ValTokens.Length:N0} validation characters, vocabulary {s.Vocab.Count}; seq-len {cfg.SeqLen}, batch {cfg.BatchSize}, {cfg.Optimizer} lr {cfg.LearningRate}, clip {cfg.ClipNorm}, seed {cfg.Seed}, {cfg.Threads} thread{(cfg.Threads == 1 ? "" : "s")}; steps {cfg.Steps}{(s.TimeLimit is { } tl ? $", time limit {ProgressReporter.Format(tl)}" : "")}; run folder {s.RunFolder}"));
        if (s.Resumed is not null && cfg.Threads != s.Resumed.Config.Training.Threads)
            ctx.Error.WriteLine($"{CliApp.Name}: warning: the checkpoint was trained with {s.Resumed.Config.Training.Threads} threads and this run uses {cfg.Threads}; losses may differ in the last bits from an uninterrupted run.");

        var progress = new ProgressReporter(ctx, startStep, cfg.Steps, s.TimeLimit, s.LogEvery);
        var clock = Stopwatch.StartNew();
        long step = startStep;
        StopReason reason = StopReason.StepsDone;
        EvalRecord? lastEval = evals.Count > 0 ? evals[^1] : null;
        string? lastCheckpoint = s.Resumed?.Folder;
        long lastSavedStep = startStep;

        TrainerState Snapshot() => new()
        {
            Step = step, DataRng = dataRng.GetState(), DropoutRng = dropoutRng.GetState(), SkippedSteps = skipped,
            Tokens = tokens, TrainSeconds = previousSeconds + clock.Elapsed.TotalSeconds,
            TrainLoss = losses, GradNorm = norms, Evals = evals,
        };

        void Save()
        {
            var snapshot = Snapshot();
            lastCheckpoint = CharLmCheckpoint.Save(store, s.RunFolder, model, optimizer, s.Vocab, cfg, snapshot);
            lastSavedStep = step;
            WritePlot(s, snapshot);
        }

        if (step >= cfg.Steps) reason = StopReason.StepsDone;
        else if (ctx.Cancellation.IsCancellationRequested) reason = StopReason.Cancelled;
        else
        {
            while (true)
            {
                // One step: a batch from the data generator, forward, backward, clip, update (or skip).
                // The step's tensors live in a dispose scope, so the large ones (logits, the LSTM
                // output and their gradients) reuse their storage from step to step.
                double lossValue, norm;
                bool finite;
                int batchTokens;
                using (Tensor.NewDisposeScope())
                {
                    TokenBatch batch = batcher.Sample(dataRng);
                    batchTokens = batch.TokenCount;
                    var (logits, _) = model.Forward(batch.Input);
                    Tensor loss = Functional.CrossEntropy(logits.Reshape(-1, s.Model.VocabSize), batch.Target.Reshape(-1));
                    optimizer.ZeroGrad();
                    loss.Backward();
                    lossValue = loss.ToDouble();
                    norm = (cfg.ClipNorm > 0
                        ? ClipGrad.ClipGradNorm(parameters, cfg.ClipNorm)
                        : ClipGrad.GetTotalNorm(parameters.Where(p => p.Grad is not null).Select(p => p.Grad!).ToList())).ToDouble();
                    finite = double.IsFinite(lossValue) && double.IsFinite(norm);
                    if (finite) optimizer.Step();
                    else
                    {
                        skipped++;
                        optimizer.ZeroGrad();
                    }
                }
                step++;
                tokens += batchTokens;
                losses.Add(lossValue);
                norms.Add(norm);
                progress.Step(step, lossValue, norm, batchTokens, !finite);
                args.OnStep?.Invoke(new StepRecord(step, lossValue, norm, !finite));

                if (!finite)
                {
                    if (skipped <= 5 || skipped % 100 == 0) // every skip is counted; the first few and every 100th are shown
                        progress.Line(string.Create(Inv, $"step {step}: loss {lossValue} / gradient norm {norm} not finite; update skipped ({skipped} so far)"));
                    if (cfg.StopOnNonFinite) { reason = StopReason.NonFinite; break; }
                }
                if (step % cfg.EvalEvery == 0)
                {
                    lastEval = Evaluate(model, s, step, progress);
                    evals.Add(lastEval);
                    if (cfg.TargetAccuracy > 0 && lastEval.Accuracy >= cfg.TargetAccuracy) { reason = StopReason.TargetReached; break; }
                }
                if (step >= cfg.Steps) { reason = StopReason.StepsDone; break; }
                if (ctx.Cancellation.IsCancellationRequested) { reason = StopReason.Cancelled; break; }
                if (s.TimeLimit is { } limit && progress.Elapsed >= limit) { reason = StopReason.TimeLimit; break; }
                if (step % cfg.CheckpointEvery == 0)
                {
                    Save();
                    progress.Line($"step {step}: checkpoint saved to {lastCheckpoint}");
                }
            }
        }
        progress.Finish();

        // A final evaluation (unless just done, or the user asked to stop), then the final checkpoint.
        if (reason is not StopReason.Cancelled && step > startStep && (lastEval is null || lastEval.Step != step))
        {
            lastEval = Evaluate(model, s, step, progress);
            evals.Add(lastEval);
        }
        if (step > lastSavedStep) Save(); // nothing new to save when no step was done
        TrainerState final = Snapshot();
        TimeSpan elapsed = clock.Elapsed;

        string why = reason switch
        {
            StopReason.StepsDone => $"reached step {step} of {cfg.Steps}",
            StopReason.TargetReached => string.Create(Inv, $"reached the target accuracy {cfg.TargetAccuracy:P0} at step {step}"),
            StopReason.TimeLimit => $"time limit reached at step {step}",
            StopReason.Cancelled => $"interrupted at step {step}",
            _ => $"stopped at step {step}: gradients not finite (--stop-on-nonfinite)",
        };
        ctx.Out.WriteLine(string.Create(Inv, $"{why} after {ProgressReporter.Format(elapsed)} ({tokens:N0} characters in total, {skipped} skipped step{(skipped == 1 ? "" : "s")})"));
        if (lastEval is not null)
            ctx.Out.WriteLine((lastEval.Step == step ? "final: " : $"last evaluation (step {lastEval.Step}): ") + Describe(lastEval));
        if (s.Problems is { Count: > 0 } problems && step > startStep && reason != StopReason.Cancelled)
        {
            // A few held-out problems as the model completes them now (greedy).
            var shown = problems.Take(6).ToList();
            string[] answers = Evaluation.GreedyComplete(model, s.Vocab, shown.Select(p => p.Prompt).ToList(), shown[0].Answer.Length);
            ctx.Out.WriteLine("held-out examples: " + string.Join("  ", shown.Select((p, i) =>
                $"{p.Prompt.Trim()}{answers[i].TrimEnd('\n')} {(answers[i] == p.Answer ? "(right)" : $"(wrong, expected {p.Answer.TrimEnd('\n')})")}")));
        }
        if (lastCheckpoint is null)
        {
            ctx.Out.WriteLine("no checkpoint written: no training step was done");
        }
        else
        {
            ctx.Out.WriteLine($"checkpoint: {lastCheckpoint}");
            ctx.Out.WriteLine($"loss plot:  {Path.Combine(s.RunFolder, PlotFile)}");
        }
        if (reason == StopReason.Cancelled && lastCheckpoint is not null)
            ctx.Out.WriteLine($"continue with: {CliApp.Name} train --resume --out {s.RunFolder}");
        if (reason == StopReason.NonFinite)
            ctx.Error.WriteLine($"{CliApp.Name}: error: training stopped at step {step} because the gradients were not finite; lower --lr or --clip (or drop --stop-on-nonfinite to skip such steps).");
        ctx.Out.Flush();
        return new TrainOutcome(reason, s.RunFolder, lastCheckpoint, final, lastEval, elapsed);
    }

    private static EvalRecord Evaluate(CharLanguageModel model, Setup s, long step, ProgressReporter progress)
    {
        // Built-in task: validation windows of whole lines, each starting at a newline as in training.
        int seqLen = s.LineLength is { } line ? Math.Max(line, s.Training.SeqLen / line * line) : s.Training.SeqLen;
        double loss = s.ValTokens.Length >= 2
            ? Evaluation.Loss(model, s.ValTokens, seqLen, Math.Max(s.Training.BatchSize, 64)).Loss
            : double.NaN;
        double? accuracy = s.Problems is { } p ? Evaluation.GreedyAccuracy(model, s.Vocab, p).Accuracy : null;
        var record = new EvalRecord { Step = step, Loss = loss, Accuracy = accuracy };
        progress.Line(string.Create(Inv, $"eval step {step}: {Describe(record)}"));
        return record;
    }

    private static string Describe(EvalRecord e) =>
        string.Create(Inv, $"validation loss {e.Loss:0.0000} nats/char ({e.Loss / Math.Log(2):0.0000} bits/char)")
        + (e.Accuracy is { } acc ? string.Create(Inv, $", held-out exact-match accuracy {acc:P1}") : "");

    private static void WritePlot(Setup s, TrainerState state)
    {
        var train = state.TrainLoss.Select((l, i) => new CurvePoint(i + 1, l)).ToList();
        var val = state.Evals.Select(e => new CurvePoint(e.Step, e.Loss)).ToList();
        var acc = state.Evals.Where(e => e.Accuracy is not null).Select(e => new CurvePoint(e.Step, e.Accuracy!.Value)).ToList();
        string title = $"{s.Model.Kind} hidden {s.Model.HiddenSize} x {s.Model.NumLayers} on {s.Training.Data.Describe()} (step {state.Step})";
        try { LossPlot.Save(Path.Combine(s.RunFolder, PlotFile), title, train, val, acc.Count > 0 ? acc : null, "exact-match accuracy"); }
        catch (IOException) { } // the plot is a convenience; the checkpoint has been saved
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>The optimizer named by the config over <paramref name="parameters"/>.</summary>
    internal static Optimizer CreateOptimizer(TrainingConfig cfg, IEnumerable<Tensor> parameters) => cfg.Optimizer switch
    {
        "adam" => new Adam(parameters, cfg.LearningRate, weightDecay: cfg.WeightDecay),
        "adamw" => new AdamW(parameters, cfg.LearningRate, weightDecay: cfg.WeightDecay),
        "sgd" => new Sgd(parameters, cfg.LearningRate, momentum: 0.9, weightDecay: cfg.WeightDecay),
        "rmsprop" => new RmsProp(parameters, cfg.LearningRate, weightDecay: cfg.WeightDecay),
        _ => throw new UsageException($"--optimizer must be adam, adamw, sgd or rmsprop, got '{cfg.Optimizer}'."),
    };

    /// <summary>An independent seed for stream <paramref name="stream"/> of a run seeded with <paramref name="seed"/>.</summary>
    internal static ulong DeriveSeed(ulong seed, ulong stream)
    {
        ulong z = seed + stream * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static string ReadData(string path)
    {
        try { return TextCorpus.ReadFile(path); }
        catch (FileNotFoundException) { throw new CliException($"--data: the file '{path}' does not exist."); }
        catch (TextDataException e) { throw new CliException($"--data: {e.Message}"); }
        catch (UnauthorizedAccessException) { throw new CliException($"--data: no permission to read '{path}'."); }
    }

    private static (long[] Train, long[] Val) SplitData(long[] all, TrainingConfig training)
    {
        try { return TrainValidationSplit.Split(all, training.ValFraction, minTrainTokens: 2); }
        catch (TextDataException e) { throw new CliException($"--data: {e.Message}"); }
    }

    private static void CheckSeqLen(int seqLen, int trainTokens, bool builtin)
    {
        if (trainTokens < (long)seqLen + 1)
            throw new UsageException(builtin
                ? $"--seq-len {seqLen} is longer than the task's training text ({trainTokens} characters); use a smaller --seq-len."
                : $"--seq-len {seqLen} is longer than the training part of the text ({trainTokens} characters after holding out the validation part); use --seq-len {Math.Max(1, trainTokens - 1)} or less, or a longer file.");
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
            catch (CliException) { return true; } // damaged: occupied, and reported if resumed
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

    private static int[] LineStarts(long[] tokens, int newline, int seqLen)
    {
        var starts = new List<int>();
        for (int i = 0; i + seqLen < tokens.Length; i++) if (tokens[i] == newline) starts.Add(i);
        return starts.ToArray();
    }

    private static long[] Cap(long[] tokens, int max) => tokens.Length <= max ? tokens : tokens[..max];

    private static void Same(string option, object? given, object? saved)
    {
        if (given is null || Equals(given, saved)) return;
        throw new UsageException($"{option} {Format(given)} differs from the checkpoint's {Format(saved)}; drop {option} when resuming (it is taken from the checkpoint).");
    }

    private static string Format(object? v) => v switch
    {
        double d => d.ToString("R", Inv),
        null => "(none)",
        _ => Convert.ToString(v, Inv) ?? "",
    };

    private static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    private static string SafeStem(string path)
    {
        string stem = Path.GetFileNameWithoutExtension(path);
        var chars = stem.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray();
        return chars.Length == 0 ? "run" : new string(chars);
    }
}
