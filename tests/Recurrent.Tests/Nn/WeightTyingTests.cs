// Weight tying as PyTorch's `decoder.weight = encoder.weight` (word_language_model's --tied): Linear.Weight and
// Embedding.Weight take another module's tensor itself, gradients from both uses add into it, the state dict names it
// under both keys, safetensors files hold it once (safetensors.torch.save_model's rule), and a conversion keeps the tie.
using Recurrent.IO;
using Recurrent.Nn;
using Recurrent.Optim;
using Recurrent.Quantization;
using Recurrent.Tests.Parity;
using Recurrent.Training;

namespace Recurrent.Tests.Nn;

public class WeightTyingTests
{
    // PyTorch's RNNModel(tie_weights=True): encoder Embedding(V, E), an LSTM of E units, decoder Linear(E, V).
    private sealed class LanguageModel : Module<Tensor, Tensor>
    {
        public readonly Embedding Encoder;
        public readonly Lstm Rnn;
        public readonly Linear Decoder;

        public LanguageModel(int vocab, int size, bool tied, DType dtype = DType.Float64, int seed = 5)
        {
            var g = new Generator((ulong)seed);
            Encoder = RegisterModule("encoder", new Embedding(vocab, size, dtype: dtype, generator: g));
            Rnn = RegisterModule("rnn", new Lstm(size, size, dtype: dtype, generator: g));
            Decoder = RegisterModule("decoder", new Linear(size, vocab, dtype: dtype, generator: g));
            if (tied) Decoder.Weight = Encoder.Weight;
        }

        public override Tensor Forward(Tensor ids) => Decoder.Forward(Rnn.Forward(Encoder.Forward(ids)).Output);
    }

    private static readonly long[] Ids = [0, 3, 5, 1, 2, 5, 4, 0];

    private static Tensor Loss(LanguageModel m)
    {
        var ids = Tensor.FromArray(Ids, 4, 2);
        var logits = m.Forward(ids);
        return Functional.CrossEntropy(logits.Reshape(-1, 6), Tensor.FromArray(Ids.Reverse().ToArray(), 8));
    }

    [Fact]
    public void TheDecoderTakesTheEncodersTensorItself()
    {
        var m = new LanguageModel(6, 4, tied: true);
        Assert.Same(m.Encoder.Weight, m.Decoder.Weight);
        Assert.Single(m.Parameters(), p => ReferenceEquals(p, m.Encoder.Weight));
        Assert.Equal(new[] { "encoder.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0", "decoder.bias" },
            m.NamedParameters().Select(p => p.Name));                                    // listed once, under its first name
        var sd = m.StateDict();
        Assert.Contains("decoder.weight", sd.Keys);                                      // the state dict keeps both keys
        Assert.True(sd["decoder.weight"].IsSameView(sd["encoder.weight"]));
    }

    // Few distinct ids among many rows also take the stack's per-id path for its first layer (DECISIONS 33), whose
    // node hands the table's gradient back itself.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheTiedGradientIsTheSumOfBothUses(bool fewIds)
    {
        var tied = new LanguageModel(6, 4, tied: true);
        var untied = new LanguageModel(6, 4, tied: false);
        untied.SetParameter("decoder.weight", tied.Encoder.Weight);                      // the same values, two tensors
        long[] ids = fewIds ? Enumerable.Range(0, 160).Select(i => (long)(i * 7 % 3)).ToArray() : Ids;
        Tensor LossOf(LanguageModel m)
        {
            var logits = m.Forward(Tensor.FromArray(ids, ids.Length / 2, 2));
            return Functional.CrossEntropy(logits.Reshape(-1, 6), Tensor.FromArray(ids.Reverse().ToArray(), ids.Length));
        }
        LossOf(tied).Backward();
        LossOf(untied).Backward();
        var expected = untied.Encoder.Weight.Grad! + untied.Decoder.Weight.Grad!;
        Fixture.Compare("tied weight gradient", expected, tied.Encoder.Weight.Grad!);
        Fixture.Compare("weight_hh_l0 gradient", untied.Rnn.GetParameter("weight_hh_l0").Grad!, tied.Rnn.GetParameter("weight_hh_l0").Grad!);
    }

    [Fact]
    public void AnOptimizerStepsTheTiedTensorOnce()
    {
        var m = new LanguageModel(6, 4, tied: true);
        var before = m.Encoder.Weight.Clone();
        var opt = new Sgd(m.Parameters(), lr: 0.5);
        Loss(m).Backward();
        var grad = m.Encoder.Weight.Grad!.Clone();
        opt.Step();
        Fixture.Compare("stepped weight", before - 0.5 * grad, m.Decoder.Weight);
    }

    [Fact]
    public void AnOptimizerMadeBeforeTheTie_ReportsTheReplacedWeight()
    {
        var m = new LanguageModel(6, 4, tied: false);
        var opt = new Adam(m.Parameters());
        m.Decoder.Weight = m.Encoder.Weight;
        Loss(m).Backward();
        var e = Assert.Throws<InvalidOperationException>(() => opt.Step());
        Assert.Contains("weight tying", e.Message);
    }

    [Fact]
    public void AssigningAWeight_ChecksShapeDtypeLeafAndStorage()
    {
        var lin = new Linear(4, 6);
        var before = lin.Weight;
        var e = Assert.Throws<ArgumentException>(() => lin.Weight = new Embedding(4, 6).Weight);
        Assert.Equal("value", e.ParamName);
        Assert.Contains("Linear.Weight: expected a tensor of shape [6, 4], got [4, 6]", e.Message);
        e = Assert.Throws<ArgumentException>(() => lin.Weight = Tensor.Zeros([6, 4], DType.Float64));
        Assert.Contains("expected a tensor of dtype torch.float32, got torch.float64", e.Message);
        var w = Tensor.Ones(6, 4).RequiresGrad_();
        e = Assert.Throws<ArgumentException>(() => lin.Weight = w * 2);
        Assert.Contains("leaf tensor", e.Message);
        Assert.Throws<ArgumentNullException>(() => lin.Weight = null!);
        e = Assert.Throws<ArgumentException>(() => lin.Weight = Tensor.Ones(4, 6).T());   // a transpose: a view
        Assert.Contains("a view of a larger one", e.Message);
        var lstm = new Lstm(4, 6);                                                            // a view of the flat buffer
        e = Assert.Throws<ArgumentException>(() => new Linear(4, 24).Weight = lstm.GetParameter("weight_ih_l0"));
        Assert.Contains("recurrent module's flat weights", e.Message);
        e = Assert.Throws<ArgumentException>(() => lin.Weight = Tensor.FromArray(new long[24], 6, 4));
        Assert.Equal("value", e.ParamName);
        var emb = new Embedding(6, 4);
        e = Assert.Throws<ArgumentException>(() => emb.Weight = Tensor.Zeros(6, 5));
        Assert.Contains("Embedding.Weight: expected a tensor of shape [6, 4], got [6, 5]", e.Message);
        Assert.Same(before, lin.Weight);                                                 // refused: nothing changed
        Assert.False(before.ReplacedInModule);
    }

    [Fact]
    public void UntyingAndRetyingLeaveNoTensorInUseMarkedReplaced()
    {
        var m = new LanguageModel(6, 4, tied: true);
        m.Decoder.Weight = Tensor.Zeros([6, 4], DType.Float64);                         // untied again
        Assert.False(m.Encoder.Weight.ReplacedInModule);                                 // the encoder still holds it
        m.Encoder.Weight.RequiresGrad = false;                                           // frozen: it gets no gradient
        var opt = new Adam(m.Parameters());
        Loss(m).Backward();
        opt.Step();                                                                      // nothing to report

        var lin = new Linear(4, 6);
        var a = lin.Weight;
        lin.Weight = Tensor.Zeros(6, 4);
        Assert.True(a.ReplacedInModule);                                                 // no module holds it now
        lin.Weight = a;
        Assert.False(a.ReplacedInModule);                                                // back in use
        new Sgd([a]).Step();                                                             // no gradient, and nothing to report
    }

    [Fact]
    public void AFrozenWeightStaysFrozen_AndAPlainTensorBecomesTheWeight()
    {
        var frozen = Embedding.FromPretrained(Tensor.Ones(6, 4));
        var lin = new Linear(4, 6);
        lin.Weight = frozen.Weight;
        Assert.False(lin.Weight.RequiresGrad);
        var y = lin.Forward(Tensor.Ones(2, 4));
        y.Sum().Backward();
        Assert.Null(frozen.Weight.Grad);
        Assert.NotNull(lin.Bias!.Grad);

        var w = Tensor.Full([6, 4], 0.5);                                                // a plain tensor, as nn.Parameter(t): trained
        lin.Weight = w;
        Assert.Same(w, lin.Weight);
        Assert.True(w.RequiresGrad);
        Assert.Equal(Enumerable.Repeat(2.0f + lin.Bias!.ToArray<float>()[0], 1), lin.Forward(Tensor.Ones(1, 4)).ToArray<float>().Take(1));
    }

    [Fact]
    public void AQuantizedLinearRefusesAWeight()
    {
        var lin = new Linear(4, 6);
        lin.Eval();
        Quantizer.QuantizeDynamic(lin);
        Assert.Throws<InvalidOperationException>(() => lin.Weight = Tensor.Zeros(6, 4));
    }

    [Fact]
    public void ConversionKeepsTheTie()
    {
        var m = new LanguageModel(6, 4, tied: true, dtype: DType.Float32);
        m.Double();
        Assert.Equal(DType.Float64, m.Decoder.Weight.DType);
        Assert.Same(m.Encoder.Weight, m.Decoder.Weight);
    }

    [Fact]
    public void SafetensorsHoldTheTiedTensorOnce_AndLoadBackIntoATiedModel()
    {
        string path = Path.Combine(Path.GetTempPath(), $"tied-{Guid.NewGuid():N}.safetensors");
        try
        {
            var m = new LanguageModel(6, 4, tied: true);
            m.Save(path, new Dictionary<string, string> { ["note"] = "kept" });
            var file = TensorIO.ReadTensors(path, out var meta);
            Assert.Contains("decoder.weight", m.StateDict().Keys);
            Assert.DoesNotContain("encoder.weight", file.Keys);                          // save_model keeps the first key in ordinal order
            Assert.Equal(m.Encoder.Weight.ToArray<double>(), file["decoder.weight"].ToArray<double>());
            Assert.Equal("decoder.weight", meta["encoder.weight"]);
            Assert.Equal("kept", meta["note"]);
            Assert.Equal("pt", meta["format"]);

            var fresh = new LanguageModel(6, 4, tied: true, seed: 9);
            var result = fresh.Load(path);                                                // strict: the tie counts as loaded
            Assert.Empty(result.MissingKeys);
            Assert.Same(fresh.Encoder.Weight, fresh.Decoder.Weight);
            Assert.Equal(m.Encoder.Weight.ToArray<double>(), fresh.Decoder.Weight.ToArray<double>());
            Assert.Equal(Loss(m).ToDouble(), Loss(fresh).ToDouble());

            var untied = new LanguageModel(6, 4, tied: false, seed: 9);                   // as safetensors.torch.load_model:
            var e = Assert.Throws<InvalidOperationException>(() => untied.Load(path));    // an untied model misses the key
            Assert.Contains("Missing key(s) in state_dict: \"encoder.weight\"", e.Message);
            Assert.Equal(["encoder.weight"], untied.Load(path, strict: false).MissingKeys);

            untied.Save(path);                                                            // both keys: both load, in order
            Assert.Equal(7, TensorIO.ReadTensors(path, out var untiedMeta).Count);
            Assert.Equal(["format"], untiedMeta.Keys);
            fresh.Load(path);
            Assert.Equal(untied.Decoder.Weight.ToArray<double>(), fresh.Encoder.Weight.ToArray<double>());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ATrainingCheckpointRestoresATiedModelAndItsOptimizer()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"tied-run-{Guid.NewGuid():N}");
        try
        {
            var m = new LanguageModel(6, 4, tied: true);
            var adam = new Adam(m.Parameters(), lr: 0.01);
            Loss(m).Backward();
            adam.Step();
            var store = new CheckpointStore(folder);
            string saved = store.Save(1, m, adam);
            Assert.DoesNotContain("encoder.weight", TensorIO.ReadTensors(Path.Combine(saved, "model.safetensors")).Keys);
            var state = store.LoadLatest().ReadModelState();                             // every key, the tie as one tensor
            Assert.Equal(m.StateDict().Keys.Order(), state.Keys.Order());
            Assert.Same(state["encoder.weight"], state["decoder.weight"]);

            var fresh = new LanguageModel(6, 4, tied: true, seed: 9);
            var freshAdam = new Adam(fresh.Parameters(), lr: 0.01);
            store.LoadLatest().Restore(fresh, freshAdam, restoreDefaultGenerator: false);
            Assert.Same(fresh.Encoder.Weight, fresh.Decoder.Weight);
            Assert.Equal(m.Encoder.Weight.ToArray<double>(), fresh.Encoder.Weight.ToArray<double>());
            foreach (var (k, v) in adam.StateDict()) Assert.Equal(v.Double().ToArray<double>(), freshAdam.StateDict()[k].Double().ToArray<double>());
        }
        finally { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void FromPretrainedSharesTheCallersStorage_AsPyTorch()
    {
        // test_embedding_from_pretrained_options: max_norm renormalises the caller's own tensor.
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var e = Embedding.FromPretrained(a, maxNorm: 2.0);
        e.Forward(Tensor.FromArray(new long[] { 0, 1 }, 2));
        Assert.All(a.ToArray<float>().Zip(new float[] { 1, 2, 3, 4, 5, 6 }), p => Assert.NotEqual(p.Second, p.First));
        Assert.NotSame(a, e.Weight);                                                     // its own tensor object over the same storage
        Assert.False(a.RequiresGrad);

        var t = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 3, 2).T();              // not contiguous: copied
        var copied = Embedding.FromPretrained(t);
        using (new NoGrad()) t.Fill_(0);
        Assert.Equal(new float[] { 1, 3, 5, 2, 4, 6 }, copied.Weight.ToArray<float>());
    }
}
