// One training run in progress: the model, its optimizer and random generators (fresh, or restored from the checkpoint
// being resumed), the data batcher, the run's history, and the step loop with its stop conditions, evaluations and
// periodic checkpoints. The loop draws from the generators in the same order whether or not the run was interrupted,
// so a resumed run continues bit for bit.
using System.Diagnostics;
using System.Globalization;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Model;
using Recurrent.Cli.Plotting;
using Recurrent.Data;
using Recurrent.Nn;
using Recurrent.Optim;
using Recurrent.Training;

namespace Recurrent.Cli.Training;

/// <summary>The state and the loop of one run (see <see cref="Trainer"/> for the command around it).</summary>
internal sealed class TrainingSession
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private readonly RunPlan _plan;
    private readonly TrainingConfig _cfg;
    private readonly CliContext _ctx;
    private readonly Action<StepRecord>? _onStep;
    private readonly Generator _dataRng;
    private readonly Generator _dropoutRng;
    private readonly List<Tensor> _parameters;
    private readonly SequenceBatcher _batcher;
    private readonly CheckpointStore _store;
    private readonly Stopwatch _clock = new();
    private ProgressReporter? _progress;

    // The run's history (trainer.json), continued from the checkpoint when resuming.
    private readonly List<double> _losses;
    private readonly List<double> _norms;
    private readonly List<EvalRecord> _evals;
    private readonly double _previousSeconds;
    private long _skipped;
    private long _tokens;

    public TrainingSession(RunPlan plan, CliContext ctx, Action<StepRecord>? onStep, CheckpointStore? store)
    {
        _plan = plan;
        _cfg = plan.Training;
        _ctx = ctx;
        _onStep = onStep;
        var initRng = new Generator(_cfg.Seed);
        _dataRng = new Generator(Trainer.DeriveSeed(_cfg.Seed, 1));
        _dropoutRng = new Generator(Trainer.DeriveSeed(_cfg.Seed, 2));
        Model = new CharLanguageModel(plan.Model, initRng, _dropoutRng);
        _parameters = Model.Parameters().ToList();
        Optimizer = Trainer.CreateOptimizer(_cfg, _parameters);
        Scheduler = Trainer.CreateScheduler(_cfg, Optimizer);
        TrainerState history = new();
        if (plan.Resumed is { } ck)
        {
            ck.Restore(Model, Optimizer, Scheduler, _dataRng, _dropoutRng);
            history = ck.State!;
            LastCheckpoint = ck.Folder;
        }
        Step = StartStep = LastSavedStep = history.Step;
        _losses = [.. history.TrainLoss];
        _norms = [.. history.GradNorm];
        _evals = [.. history.Evals];
        _skipped = history.SkippedSteps;
        _tokens = history.Tokens;
        _previousSeconds = history.TrainSeconds;
        LastEval = _evals.Count > 0 ? _evals[^1] : null;
        Model.Train();

        // Built-in task: windows start at a line's newline, as the held-out prompts do ("\n07+45="), so every problem in
        // a window is seen from its start. Text files: any offset.
        TrainingData data = plan.Data;
        int[]? starts = data.Problems is null ? null : LineStarts(data.TrainTokens, data.Vocab.IndexOf("\n"), _cfg.SeqLen);
        _batcher = new SequenceBatcher(data.TrainTokens, _cfg.SeqLen, _cfg.BatchSize, starts);
        _store = store ?? new CheckpointStore(plan.RunFolder);
    }

    public CharLanguageModel Model { get; }
    public Optimizer Optimizer { get; }
    /// <summary>The learning-rate schedule (--lr-schedule, --warmup-steps), or null for a constant rate.</summary>
    public LrScheduler? Scheduler { get; }
    public long StartStep { get; }
    public long Step { get; private set; }
    public long LastSavedStep { get; private set; }
    public string? LastCheckpoint { get; private set; }
    public EvalRecord? LastEval { get; private set; }
    public long Skipped => _skipped;
    public long Tokens => _tokens;
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Trains until a stop condition holds; the caller then calls <see cref="Finish"/>.</summary>
    public StopReason Run(TimeSpan? timeLimit, int logEvery)
    {
        _progress = new ProgressReporter(_ctx, StartStep, _cfg.Steps, timeLimit, logEvery);
        _clock.Start();
        if (Step >= _cfg.Steps) return StopReason.StepsDone;
        if (_ctx.Cancellation.IsCancellationRequested) return StopReason.Cancelled;
        while (true)
        {
            var (r, tokens) = TrainStep();
            _progress.Step(r.Step, r.Loss, r.GradNorm, tokens, r.Skipped);
            _onStep?.Invoke(r);
            if (StopAfter(r, timeLimit) is { } reason) return reason;
            if (Step % _cfg.CheckpointEvery == 0)
            {
                Save();
                _progress.Line($"step {Step}: checkpoint saved to {LastCheckpoint}");
            }
        }
    }

    /// <summary>Ends the progress display, evaluates once more (unless just done or cancelled) and saves the last checkpoint.</summary>
    public void Finish(StopReason reason)
    {
        _progress?.Finish();
        if (reason is not StopReason.Cancelled && Step > StartStep && (LastEval is null || LastEval.Step != Step)) Evaluate();
        if (Step > LastSavedStep) Save(); // nothing new to save when no step was done
        _clock.Stop();
    }

    /// <summary>The run's history as trainer.json holds it.</summary>
    public TrainerState Snapshot() => new()
    {
        Step = Step, SkippedSteps = _skipped, Tokens = _tokens, TrainSeconds = _previousSeconds + _clock.Elapsed.TotalSeconds,
        TrainLoss = _losses, GradNorm = _norms, Evals = _evals,
    };

    /// <summary>
    /// One step: a batch from the data generator, forward, backward, clip, update (or skip when not finite). The step's
    /// tensors live in a dispose scope, so the large ones (logits, the recurrent output and their gradients) reuse their
    /// storage from step to step.
    /// </summary>
    private (StepRecord Record, int Tokens) TrainStep()
    {
        double loss, norm;
        int tokens;
        using (Tensor.NewDisposeScope())
        {
            TokenBatch batch = _batcher.Sample(_dataRng);
            tokens = batch.TokenCount;
            var (logits, _) = Model.Forward(batch.Input);
            Tensor lossTensor = Functional.CrossEntropy(logits.Reshape(-1, _plan.Model.VocabSize), batch.Target.Reshape(-1));
            Optimizer.ZeroGrad();
            lossTensor.Backward();
            loss = lossTensor.ToDouble();
            norm = (_cfg.ClipNorm > 0
                ? ClipGrad.ClipGradNorm(_parameters, _cfg.ClipNorm)
                : ClipGrad.ClipGradNorm(_parameters, double.PositiveInfinity)).ToDouble();   // the norm only (a factor of 1), without taking the gradients out of reuse
            if (double.IsFinite(loss) && double.IsFinite(norm)) Optimizer.Step();
            else
            {
                _skipped++;
                Optimizer.ZeroGrad();
            }
            Scheduler?.Step();   // the rate follows the step count, skipped steps included
        }
        Step++;
        _tokens += tokens;
        _losses.Add(loss);
        _norms.Add(norm);
        return (new StepRecord(Step, loss, norm, !(double.IsFinite(loss) && double.IsFinite(norm))), tokens);
    }

    /// <summary>What ends the run after step <paramref name="r"/>, or null to go on. Evaluates when due.</summary>
    private StopReason? StopAfter(StepRecord r, TimeSpan? timeLimit)
    {
        if (r.Skipped)
        {
            if (_skipped <= 5 || _skipped % 100 == 0) // every skip is counted; the first few and every 100th are shown
                _progress!.Line(string.Create(Inv, $"step {Step}: loss {r.Loss} / gradient norm {r.GradNorm} not finite; update skipped ({_skipped} so far)"));
            if (_cfg.StopOnNonFinite) return StopReason.NonFinite;
        }
        if (Step % _cfg.EvalEvery == 0)
        {
            if (!Evaluate()) return StopReason.Cancelled;
            if (_cfg.TargetAccuracy > 0 && LastEval!.Accuracy >= _cfg.TargetAccuracy) return StopReason.TargetReached;
        }
        if (Step >= _cfg.Steps) return StopReason.StepsDone;
        if (_ctx.Cancellation.IsCancellationRequested) return StopReason.Cancelled;
        if (timeLimit is { } limit && _progress!.Elapsed >= limit) return StopReason.TimeLimit;
        return null;
    }

    // False when Ctrl+C (or SIGTERM) stopped it between batches: the run then stops as after a step, and saves.
    private bool Evaluate()
    {
        try
        {
            LastEval = RunEvaluator.Evaluate(Model, _plan.Data, _cfg, Step, _ctx.Cancellation);
        }
        catch (OperationCanceledException) when (_ctx.Cancellation.IsCancellationRequested)
        {
            _progress!.Line($"step {Step}: evaluation stopped");
            return false;
        }
        _evals.Add(LastEval);
        _progress!.Line(string.Create(Inv, $"eval step {Step}: {RunEvaluator.Describe(LastEval)}"));
        return true;
    }

    private void Save()
    {
        TrainerState snapshot = Snapshot();
        LastCheckpoint = CharLmCheckpoint.Save(_store, Model, Optimizer, Scheduler, _dataRng, _dropoutRng, _plan.Data.Vocab, _cfg, snapshot);
        LastSavedStep = Step;
        WritePlot(snapshot);
    }

    private void WritePlot(TrainerState state)
    {
        var train = state.TrainLoss.Select((l, i) => new CurvePoint(i + 1, l)).ToList();
        var val = state.Evals.Select(e => new CurvePoint(e.Step, e.Loss)).ToList();
        var acc = state.Evals.Where(e => e.Accuracy is not null).Select(e => new CurvePoint(e.Step, e.Accuracy!.Value)).ToList();
        ModelConfig m = _plan.Model;
        string title = $"{m.Kind} hidden {m.HiddenSize} x {m.NumLayers} on {_cfg.Data.Describe()} (step {state.Step})";
        try { LossPlot.Save(Path.Combine(_plan.RunFolder, Trainer.PlotFile), title, train, val, acc.Count > 0 ? acc : null, "exact-match accuracy"); }
        catch (IOException) { } // the plot is a convenience; the checkpoint has been saved
    }

    private static int[] LineStarts(long[] tokens, int newline, int seqLen)
    {
        var starts = new List<int>();
        for (int i = 0; i + seqLen < tokens.Length; i++) if (tokens[i] == newline) starts.Add(i);
        return starts.ToArray();
    }
}
