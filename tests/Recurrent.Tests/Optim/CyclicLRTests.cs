// CyclicLR against the cyclical-learning-rate paper's own formulas (triangle position |it/step - 2*cycle + 1|, written
// independently of the implementation's closed form), the triangle PyTorch's tests walk (1..5..1 with momentum the
// other way), asymmetric halves, custom scales, and the arguments it refuses.
using Recurrent.Optim;

namespace Recurrent.Tests.Optim;

public class CyclicLRTests
{
    private static Sgd Sgd(double lr = 0.05, double momentum = 0.0) => new([Tensor.Zeros(1).RequiresGrad_()], lr: lr, momentum: momentum);

    private static void Close(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-12 * Math.Abs(expected) + 1e-15, $"expected {expected:R}, got {actual:R}");

    /// <summary>The paper's form: the position in the cycle from the distance to its middle.</summary>
    private static double PaperTriangle(int it, int stepSize)
    {
        double cycle = Math.Floor(1 + it / (2.0 * stepSize));
        double x = Math.Abs((double)it / stepSize - 2 * cycle + 1);
        return Math.Max(0, 1 - x);
    }

    [Fact]
    public void TheTriangleRisesAndFallsWithTheMomentumTheOtherWay()
    {
        var opt = Sgd(momentum: 0.3);
        var s = new CyclicLR(opt, baseLr: 1, maxLr: 5, stepSizeUp: 4, baseMomentum: 1, maxMomentum: 5);
        double[] lrs = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3];
        double[] moms = [5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3];
        for (int e = 0; e < lrs.Length; e++)
        {
            if (e > 0) s.Step();
            Close(lrs[e], opt.ParamGroups[0].Lr);
            Close(moms[e], ((SgdOptions)opt.ParamGroups[0].Options).Momentum);
        }
        Assert.Equal(CyclicScaleMode.Cycle, s.ScaleMode);
    }

    [Theory]
    [InlineData(CyclicMode.Triangular)]
    [InlineData(CyclicMode.Triangular2)]
    [InlineData(CyclicMode.ExpRange)]
    public void EveryModeFollowsThePapersFormula(CyclicMode mode)
    {
        const double baseLr = 0.001, maxLr = 0.006, gamma = 0.99;
        const int stepSize = 5;
        var opt = Sgd();
        var s = new CyclicLR(opt, baseLr, maxLr, stepSizeUp: stepSize, mode: mode, gamma: gamma, cycleMomentum: false);
        for (int it = 0; it < 47; it++)
        {
            if (it > 0) s.Step();
            double cycle = Math.Floor(1 + it / (2.0 * stepSize));
            double scale = mode switch { CyclicMode.Triangular => 1, CyclicMode.Triangular2 => 1 / Math.Pow(2, cycle - 1), _ => Math.Pow(gamma, it) };
            Close(baseLr + (maxLr - baseLr) * PaperTriangle(it, stepSize) * scale, opt.ParamGroups[0].Lr);
        }
        Assert.Equal(0.0, ((SgdOptions)opt.ParamGroups[0].Options).Momentum);   // not cycled
    }

    [Fact]
    public void UnequalHalvesACustomScaleAndPerGroupBounds()
    {
        var opt = Sgd(0.5);
        opt.AddParamGroup([Tensor.Zeros(1).RequiresGrad_()], o => o.Lr = 0.5);
        var s = new CyclicLR(opt, [0.1, 0.2], [0.7, 0.2], stepSizeUp: 2, stepSizeDown: 4, scaleFn: x => 1 / (x + 1),
            scaleMode: CyclicScaleMode.Iterations, cycleMomentum: false);
        // Position in the 6-step cycle: up over 2 steps, down over 4.
        double[] position = [0, 0.5, 1, 0.75, 0.5, 0.25, 0, 0.5, 1];
        for (int e = 0; e < position.Length; e++)
        {
            if (e > 0) s.Step();
            Close(0.1 + 0.6 * position[e] / (e + 1), opt.ParamGroups[0].Lr);
            Assert.Equal(0.2, opt.ParamGroups[1].Lr);
        }
        Assert.Equal([0.1, 0.2], s.BaseLrs);
        Assert.Equal(4, s.StepSizeDown);

        // No falling half: a saw tooth.
        var saw = Sgd();
        var t = new CyclicLR(saw, 0.0, 1.0, stepSizeUp: 4, stepSizeDown: 0, cycleMomentum: false);
        var seen = new List<double> { saw.ParamGroups[0].Lr };
        for (int e = 0; e < 5; e++) { t.Step(); seen.Add(saw.ParamGroups[0].Lr); }
        Assert.Equal([0, 0.25, 0.5, 0.75, 0, 0.25], seen);
    }

    [Fact]
    public void AdamsBeta1CyclesAndTheBaseIsTheGivenRate()
    {
        var adam = new Adam([Tensor.Zeros(1).RequiresGrad_()], lr: 0.01);
        var s = new CyclicLR(adam, 0.002, 0.01, stepSizeUp: 2, baseMomentum: 0.85, maxMomentum: 0.95);
        Assert.Equal(0.002, adam.ParamGroups[0].Lr);
        Assert.Equal(0.002, adam.ParamGroups[0].InitialLr);
        Assert.Equal(0.95, ((AdamOptions)adam.ParamGroups[0].Options).Beta1);
        s.Step();
        s.Step();
        Close(0.01, adam.ParamGroups[0].Lr);
        Close(0.85, ((AdamOptions)adam.ParamGroups[0].Options).Beta1);
        Assert.Equal(0.999, ((AdamOptions)adam.ParamGroups[0].Options).Beta2);
    }

    [Fact]
    public void AGroupWithAnInitialLrStartsThereAsInPyTorch()
    {
        // PyTorch's initial step runs inside LRScheduler.__init__, before CyclicLR replaces base_lrs: a group whose
        // initial_lr an earlier scheduler set starts at that rate, and the cycle runs from the given base after it.
        var opt = Sgd(0.05);
        _ = new StepLR(opt, 10);
        var s = new CyclicLR(opt, 0.01, 0.11, stepSizeUp: 4, cycleMomentum: false);
        Assert.Equal(0.05, opt.ParamGroups[0].Lr);
        Assert.Equal([0.01], s.BaseLrs);
        s.Step();
        Close(0.01 + 0.1 * 0.25, opt.ParamGroups[0].Lr);
        // gamma matters to ExpRange only.
        _ = new CyclicLR(Sgd(), 0.01, 0.1, gamma: 0, cycleMomentum: false);
    }

    [Fact]
    public void BadArgumentsAreRefusedAndChangeNothing()
    {
        var opt = Sgd(0.05, momentum: 0.2);
        void Refused<T>(string param, Action make) where T : ArgumentException
        {
            Assert.Equal(param, Assert.Throws<T>(make).ParamName);
            Assert.Equal(0.05, opt.ParamGroups[0].Lr);
            Assert.Null(opt.ParamGroups[0].InitialLr);
            Assert.Equal(0.2, ((SgdOptions)opt.ParamGroups[0].Options).Momentum);
        }
        Refused<ArgumentOutOfRangeException>("stepSizeUp", () => new CyclicLR(opt, 0.01, 0.1, stepSizeUp: 0));
        Refused<ArgumentOutOfRangeException>("stepSizeDown", () => new CyclicLR(opt, 0.01, 0.1, stepSizeDown: -1));
        Refused<ArgumentOutOfRangeException>("baseLr", () => new CyclicLR(opt, double.NaN, 0.1));
        Refused<ArgumentOutOfRangeException>("maxLr", () => new CyclicLR(opt, 0.01, -0.1));
        Refused<ArgumentOutOfRangeException>("gamma", () => new CyclicLR(opt, 0.01, 0.1, mode: CyclicMode.ExpRange, gamma: 0));
        Refused<ArgumentOutOfRangeException>("mode", () => new CyclicLR(opt, 0.01, 0.1, mode: (CyclicMode)7));
        Refused<ArgumentOutOfRangeException>("maxMomentum", () => new CyclicLR(opt, 0.01, 0.1, maxMomentum: double.PositiveInfinity));
        Refused<ArgumentException>("baseLrs", () => new CyclicLR(opt, [0.01, 0.02], [0.1]));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new CyclicLR(opt, [0.01], [double.NaN]));
        Assert.Contains("maxLrs[0] must be a finite learning rate >= 0, but got NaN", e.Message);
        var adam = new Adam([Tensor.Zeros(1).RequiresGrad_()]);
        Assert.Contains("beta1, which must be in [0, 1), but got 1", Assert.Throws<ArgumentOutOfRangeException>(() => new CyclicLR(adam, 0.01, 0.1, maxMomentum: 1.0)).Message);
    }
}
