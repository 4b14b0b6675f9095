// Training end to end in-process: N steps in one go equal N/2 + interrupt (simulated Ctrl+C) + resume, loss for loss;
// checkpoints hold what they should; a run folder with a checkpoint is never overwritten.
using System.Text.Json;
using Recurrent.Cli;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Training;
using Recurrent.Training;
using static Recurrent.Tests.Cli.CliTestSupport;

namespace Recurrent.Tests.Cli;

public sealed class TrainResumeTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private TrainArguments Tiny(string data, string run, string model = "lstm", Action<StepRecord>? onStep = null, long steps = 16,
        double dropout = 0, string? schedule = null, long? warmup = null) => new()
    {
        Data = data, Out = run, Model = model, HiddenSize = 12, EmbeddingSize = 6, Layers = 2, Dropout = dropout, SeqLen = 10,
        BatchSize = 4, Steps = steps, EvalEvery = 5, CheckpointEvery = 6, LogEvery = 4, Seed = 7, OnStep = onStep,
        LrSchedule = schedule, WarmupSteps = warmup,
    };

    [Theory]
    [InlineData("lstm", 0.0, null, null)]
    [InlineData("gru", 0.25, null, null)]
    [InlineData("rnn", 0.0, null, null)]
    [InlineData("lstm", 0.0, "cosine", 3L)]
    [InlineData("gru", 0.0, "constant", 10L)]
    public void InterruptAndResumeGivesTheSameLossesAsOneRun(string model, double dropout, string? schedule, long? warmup)
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(2000));

        // One uninterrupted run of 16 steps.
        var straight = new List<StepRecord>();
        var (ctxA, outA, _) = Context();
        TrainOutcome a = Trainer.Run(Tiny(data, _tmp["a"], model, straight.Add, dropout: dropout, schedule: schedule, warmup: warmup), ctxA);
        Assert.Equal(StopReason.StepsDone, a.Reason);
        Assert.Equal(16, straight.Count);

        // The same run, cancelled (Ctrl+C) after step 7, then resumed.
        using var cts = new CancellationTokenSource();
        var first = new List<StepRecord>();
        var (ctxB, outB, _) = Context(cts.Token);
        TrainOutcome b1 = Trainer.Run(Tiny(data, _tmp["b"], model, r => { first.Add(r); if (r.Step == 7) cts.Cancel(); }, dropout: dropout,
            schedule: schedule, warmup: warmup), ctxB);
        Assert.Equal(StopReason.Cancelled, b1.Reason);
        Assert.Equal(ExitCodes.Interrupted, b1.ExitCode);
        Assert.Equal(7, b1.State.Step);
        Assert.Contains("continue with", outB.ToString());

        var second = new List<StepRecord>();
        var (ctxC, outC, _) = Context();
        TrainOutcome b2 = Trainer.Run(new TrainArguments { Out = _tmp["b"], Resume = true, OnStep = second.Add }, ctxC);
        Assert.Equal(StopReason.StepsDone, b2.Reason);
        Assert.Contains("resuming checkpoint-000000007 at step 7", outC.ToString());

        // Loss for loss, bit for bit.
        Assert.Equal(straight.Select(r => r.Loss), first.Concat(second).Select(r => r.Loss));
        Assert.Equal(straight.Select(r => r.GradNorm), first.Concat(second).Select(r => r.GradNorm));
        Assert.Equal(a.State.TrainLoss, b2.State.TrainLoss);
        Assert.Equal(a.State.Evals.Select(e => (e.Step, e.Loss)), b2.State.Evals.Select(e => (e.Step, e.Loss)));

        // The final weights are identical too.
        var wa = CharLmCheckpoint.Load(_tmp["a"]).Weights;
        var wb = CharLmCheckpoint.Load(_tmp["b"]).Weights;
        Assert.Equal(wa.Keys, wb.Keys);
        foreach (string k in wa.Keys) Assert.Equal(wa[k].ToArray<float>(), wb[k].ToArray<float>());
    }

    [Fact]
    public void TheLearningRateFollowsItsScheduleAndAResumeKeepsIt()
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(2000));
        var (ctx, output, _) = Context();
        using var cts = new CancellationTokenSource();
        TrainOutcome o = Trainer.Run(Tiny(data, _tmp["run"], onStep: r => { if (r.Step == 7) cts.Cancel(); }, schedule: "cosine", warmup: 4), Context(cts.Token).Context);
        Assert.Equal(7, o.State.Step);
        double Lr() => CharLmCheckpoint.Load(_tmp["run"]).Checkpoint.ReadOptimizerState()!["param_groups.0.lr"].ToDouble();
        Assert.Equal("LambdaLR", CharLmCheckpoint.Load(_tmp["run"]).Checkpoint.SchedulerType);
        Assert.Equal(2, CharLmCheckpoint.Load(_tmp["run"]).Config.FormatVersion);   // older builds refuse it rather than resume at a constant rate
        // After 7 steps: 4 of warm-up, then 3 of the 12 along the cosine (the default lr of a text file is 0.002).
        Assert.Equal(0.002 * 0.5 * (1 + Math.Cos(Math.PI * 3 / 12)), Lr(), 1e-15);

        var r = Run("train", "--resume", "--out", _tmp["run"], "--lr-schedule", "constant");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("--lr-schedule constant differs from the checkpoint's cosine", r.Error);
        r = Run("train", "--resume", "--out", _tmp["run"], "--steps", "40");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("the checkpoint's cosine schedule spans its --steps 16", r.Error);

        TrainOutcome done = Trainer.Run(new TrainArguments { Out = _tmp["run"], Resume = true }, ctx);
        Assert.Equal(StopReason.StepsDone, done.Reason);
        Assert.Contains("lr 0.002, 4 warm-up steps, then cosine to 0 at step 16", output.ToString());
        Assert.Equal(0.0, Lr(), 1e-18);   // the cosine's end, after the last step

        // A warm-up without a cosine: a resumed run may go further, but not end inside the warm-up.
        Trainer.Run(Tiny(data, _tmp["warm"], steps: 5, warmup: 5), Context().Context);
        r = Run("train", "--resume", "--out", _tmp["warm"], "--steps", "4");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("--steps 4 is below the checkpoint's --warmup-steps 5", r.Error);
        Assert.Equal(ExitCodes.Success, Run("train", "--resume", "--out", _tmp["warm"], "--steps", "8").ExitCode);
        Assert.Equal(0.002, CharLmCheckpoint.Load(_tmp["warm"]).Checkpoint.ReadOptimizerState()!["param_groups.0.lr"].ToDouble());
    }

    [Fact]
    public void BuiltInTaskReportsHeldOutAccuracyAndResumesExactly()
    {
        string[] common = ["--hidden-size", "16", "--embedding-size", "4", "--batch-size", "4", "--eval-every", "5", "--target-accuracy", "0"];
        var a = Run(["train", "--out", _tmp["a"], "--steps", "10", .. common]);
        Assert.Equal(0, a.ExitCode);
        Assert.Contains("on the built-in 2-digit addition task (500 held-out problems)", a.Out);
        Assert.Matches(@"eval step 5: validation loss \d+\.\d+ nats/char .* held-out exact-match accuracy \d+\.\d %", a.Out);
        Assert.Contains("held-out examples: ", a.Out);

        var b1 = Run(["train", "--out", _tmp["b"], "--steps", "4", .. common]);
        Assert.Equal(0, b1.ExitCode);
        var b2 = Run("train", "--out", _tmp["b"], "--resume", "--steps", "10");
        Assert.Equal(0, b2.ExitCode);
        Assert.Contains("resuming checkpoint-000000004 at step 4", b2.Out);

        var sa = CharLmCheckpoint.Load(_tmp["a"], forTraining: true);
        var sb = CharLmCheckpoint.Load(_tmp["b"], forTraining: true);
        Assert.Equal("addition", sa.Config.Training.Data.Kind);
        Assert.Equal(10, sa.State!.TrainLoss.Count);
        Assert.Equal(sa.State.TrainLoss, sb.State!.TrainLoss);
        Assert.Equal(sa.State.Evals.Where(e => e.Step % 5 == 0).Select(e => (e.Step, e.Loss, e.Accuracy)),
            sb.State.Evals.Where(e => e.Step % 5 == 0).Select(e => (e.Step, e.Loss, e.Accuracy)));

        // eval of a built-in-task run: the task's validation split and held-out accuracy, as the last evaluation.
        var e = Run("eval", _tmp["a"]);
        Assert.Equal(0, e.ExitCode);
        Assert.Contains("2-digit addition task (500 held-out problems), validation split", e.Out);
        EvalRecord last = sa.State.Evals[^1];
        Assert.Contains($"loss {last.Loss.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture)} nats/char", e.Out);
        Assert.Contains($"held-out exact-match accuracy {last.Accuracy!.Value.ToString("P1", System.Globalization.CultureInfo.InvariantCulture)}", e.Out);
    }

    [Fact]
    public void CheckpointHoldsPyTorchKeysConfigVocabOptimizerAndRngState()
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(1500));
        TrainOutcome o = Trainer.Run(Tiny(data, _tmp["run"], steps: 6), Context().Context);
        string folder = o.CheckpointFolder!;
        Assert.Equal("checkpoint-000000006", Path.GetFileName(folder));
        var names = CheckpointStore.Verify(folder).Files.Select(f => f.Name).Order().ToArray();
        Assert.Equal(["config.json", "model.safetensors", "optimizer.safetensors", "trainer.json", "training.json", "vocab.json"], names);

        LoadedCheckpoint ck = CharLmCheckpoint.Load(_tmp["run"], forTraining: true);
        string[] expected =
        [
            "emb.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
            "rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1", "rnn.bias_hh_l1", "fc.weight", "fc.bias",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), ck.Weights.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(expected, ck.BuildModel().StateDict().Keys); // PyTorch's state_dict order
        Assert.Equal([48, 6], ck.Weights["rnn.weight_ih_l0"].Shape);
        Assert.Equal([48, 12], ck.Weights["rnn.weight_ih_l1"].Shape);
        Assert.Equal(ck.Vocabulary.Count, ck.Weights["fc.weight"].Shape[0]);
        var optimizerState = ck.Checkpoint.ReadOptimizerState()!;
        Assert.Contains("state.0.exp_avg", optimizerState.Keys);
        Assert.Equal(6L, optimizerState["state.0.step"].Item<long>());
        Assert.Equal(6, ck.State!.Step);
        Assert.Equal(6, ck.State.TrainLoss.Count);
        Assert.Equal(6, ck.Checkpoint.GetGeneratorState("data")!.Length);
        Assert.Equal(6, ck.Checkpoint.GetGeneratorState("dropout")!.Length);
        Assert.Null(ck.State.DataRng); // format 1 kept them in trainer.json; now the store's training.json has them
        Assert.Equal("recurrent-charlm", ck.Checkpoint.Metadata["format"]);
        Assert.Equal("lstm", ck.Config.Model.Kind);
        Assert.Equal(1, ck.Config.FormatVersion);
        Assert.True(File.Exists(Path.Combine(_tmp["run"], "loss.svg")));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        Assert.Equal("recurrent-charlm", json.RootElement.GetProperty("format").GetString());
        Assert.Equal(12, json.RootElement.GetProperty("model").GetProperty("hidden_size").GetInt32());
    }

    [Fact]
    public void ExistingCheckpointIsNeverOverwrittenWithoutResume()
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(1500));
        Trainer.Run(Tiny(data, _tmp["run"], steps: 3), Context().Context);
        var before = _tmp.Snapshot();
        var r = Run(["train", "--data", data, "--out", _tmp["run"], .. TinyModel, "--steps", "3"]);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("already holds a checkpoint", r.Error);
        Assert.Equal(before.Keys.Order(), _tmp.Snapshot().Keys.Order());
        foreach (var (path, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Fact]
    public void ResumeRefusesDifferentDataAndConflictingOptions()
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(1500));
        Trainer.Run(Tiny(data, _tmp["run"], steps: 3), Context().Context);
        var before = _tmp.Snapshot();

        var r = Run("train", "--resume", "--out", _tmp["run"], "--hidden-size", "64");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("--hidden-size 64 differs from the checkpoint's 12", r.Error);

        string other = _tmp.WriteText("other.txt", Corpus(1500).Replace("cat", "dog"));
        r = Run("train", "--resume", "--out", _tmp["run"], "--data", other, "--steps", "5");
        Assert.Equal(ExitCodes.Failure, r.ExitCode);
        Assert.Contains("not the text the checkpoint was trained on", r.Error);

        r = Run("train", "--resume", "--out", _tmp["run"], "--steps", "2");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("below the checkpoint's step 3", r.Error);

        foreach (var (path, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Fact]
    public void ResumeRefusesAnIncompatibleOrIncompleteCheckpoint()
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(1500));
        TrainOutcome o = Trainer.Run(Tiny(data, _tmp["run"], steps: 2), Context().Context);
        string folder = o.CheckpointFolder!;

        // Written by a (hypothetical) newer version: config.json says format_version 3 (manifest rewritten to match).
        string configPath = Path.Combine(folder, "config.json");
        string original = File.ReadAllText(configPath);
        File.WriteAllText(configPath, original.Replace("\"format_version\": 1", "\"format_version\": 3"));
        RewriteManifest(folder);
        var r = Run("train", "--resume", "--out", _tmp["run"], "--steps", "4");
        Assert.Equal(ExitCodes.Failure, r.ExitCode);
        Assert.Contains("newer version", r.Error);
        Assert.Single(r.ErrorLines);

        // A file deleted from the folder.
        File.WriteAllText(configPath, original);
        RewriteManifest(folder);
        File.Delete(Path.Combine(folder, "optimizer.safetensors"));
        r = Run("train", "--resume", "--out", _tmp["run"], "--steps", "4");
        Assert.Equal(ExitCodes.Failure, r.ExitCode);
        Assert.Contains("missing optimizer.safetensors", r.Error);
        Assert.Single(r.ErrorLines);
    }

    [Fact]
    public void NonFiniteGradientsAreSkippedAndCountedOrStopTraining()
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(1500));
        // Adam moves each weight by about lr per step: at 1e38 the float32 weights overflow to infinity within a few
        // steps, after which the loss and the gradients are NaN.
        var args = Tiny(data, _tmp["skip"], model: "rnn", steps: 40) with { LearningRate = 1e38, Clip = 0, EvalEvery = 1000 };
        var (ctx, output, _) = Context();
        TrainOutcome o = Trainer.Run(args, ctx);
        Assert.Equal(StopReason.StepsDone, o.Reason);
        Assert.True(o.State.SkippedSteps > 0, output.ToString());
        Assert.Contains("update skipped", output.ToString());
        Assert.Equal(o.State.SkippedSteps, o.State.TrainLoss.Zip(o.State.GradNorm).Count(p => !double.IsFinite(p.First) || !double.IsFinite(p.Second)));

        var (ctx2, _, err2) = Context();
        TrainOutcome stopped = Trainer.Run(args with { Out = _tmp["stop"], StopOnNonFinite = true }, ctx2);
        Assert.Equal(StopReason.NonFinite, stopped.Reason);
        Assert.Equal(ExitCodes.Failure, stopped.ExitCode);
        Assert.Equal(1, stopped.State.SkippedSteps);
        Assert.Contains("not finite", err2.ToString());
    }

    [Fact]
    public void PlainProgressLinesWhenRedirected()
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(1500));
        var r = Run(["train", "--data", data, "--out", _tmp["run"], .. TinyModel, "--steps", "8", "--log-every", "4", "--eval-every", "4"]);
        Assert.Equal(0, r.ExitCode);
        string[] lines = r.Out.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("step 4/8  loss ") && l.Contains("grad-norm") && l.Contains("tok/s") && l.Contains("ETA"));
        Assert.Contains(lines, l => l.StartsWith("step 8/8  loss "));
        Assert.Contains(lines, l => l.StartsWith("eval step 4: validation loss") && l.Contains("bits/char"));
        Assert.DoesNotContain("\r", r.Out);
        Assert.DoesNotContain("\x1b", r.Out);
    }

    [Fact]
    public void TimeLimitStopsAndSaves()
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(1500));
        TrainOutcome o = Trainer.Run(Tiny(data, _tmp["run"], steps: 1000) with { Minutes = 1e-6 }, Context().Context);
        Assert.Equal(StopReason.TimeLimit, o.Reason);
        Assert.Equal(0, o.ExitCode);
        Assert.Equal(1, o.State.Step);
        Assert.Equal(o.CheckpointFolder, CheckpointStore.Resolve(_tmp["run"]));
    }

    [Fact]
    public void CancelledBeforeTheFirstStepWritesNothing()
    {
        string data = _tmp.WriteText("corpus.txt", Corpus(1500));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var r = Run(cts.Token, ["train", "--data", data, "--out", _tmp["run"], .. TinyModel, "--steps", "5"]);
        Assert.Equal(ExitCodes.Interrupted, r.ExitCode);
        Assert.Contains("no checkpoint written", r.Out);
        Assert.False(Directory.Exists(_tmp["run"]));
    }

    [Fact]
    public void DefaultRunFoldersNeverCollideAndResumePicksTheLatest()
    {
        string data = _tmp.WriteText("my notes.txt", Corpus(1500));
        string root = _tmp["runs"];
        TrainArguments Default(long steps, bool resume = false) =>
            Tiny(data, null!, steps: steps) with { Out = null, RunsRoot = root, Resume = resume };

        Assert.Equal(Path.Combine(root, "my_notes"), Trainer.Run(Default(2), Context().Context).RunFolder);
        Assert.Equal(Path.Combine(root, "my_notes-2"), Trainer.Run(Default(2), Context().Context).RunFolder);
        TrainOutcome resumed = Trainer.Run(Default(4, resume: true), Context().Context);
        Assert.Equal(Path.Combine(root, "my_notes-2"), resumed.RunFolder);
        Assert.Equal(4, resumed.State.Step);
        Assert.Equal(2, CharLmCheckpoint.Load(Path.Combine(root, "my_notes"), forTraining: true).State!.Step);
    }

    private static void RewriteManifest(string folder) => Recurrent.Tests.Training.CheckpointTests.RewriteManifest(folder);
}
