// Regression tests for the defects a review of the load, restore and convert paths found (stop 30): a frozen or tied
// weight changed by a dtype conversion, clashing names, incomplete optimizer state, a generator state that draws 0
// forever, and an integer tensor PyTorch's load_state_dict converts.
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Review;

public class StateRestoreTests
{
    [Fact]
    public void AFrozenRecurrentWeight_StaysFrozen_ThroughToAndFlattenParameters()
    {
        var lstm = new Lstm(4, 8, generator: new Generator(1));
        lstm.GetParameter("weight_ih_l0").RequiresGrad = false;
        lstm.Double();
        Assert.False(lstm.GetParameter("weight_ih_l0").RequiresGrad, "To(dtype) unfroze it (PyTorch keeps requires_grad)");
        Assert.True(lstm.GetParameter("weight_hh_l0").RequiresGrad);
        lstm.Float();
        Assert.False(lstm.GetParameter("weight_ih_l0").RequiresGrad);

        var (y, _) = lstm.Forward(Tensor.Randn([3, 2, 4], generator: new Generator(2)));
        y.Sum().Backward();
        Assert.Null(lstm.GetParameter("weight_ih_l0").Grad);
        Assert.NotNull(lstm.GetParameter("weight_hh_l0").Grad);
    }

    // The output projection reuses the embedding's table (weight tying), registered in both modules.
    private sealed class TiedLanguageModel : Module
    {
        public readonly Embedding Emb;
        public TiedLanguageModel()
        {
            Emb = RegisterModule("emb", new Embedding(5, 3, generator: new Generator(3)));
            RegisterParameter("out_weight", Emb.Weight);
        }
        public Tensor OutWeight => Param("out_weight")!;
    }

    [Fact]
    public void TiedWeights_StayOneTensor_ThroughTo()
    {
        var m = new TiedLanguageModel();
        Assert.Same(m.Emb.Weight, m.OutWeight);
        m.Double();
        Assert.Equal(DType.Float64, m.OutWeight.DType);
        Assert.Same(m.Emb.Weight, m.OutWeight);
        Assert.Single(m.Parameters());
    }

    private sealed class Clashing : Module
    {
        public void AddParam(string name) => RegisterParameter(name, Tensor.Zeros(2));
        public void AddBuffer(string name) => RegisterBuffer(name, Tensor.Zeros(2));
        public void AddModule(string name) => RegisterModule(name, new Linear(1, 1));
    }

    [Fact]
    public void AParameterBufferOrSubmoduleName_IsOneKindOnly()
    {
        var m = new Clashing();
        m.AddParam("w");
        var e = Assert.Throws<ArgumentException>(() => m.AddBuffer("w"));
        Assert.Contains("attribute 'w' already exists", e.Message);
        Assert.Contains("parameter named 'w'", e.Message);
        Assert.Throws<ArgumentException>(() => m.AddModule("w"));
        m.AddBuffer("b");
        Assert.Throws<ArgumentException>(() => m.AddParam("b"));
        m.AddModule("s");
        Assert.Throws<ArgumentException>(() => m.AddBuffer("s"));
        m.AddParam("w");                                       // the same kind again replaces, as register_parameter does
        Assert.Equal(["w", "b"], m.StateDict().Keys.Where(k => !k.StartsWith("s.", StringComparison.Ordinal)).ToArray());
    }

    private static (Adam Adam, Dictionary<string, Tensor> State) SteppedAdam(bool amsgrad = false)
    {
        var w = Tensor.Randn([3], generator: new Generator(5)).RequiresGrad_();
        var adam = new Adam([w], lr: 0.1, amsgrad: amsgrad);
        (w * w).Sum().Backward();
        adam.Step();
        return (adam, adam.StateDict());
    }

    [Fact]
    public void IncompleteOrMisspeltOptimizerState_IsRefused_AndChangesNothing()
    {
        var (adam, saved) = SteppedAdam();
        var fresh = SteppedAdam().Adam;
        var before = fresh.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<double>());

        void Refused(Dictionary<string, Tensor> sd, string expected)
        {
            var e = Assert.Throws<ArgumentException>(() => fresh.LoadStateDict(sd));
            Assert.Contains(expected, e.Message);
            foreach (var (k, v) in fresh.StateDict()) Assert.Equal(before[k], v.ToArray<double>());
        }

        var noMoment = new Dictionary<string, Tensor>(saved); noMoment.Remove("state.0.exp_avg");
        Refused(noMoment, "the state of parameter 0 has no 'exp_avg'");
        var noStep = new Dictionary<string, Tensor>(saved); noStep.Remove("state.0.step");
        Refused(noStep, "has no 'step'");
        Refused(new Dictionary<string, Tensor>(saved) { ["state.0.step"] = Tensor.Scalar(-1.0) }, "expected a whole number of steps >= 0, got -1.0");
        Refused(new Dictionary<string, Tensor>(saved) { ["state.0.step"] = Tensor.Scalar(1.5) }, "got 1.5");
        Refused(new Dictionary<string, Tensor>(saved) { ["state.0.step"] = Tensor.Scalar(double.NaN) }, "got nan");
        Refused(new Dictionary<string, Tensor>(saved) { ["state.00.exp_avg"] = saved["state.0.exp_avg"] }, "unexpected key 'state.00.exp_avg'");
        Refused(new Dictionary<string, Tensor>(saved) { ["param_groups.2.lr"] = Tensor.Scalar(0.5) }, "unexpected key 'param_groups.2.lr'");

        var (ams, amsSaved) = SteppedAdam(amsgrad: true);
        amsSaved.Remove("state.0.max_exp_avg_sq");
        Assert.Contains("'max_exp_avg_sq'", Assert.Throws<ArgumentException>(() => ams.LoadStateDict(amsSaved)).Message);

        fresh.LoadStateDict(saved);                                      // whole: loads
        var empty = new Dictionary<string, Tensor>(saved.Where(kv => !kv.Key.StartsWith("state.", StringComparison.Ordinal)).ToDictionary());
        fresh.LoadStateDict(empty);                                      // no state for a parameter: loads (a fresh one)
    }

    [Fact]
    public void RmsPropState_MustHoldWhatItsOptionsUse()
    {
        var w = Tensor.Randn([3], generator: new Generator(6)).RequiresGrad_();
        var rms = new RmsProp([w], lr: 0.01, momentum: 0.9, centered: true);
        (w * w).Sum().Backward();
        rms.Step();
        var sd = rms.StateDict();
        sd.Remove("state.0.grad_avg");
        Assert.Contains("'grad_avg'", Assert.Throws<ArgumentException>(() => rms.LoadStateDict(sd)).Message);
    }

    [Fact]
    public void GeneratorState_ThatDrawsZeroForever_IsRefused()
    {
        var g = new Generator(7);
        var e = Assert.Throws<ArgumentException>(() => g.SetState(new ulong[6]));
        Assert.Contains("all zero", e.Message);
        Assert.Throws<ArgumentException>(() => g.SetState([1, 2, 3, 4, 7, 0]));
        Assert.Equal(new Generator(7).NextUInt64(), g.NextUInt64());
        var s = g.GetState();
        g.SetState(s);
    }

    [Fact]
    public void LoadStateDict_ConvertsAnIntegerTensor_AsPyTorchsCopy()
    {
        var lin = new Linear(2, 2, generator: new Generator(8));
        lin.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["weight"] = Tensor.FromArray(new long[] { 1, 2, 3, 4 }, 2, 2),
            ["bias"] = Tensor.FromArray(new long[] { -1, 5 }),
        });
        Assert.Equal([1f, 2f, 3f, 4f], lin.Weight.ToArray<float>());
        Assert.Equal([-1f, 5f], lin.Bias!.ToArray<float>());
        lin.SetParameter("bias", Tensor.FromArray(new long[] { 7, 8 }));
        Assert.Equal([7f, 8f], lin.Bias!.ToArray<float>());
    }
}
