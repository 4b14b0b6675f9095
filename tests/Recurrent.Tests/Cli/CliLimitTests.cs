// Sizes and thread counts beyond what a buffer or this machine can take are usage errors that say the limit (exit 2,
// one line, nothing written); convert into a missing folder says so without internal file names.
using System.Globalization;
using Recurrent.Cli;
using Recurrent.Cli.Model;
using Recurrent.Cli.Training;
using static Recurrent.Tests.Cli.CliTestSupport;

namespace Recurrent.Tests.Cli;

public sealed class CliLimitTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static void AssertUsage(CliResult r, params string[] fragments)
    {
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Single(r.ErrorLines);
        foreach (string f in fragments) Assert.Contains(f, r.ErrorLines[0]);
        Assert.DoesNotContain("   at ", r.Error);
        Assert.DoesNotContain("internal error", r.Error);
    }

    [Fact]
    public void HugeLayerCountIsAUsageErrorThatSaysTheLimit()
    {
        // Few parameters (hidden 8) but 100,000 layers of saved activations: more than one buffer can hold.
        var r = Run("train", "--out", _tmp["run"], "--layers", "100000", "--hidden-size", "8", "--steps", "1");
        AssertUsage(r, "activations kept for backpropagation", Array.MaxLength.ToString("N0", CultureInfo.InvariantCulture), "--layers");
        // With the default hidden size the parameter count is over its limit first.
        AssertUsage(Run("train", "--out", _tmp["run"], "--layers", "100000"), "parameters", "2,000,000,000", "--layers");
        Assert.False(Directory.Exists(_tmp["run"]));
    }

    [Theory]
    [InlineData("--batch-size", "1000000", "--seq-len", "50")]
    [InlineData("--batch-size", "20000", "--seq-len", "2000")]
    public void BatchesWhoseBuffersOverflowAreUsageErrors(string o1, string v1, string o2, string v2)
    {
        string data = _tmp.WriteText("c.txt", Corpus(5000));
        AssertUsage(Run("train", "--data", data, "--out", _tmp["run"], o1, v1, o2, v2), "in one buffer", "--batch-size");
        Assert.False(Directory.Exists(_tmp["run"]));
    }

    [Fact]
    public void TrainingThatNeedsMoreMemoryThanTheMachineIsAUsageError()
    {
        ResourceLimits.MemoryOverride.Value = 64L << 20; // a 64 MB machine
        try
        {
            var r = Run(["train", "--out", _tmp["run"], "--hidden-size", "1024", "--layers", "2", "--steps", "1"]);
            AssertUsage(r, "of memory, more than the 0.1 GB this machine has");
            Assert.False(Directory.Exists(_tmp["run"]));
        }
        finally
        {
            ResourceLimits.MemoryOverride.Value = null;
        }
    }

    [Fact]
    public void ThreadsBeyondTheMachineAreUsageErrors()
    {
        int max = Environment.ProcessorCount;
        AssertUsage(Run("train", "--out", _tmp["run"], "--threads", "100000"), $"--threads must be at most {max}", "got 100000");
        AssertUsage(Run("train", "--out", _tmp["run"], "--threads", (max + 1).ToString(CultureInfo.InvariantCulture)), $"at most {max}");
        Assert.False(Directory.Exists(_tmp["run"]));
    }

    [Fact]
    public void ARunTrainedWithMoreThreadsThanThisMachineResumesWithItsProcessors()
    {
        string data = _tmp.WriteText("c.txt", Corpus(1500));
        var first = Run(["train", "--data", data, "--out", _tmp["run"], .. TinyModel, "--steps", "2"]);
        Assert.Equal(0, first.ExitCode);
        // As if trained on a 64-core machine: config.json says 64 threads (manifest rewritten to match).
        string folder = Recurrent.Training.CheckpointStore.Resolve(_tmp["run"]);
        string config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace($"\"threads\": {Environment.ProcessorCount}", "\"threads\": 64"));
        Recurrent.Tests.Training.CheckpointTests.RewriteManifest(folder);

        var r = Run("train", "--resume", "--out", _tmp["run"], "--steps", "3");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"{Environment.ProcessorCount} thread", r.Out);
        Assert.Contains("trained with 64 threads", r.Error);
        // An explicit --threads beyond the machine is still refused.
        AssertUsage(Run("train", "--resume", "--out", _tmp["run"], "--steps", "4", "--threads", "64"), "--threads must be at most");
    }

    [SkippableFact]
    public void ConvertIntoAMissingFolderNamesTheFolderNotATemporaryFile()
    {
        string pt = TestPaths.RequireRealCheckpoints("RWDavid__rnn-instrument-recognition__gru.pt");
        var r = Run("convert", pt, _tmp["missing/out.safetensors"]);
        Assert.Equal(ExitCodes.Failure, r.ExitCode);
        Assert.Single(r.ErrorLines);
        Assert.Contains($"the output folder '{_tmp["missing"]}' does not exist", r.Error);
        Assert.DoesNotContain(".tmp", r.Error);
        Assert.False(Directory.Exists(_tmp["missing"]));

        Directory.CreateDirectory(_tmp["dir.safetensors"]);
        AssertUsage(Run("convert", pt, _tmp["dir.safetensors"]), "is a folder");
    }

    [Theory]
    [InlineData("sample", "--length", "-1")]
    [InlineData("sample", "--temperature", "NaN")]
    [InlineData("sample", "--top-k", "-2")]
    [InlineData("eval", "--seq-len", "0")]
    [InlineData("eval", "--batch-size", "0")]
    [InlineData("eval", "--split", "test")]
    [InlineData("eval", "--batch-size", "99999999999")]
    public void BadValuesOfOtherCommandsAreOneLineUsageErrors(string command, string option, string value)
    {
        // The checkpoint does not even need to exist: options are checked first.
        var r = Run(command, _tmp["no-run"], option, value);
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Single(r.ErrorLines);
        Assert.DoesNotContain("   at ", r.Error);
    }

    [Fact]
    public void EvalWithHugeWindows_IsSizedByTheTextItScores()
    {
        // The check used to take 2e9 windows of 1e6 characters at their word and refuse; the batches hold at most the
        // windows the text has (here one, of the validation split's length), so the evaluation runs.
        string data = _tmp.WriteText("c.txt", Corpus(1500));
        Assert.Equal(0, Run(["train", "--data", data, "--out", _tmp["run"], .. TinyModel, "--steps", "1"]).ExitCode);
        var r = Run("eval", _tmp["run"], "--batch-size", "2000000000", "--seq-len", "1000000");
        Assert.True(r.ExitCode == 0, r.Error);
    }
}
