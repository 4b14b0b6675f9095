// Saving and restoring through the store: contents of a checkpoint, the caller's files and metadata, and every way a
// checkpoint can fail to load or to fit, each with its documented CheckpointProblem and nothing changed on failure.
using System.Text.Json;
using Recurrent.Nn;
using Recurrent.Optim;
using Recurrent.Tests.Cli;
using Recurrent.Training;

namespace Recurrent.Tests.Training;

public sealed class CheckpointTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private sealed class Net : Module
    {
        public Net(int hidden, Generator g)
        {
            RegisterModule("rnn", new Rnn(3, hidden, generator: g));
            RegisterModule("fc", new Linear(hidden, 2, generator: g));
        }
    }

    /// <summary>A net and an Adam optimizer that has taken one step (so it has state).</summary>
    private static (Net Net, Adam Adam) Trained(int hidden = 4, ulong seed = 1)
    {
        var net = new Net(hidden, new Generator(seed));
        var adam = new Adam(net.Parameters(), lr: 0.1);
        foreach (var p in net.Parameters()) p.Grad = Tensor.OnesLike(p);
        adam.Step();
        return (net, adam);
    }

    private static Dictionary<string, float[]> Weights(Module m) =>
        m.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());

    private static Dictionary<string, double[]> State(Optimizer o) =>
        o.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Double().ToArray<double>());

    [Fact]
    public void CheckpointHoldsWeightsOptimizerStateGeneratorsMetadataAndFiles()
    {
        var (net, adam) = Trained();
        var data = new Generator(5);
        data.NextDouble();
        var store = new CheckpointStore(_tmp["run"]);
        string folder = store.Save(7, net, adam, new Dictionary<string, Generator> { ["data"] = data },
            new Dictionary<string, string> { ["note"] = "hello" }, [CheckpointFile.FromText("config.json", "{\"x\": 1}")]);

        Assert.Equal("checkpoint-000000007", Path.GetFileName(folder));
        CheckpointManifest manifest = CheckpointStore.Verify(folder);
        Assert.Equal(["model.safetensors", "optimizer.safetensors", "training.json", "config.json"], manifest.Files.Select(f => f.Name));
        Assert.Equal(CheckpointStore.FormatVersion, manifest.FormatVersion);

        Checkpoint ck = store.LoadLatest();
        Assert.Equal(folder, ck.Folder);
        Assert.Equal(7, ck.Step);
        Assert.Equal("hello", ck.Metadata["note"]);
        Assert.Equal(data.GetState(), ck.GetGeneratorState("data"));
        Assert.Equal(["data", "default"], ck.GeneratorNames.Order());
        Assert.Null(ck.GetGeneratorState("nope"));
        Assert.True(ck.HasOptimizerState);
        Assert.True(ck.HasFile("config.json"));
        Assert.Equal("{\"x\": 1}", ck.ReadAllText("config.json"));
        Assert.Equal(CheckpointProblem.Incomplete, Problem(() => ck.ReadAllText("other.json")));
        Assert.Equal(Weights(net).Keys.Order(), ck.ReadModelState().Keys.Order());
        Assert.Equal(Weights(net)["fc.weight"], ck.ReadModelState()["fc.weight"].ToArray<float>());
        Assert.Equal(State(adam).Keys.Order(), ck.ReadOptimizerState()!.Keys.Order());

        // training.json is plain JSON a person (or another tool) can read.
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "training.json")));
        Assert.Equal(7, json.RootElement.GetProperty("step").GetInt64());
        Assert.Equal("Adam", json.RootElement.GetProperty("optimizer").GetString());
        Assert.Equal(6, json.RootElement.GetProperty("generators").GetProperty("data").GetArrayLength());
    }

    [Fact]
    public void ModuleOnlyCheckpointRestoresWeights()
    {
        var (net, _) = Trained();
        new CheckpointStore(_tmp["run"]).Save(0, net);
        var fresh = new Net(4, new Generator(42));
        Checkpoint ck = CheckpointStore.Load(_tmp["run"]);
        Assert.False(ck.HasOptimizerState);
        Assert.Null(ck.ReadOptimizerState());
        ck.Restore(fresh, restoreDefaultGenerator: false);
        Assert.Equal(Weights(net), Weights(fresh));

        // Asking for the optimizer state that was never saved is a mismatch, and changes nothing.
        var other = new Net(4, new Generator(43));
        var before = Weights(other);
        var e = Assert.Throws<CheckpointException>(() => ck.Restore(other, new Adam(other.Parameters()), restoreDefaultGenerator: false));
        Assert.Equal(CheckpointProblem.Mismatch, e.Problem);
        Assert.Contains("no optimizer state", e.Message);
        Assert.Equal(before, Weights(other));
    }

    [Fact]
    public void RestoringIntoAnotherArchitectureChangesNothing()
    {
        var (net, adam) = Trained(hidden: 4);
        new CheckpointStore(_tmp["run"]).Save(1, net, adam);
        var (other, otherAdam) = Trained(hidden: 5, seed: 9);
        var w = Weights(other);
        var s = State(otherAdam);
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["run"]).Restore(other, otherAdam, restoreDefaultGenerator: false));
        Assert.Equal(CheckpointProblem.Mismatch, e.Problem);
        Assert.Contains("size mismatch for rnn.weight_ih_l0", e.Message);
        Assert.Equal(w, Weights(other));
        Assert.Equal(s, State(otherAdam));
    }

    [Fact]
    public void AnOptimizerThatDoesNotFitRollsTheModuleBack()
    {
        var (net, adam) = Trained();
        new CheckpointStore(_tmp["run"]).Save(1, net, adam);

        // The same architecture, but an optimizer over a subset of the parameters: the module would load, the
        // optimizer cannot; the module must end as it was.
        var fresh = new Net(4, new Generator(77));
        var before = Weights(fresh);
        var partial = new Adam(fresh.Parameters().Take(2), lr: 0.1);
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["run"]).Restore(fresh, partial, restoreDefaultGenerator: false));
        Assert.Equal(CheckpointProblem.Mismatch, e.Problem);
        Assert.Contains("optimizer state", e.Message);
        Assert.Equal(before, Weights(fresh));

        // Another optimizer type is named in the message.
        var sgd = new Sgd(fresh.Parameters(), lr: 0.1, momentum: 0.9);
        e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["run"]).Restore(fresh, sgd, restoreDefaultGenerator: false));
        Assert.Contains("Adam optimizer, not of a Sgd", e.Message);
        Assert.Equal(before, Weights(fresh));
    }

    [Fact]
    public void ASchedulerIsSavedAndRestoredWithItsOptimizer()
    {
        var (net, adam) = Trained();
        var sched = new CosineAnnealingWarmRestarts(adam, t0: 2, tMult: 2);
        for (int i = 0; i < 5; i++) sched.Step();
        var store = new CheckpointStore(_tmp["run"]);
        string folder = store.Save(5, net, adam, scheduler: sched);
        Assert.Equal(["model.safetensors", "optimizer.safetensors", "scheduler.safetensors", "training.json"],
            CheckpointStore.Verify(folder).Files.Select(f => f.Name));
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "training.json"))))
            Assert.Equal("CosineAnnealingWarmRestarts", json.RootElement.GetProperty("scheduler").GetString());

        var ck = store.LoadLatest();
        Assert.True(ck.HasSchedulerState);
        Assert.Equal("CosineAnnealingWarmRestarts", ck.SchedulerType);
        var fresh = new Net(4, new Generator(3));
        var freshAdam = new Adam(fresh.Parameters(), lr: 0.1);
        var freshSched = new CosineAnnealingWarmRestarts(freshAdam, t0: 2, tMult: 2);
        ck.Restore(fresh, freshAdam, restoreDefaultGenerator: false, scheduler: freshSched);
        Assert.Equal((sched.LastEpoch, sched.Ti, sched.TCur), (freshSched.LastEpoch, freshSched.Ti, freshSched.TCur));
        sched.Step();
        freshSched.Step();
        Assert.Equal(adam.ParamGroups[0].Lr, freshAdam.ParamGroups[0].Lr);

        // Another scheduler type, or none saved, is a mismatch that changes nothing.
        var other = new Net(4, new Generator(4));
        var otherAdam = new Adam(other.Parameters(), lr: 0.1);
        var step = new StepLR(otherAdam, 2);
        var weights = Weights(other);
        var e = Assert.Throws<CheckpointException>(() => ck.Restore(other, otherAdam, restoreDefaultGenerator: false, scheduler: step));
        Assert.Equal(CheckpointProblem.Mismatch, e.Problem);
        Assert.Contains("a CosineAnnealingWarmRestarts scheduler, not of a StepLR", e.Message);
        Assert.Equal(weights, Weights(other));
        new CheckpointStore(_tmp["plain"]).Save(1, net, adam);
        e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["plain"]).Restore(other, otherAdam, restoreDefaultGenerator: false, scheduler: step));
        Assert.Contains("holds no scheduler state", e.Message);

        // A scheduler of another optimizer is refused on both sides; the store's file name is its own.
        Assert.Equal("scheduler", Assert.Throws<ArgumentException>(() => store.Save(6, net, adam, scheduler: step)).ParamName);
        Assert.Equal("scheduler", Assert.Throws<ArgumentException>(() => store.Save(6, net, scheduler: sched)).ParamName);
        Assert.Equal("scheduler", Assert.Throws<ArgumentException>(() => ck.Restore(fresh, otherAdam, scheduler: freshSched)).ParamName);
        Assert.Throws<ArgumentException>(() => store.Save(6, net, adam, files: [CheckpointFile.FromText("scheduler.safetensors", "x")]));
    }

    [Fact]
    public void AModuleThatDoesNotFitRollsTheSchedulerBack()
    {
        var (net, adam) = Trained(hidden: 4);
        var sched = new ExponentialLR(adam, 0.5);
        for (int i = 0; i < 4; i++) sched.Step();
        new CheckpointStore(_tmp["run"]).Save(4, net, adam, scheduler: sched);

        var (other, otherAdam) = Trained(hidden: 5, seed: 9);
        var otherSched = new ExponentialLR(otherAdam, 0.5);
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["run"]).Restore(other, otherAdam, restoreDefaultGenerator: false, scheduler: otherSched));
        Assert.Equal(CheckpointProblem.Mismatch, e.Problem);
        Assert.Equal(0, otherSched.LastEpoch);
        Assert.Equal([0.1], otherSched.GetLastLr());

        // The module fits but the optimizer does not: the scheduler is still as it was.
        var fresh = new Net(4, new Generator(5));
        var partial = new Adam(fresh.Parameters().Take(2), lr: 0.1);
        var partialSched = new ExponentialLR(partial, 0.5);
        e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["run"]).Restore(fresh, partial, restoreDefaultGenerator: false, scheduler: partialSched));
        Assert.Contains("optimizer state", e.Message);
        Assert.Equal(0, partialSched.LastEpoch);
    }

    [Fact]
    public void AScheduleWhoseStateCannotBeRestoredIsNotSaved()
    {
        var (net, adam) = Trained();
        var sched = new ExponentialLR(adam, -0.5);   // PyTorch takes a negative gamma; the rate turns negative
        sched.Step();
        var store = new CheckpointStore(_tmp["run"]);
        var e = Assert.Throws<ArgumentException>(() => store.Save(1, net, adam, scheduler: sched));
        Assert.Equal("scheduler", e.ParamName);
        Assert.Contains("\"_last_lr\" must be finite learning rates >= 0, but got -0.05", e.Message);
        Assert.Null(store.LatestFolder);
    }

    [Fact]
    public void AGeneratorThatWasNotSavedIsAMismatch()
    {
        var (net, adam) = Trained();
        new CheckpointStore(_tmp["run"]).Save(1, net, adam, new Dictionary<string, Generator> { ["data"] = new Generator(1) });
        var fresh = new Net(4, new Generator(2));
        var g = new Generator(3);
        var weights = Weights(fresh);
        ulong[] state = g.GetState();
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["run"])
            .Restore(fresh, null, new Dictionary<string, Generator> { ["dropout"] = g }, restoreDefaultGenerator: false));
        Assert.Equal(CheckpointProblem.Mismatch, e.Problem);
        Assert.Contains("\"dropout\" (it has: data, default)", e.Message);
        Assert.Equal(weights, Weights(fresh));
        Assert.Equal(state, g.GetState());
    }

    [Fact]
    public void ReservedNamesAreRefused()
    {
        var (net, adam) = Trained();
        var store = new CheckpointStore(_tmp["run"]);
        Assert.Throws<ArgumentException>(() => store.Save(1, net, adam, new Dictionary<string, Generator> { ["default"] = new Generator(1) }));
        Assert.Throws<ArgumentException>(() => store.Save(1, net, adam, files: [CheckpointFile.FromText("model.safetensors", "")]));
        Assert.Throws<ArgumentException>(() => store.Save(1, net, adam, files: [CheckpointFile.FromText("training.json", "")]));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.Save(-1, net, adam));
        Assert.False(Directory.Exists(_tmp["run"]));
    }

    [Fact]
    public void TamperedMissingAndInconsistentFilesAreRefusedOnLoad()
    {
        var (net, adam) = Trained();
        string folder = new CheckpointStore(_tmp["run"]).Save(3, net, adam);
        string model = Path.Combine(folder, "model.safetensors");
        byte[] original = File.ReadAllBytes(model);

        // A weight changed after the save (same size): the checksum catches it.
        byte[] tampered = (byte[])original.Clone();
        tampered[^1] ^= 0x40;
        File.WriteAllBytes(model, tampered);
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["run"]));
        Assert.Equal(CheckpointProblem.Damaged, e.Problem);
        Assert.Contains("SHA-256", e.Message);
        File.WriteAllBytes(model, original);
        Assert.Equal(3, CheckpointStore.Load(_tmp["run"]).Step);

        // A file removed.
        string state = Path.Combine(folder, "training.json");
        string text = File.ReadAllText(state);
        File.Delete(state);
        e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["run"]));
        Assert.Equal(CheckpointProblem.Incomplete, e.Problem);
        Assert.Contains("missing training.json", e.Message);

        // training.json edited to another step, with the manifest rewritten to match: still refused.
        File.WriteAllText(state, text.Replace("\"step\": 3", "\"step\": 4"));
        RewriteManifest(folder);
        e = Assert.Throws<CheckpointException>(() => CheckpointStore.Load(_tmp["run"]));
        Assert.Equal(CheckpointProblem.Damaged, e.Problem);
        Assert.Contains("training.json", e.Message);

        // Not JSON at all.
        File.WriteAllText(state, "{ not json");
        RewriteManifest(folder);
        Assert.Equal(CheckpointProblem.Damaged, Problem(() => CheckpointStore.Load(_tmp["run"])));

        // A manifest that is not JSON.
        File.WriteAllText(Path.Combine(folder, "manifest.json"), "[1, 2");
        Assert.Equal(CheckpointProblem.Damaged, Problem(() => CheckpointStore.Load(_tmp["run"])));
        File.WriteAllText(Path.Combine(folder, "manifest.json"), "{\"format\": \"something-else\", \"format_version\": 2}");
        Assert.Equal(CheckpointProblem.Incompatible, Problem(() => CheckpointStore.Load(_tmp["run"])));
        File.Delete(Path.Combine(folder, "manifest.json"));
        Assert.Equal(CheckpointProblem.Incomplete, Problem(() => CheckpointStore.Load(_tmp["run"])));
    }

    [Fact]
    public void AnEmptyOrMissingStoreHasNoCheckpoint()
    {
        var store = new CheckpointStore(_tmp["none"]);
        Assert.Null(store.LatestFolder);
        Assert.Null(store.TryLoadLatest());
        var e = Assert.Throws<CheckpointException>(() => store.LoadLatest());
        Assert.Equal(CheckpointProblem.NotFound, e.Problem);
        Assert.Contains("does not exist", e.Message);
        Directory.CreateDirectory(_tmp["none"]);
        Assert.Contains("holds no checkpoint", Assert.Throws<CheckpointException>(() => store.LoadLatest()).Message);
        string file = _tmp.WriteText("file.txt", "x");
        Assert.Contains("is a file", Assert.Throws<CheckpointException>(() => CheckpointStore.Load(file)).Message);
    }

    private static CheckpointProblem Problem(Action a) => Assert.Throws<CheckpointException>(a).Problem;

    /// <summary>Recomputes the manifest's sizes and hashes for edited files (as a writer of such files would).</summary>
    internal static void RewriteManifest(string folder)
    {
        string path = Path.Combine(folder, "manifest.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var files = root.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("name").GetString()!)
            .Where(n => File.Exists(Path.Combine(folder, n)))
            .Select(n => new
            {
                name = n,
                bytes = new FileInfo(Path.Combine(folder, n)).Length,
                sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(folder, n)))),
            });
        var manifest = new
        {
            format = root.GetProperty("format").GetString(),
            format_version = root.GetProperty("format_version").GetInt32(),
            step = root.GetProperty("step").GetInt64(),
            created = root.GetProperty("created").GetString(),
            files,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(manifest));
    }
}

/// <summary>Tests that read or set Generator.Default run alone, so that no other test draws from it meanwhile.</summary>
[CollectionDefinition(nameof(DefaultGeneratorCollection), DisableParallelization = true)]
public sealed class DefaultGeneratorCollection;

[Collection(nameof(DefaultGeneratorCollection))]
public sealed class DefaultGeneratorCheckpointTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void DefaultGeneratorIsSavedAndRestoredUnlessDeclined()
    {
        ulong[] original = Generator.Default.GetState();
        try
        {
            var lin = new Linear(2, 2);
            Generator.Default.ManualSeed(123);
            Generator.Default.NextDouble();
            ulong[] saved = Generator.Default.GetState();
            new CheckpointStore(_tmp.Path).Save(1, lin);
            double next = Generator.Default.NextDouble();

            Checkpoint ck = CheckpointStore.Load(_tmp.Path);
            Assert.Equal(saved, ck.GetGeneratorState(CheckpointStore.DefaultGeneratorName));
            Generator.Default.ManualSeed(999);
            ck.Restore(new Linear(2, 2), restoreDefaultGenerator: false);
            Assert.NotEqual(saved, Generator.Default.GetState());
            ck.Restore(new Linear(2, 2));
            Assert.Equal(saved, Generator.Default.GetState());
            Assert.Equal(next, Generator.Default.NextDouble());
        }
        finally
        {
            Generator.Default.SetState(original);
        }
    }
}
