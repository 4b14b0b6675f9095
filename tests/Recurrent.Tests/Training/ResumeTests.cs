// A user's training program with the library alone: N steps uninterrupted equal K steps, a checkpoint, FRESH model,
// optimizer and generators restored from it, and N-K more steps, bit for bit (weights, optimizer state and losses).
using Recurrent.Nn;
using Recurrent.Optim;
using Recurrent.Training;

namespace Recurrent.Tests.Training;

public sealed class ResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("recurrent-resume-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private const int Vocab = 11, SeqLen = 9, Batch = 4;

    /// <summary>Embedding -> LSTM -> Linear, as a user writes it.</summary>
    private sealed class LstmLm : Module
    {
        private readonly Embedding _emb;
        private readonly Lstm _lstm;
        private readonly Linear _fc;

        public LstmLm(Generator init)
        {
            _emb = RegisterModule("emb", new Embedding(Vocab, 6, generator: init));
            _lstm = RegisterModule("lstm", new Lstm(6, 10, generator: init));
            _fc = RegisterModule("fc", new Linear(10, Vocab, generator: init));
        }

        public Tensor Forward(Tensor tokens)
        {
            var (output, _) = _lstm.Forward(_emb.Forward(tokens));
            return _fc.Forward(output);
        }
    }

    /// <summary>Embedding -> 2-layer GRU with dropout between layers -> Dropout -> Linear; every mask from <c>dropout</c>.</summary>
    private sealed class GruLm : Module
    {
        private readonly Embedding _emb;
        private readonly Gru _gru;
        private readonly Dropout _drop;
        private readonly Linear _fc;

        public GruLm(Generator init, Generator dropout)
        {
            _emb = RegisterModule("emb", new Embedding(Vocab, 5, generator: init));
            _gru = RegisterModule("gru", new Gru(5, 8, numLayers: 2, dropout: 0.3, generator: init));
            _gru.Generator = dropout;
            _drop = RegisterModule("drop", new Dropout(0.25, dropout));
            _fc = RegisterModule("fc", new Linear(8, Vocab, generator: init));
        }

        public Tensor Forward(Tensor tokens)
        {
            var (output, _) = _gru.Forward(_emb.Forward(tokens));
            return _fc.Forward(_drop.Forward(output));
        }
    }

    /// <summary>One training step on a random batch drawn from <paramref name="data"/>; returns the loss.</summary>
    private static float Step(Module model, Func<Tensor, Tensor> forward, Optimizer optimizer, Generator data)
    {
        using var scope = Tensor.NewDisposeScope();
        var ids = new long[(SeqLen + 1) * Batch];
        for (int i = 0; i < ids.Length; i++) ids[i] = data.NextLong(Vocab);
        var all = Tensor.FromArray(ids, SeqLen + 1, Batch);
        Tensor input = all.Narrow(0, 0, SeqLen), target = all.Narrow(0, 1, SeqLen);
        optimizer.ZeroGrad();
        Tensor loss = Functional.CrossEntropy(forward(input).Reshape(-1, Vocab), target.Contiguous().Reshape(-1));
        loss.Backward();
        ClipGrad.ClipGradNorm(model.Parameters(), 1.0);
        optimizer.Step();
        return loss.Item<float>();
    }

    private static void AssertSameTensors(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, e) in expected)
        {
            Tensor a = actual[key];
            Assert.Equal(e.DType, a.DType);
            Assert.Equal(e.Shape, a.Shape);
            // Bit patterns, so that -0.0 vs 0.0 or two NaN payloads would count as different.
            Assert.True(Bits(e).SequenceEqual(Bits(a)), $"{key} differs");
        }
    }

    private static long[] Bits(Tensor t) => t.DType switch
    {
        DType.Float32 => t.ToArray<float>().Select(f => (long)BitConverter.SingleToInt32Bits(f)).ToArray(),
        DType.Float64 => t.ToArray<double>().Select(BitConverter.DoubleToInt64Bits).ToArray(),
        _ => t.ToArray<long>(),
    };

    [Fact]
    public void LstmWithAdamResumesBitForBit()
    {
        const int n = 12, k = 5;

        // Uninterrupted.
        var modelA = new LstmLm(new Generator(1));
        var adamA = new Adam(modelA.Parameters(), lr: 0.01);
        var dataA = new Generator(2);
        var lossesA = Enumerable.Range(0, n).Select(_ => Step(modelA, modelA.Forward, adamA, dataA)).ToList();

        // K steps, then a checkpoint.
        var modelB = new LstmLm(new Generator(1));
        var adamB = new Adam(modelB.Parameters(), lr: 0.01);
        var dataB = new Generator(2);
        var lossesB = Enumerable.Range(0, k).Select(_ => Step(modelB, modelB.Forward, adamB, dataB)).ToList();
        var store = new CheckpointStore(_dir);
        store.Save(k, modelB, adamB, new Dictionary<string, Generator> { ["data"] = dataB },
            new Dictionary<string, string> { ["run"] = "lstm-adam", ["config"] = "{\"lr\": 0.01}" });

        // A fresh program: other initial weights, a new optimizer, a generator at another seed; all restored.
        var modelC = new LstmLm(new Generator(99));
        var adamC = new Adam(modelC.Parameters(), lr: 0.5);
        var dataC = new Generator(12345);
        Checkpoint ck = new CheckpointStore(_dir).LoadLatest();
        Assert.Equal(k, ck.Step);
        Assert.Equal("lstm-adam", ck.Metadata["run"]);
        Assert.Equal("{\"lr\": 0.01}", ck.Metadata["config"]);
        Assert.Equal("Adam", ck.OptimizerType);
        Assert.Equal(Recurrent.Kernels.Parallelism.MaxThreads, ck.Threads);
        ck.Restore(modelC, adamC, new Dictionary<string, Generator> { ["data"] = dataC }, restoreDefaultGenerator: false);
        Assert.Equal(0.01, adamC.ParamGroups[0].Lr);
        for (int i = k; i < n; i++) lossesB.Add(Step(modelC, modelC.Forward, adamC, dataC));

        Assert.Equal(lossesA, lossesB);
        AssertSameTensors(modelA.StateDict(), modelC.StateDict());
        AssertSameTensors(adamA.StateDict(), adamC.StateDict());
        Assert.Equal(dataA.GetState(), dataC.GetState());
    }

    [Theory]
    [InlineData("rmsprop")]
    [InlineData("sgd")]
    public void GruWithDropoutResumesBitForBit(string optimizerName)
    {
        const int n = 10, k = 4;
        Optimizer Make(Module m) => optimizerName == "rmsprop"
            ? new RmsProp(m.Parameters(), lr: 0.01, momentum: 0.5, centered: true)
            : new Sgd(m.Parameters(), lr: 0.1, momentum: 0.9, nesterov: true);

        var dropA = new Generator(3);
        var modelA = new GruLm(new Generator(1), dropA);
        var optA = Make(modelA);
        var dataA = new Generator(2);
        var lossesA = Enumerable.Range(0, n).Select(_ => Step(modelA, modelA.Forward, optA, dataA)).ToList();

        var dropB = new Generator(3);
        var modelB = new GruLm(new Generator(1), dropB);
        var optB = Make(modelB);
        var dataB = new Generator(2);
        var lossesB = Enumerable.Range(0, k).Select(_ => Step(modelB, modelB.Forward, optB, dataB)).ToList();
        new CheckpointStore(_dir).Save(k, modelB, optB, new Dictionary<string, Generator> { ["data"] = dataB, ["dropout"] = dropB });
        // Training goes on after the save; the checkpoint must hold step K, not what came later.
        Step(modelB, modelB.Forward, optB, dataB);

        var dropC = new Generator(77);
        var modelC = new GruLm(new Generator(78), dropC);
        var optC = Make(modelC);
        var dataC = new Generator(79);
        CheckpointStore.Load(_dir).Restore(modelC, optC,
            new Dictionary<string, Generator> { ["data"] = dataC, ["dropout"] = dropC }, restoreDefaultGenerator: false);
        for (int i = k; i < n; i++) lossesB.Add(Step(modelC, modelC.Forward, optC, dataC));

        Assert.Equal(lossesA, lossesB);
        AssertSameTensors(modelA.StateDict(), modelC.StateDict());
        AssertSameTensors(optA.StateDict(), optC.StateDict());
        Assert.Equal(dropA.GetState(), dropC.GetState());
    }

    [Fact]
    public void ResumeWithoutTheDropoutGeneratorDiverges()
    {
        // The control for the tests above: the same resume with the dropout masks from a fresh generator differs.
        const int n = 8, k = 3;
        var dropA = new Generator(3);
        var modelA = new GruLm(new Generator(1), dropA);
        var optA = new Sgd(modelA.Parameters(), lr: 0.1, momentum: 0.9);
        var dataA = new Generator(2);
        for (int i = 0; i < n; i++) Step(modelA, modelA.Forward, optA, dataA);

        var dropB = new Generator(3);
        var modelB = new GruLm(new Generator(1), dropB);
        var optB = new Sgd(modelB.Parameters(), lr: 0.1, momentum: 0.9);
        var dataB = new Generator(2);
        for (int i = 0; i < k; i++) Step(modelB, modelB.Forward, optB, dataB);
        new CheckpointStore(_dir).Save(k, modelB, optB, new Dictionary<string, Generator> { ["data"] = dataB, ["dropout"] = dropB });

        var dropC = new Generator(3); // restarted, not restored
        var modelC = new GruLm(new Generator(1), dropC);
        var optC = new Sgd(modelC.Parameters(), lr: 0.1, momentum: 0.9);
        var dataC = new Generator(2);
        CheckpointStore.Load(_dir).Restore(modelC, optC, new Dictionary<string, Generator> { ["data"] = dataC }, restoreDefaultGenerator: false);
        for (int i = k; i < n; i++) Step(modelC, modelC.Forward, optC, dataC);
        Assert.NotEqual(modelA.StateDict()["fc.weight"].ToArray<float>(), modelC.StateDict()["fc.weight"].ToArray<float>());
    }
}
