// Regression tests for the defects a review of the public API found (stop 28): each case below failed before its fix
// (a wrong shape, a wrapped size check, an exception from deep inside, or a silent no-op).
using Recurrent.Data;
using Recurrent.Nn;
using Recurrent.Optim;
using Recurrent.Quantization;

namespace Recurrent.Tests.Review;

public class InputValidationTests
{
    [Fact]
    public void FromArray_OfOneElement_Is1D_AsTorchTensor()
    {
        // torch.tensor([2]) has shape [1]; a one-element id array is a batch of one, not a scalar.
        Assert.Equal([1], Tensor.FromArray(new long[] { 2 }).Shape.ToArray());
        Assert.Equal([1], Tensor.FromArray(new float[] { 5 }).Shape.ToArray());
        Assert.Equal([1], Tensor.FromArray(new double[] { 5 }).Shape.ToArray());
        Assert.Equal([1], Tensor.FromArray((Array)new float[] { 5 }).Shape.ToArray());
        Assert.Equal(0, Tensor.Scalar(5).Dim);
        // A batch of one target now meets a batch of one input.
        var loss = new CrossEntropyLoss().Forward(Tensor.Zeros(1, 3), Tensor.FromArray(new long[] { 2 }));
        Assert.Equal(Math.Log(3), loss.Item<float>(), 5);
    }

    [Fact]
    public void Size_OfAZeroDimTensor_NamesTheDimension()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Scalar(5).Size(0));
        Assert.Equal("dim", e.ParamName);
        Assert.Contains("dimension specified as 0 but tensor has no dimensions", e.Message);
    }

    [Fact]
    public void Item_AsAnInteger_TruncatesTowardZero_AsLong()
    {
        Assert.Equal(3L, Tensor.Scalar(3.5).Item<long>());
        Assert.Equal(0L, Tensor.Scalar(-0.7).Item<long>());
        Assert.Equal(-2, Tensor.Scalar(-2.5, DType.Float64).Item<int>());
        Assert.Equal(Tensor.FromArray(new[] { 2.5f, 3.5f, -0.7f }).Long().ToArray<long>(),
            new[] { 2.5f, 3.5f, -0.7f }.Select(v => Tensor.Scalar(v).Item<long>()).ToArray());
        Assert.Throws<OverflowException>(() => Tensor.Scalar(double.NaN).Item<long>());
        Assert.Equal(3.5f, Tensor.Scalar(3.5).Item<float>());
    }

    [Fact]
    public void Narrow_NamesTheBadArgument_AndDoesNotWrap()
    {
        var t = Tensor.Zeros(200);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.Narrow(0, 100, int.MaxValue - 99));
        Assert.Equal("length", e.ParamName);
        Assert.Contains("exceeds dimension size (200)", e.Message);
        Assert.Equal("start", Assert.Throws<ArgumentOutOfRangeException>(() => t.Narrow(0, 201, 0)).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => t.Narrow(0, 0, -1)).ParamName);
        Assert.Equal(10, t.Narrow(0, -10, 10).Numel);
    }

    [Fact]
    public void Bmm_OfIntegers_IsRefusedByName()
    {
        var a = Tensor.FromArray(new long[] { 1, 2, 3, 4 }, 1, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => a.Bmm(a));
        Assert.Equal("self", e.ParamName);
    }

    [Fact]
    public void Backward_WithAGradientOfAnotherDType_CastsIt()
    {
        var lin = new Linear(3, 2, generator: new Generator(1));
        var x = Tensor.Randn([4, 3], generator: new Generator(2));
        lin.Forward(x).Backward(Tensor.Ones([4, 2], DType.Float64));
        var viaDouble = lin.Weight.Grad!.ToArray<float>();
        lin.ZeroGrad();
        lin.Forward(x).Backward(Tensor.Ones([4, 2]));
        Assert.Equal(lin.Weight.Grad!.ToArray<float>(), viaDouble);
    }

    [Fact]
    public void FromArray_WithANullRow_AndEye_WithANegativeSize_NameTheArgument()
    {
        Assert.Equal("array", Assert.Throws<ArgumentException>(() => Tensor.FromArray(new[] { null!, new float[] { 1, 2 } })).ParamName);
        Assert.Equal("array", Assert.Throws<ArgumentException>(() => Tensor.FromArray(new object[] { 1f, null! })).ParamName);
        Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Eye(-1)).ParamName);
        Assert.Equal("m", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Eye(2, -1)).ParamName);
    }

    [Theory]
    [InlineData(1 << 30)]        // LSTM: 4 * 2^30 wrapped to 0, and the module was built with empty weights
    [InlineData(600_000_000)]    // wrapped negative: a bare OverflowException
    public void HugeHiddenSizes_AreRefusedByName(int hidden)
    {
        Assert.Equal("hiddenSize", Assert.Throws<ArgumentOutOfRangeException>(() => new Lstm(10, hidden)).ParamName);
        Assert.Equal("hiddenSize", Assert.Throws<ArgumentOutOfRangeException>(() => new LstmCell(10, hidden)).ParamName);
        // GRU: 3 * 600M rows fit an int, and the parameter count (one layer) is what is too large.
        Assert.Equal("hiddenSize", Assert.ThrowsAny<ArgumentException>(() => new Gru(10, hidden)).ParamName);
        Assert.Equal("hiddenSize", Assert.ThrowsAny<ArgumentException>(() => new Gru(10, hidden, numLayers: 2)).ParamName);
        // One layer too large because of its input: the input size is named.
        Assert.Equal("inputSize", Assert.ThrowsAny<ArgumentException>(() => new Lstm(hidden, 1)).ParamName);
    }

    [Fact]
    public void HugeHiddenSize_OfABidirectionalRnn_IsRefusedByName()
    {
        // One gate: 2^30 rows fit, but the upper layers' input (2 directions x 2^30) does not.
        Assert.Equal("hiddenSize", Assert.Throws<ArgumentOutOfRangeException>(() => new Rnn(10, 1 << 30, numLayers: 2, bidirectional: true)).ParamName);
    }

    [Fact]
    public void LstmState_WithANullPart_IsRefusedByName()
    {
        var lstm = new Lstm(3, 4, generator: new Generator(1));
        var x = Tensor.Zeros(5, 2, 3);
        var h = Tensor.Zeros(1, 2, 4);
        var e = Assert.Throws<ArgumentException>(() => lstm.Forward(x, (h, null!)));
        Assert.Equal("state", e.ParamName);
        Assert.Contains("state.C", e.Message);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => lstm.Forward(x, (null!, h))).ParamName);
    }

    [Fact]
    public void TokenIds_IntoARecurrentModule_PointToAnEmbedding_NotToAnInt64Model()
    {
        var e = Assert.Throws<ArgumentException>(() => new Rnn(4, 4).Forward(Tensor.Zeros([5, 4], DType.Int64)));
        Assert.Contains("Embedding", e.Message);
        Assert.DoesNotContain("model.To(DType.Int64)", e.Message);
    }

    [Fact]
    public void OptimizerErrors_NameTheRealParameters()
    {
        var ps = new[] { Tensor.Zeros(2).RequiresGrad_() };
        Assert.Equal("lr", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, lr: -0.1)).ParamName);
        Assert.Equal("eps", Assert.Throws<ArgumentOutOfRangeException>(() => new Adam(ps, eps: -1)).ParamName);
        Assert.Equal("weightDecay", Assert.Throws<ArgumentOutOfRangeException>(() => new RmsProp(ps, weightDecay: -1)).ParamName);
        Assert.Equal("alpha", Assert.Throws<ArgumentOutOfRangeException>(() => new RmsProp(ps, alpha: -1)).ParamName);
        Assert.Equal("momentum", Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(ps, momentum: -1)).ParamName);
        Assert.Equal("nesterov", Assert.Throws<ArgumentException>(() => new Sgd(ps, nesterov: true)).ParamName);
    }

    [Fact]
    public void OptimizerStateDict_WithAnEmptyHyperparameter_IsRefused_AndChangesNothing()
    {
        var p = Tensor.Zeros(2).RequiresGrad_();
        var opt = new Adam([p], lr: 0.01);
        var sd = new Dictionary<string, Tensor>(opt.StateDict());
        sd["param_groups.0.lr"] = Tensor.Zeros([0], DType.Float64);
        var e = Assert.Throws<ArgumentException>(() => opt.LoadStateDict(sd));
        Assert.Equal("stateDict", e.ParamName);
        Assert.Contains("'lr' takes one number, got 0 in parameter group 0", e.Message);
        Assert.DoesNotContain("(Parameter 'value')", e.Message);
        sd["param_groups.0.lr"] = Tensor.Scalar(0.5, DType.Float64);
        sd["param_groups.0.betas"] = Tensor.FromArray(new[] { 0.9 });
        Assert.Contains("'betas' takes two numbers, got 1", Assert.Throws<ArgumentException>(() => opt.LoadStateDict(sd)).Message);
        Assert.Equal(0.01, opt.ParamGroups[0].Options.ToValues().Single(v => v.Name == "lr").Value[0]);
    }

    [Fact]
    public void AnOptimizerMadeBefore_ModuleDouble_SaysSo_InsteadOfSteppingNothing()
    {
        var lstm = new Lstm(3, 4, generator: new Generator(1));
        var head = new Linear(4, 2, generator: new Generator(2));
        var stale = new Sgd(lstm.Parameters().Concat(head.Parameters()), lr: 0.5);
        lstm.Double();
        head.Double();
        var (y, _) = lstm.Forward(Tensor.Randn([5, 1, 3], DType.Float64, new Generator(3)));
        head.Forward(y).Sum().Backward();
        var e = Assert.Throws<InvalidOperationException>(() => stale.Step());
        Assert.Contains("Create the optimizer after converting the module", e.Message);

        // Made after the conversion, it trains.
        var before = head.Weight.Clone().ToArray<double>();
        new Sgd(lstm.Parameters().Concat(head.Parameters()), lr: 0.5).Step();
        Assert.NotEqual(before, head.Weight.ToArray<double>());
    }

    [Fact]
    public void AStepThatThrows_UpdatesNoParameter()
    {
        // Live parameters listed before a replaced one: the step refuses before touching any of them.
        var live = new Linear(3, 2, generator: new Generator(4));
        var converted = new Linear(2, 2, generator: new Generator(5));
        var opt = new Adam(live.Parameters().Concat(converted.Parameters()), lr: 0.1);
        converted.Double();
        live.Forward(Tensor.Randn([4, 3], generator: new Generator(6))).Sum().Backward();
        var before = live.Weight.ToArray<float>();
        Assert.Throws<InvalidOperationException>(() => opt.Step());
        Assert.Equal(before, live.Weight.ToArray<float>());

        // A gradient of the wrong shape after good ones: the same.
        var a = Tensor.Ones([3]).RequiresGrad_();
        var b = Tensor.Ones([2]).RequiresGrad_();
        var sgd = new Sgd([a, b], lr: 1);
        a.Grad = Tensor.Ones([3]);
        b.Grad = Tensor.Ones([5]);
        Assert.Contains("has shape [5]", Assert.Throws<InvalidOperationException>(() => sgd.Step()).Message);
        Assert.Equal(new[] { 1f, 1f, 1f }, a.ToArray<float>());
    }

    [Fact]
    public void SequenceBatcher_WhoseBatchCannotBeOneArray_IsRefusedByName()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SequenceBatcher(new long[100], 50, int.MaxValue / 2));
        Assert.Equal("batchSize", e.ParamName);
    }

    [Fact]
    public void EmbeddingWithMaxNorm_ConcurrentEvalForwards_MatchSerial()
    {
        // max_norm rescales rows in place; concurrent forwards must each read whole rows.
        var ids = Tensor.RandInt(0, 50, [64, 8], generator: new Generator(5));
        Tensor[] Run(bool parallel)
        {
            var emb = new Embedding(50, 256, maxNorm: 1.0, generator: new Generator(4));
            emb.Eval();
            var outs = new Tensor[16];
            if (parallel) Parallel.For(0, outs.Length, i => outs[i] = emb.Forward(ids));
            else for (int i = 0; i < outs.Length; i++) outs[i] = emb.Forward(ids);
            return outs;
        }
        // Each call may rescale rows again (a renormed row's norm can round to just above max_norm, as in PyTorch), so
        // the outputs depend on the calls' order; under the lock every parallel output is one of the serial outputs.
        var serial = Run(false).Select(t => string.Join(",", t.ToArray<float>())).ToHashSet();
        foreach (var t in Run(true)) Assert.Contains(string.Join(",", t.ToArray<float>()), serial);
    }

    [Fact]
    public void LoadQuantized_IntoAnAlreadyQuantizedLinearAndCell_Works()
    {
        var dir = Directory.CreateTempSubdirectory("recurrent-review");
        try
        {
            foreach (Module m in new Module[] { new Linear(4, 3, generator: new Generator(1)), new LstmCell(4, 3, generator: new Generator(2)) })
            {
                Quantizer.QuantizeDynamic(m).Eval();
                string path = Path.Combine(dir.FullName, m.TypeName + ".safetensors");
                m.SaveQuantized(path);
                m.LoadQuantized(path);   // KeyNotFoundException before: the float weight was already removed
                Assert.True(Quantizer.IsQuantized(m));
            }
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void LoadQuantized_WhoseFloatPartDoesNotFit_LeavesTheModelFloat()
    {
        var dir = Directory.CreateTempSubdirectory("recurrent-review");
        try
        {
            var source = new Linear(4, 3, generator: new Generator(1));
            Quantizer.QuantizeDynamic(source);
            string path = Path.Combine(dir.FullName, "q.safetensors");
            source.SaveQuantized(path);
            var target = new Linear(4, 3, bias: false, generator: new Generator(2));
            var weight = target.Weight.ToArray<float>();
            Assert.Throws<InvalidOperationException>(() => target.LoadQuantized(path));   // the file has a bias the target lacks
            Assert.False(Quantizer.IsQuantized(target));
            Assert.Equal(weight, target.Weight.ToArray<float>());
        }
        finally { dir.Delete(recursive: true); }
    }
}
