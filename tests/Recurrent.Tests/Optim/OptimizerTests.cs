// Unit tests of the optimizers: updates against plain float64 transcriptions of torch/optim's
// formulas, hyperparameter validation messages, parameter groups, zero_grad, skipped
// parameters, and exact checkpoint resume through StateDict/LoadStateDict (also via safetensors).
using Recurrent.IO;
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Optim;

public class OptimizerTests
{
    private static readonly double[] P0 = [0.5, -1.25, 2.0, 0.1];
    private static readonly double[][] Grads = [[0.3, -0.2, 1.5, 0.0], [-0.7, 0.4, 0.2, 0.05], [0.1, 0.9, -1.1, -0.3]];

    /// <summary>Runs <paramref name="make"/>'s optimizer over the fixed gradients and returns the parameter after each step.</summary>
    private static double[][] Run(Func<Tensor, Optimizer> make)
    {
        var p = Tensor.FromArray(P0, 4).RequiresGrad_();
        var opt = make(p);
        return Grads.Select(g => { p.Grad = Tensor.FromArray(g, 4); opt.Step(); return p.ToArray<double>(); }).ToArray();
    }

    private static void AssertSteps(double[][] expected, double[][] actual)
    {
        for (int s = 0; s < expected.Length; s++)
            for (int i = 0; i < expected[s].Length; i++) Assert.Equal(expected[s][i], actual[s][i], 12);
    }

    [Theory]
    [InlineData(0.0, 0.0, 0.0, false, false)]
    [InlineData(0.9, 0.1, 0.01, false, false)]
    [InlineData(0.9, 0.0, 0.0, true, false)]
    [InlineData(0.5, 0.0, 0.1, false, true)]
    public void SgdMatchesFormula(double momentum, double dampening, double wd, bool nesterov, bool maximize)
    {
        const double lr = 0.1;
        var p = (double[])P0.Clone(); double[]? buf = null;
        var expected = Grads.Select(g0 =>
        {
            var d = new double[4];
            for (int i = 0; i < 4; i++) d[i] = (maximize ? -g0[i] : g0[i]) + wd * p[i];
            if (momentum != 0)
            {
                if (buf is null) buf = (double[])d.Clone();                    // first step: a copy of the gradient
                else for (int i = 0; i < 4; i++) buf[i] = momentum * buf[i] + (1 - dampening) * d[i];
                for (int i = 0; i < 4; i++) d[i] = nesterov ? d[i] + momentum * buf[i] : buf[i];
            }
            for (int i = 0; i < 4; i++) p[i] -= lr * d[i];
            return (double[])p.Clone();
        }).ToArray();
        AssertSteps(expected, Run(x => new Sgd([x], lr, momentum, dampening, wd, nesterov, maximize)));
    }

    [Theory]
    [InlineData(false, 0.0, false, false)]
    [InlineData(true, 0.05, false, false)]
    [InlineData(false, 0.05, true, false)]
    [InlineData(true, 0.1, true, true)]
    public void AdamAndAdamWMatchFormula(bool amsgrad, double wd, bool decoupled, bool maximize)
    {
        const double lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-6;
        var p = (double[])P0.Clone(); var m = new double[4]; var v = new double[4]; var vmax = new double[4];
        int t = 0;
        var expected = Grads.Select(g0 =>
        {
            t++;
            for (int i = 0; i < 4; i++)
            {
                double g = maximize ? -g0[i] : g0[i];
                if (decoupled) p[i] *= 1 - lr * wd; else g += wd * p[i];
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                vmax[i] = Math.Max(vmax[i], v[i]);
                double vh = amsgrad ? vmax[i] : v[i];
                p[i] -= lr / (1 - Math.Pow(b1, t)) * m[i] / (Math.Sqrt(vh) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps);
            }
            return (double[])p.Clone();
        }).ToArray();
        AssertSteps(expected, Run(x => decoupled
            ? new AdamW([x], lr, (b1, b2), eps, wd, amsgrad, maximize)
            : new Adam([x], lr, (b1, b2), eps, wd, amsgrad, maximize)));
    }

    [Theory]
    [InlineData(false, 0.0, 0.0)]
    [InlineData(true, 0.0, 0.0)]
    [InlineData(true, 0.7, 0.1)]
    [InlineData(false, 0.5, 0.0)]
    public void RmsPropMatchesFormula(bool centered, double momentum, double wd)
    {
        const double lr = 0.01, alpha = 0.9, eps = 1e-8;
        var p = (double[])P0.Clone(); var sq = new double[4]; var ga = new double[4]; var buf = new double[4];
        var expected = Grads.Select(g0 =>
        {
            for (int i = 0; i < 4; i++)
            {
                double g = g0[i] + wd * p[i];
                sq[i] = alpha * sq[i] + (1 - alpha) * g * g;
                double avg;
                if (centered) { ga[i] = alpha * ga[i] + (1 - alpha) * g; avg = Math.Sqrt(sq[i] - ga[i] * ga[i]) + eps; }
                else avg = Math.Sqrt(sq[i]) + eps;
                if (momentum > 0) { buf[i] = momentum * buf[i] + g / avg; p[i] -= lr * buf[i]; }
                else p[i] -= lr * g / avg;
            }
            return (double[])p.Clone();
        }).ToArray();
        AssertSteps(expected, Run(x => new RmsProp([x], lr, alpha, eps, wd, momentum, centered)));
    }

    [Fact]
    public void ValidationMessagesFollowPyTorch()
    {
        var p = new[] { Tensor.Zeros(2).RequiresGrad_() };
        Assert.Contains("Invalid learning rate: -1", Assert.ThrowsAny<ArgumentException>(() => new Sgd(p, lr: -1)).Message);
        Assert.Contains("Invalid momentum value: -0.5", Assert.ThrowsAny<ArgumentException>(() => new Sgd(p, momentum: -0.5)).Message);
        Assert.Contains("Nesterov momentum requires a momentum and zero dampening", Assert.ThrowsAny<ArgumentException>(() => new Sgd(p, nesterov: true)).Message);
        Assert.Contains("Nesterov momentum requires a momentum and zero dampening", Assert.ThrowsAny<ArgumentException>(() => new Sgd(p, momentum: 0.9, dampening: 0.1, nesterov: true)).Message);
        Assert.Contains("Invalid beta parameter at index 0: 1.5", Assert.ThrowsAny<ArgumentException>(() => new Adam(p, betas: (1.5, 0.9))).Message);
        Assert.Contains("Invalid beta parameter at index 1: 1", Assert.ThrowsAny<ArgumentException>(() => new AdamW(p, betas: (0.9, 1.0))).Message);
        Assert.Contains("Invalid epsilon value: -1e-08", Assert.ThrowsAny<ArgumentException>(() => new Adam(p, eps: -1e-8)).Message);
        Assert.Contains("Invalid weight_decay value: -0.1", Assert.ThrowsAny<ArgumentException>(() => new AdamW(p, weightDecay: -0.1)).Message);
        Assert.Contains("Invalid alpha value: -0.1", Assert.ThrowsAny<ArgumentException>(() => new RmsProp(p, alpha: -0.1)).Message);
        Assert.Contains("optimizer got an empty parameter list", Assert.Throws<ArgumentException>(() => new Sgd([])).Message);
        var nonLeaf = Tensor.Ones(2).RequiresGrad_() * 2;
        Assert.Contains("can't optimize a non-leaf Tensor", Assert.Throws<ArgumentException>(() => new Sgd([nonLeaf])).Message);
        var sgd = new Sgd(p, 0.1);
        Assert.Contains("more than one parameter group", Assert.Throws<ArgumentException>(() => sgd.AddParamGroup(p)).Message);
        Assert.Equal(1e-2, new AdamW(p).Defaults.WeightDecay);
        Assert.Equal(1e-3, new Adam(p).Defaults.Lr);
    }

    [Fact]
    public void ParamGroupsHaveTheirOwnHyperparametersAndParamsWithoutGradAreSkipped()
    {
        var a = Tensor.Ones(2).RequiresGrad_(); var b = Tensor.Ones(2).RequiresGrad_(); var c = Tensor.Ones(2).RequiresGrad_();
        var sgd = new Sgd([a], lr: 0.1);
        sgd.AddParamGroup([b, c], o => o.Lr = 0.5);
        Assert.Equal(2, sgd.ParamGroups.Count);
        Assert.Equal(0.1, sgd.ParamGroups[0].Lr);
        a.Grad = Tensor.Ones(2); b.Grad = Tensor.Ones(2);
        sgd.Step();
        Assert.Equal(new[] { 0.9f, 0.9f }, a.ToArray<float>());
        Assert.Equal(new[] { 0.5f, 0.5f }, b.ToArray<float>());
        Assert.Equal(new[] { 1f, 1f }, c.ToArray<float>());
        Assert.True(sgd.State(c).IsEmpty);
        sgd.ParamGroups[1].Lr = 0.25;           // as a scheduler would
        sgd.Step();
        Assert.Equal(new[] { 0.25f, 0.25f }, b.ToArray<float>());
        sgd.ZeroGrad(setToNone: false);
        Assert.Equal(new[] { 0f, 0f }, a.Grad!.ToArray<float>());
        sgd.ZeroGrad();
        Assert.Null(a.Grad);
        Assert.Null(b.Grad);
    }

    [Fact]
    public void StepClosureReturnsTheLoss()
    {
        var w = Tensor.FromArray(new[] { 3.0 }, 1).RequiresGrad_();
        var opt = new Sgd([w], 0.25);
        var loss = opt.Step(() => { opt.ZeroGrad(); var l = (w * w).Sum(); l.Backward(); return l; });
        Assert.Equal(9.0, loss!.ToDouble());
        Assert.Equal(1.5, w.ToArray<double>()[0]);                  // 3 - 0.25 * 6
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    [InlineData("adamw")]
    [InlineData("rmsprop")]
    public void StateDictResumesExactlyThroughSafetensors(string kind)
    {
        Optimizer Make(Tensor[] ps) => kind switch
        {
            "sgd" => new Sgd(ps, 0.05, momentum: 0.9, nesterov: true),
            "adam" => new Adam(ps, 0.01, amsgrad: true),
            "adamw" => new AdamW(ps, 0.02),
            _ => new RmsProp(ps, 0.01, momentum: 0.5, centered: true),
        };
        var gen = new Generator(1);
        var grads = Enumerable.Range(0, 6).Select(_ => (Tensor.Randn([3, 2], DType.Float32, gen), Tensor.Randn([4], DType.Float32, gen))).ToArray();
        var a = new[] { Tensor.Randn([3, 2], DType.Float32, gen).RequiresGrad_(), Tensor.Randn([4], DType.Float32, gen).RequiresGrad_() };
        var optA = Make(a);
        for (int s = 0; s < 3; s++) { a[0].Grad = grads[s].Item1; a[1].Grad = grads[s].Item2; optA.Step(); }

        var path = Path.Combine(Path.GetTempPath(), $"recurrent-optim-{kind}-{Guid.NewGuid():N}.safetensors");
        try
        {
            TensorIO.WriteTensors(path, optA.StateDict());
            var b = a.Select(p => p.Detach().Clone().RequiresGrad_()).ToArray();
            var optB = Make(b);
            optB.ParamGroups[0].Lr = 123;                          // overwritten by the load
            optB.LoadStateDict(TensorIO.ReadTensors(path));
            Assert.Equal(optA.ParamGroups[0].Lr, optB.ParamGroups[0].Lr);
            for (int s = 3; s < 6; s++)
                foreach (var (ps, o) in new[] { (a, optA), (b, optB) })
                { ps[0].Grad = grads[s].Item1; ps[1].Grad = grads[s].Item2; o.Step(); }
            Assert.Equal(a[0].ToArray<float>(), b[0].ToArray<float>());
            Assert.Equal(a[1].ToArray<float>(), b[1].ToArray<float>());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void StateDictKeysAndLoadErrors()
    {
        var p = new[] { Tensor.Zeros(2, 3).RequiresGrad_(), Tensor.Zeros(3).RequiresGrad_() };
        var adam = new Adam(p, 0.1);
        p[0].Grad = Tensor.Ones(2, 3);
        adam.Step();
        var sd = adam.StateDict();
        Assert.Equal(1, sd["state.0.step"].Item<long>());
        Assert.Equal([2, 3], sd["state.0.exp_avg"].Shape);
        Assert.Contains("state.0.exp_avg_sq", sd.Keys);
        Assert.DoesNotContain("state.1.exp_avg", sd.Keys);            // p1 never had a gradient
        Assert.Equal(new long[] { 0, 1 }, sd["param_groups.0.params"].ToArray<long>());
        Assert.Equal(new[] { 0.9, 0.999 }, sd["param_groups.0.betas"].ToArray<double>());

        var other = new Adam([Tensor.Zeros(2, 3).RequiresGrad_()], 0.1);
        Assert.Contains("doesn't match the size of optimizer's group", Assert.Throws<ArgumentException>(() => other.LoadStateDict(sd)).Message);
        var q = new[] { Tensor.Zeros(3, 2).RequiresGrad_(), Tensor.Zeros(3).RequiresGrad_() };
        var shaped = new Adam(q, 0.1);
        Assert.Contains("does not match the parameter's shape", Assert.Throws<ArgumentException>(() => shaped.LoadStateDict(sd)).Message);
        Assert.True(shaped.State(q[0]).IsEmpty);                          // nothing changed
        var bad = new Dictionary<string, Tensor>(sd) { ["state.0.foo"] = Tensor.Zeros(2, 3) };
        Assert.Contains("'foo' is not state of Adam", Assert.Throws<ArgumentException>(() => new Adam(p, 0.1).LoadStateDict(bad)).Message);
        Assert.Throws<ArgumentException>(() => new Sgd(p, 0.1).LoadStateDict(sd));   // Adam hyperparameters are unknown to SGD
    }

    [Fact]
    public void TrainsALinearRegression()
    {
        // y = 2x - 1 + noise-free; Adam on MSE must drive the loss close to zero.
        var gen = new Generator(3);
        var x = Tensor.Randn([64, 1], DType.Float32, gen);
        var y = x * 2 - 1;
        var model = new Linear(1, 1, generator: gen);
        var opt = new Adam(model.Parameters(), 0.05);
        var lossFn = new MSELoss();
        double first = 0, last = 0;
        for (int it = 0; it < 300; it++)
        {
            opt.ZeroGrad();
            var loss = lossFn.Forward(model.Forward(x), y);
            loss.Backward();
            opt.Step();
            if (it == 0) first = loss.ToDouble();
            last = loss.ToDouble();
        }
        Assert.True(last < 1e-4 && last < first, $"loss {first} -> {last}");
        Assert.Equal(2.0, model.Weight.ToDouble(), 2);
        Assert.Equal(-1.0, model.Bias!.ToDouble(), 2);
    }
}

public class LrSchedulerTests
{
    [Fact]
    public void StepLRDecaysEveryStepSizeEpochs()
    {
        var opt = new Sgd([Tensor.Zeros(1).RequiresGrad_()], lr: 0.1);
        opt.AddParamGroup([Tensor.Zeros(1).RequiresGrad_()], o => o.Lr = 1.0);
        var s = new StepLR(opt, stepSize: 2, gamma: 0.5);
        var seen = new List<double[]> { s.GetLastLr() };
        for (int e = 0; e < 5; e++) { opt.Step(); s.Step(); seen.Add(s.GetLastLr()); }
        Assert.Equal(new[] { 0.1, 0.1, 0.05, 0.05, 0.025, 0.025 }, seen.Select(l => l[0]));
        Assert.Equal(new[] { 1.0, 1.0, 0.5, 0.5, 0.25, 0.25 }, seen.Select(l => l[1]));
        Assert.Equal(5, s.LastEpoch);
        Assert.Equal(new[] { 0.1, 1.0 }, s.BaseLrs);
        Assert.Throws<ArgumentOutOfRangeException>(() => new StepLR(opt, 0));
    }

    [Fact]
    public void ExponentialLRMultipliesEachEpoch()
    {
        var opt = new Adam([Tensor.Zeros(1).RequiresGrad_()], lr: 0.2);
        var s = new ExponentialLR(opt, 0.9);
        Assert.Equal(0.2, opt.ParamGroups[0].Lr);
        s.Step(); s.Step();
        Assert.Equal(0.2 * 0.9 * 0.9, opt.ParamGroups[0].Lr);
    }
}
