// Bad input gives one line on stderr and a non-zero exit code, never a stack trace, and damages nothing on disk.
using Recurrent.Cli;
using static Recurrent.Tests.Cli.CliTestSupport;

namespace Recurrent.Tests.Cli;

public sealed class CliErrorTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static void AssertOneLineError(CliResult r, int code, params string[] fragments)
    {
        Assert.Equal(code, r.ExitCode);
        string[] lines = r.ErrorLines;
        Assert.True(lines.Length == 1, $"expected one error line, got:\n{r.Error}");
        Assert.StartsWith("recurrent: error: ", lines[0]);
        foreach (string f in fragments) Assert.Contains(f, lines[0]);
        Assert.DoesNotContain("   at ", r.Error); // no stack trace
    }

    [Theory]
    [InlineData("--hidden-size", "0", "--hidden-size must be at least 1, got 0")]
    [InlineData("--hidden-size", "-5", "--hidden-size must be at least 1, got -5")]
    [InlineData("--layers", "0", "--layers must be at least 1")]
    [InlineData("--embedding-size", "0", "--embedding-size must be at least 1")]
    [InlineData("--seq-len", "0", "--seq-len must be at least 1")]
    [InlineData("--batch-size", "-1", "--batch-size must be at least 1")]
    [InlineData("--lr", "0", "--lr must be a positive number")]
    [InlineData("--lr", "-0.1", "--lr must be a positive number")]
    [InlineData("--dropout", "1", "--dropout must be in [0, 1)")]
    [InlineData("--steps", "0", "--steps must be at least 1")]
    [InlineData("--threads", "0", "--threads must be at least 1")]
    [InlineData("--clip", "-1", "--clip must be zero")]
    [InlineData("--minutes", "-2", "--minutes must be positive")]
    [InlineData("--eval-every", "0", "--eval-every must be at least 1")]
    [InlineData("--digits", "9", "--digits must be between 1 and 6")]
    [InlineData("--warmup-steps", "-1", "--warmup-steps must be between 0 and --steps (4000), got -1")]
    [InlineData("--warmup-steps", "4001", "--warmup-steps must be between 0 and --steps (4000), got 4001")]
    public void NonsensicalTrainOptionsAreUsageErrors(string option, string value, string message)
    {
        var r = Run("train", "--out", _tmp["run"], option, value);
        AssertOneLineError(r, ExitCodes.Usage, message);
        Assert.False(Directory.Exists(_tmp["run"]));
    }

    [Theory]
    [InlineData(new[] { "train", "--hidden-size", "abc" }, "abc")]
    [InlineData(new[] { "train", "--no-such-option" }, "--no-such-option")]
    [InlineData(new[] { "train", "--model", "transformer" }, "transformer")]
    [InlineData(new[] { "train", "--lr-schedule", "linear" }, "linear")]
    [InlineData(new[] { "frobnicate" }, "frobnicate")]
    [InlineData(new[] { "eval", "somewhere", "--split", "bogus" }, "bogus")]
    public void ParseErrorsAreOneLineUsageErrors(string[] args, string fragment)
    {
        var r = Run(args);
        AssertOneLineError(r, ExitCodes.Usage, fragment, "--help");
    }

    [Theory]
    [InlineData(new[] { "train", "--out", "" }, "--out: the path is empty")]
    [InlineData(new[] { "train", "--data", " " }, "--data: the path is empty")]
    [InlineData(new[] { "export", "run", "" }, "OUTPUT: the path is empty")]
    [InlineData(new[] { "quantize", "run", "" }, "OUT_DIR: the path is empty")]
    [InlineData(new[] { "info", "" }, "PATH: the path is empty")]
    public void EmptyPathsAreUsageErrors(string[] args, string fragment)
    {
        // Before: an ArgumentException from System.IO, reported as an internal error with exit code 1.
        AssertOneLineError(Run(args), ExitCodes.Usage, fragment);
    }

    [Fact]
    public void AnUnwritableRunFolderFailsBeforeTraining()
    {
        // --out under a file: the folder cannot be created. Before, training ran until its first checkpoint.
        string file = _tmp.WriteText("a-file.txt", "x");
        var r = Run(["train", "--out", Path.Combine(file, "run"), "--steps", "5", .. TinyModel]);
        AssertOneLineError(r, ExitCodes.Failure, "cannot write the run folder", "nothing was trained");
        Assert.DoesNotContain("step 1/", r.Out);
    }

    [Fact]
    public void CtrlCDuringAnEvaluationInTraining_StopsIt_AndTheRunSaves()
    {
        // The evaluation ran without the token: the first Ctrl+C was swallowed until it finished (a long validation split
        // took minutes), and a second one ended the process and lost the steps since the last checkpoint.
        using var cts = new CancellationTokenSource();
        var (ctx, output, _) = Context(cts.Token);
        var args = new Recurrent.Cli.Training.TrainArguments
        {
            Data = _tmp.WriteText("c.txt", Corpus(3000)), Out = _tmp["run"], HiddenSize = 8, EmbeddingSize = 4, SeqLen = 8, BatchSize = 2,
            Steps = 10, EvalEvery = 2, CheckpointEvery = 100, LogEvery = 100, OnStep = r => { if (r.Step == 2) cts.Cancel(); },
        };
        var outcome = Recurrent.Cli.Training.Trainer.Run(args, ctx);
        Assert.Equal(Recurrent.Cli.Training.StopReason.Cancelled, outcome.Reason);
        Assert.Contains("step 2: evaluation stopped", output.ToString());
        Assert.DoesNotContain("eval step 2:", output.ToString());
        Assert.Equal(2, Recurrent.Training.CheckpointStore.Load(_tmp["run"]).Step);
    }

    [Fact]
    public void TrainingIntoACheckpointFolder_IsRefusedNamingTheRun()
    {
        var data = _tmp.WriteText("c.txt", Corpus(1500));
        var r = Run("train", "--data", data, "--out", _tmp["run"], "--hidden-size", "8", "--embedding-size", "4", "--seq-len", "8", "--batch-size", "2", "--steps", "2");
        Assert.True(r.ExitCode == 0, r.Error);
        string folder = Recurrent.Training.CheckpointStore.TryResolve(_tmp["run"])!;
        var resume = Run("train", "--resume", "--out", folder, "--steps", "4");
        Assert.Equal(2, resume.ExitCode);
        Assert.Contains($"is a checkpoint folder of the run '{_tmp["run"]}'", resume.Error);
        Assert.False(Directory.Exists(Path.Combine(folder, "LATEST")) || File.Exists(Path.Combine(folder, "LATEST")));
    }

    [Fact]
    public void Eval_WithABatchLargerThanTheText_IsSizedByTheWindowsItHas()
    {
        // The memory check took seq_len x --batch-size, though the batches never hold more windows than the text has.
        var data = _tmp.WriteText("c.txt", Corpus(1500));
        var r = Run("train", "--data", data, "--out", _tmp["run"], "--hidden-size", "8", "--embedding-size", "4", "--seq-len", "8", "--batch-size", "2", "--steps", "2");
        Assert.True(r.ExitCode == 0, r.Error);
        var big = Run("eval", _tmp["run"], "--batch-size", "100000000");
        Assert.True(big.ExitCode == 0, big.Error);
        var usual = Run("eval", _tmp["run"], "--batch-size", "4");
        Assert.Equal(usual.Out.Split('\n').First(l => l.Contains("loss")), big.Out.Split('\n').First(l => l.Contains("loss")));
    }

    // Rewrites one JSON field of a checkpoint's config.json and its manifest entry (a hand edit that keeps the hashes).
    private static void EditConfig(string folder, Action<System.Text.Json.Nodes.JsonNode> edit)
    {
        string configPath = Path.Combine(folder, "config.json");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!;
        edit(config);
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(config.ToJsonString());
        File.WriteAllBytes(configPath, bytes);
        string manifestPath = Path.Combine(folder, "manifest.json");
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(manifestPath))!;
        var entry = manifest["files"]!.AsArray().Single(e => (string?)e!["name"] == "config.json")!;
        entry["bytes"] = bytes.Length;
        entry["sha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        File.WriteAllText(manifestPath, manifest.ToJsonString());
    }

    [Fact]
    public void ACheckpointWhoseConfigWasEdited_IsRefusedBeforeAnythingIsBuiltFromIt()
    {
        var data = _tmp.WriteText("c.txt", Corpus(1500));
        var r = Run("train", "--data", data, "--out", _tmp["run"], "--hidden-size", "8", "--embedding-size", "4", "--seq-len", "8", "--batch-size", "2", "--steps", "2");
        Assert.True(r.ExitCode == 0, r.Error);
        string folder = Recurrent.Training.CheckpointStore.TryResolve(_tmp["run"])!;
        string original = File.ReadAllText(Path.Combine(folder, "config.json")), manifest = File.ReadAllText(Path.Combine(folder, "manifest.json"));
        void Restore() { File.WriteAllText(Path.Combine(folder, "config.json"), original); File.WriteAllText(Path.Combine(folder, "manifest.json"), manifest); }

        // A hidden size of 15,000 beside weights of 8: the model (about 7 GB) was built and initialised before the
        // weights were found not to fit.
        EditConfig(folder, c => c["model"]!["hidden_size"] = 15000);
        var sample = Run("sample", _tmp["run"], "--length", "5");
        Assert.Equal(1, sample.ExitCode);
        Assert.Contains("config.json describes a model of", sample.Error);
        Restore();

        // The training and data sections are checked too (they were not: a val_fraction of 0.95 was an internal error).
        EditConfig(folder, c => c["training"]!["val_fraction"] = 0.95);
        var resume = Run("train", "--resume", "--out", _tmp["run"], "--steps", "4");
        Assert.Equal(1, resume.ExitCode);
        Assert.Contains("invalid config.json: --val-fraction must be in (0, 0.5], got 0.95", resume.Error);
        Restore();
        Assert.Equal(0, Run("sample", _tmp["run"], "--length", "5").ExitCode);
    }

    [Fact]
    public void SignalsStopOnlyCommandsThatWatchForThem()
    {
        // Program.cs cancels the token (instead of ending the process) only while ObservesCancellation holds: during
        // training's steps, not while planning (a command that never looks at the token must not swallow SIGTERM).
        var (ctx, _, _) = Context();
        Assert.False(ctx.ObservesCancellation);
        var seen = new List<bool>();
        var args = new Recurrent.Cli.Training.TrainArguments
        {
            Data = _tmp.WriteText("c.txt", Corpus(1500)), Out = _tmp["run"], HiddenSize = 8, EmbeddingSize = 4, SeqLen = 8, BatchSize = 2,
            Steps = 3, EvalEvery = 3, LogEvery = 100, OnStep = _ => seen.Add(ctx.ObservesCancellation),
        };
        Recurrent.Cli.Training.Trainer.Run(args, ctx);
        Assert.Equal([true, true, true], seen);
        Assert.False(ctx.ObservesCancellation);
        using (ctx.ObserveCancellation())
        using (ctx.ObserveCancellation()) Assert.True(ctx.ObservesCancellation);
        Assert.False(ctx.ObservesCancellation);
        // A scope disposed twice ends once.
        var outer = ctx.ObserveCancellation();
        var inner = ctx.ObserveCancellation();
        inner.Dispose();
        inner.Dispose();
        Assert.True(ctx.ObservesCancellation);
        outer.Dispose();
        Assert.False(ctx.ObservesCancellation);
    }

    [Fact]
    public void MissingDataFile()
    {
        var r = Run("train", "--data", _tmp["missing.txt"], "--out", _tmp["run"]);
        AssertOneLineError(r, ExitCodes.Failure, "--data", "missing.txt", "does not exist");
        Assert.False(Directory.Exists(_tmp["run"]));
    }

    [Fact]
    public void EmptyDataFile()
    {
        string path = _tmp.WriteText("empty.txt", "");
        AssertOneLineError(Run("train", "--data", path, "--out", _tmp["run"]), ExitCodes.Failure, "empty");
    }

    [Fact]
    public void NonUtf8DataFile()
    {
        string path = _tmp["latin1.txt"];
        File.WriteAllBytes(path, System.Text.Encoding.Latin1.GetBytes("na\u00efve caf\u00e9\n"));
        AssertOneLineError(Run("train", "--data", path, "--out", _tmp["run"]), ExitCodes.Failure, "not valid UTF-8", "offset 2", "line 1");
    }

    [Fact]
    public void SequenceLongerThanTheData()
    {
        string path = _tmp.WriteText("short.txt", "hello world, this is short.\n");
        var r = Run("train", "--data", path, "--out", _tmp["run"], "--seq-len", "100");
        AssertOneLineError(r, ExitCodes.Usage, "--seq-len 100 is longer than the training part");
        Assert.False(Directory.Exists(_tmp["run"]));
    }

    [Fact]
    public void ResumeWithoutCheckpoint()
    {
        AssertOneLineError(Run("train", "--resume", "--out", _tmp["run"]), ExitCodes.Usage, "--resume", "no checkpoint");
    }

    [Fact]
    public void DigitsWithDataIsRefused()
    {
        string path = _tmp.WriteText("c.txt", Corpus(500));
        AssertOneLineError(Run("train", "--data", path, "--digits", "3", "--out", _tmp["run"]), ExitCodes.Usage, "--digits");
    }

    [Fact]
    public void SampleEvalInfoOnMissingOrBrokenCheckpoints()
    {
        AssertOneLineError(Run("sample", _tmp["nothing"]), ExitCodes.Failure, "does not exist");
        Directory.CreateDirectory(_tmp["emptydir"]);
        AssertOneLineError(Run("sample", _tmp["emptydir"]), ExitCodes.Failure, "holds no checkpoint");
        AssertOneLineError(Run("info", _tmp["nothing.safetensors"]), ExitCodes.Failure, "does not exist");
        string junk = _tmp.WriteText("junk.safetensors", "this is not a safetensors file at all");
        AssertOneLineError(Run("info", junk), ExitCodes.Failure, "safetensors");
        string text = _tmp.WriteText("plain.txt", "hello");
        AssertOneLineError(Run("info", text), ExitCodes.Failure, "not a weight file");
        AssertOneLineError(Run("demo", "no-such-demo"), ExitCodes.Usage, "relu-rnn");
    }

    [Fact]
    public void HelpWorksOnEveryCommand()
    {
        foreach (string cmd in new[] { "train", "sample", "eval", "info", "demo", "convert" })
        {
            var r = Run(cmd, "--help");
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("Usage:", r.Out);
            Assert.Empty(r.Error);
        }
        var root = Run();
        Assert.Equal(0, root.ExitCode);
        Assert.Contains("train", root.Out);
        Assert.Contains("--resume", Run("train", "--help").Out);
        Assert.Contains("--top-k", Run("sample", "--help").Out);
    }
}
