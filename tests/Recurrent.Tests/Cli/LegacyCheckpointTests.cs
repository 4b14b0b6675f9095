// Run folders written before the checkpoint store moved into the library (checkpoint format 1: no training.json,
// generator states in trainer.json) still work: info, sample, and train --resume, which continues the run and writes
// format 2. The fixture (Fixtures/charlm-v1, see its README) was written by the program at that time.
using System.Text.Json;
using Recurrent.Cli;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Training;
using Recurrent.IO;
using Recurrent.Training;
using static Recurrent.Tests.Cli.CliTestSupport;

namespace Recurrent.Tests.Cli;

public sealed class LegacyCheckpointTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "Recurrent.Tests", "Cli", "Fixtures", "charlm-v1", name);

    private string CopyRun()
    {
        string run = _tmp["run"];
        foreach (string file in Directory.EnumerateFiles(Fixture("run"), "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(run, Path.GetRelativePath(Fixture("run"), file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        File.Copy(Fixture("corpus.txt"), _tmp["corpus.txt"]);
        return run;
    }

    [Fact]
    public void FormatOneFolderIsReadByInfoAndSample()
    {
        string run = CopyRun();
        Checkpoint ck = CheckpointStore.Load(run);
        Assert.Equal(1, ck.Manifest.FormatVersion);
        Assert.Equal(3, ck.Step);
        Assert.Empty(ck.GeneratorNames);

        var info = Run("info", run);
        Assert.Equal(0, info.ExitCode);
        Assert.Contains("step 3, format 1", info.Out);
        Assert.Contains("model: gru", info.Out);

        var sample = Run("sample", run, "--prompt", "the ", "--length", "20");
        Assert.Equal(0, sample.ExitCode);
        Assert.StartsWith("the ", sample.Out);
    }

    [Fact]
    public void FormatOneCheckpointReadWithoutItsTrainerState_RefusesToRestore_AndChangesNothing()
    {
        // Load's default (forTraining: false) does not read trainer.json, where format 1 keeps the generators: Restore
        // loaded the weights and the optimizer state and then threw a NullReferenceException.
        string run = CopyRun();
        var ck = CharLmCheckpoint.Load(run);
        var model = new Recurrent.Cli.Model.CharLanguageModel(ck.Config.Model, new Generator(1), new Generator(2));
        var optimizer = Trainer.CreateOptimizer(ck.Config.Training, model.Parameters().ToList());
        var before = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
        var data = new Generator(3);
        var e = Assert.Throws<CheckpointException>(() => ck.Restore(model, optimizer, null, data, new Generator(4)));
        Assert.Equal(CheckpointProblem.Mismatch, e.Problem);
        Assert.Contains("forTraining: true", e.Message);
        foreach (var (k, v) in model.StateDict()) Assert.Equal(before[k], v.ToArray<float>());
        Assert.DoesNotContain(optimizer.StateDict().Keys, k => k.StartsWith("state.", StringComparison.Ordinal));
        Assert.Equal(new Generator(3).NextUInt64(), data.NextUInt64());

        CharLmCheckpoint.Load(run, forTraining: true).Restore(model, optimizer, null, data, new Generator(4));   // the way that works
    }

    [Fact]
    public void FormatOneRunResumesWhereItStopped()
    {
        string run = CopyRun();
        var r = Run("train", "--resume", "--out", run, "--data", _tmp["corpus.txt"], "--steps", "6");
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.Contains("resuming checkpoint-000000003 at step 3", r.Out);

        // The new checkpoint is format 2 and holds the generators in training.json.
        LoadedCheckpoint now = CharLmCheckpoint.Load(run, forTraining: true);
        Assert.Equal(CheckpointStore.FormatVersion, now.Checkpoint.Manifest.FormatVersion);
        Assert.Equal(6, now.Checkpoint.Step);
        Assert.NotNull(now.Checkpoint.GetGeneratorState(CharLmCheckpoint.DataGenerator));

        // Steps 1-3 are the old run's history; steps 4-6 continue it as the uninterrupted run did (data order and dropout
        // masks from the restored generators). The tolerance only allows for kernel rounding changes since the fixture
        // was written; a wrong generator state or optimizer state changes the losses in the first digits.
        using var straight = JsonDocument.Parse(File.ReadAllText(Fixture("straight-step6.trainer.json")));
        double[] expected = straight.RootElement.GetProperty("train_loss").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        using var old = JsonDocument.Parse(File.ReadAllText(Fixture("run/checkpoint-000000003/trainer.json")));
        double[] oldLosses = old.RootElement.GetProperty("train_loss").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(oldLosses, now.State!.TrainLoss.Take(3));
        Assert.Equal(6, now.State.TrainLoss.Count);
        for (int i = 0; i < 6; i++) Assert.Equal(expected[i], now.State.TrainLoss[i], 1e-4);

        var expectedWeights = TensorIO.ReadTensors(Fixture("straight-step6.model.safetensors"));
        foreach (var (name, t) in expectedWeights)
        {
            float[] e = t.ToArray<float>(), a = now.Weights[name].ToArray<float>();
            for (int i = 0; i < e.Length; i++) Assert.Equal(e[i], a[i], 1e-4f);
        }
    }
}
