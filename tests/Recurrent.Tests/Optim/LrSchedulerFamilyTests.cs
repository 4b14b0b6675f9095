// The schedulers beyond StepLR and ExponentialLR, against what torch.optim.lr_scheduler documents: each chainable
// (recursive) schedule against its closed form over several periods, PyTorch's documented example values, SequentialLR's
// restart at a milestone, and ReduceLROnPlateau's patience, cooldown, threshold, min_lr and eps rules.
using Recurrent.Optim;

namespace Recurrent.Tests.Optim;

public class LrSchedulerFamilyTests
{
    private static Sgd Opt(double lr = 0.05) => new([Tensor.Zeros(1).RequiresGrad_()], lr: lr);

    /// <summary>The learning rate of group 0 at epochs 0..epochs (the constructor's, then one per Step).</summary>
    private static double[] Trace(Optimizer opt, Action step, int epochs)
    {
        var lrs = new List<double> { opt.ParamGroups[0].Lr };
        for (int e = 0; e < epochs; e++) { step(); lrs.Add(opt.ParamGroups[0].Lr); }
        return lrs.ToArray();
    }

    private static void Close(double expected, double actual, double rtol = 1e-12) =>
        Assert.True(Math.Abs(expected - actual) <= rtol * Math.Abs(expected) + 1e-15, $"expected {expected:R}, got {actual:R}");

    [Fact]
    public void LambdaLRSetsBaseTimesLambdaFromEpochZero()
    {
        var opt = Opt(0.1);
        opt.AddParamGroup([Tensor.Zeros(1).RequiresGrad_()], o => o.Lr = 1.0);
        var seen = new List<int>();
        var s = new LambdaLR(opt, [e => { seen.Add(e); return Math.Min(1.0, (e + 1) / 4.0); }, e => Math.Pow(0.5, e)]);
        Assert.Equal([0], seen);
        Assert.Equal(0.1 * 0.25, opt.ParamGroups[0].Lr);
        Assert.Equal(1.0, opt.ParamGroups[1].Lr);
        for (int i = 0; i < 5; i++) s.Step();
        Assert.Equal(0.1 * 1.0, opt.ParamGroups[0].Lr);
        Assert.Equal(Math.Pow(0.5, 5), opt.ParamGroups[1].Lr);
        Assert.Equal(new[] { 0.1, Math.Pow(0.5, 5) }, s.GetLastLr());
        var ex = Assert.Throws<ArgumentException>(() => new LambdaLR(opt, [e => 1.0]));
        Assert.Contains("Expected 2 lr_lambdas", ex.Message);
        Assert.Equal("lrLambdas", ex.ParamName);
    }

    [Fact]
    public void MultiplicativeLRMultipliesAfterTheInitialStep()
    {
        var opt = Opt(0.2);
        var s = new MultiplicativeLR(opt, e => e == 2 ? 0.5 : 0.9);
        var lrs = Trace(opt, s.Step, 3);
        Assert.Equal(new[] { 0.2, 0.2 * 0.9, 0.2 * 0.9 * 0.5, 0.2 * 0.9 * 0.5 * 0.9 }, lrs);
    }

    [Fact]
    public void MultiStepLRDecaysAtMilestonesAndCountsRepeats()
    {
        var opt = Opt(0.05);
        var s = new MultiStepLR(opt, [80, 30], 0.1);
        var lrs = Trace(opt, s.Step, 100);
        // PyTorch's example: 0.05 below 30, 0.005 below 80, 0.0005 after.
        Close(0.05, lrs[29]); Close(0.005, lrs[30]); Close(0.005, lrs[79]); Close(0.0005, lrs[80]); Close(0.0005, lrs[100]);
        Assert.Equal(new[] { 30, 80 }, s.Milestones);

        var opt2 = Opt(1.0);
        var s2 = new MultiStepLR(opt2, [2, 2], 0.5);
        Assert.Equal(new[] { 1.0, 1.0, 0.25, 0.25 }, Trace(opt2, s2.Step, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MultiStepLR(Opt(), [-1]));
    }

    [Fact]
    public void ConstantLRHoldsTheFactorUntilTotalIters()
    {
        var opt = Opt(0.05);
        var s = new ConstantLR(opt, factor: 0.5, totalIters: 40);
        var lrs = Trace(opt, s.Step, 45);
        Assert.All(lrs[..40], lr => Assert.Equal(0.025, lr));
        Assert.All(lrs[40..], lr => Assert.Equal(0.05, lr));
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new ConstantLR(Opt(), factor: 0));
        Assert.Equal("factor", ex.ParamName);
        Assert.Contains("(0, 1]", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConstantLR(Opt(), factor: 1.5));
    }

    [Fact]
    public void LinearLRFollowsItsClosedForm()
    {
        var opt = Opt(0.05);
        var s = new LinearLR(opt, startFactor: 0.05, endFactor: 1.0, totalIters: 40);
        var lrs = Trace(opt, s.Step, 60);
        for (int e = 0; e <= 60; e++) Close(0.05 * (0.05 + 0.95 * Math.Min(40, e) / 40), lrs[e]);
        var opt2 = Opt(1.0);
        var decay = new LinearLR(opt2, startFactor: 1.0, endFactor: 0.0, totalIters: 4);
        var d = Trace(opt2, decay.Step, 6);
        for (int e = 0; e <= 3; e++) Close(1.0 - e / 4.0, d[e]);
        Assert.Equal(0.0, d[4]);
        Assert.Equal(0.0, d[6]);
        Assert.Equal("startFactor", Assert.Throws<ArgumentOutOfRangeException>(() => new LinearLR(Opt(), startFactor: 0)).ParamName);
        Assert.Equal("endFactor", Assert.Throws<ArgumentOutOfRangeException>(() => new LinearLR(Opt(), endFactor: 1.1)).ParamName);
        Assert.Equal("totalIters", Assert.Throws<ArgumentOutOfRangeException>(() => new LinearLR(Opt(), totalIters: 0)).ParamName);
    }

    [Fact]
    public void PolynomialLRFollowsItsClosedForm()
    {
        var opt = Opt(0.05);
        var s = new PolynomialLR(opt, totalIters: 50, power: 0.9);
        var lrs = Trace(opt, s.Step, 60);
        for (int e = 0; e < 50; e++) Close(0.05 * Math.Pow(1.0 - e / 50.0, 0.9), lrs[e], 1e-11);
        Assert.All(lrs[50..], lr => Assert.Equal(0.0, lr));
    }

    [Fact]
    public void CosineAnnealingLRFollowsTheCosineThroughAndPastTMax()
    {
        var opt = Opt(0.1);
        var s = new CosineAnnealingLR(opt, tMax: 10, etaMin: 0.001);
        var lrs = Trace(opt, s.Step, 35);
        for (int e = 0; e <= 35; e++)
            Close(0.001 + (0.1 - 0.001) * (1 + Math.Cos(Math.PI * e / 10)) / 2, lrs[e], 1e-10);
        Close(0.001, lrs[10]);
        Close(0.1, lrs[20], 1e-10);
        Assert.Equal("tMax", Assert.Throws<ArgumentOutOfRangeException>(() => new CosineAnnealingLR(Opt(), 0)).ParamName);
    }

    [Fact]
    public void SequentialLRSwitchesAtTheMilestoneFromTheBaseRate()
    {
        // PyTorch's example: ConstantLR(0.1, 20) then ExponentialLR(0.9) at 20: 0.005 until 19, 0.05, 0.045, 0.0405.
        var opt = Opt(0.05);
        var c = new ConstantLR(opt, factor: 0.1, totalIters: 20);
        var x = new ExponentialLR(opt, 0.9);
        var s = new SequentialLR(opt, [c, x], [20]);
        var lrs = Trace(opt, s.Step, 22);
        for (int e = 0; e < 20; e++) Close(0.005, lrs[e]);
        Close(0.05, lrs[20]); Close(0.045, lrs[21]); Close(0.0405, lrs[22]);
        Assert.Equal(new[] { lrs[22] }, s.GetLastLr());

        // A linear warm-up then a cosine decay: the cosine starts at the base rate (its closed form at epoch 0).
        var opt2 = Opt(1.0);
        var warm = new LinearLR(opt2, startFactor: 0.25, totalIters: 3);
        var cos = new CosineAnnealingLR(opt2, tMax: 4);
        var s2 = new SequentialLR(opt2, [warm, cos], [3]);
        var w = Trace(opt2, s2.Step, 7);
        Close(0.25, w[0]); Close(0.5, w[1]); Close(0.75, w[2]);
        Close(1.0, w[3]); Close((1 + Math.Cos(Math.PI / 4)) / 2, w[4]); Close(0.5, w[5]); Assert.True(Math.Abs(w[7]) < 1e-12);
    }

    [Fact]
    public void ChainedSchedulerStepsEachSchedulerInOrder()
    {
        // PyTorch's example (lr 1): ConstantLR(0.1, 2) and ExponentialLR(0.9) chained. The constructors leave 0.1;
        // then 0.09, 0.81 (ConstantLR's factor lifted at its total), 0.729, 0.6561, 0.59049. (PyTorch's docstring
        // lists these from the first step, with 0.081 for 0.81.)
        var opt = Opt(1.0);
        var chain = new ChainedScheduler([new ConstantLR(opt, factor: 0.1, totalIters: 2), new ExponentialLR(opt, 0.9)]);
        Assert.Same(opt, chain.Optimizer);
        Assert.Equal(new[] { 0.1 }, chain.GetLastLr());
        var lrs = Trace(opt, chain.Step, 5);
        double[] expected = [0.1, 0.09, 0.81, 0.729, 0.6561, 0.59049];
        for (int e = 0; e < expected.Length; e++) Close(expected[e], lrs[e]);
        Assert.Equal(new[] { lrs[5] }, chain.GetLastLr());
        Assert.Equal(5, chain.LastEpoch);

        // The same as stepping the schedulers by hand, in the chain's order, with two groups.
        Sgd TwoGroups()
        {
            var sgd = new Sgd([Tensor.Zeros(1).RequiresGrad_()], lr: 0.3);
            sgd.AddParamGroup([Tensor.Zeros(1).RequiresGrad_()], o => o.Lr = 0.02);
            return sgd;
        }
        var a = TwoGroups(); var b = TwoGroups();
        var chained = new ChainedScheduler([new StepLR(a, 3, 0.5), new CosineAnnealingLR(a, tMax: 7), new LinearLR(a, 0.5, totalIters: 4)], a);
        var byHand = new LrScheduler[] { new StepLR(b, 3, 0.5), new CosineAnnealingLR(b, tMax: 7), new LinearLR(b, 0.5, totalIters: 4) };
        for (int e = 0; e < 12; e++)
        {
            Assert.Equal(b.ParamGroups.Select(g => g.Lr), a.ParamGroups.Select(g => g.Lr));
            chained.Step();
            foreach (var sch in byHand) sch.Step();
        }
        Assert.Equal(b.ParamGroups.Select(g => g.Lr), chained.GetLastLr());
    }

    [Fact]
    public void ChainedSchedulerRefusesInconsistentArgumentsAndRestartsOnlyFirstInASequence()
    {
        var opt = Opt(1.0);
        var c = new ConstantLR(opt, factor: 0.5, totalIters: 2);
        var x = new ExponentialLR(opt, 0.9);
        Assert.Contains("at least one scheduler", Assert.Throws<ArgumentException>(() => new ChainedScheduler([])).Message);
        Assert.Contains("same optimizer", Assert.Throws<ArgumentException>(() => new ChainedScheduler([c, new StepLR(Opt(), 1)])).Message);
        Assert.Contains("same optimizer", Assert.Throws<ArgumentException>(() => new ChainedScheduler([c, x], Opt())).Message);
        var e = Assert.Throws<ArgumentException>(() => new ChainedScheduler([c, x, c]));
        Assert.Equal("schedulers", e.ParamName);
        Assert.Contains("schedulers[2] is listed twice", e.Message);
        // Refused before the base constructor: an optimizer no scheduler touched yet gets no initial_lr.
        var fresh = Opt(1.0);
        Assert.Throws<ArgumentException>(() => new ChainedScheduler([c, x], fresh));
        Assert.Null(fresh.ParamGroups[0].InitialLr);

        var chain = new ChainedScheduler([c, x]);
        var later = Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [new StepLR(opt, 1), chain], [2]));
        Assert.Contains("schedulers[1] is a ChainedScheduler, which cannot restart at a milestone", later.Message);

        // First in a SequentialLR: the rates go back to the base and the chain takes its initial step again. As in
        // PyTorch, only the chain is in its initial mode then, not its schedulers: ConstantLR applies its factor
        // (its epoch 0) and ExponentialLR its decay (1 * 0.5 * 0.9). Then 0.405, 0.81 (factor lifted) * 0.9, and at the
        // milestone ExponentialLR(0.8) restarts from the base.
        var opt2 = Opt(1.0);
        var chain2 = new ChainedScheduler([new ConstantLR(opt2, factor: 0.5, totalIters: 2), new ExponentialLR(opt2, 0.9)]);
        var seq = new SequentialLR(opt2, [chain2, new ExponentialLR(opt2, 0.8)], [3]);
        var lrs = Trace(opt2, seq.Step, 4);
        double[] expected = [0.45, 0.405, 0.729, 1.0, 0.8];
        for (int i = 0; i < expected.Length; i++) Close(expected[i], lrs[i]);
    }

    [Fact]
    public void SequentialLRRefusesInconsistentArguments()
    {
        var opt = Opt();
        var a = new StepLR(opt, 2);
        var b = new ExponentialLR(opt, 0.9);
        Assert.Contains("one milestone fewer", Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [a, b], [])).Message);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new SequentialLR(opt, [a, b, new ExponentialLR(opt, 0.5)], [5, 5]));
        Assert.Equal("milestones", ex.ParamName);
        Assert.Contains("milestones[1] is 5 after 5", ex.Message);
        var other = Opt();
        Assert.Contains("same optimizer", Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [a, new StepLR(other, 1)], [3])).Message);
        Assert.Contains("at least one", Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [], [])).Message);
    }

    [Fact]
    public void ReduceLROnPlateauWaitsPatienceThenReducesAndCoolsDown()
    {
        var opt = Opt(1.0);
        var s = new ReduceLROnPlateau(opt, factor: 0.5, patience: 1, cooldown: 1);
        double[] metrics = [1.0, 0.5, 0.6, 0.6, 0.7, 0.7, 0.7, 0.4];
        var lrs = new List<double>();
        foreach (var m in metrics) { s.Step(m); lrs.Add(opt.ParamGroups[0].Lr); }
        // 0.5 is best; 0.6 bad (1), 0.6 bad (2 > 1: reduce, cooldown 1), 0.7 in cooldown (not counted), 0.7 bad (1),
        // 0.7 bad (2: reduce), 0.4 better.
        Assert.Equal(new[] { 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25 }, lrs);
        Assert.Equal(0.4, s.Best);
        Assert.Equal(8, s.LastEpoch);
        Assert.Equal(new[] { 0.25 }, s.GetLastLr());
    }

    [Fact]
    public void ReduceLROnPlateauPatienceZeroReducesOnTheFirstWorseEpoch()
    {
        var opt = Opt(0.1);
        var s = new ReduceLROnPlateau(opt, patience: 0);
        s.Step(2.0);
        Assert.Equal(0.1, opt.ParamGroups[0].Lr);
        s.Step(2.0);
        Close(0.01, opt.ParamGroups[0].Lr);
        s.Step(double.NaN); // NaN is never an improvement
        Close(0.001, opt.ParamGroups[0].Lr);
    }

    [Fact]
    public void ReduceLROnPlateauThresholdModesAndMaxMode()
    {
        // rel: 0.99995 is not below 1.0 * (1 - 1e-4), so it is a bad epoch; abs 0.05: 0.96 is not below 0.95.
        var rel = new ReduceLROnPlateau(Opt(1.0), patience: 0);
        rel.Step(1.0); rel.Step(0.99995);
        Assert.Equal(1.0, rel.Best);
        Assert.Equal(0, rel.NumBadEpochs); // the reduction reset the counter
        Close(0.1, rel.Optimizer.ParamGroups[0].Lr);
        var abs = new ReduceLROnPlateau(Opt(1.0), thresholdMode: ThresholdMode.Abs, threshold: 0.05, patience: 5);
        abs.Step(1.0); abs.Step(0.96);
        Assert.Equal(1.0, abs.Best);
        abs.Step(0.94);
        Assert.Equal(0.94, abs.Best);
        var max = new ReduceLROnPlateau(Opt(1.0), mode: PlateauMode.Max, patience: 0);
        max.Step(0.5); max.Step(0.6);
        Assert.Equal(1.0, max.Optimizer.ParamGroups[0].Lr);
        max.Step(0.55);
        Close(0.1, max.Optimizer.ParamGroups[0].Lr);
    }

    [Fact]
    public void ReduceLROnPlateauRespectsMinLrAndEps()
    {
        var opt = Opt(1.0);
        opt.AddParamGroup([Tensor.Zeros(1).RequiresGrad_()], o => o.Lr = 1e-8);
        var s = new ReduceLROnPlateau(opt, [0.3, 0.0], patience: 0);
        s.Step(1.0); s.Step(1.0); s.Step(1.0);
        // Group 0: 1.0 -> 0.3 (clamped), then 0.3 -> 0.3 (no change). Group 1: 1e-8 -> 1e-9 is a change of 9e-9,
        // below eps 1e-8, so it is not applied.
        Assert.Equal(new[] { 0.3, 1e-8 }, s.GetLastLr());
        Assert.Equal("minLrs", Assert.Throws<ArgumentException>(() => new ReduceLROnPlateau(opt, [0.1])).ParamName);
        Assert.Equal("factor", Assert.Throws<ArgumentOutOfRangeException>(() => new ReduceLROnPlateau(opt, factor: 1.0)).ParamName);
        Assert.Equal("patience", Assert.Throws<ArgumentOutOfRangeException>(() => new ReduceLROnPlateau(opt, patience: -1)).ParamName);
    }

    [Fact]
    public void ReduceLROnPlateauTakesAOneElementTensor()
    {
        var s = new ReduceLROnPlateau(Opt(1.0), patience: 0);
        s.Step(Tensor.FromArray([0.5f], 1));
        Assert.Equal(0.5, s.Best);
        var ex = Assert.Throws<ArgumentException>(() => s.Step(Tensor.Zeros(2)));
        Assert.Equal("metric", ex.ParamName);
        Assert.Contains("[2]", ex.Message);
    }

    [Fact]
    public void ReduceLROnPlateauFillsMinLrForAGroupAddedLater()
    {
        var opt = Opt(1.0);
        var s = new ReduceLROnPlateau(opt, patience: 0, minLr: 0.2);
        opt.AddParamGroup([Tensor.Zeros(1).RequiresGrad_()], o => o.Lr = 0.3);
        s.Step(1.0); s.Step(1.0);
        Assert.Equal(new[] { 0.2, 0.2 }, s.GetLastLr());
        var opt2 = Opt(1.0);
        var pinned = new ReduceLROnPlateau(opt2, [0.1], patience: 0);
        opt2.AddParamGroup([Tensor.Zeros(1).RequiresGrad_()], o => o.Lr = 0.3);
        pinned.Step(1.0);
        Assert.Contains("differs from when ReduceLROnPlateau was created", Assert.Throws<InvalidOperationException>(() => pinned.Step(1.0)).Message);
    }

    [Fact]
    public void ASchedulerResumesFromTheOptimizerStateWithItsBaseRate()
    {
        // Uninterrupted: 10 epochs of cosine annealing.
        var full = Opt(0.1);
        var fs = new CosineAnnealingLR(full, tMax: 10);
        var expected = Trace(full, fs.Step, 10);

        // Interrupted after 4 epochs: the optimizer's state carries lr and initial_lr; a new scheduler resumes at
        // epoch 4 from the base rate 0.1, not from the decayed rate it finds in the group.
        var first = Opt(0.1);
        var s1 = new CosineAnnealingLR(first, tMax: 10);
        for (int e = 0; e < 4; e++) s1.Step();
        var saved = first.StateDict();
        Assert.Equal(0.1, saved["param_groups.0.initial_lr"].ToDouble());

        var second = Opt(0.5);
        second.LoadStateDict(saved);
        Assert.Equal(0.1, second.ParamGroups[0].InitialLr);
        var s2 = new CosineAnnealingLR(second, tMax: 10) { LastEpoch = 4 };
        Assert.Equal(new[] { 0.1 }, s2.BaseLrs);
        var rest = Trace(second, s2.Step, 6);
        Assert.Equal(expected[4..], rest);

        // A state without initial_lr (no scheduler when it was saved) clears it, as PyTorch's group replacement does;
        // a malformed one is refused before anything changes.
        var plain = Opt(0.3).StateDict();
        second.LoadStateDict(plain);
        Assert.Null(second.ParamGroups[0].InitialLr);
        var bad = new Dictionary<string, Tensor>(saved) { ["param_groups.0.initial_lr"] = Tensor.Scalar(double.NaN, DType.Float64) };
        var ex = Assert.Throws<ArgumentException>(() => second.LoadStateDict(bad));
        Assert.Contains("param_groups.0.initial_lr: expected one finite learning rate >= 0, got nan", ex.Message);
        Assert.Equal(0.3, second.ParamGroups[0].Lr);
        Assert.Null(second.ParamGroups[0].InitialLr);
    }

    [Fact]
    public void OneCycleLRRisesToMaxThenAnnealsToMinWhileBeta1MovesInversely()
    {
        var opt = new Adam([Tensor.Zeros(1).RequiresGrad_()], lr: 0.5);
        var s = new OneCycleLR(opt, maxLr: 0.01, totalSteps: 100);
        var o = (AdamOptions)opt.ParamGroups[0].Options;
        Close(0.01 / 25, opt.ParamGroups[0].Lr);
        Assert.Equal(0.95, o.Beta1);
        Assert.Equal(0.01 / 25, opt.ParamGroups[0].InitialLr);
        var lrs = new List<double> { opt.ParamGroups[0].Lr };
        var betas = new List<double> { o.Beta1 };
        for (int i = 0; i < 100; i++) { s.Step(); lrs.Add(opt.ParamGroups[0].Lr); betas.Add(o.Beta1); }
        // Phase 1 ends at step 0.3 * 100 - 1 = 29 (the peak), phase 2 at 99 (the floor); halfway through phase 1 the
        // cosine is at the mean of its ends.
        Close(0.01, lrs[29]); Close(0.85, betas[29]);
        Close(0.01 / 25 / 1e4, lrs[99]); Close(0.95, betas[99]);
        Assert.True(lrs.Take(30).Zip(lrs.Skip(1).Take(29)).All(p => p.First < p.Second), "rising in phase 1");
        Assert.True(lrs.Skip(29).Take(71).Zip(lrs.Skip(30).Take(70)).All(p => p.First > p.Second), "falling in phase 2");
        // Past the cycle: refused, and nothing changes.
        var ex = Assert.Throws<InvalidOperationException>(() => s.Step());
        Assert.Contains("Tried to step 101 times. The specified number of total steps is 100", ex.Message);
        Assert.Equal(100, s.LastEpoch);
        Assert.Equal(lrs[100], opt.ParamGroups[0].Lr);

        // Halfway through a phase the cosine is at the mean of its ends: phase 1 of 0.25 * 84 steps ends at step 20.
        var sgd = new Sgd([Tensor.Zeros(1).RequiresGrad_()], lr: 1.0, momentum: 0.9);
        var s2 = new OneCycleLR(sgd, maxLr: 0.01, totalSteps: 84, pctStart: 0.25);
        for (int i = 0; i < 10; i++) s2.Step();
        Close((0.01 / 25 + 0.01) / 2, sgd.ParamGroups[0].Lr);
        Close((0.95 + 0.85) / 2, ((SgdOptions)sgd.ParamGroups[0].Options).Momentum);
    }

    [Fact]
    public void OneCycleLRLinearAndThreePhase()
    {
        var opt = new Sgd([Tensor.Zeros(1).RequiresGrad_()], lr: 1.0, momentum: 0.9);
        var s = new OneCycleLR(opt, maxLr: 1.0, totalSteps: 41, pctStart: 0.25, annealStrategy: AnnealStrategy.Linear,
            divFactor: 10, finalDivFactor: 100, threePhase: true);
        // Phases end at 0.25 * 41 - 1 = 9.25, 2 * 0.25 * 41 - 2 = 18.5 and 40.
        var lrs = Trace(opt, s.Step, 40);
        for (int e = 0; e <= 9; e++) Close(0.1 + (1.0 - 0.1) * e / 9.25, lrs[e]);
        for (int e = 10; e <= 18; e++) Close(1.0 + (0.1 - 1.0) * (e - 9.25) / (18.5 - 9.25), lrs[e]);
        for (int e = 19; e <= 40; e++) Close(0.1 + (0.001 - 0.1) * (e - 18.5) / (40 - 18.5), lrs[e]);
        Assert.Equal(0.95, ((SgdOptions)opt.ParamGroups[0].Options).Momentum, 12);

        var keep = new Adam([Tensor.Zeros(1).RequiresGrad_()], lr: 0.1, betas: (0.7, 0.999));
        _ = new OneCycleLR(keep, 0.1, 10, cycleMomentum: false);
        Assert.Equal(0.7, ((AdamOptions)keep.ParamGroups[0].Options).Beta1);
        Assert.Equal("totalSteps", Assert.Throws<ArgumentOutOfRangeException>(() => new OneCycleLR(keep, 0.1, 0)).ParamName);
        Assert.Equal("pctStart", Assert.Throws<ArgumentOutOfRangeException>(() => new OneCycleLR(keep, 0.1, 10, pctStart: 1.5)).ParamName);
        Assert.Equal("maxLrs", Assert.Throws<ArgumentException>(() => new OneCycleLR(keep, [0.1, 0.2], 10)).ParamName);
        Assert.Equal(0.7, ((AdamOptions)keep.ParamGroups[0].Options).Beta1);
    }

    [Fact]
    public void CosineAnnealingWarmRestartsRestartsAndGrowsThePeriod()
    {
        var opt = Opt(0.1);
        var s = new CosineAnnealingWarmRestarts(opt, t0: 10, etaMin: 0.001);
        var lrs = Trace(opt, s.Step, 25);
        for (int e = 0; e <= 25; e++) Close(0.001 + (0.1 - 0.001) * (1 + Math.Cos(Math.PI * (e % 10) / 10)) / 2, lrs[e]);

        var opt2 = Opt(1.0);
        var s2 = new CosineAnnealingWarmRestarts(opt2, t0: 10, tMult: 2);
        var l2 = Trace(opt2, s2.Step, 70);
        Assert.Equal(1.0, l2[10]);   // restart after 10
        Assert.Equal(1.0, l2[30]);   // then after 20 more
        Assert.Equal(1.0, l2[70]);   // then after 40 more
        Close((1 + Math.Cos(Math.PI * 5 / 20)) / 2, l2[15]);
        Assert.Equal(80, s2.Ti);     // the restart at 70 began a period of 80

        // A fractional epoch (per-batch stepping): 12.5 is 2.5 into the second period of 20.
        s2.Step(12.5);
        Assert.Equal(2.5, s2.TCur);
        Assert.Equal(20, s2.Ti);
        Assert.Equal(12, s2.LastEpoch);
        Close((1 + Math.Cos(Math.PI * 2.5 / 20)) / 2, opt2.ParamGroups[0].Lr);
        s2.Step();
        Assert.Equal(3.5, s2.TCur);
        Assert.Equal(13, s2.LastEpoch);
        Assert.Equal("epoch", Assert.Throws<ArgumentOutOfRangeException>(() => s2.Step(-1.0)).ParamName);
        Assert.Equal("tMult", Assert.Throws<ArgumentOutOfRangeException>(() => new CosineAnnealingWarmRestarts(opt2, 10, 0)).ParamName);
    }

    [Fact]
    public void RefusedSchedulersChangeNothing()
    {
        // Each is refused before the base constructor records the groups' initial_lr or a cycle writes the momentum.
        var opt = new Sgd([Tensor.Zeros(1).RequiresGrad_()], lr: 0.05, momentum: 0.9);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MultiStepLR(opt, [-1]));
        Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [new StepLR(Opt(), 1)], []));
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new OneCycleLR(opt, 0.1, totalSteps: 10, pctStart: 0.1));
        Assert.Equal("pctStart", ex.ParamName);
        Assert.Contains("leaves a phase of the cycle empty", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new OneCycleLR(opt, 0.1, totalSteps: 10, pctStart: 1.0));
        Assert.Equal("baseMomentum", Assert.Throws<ArgumentOutOfRangeException>(() => new OneCycleLR(opt, 0.1, 10, baseMomentum: -0.1)).ParamName);
        Assert.Null(opt.ParamGroups[0].InitialLr);
        Assert.Equal(0.9, ((SgdOptions)opt.ParamGroups[0].Options).Momentum);
        Assert.Equal(0.05, opt.ParamGroups[0].Lr);

        var adam = new Adam([Tensor.Zeros(1).RequiresGrad_()], lr: 0.1);
        var mx = Assert.Throws<ArgumentOutOfRangeException>(() => new OneCycleLR(adam, 0.01, 100, maxMomentum: 1.0));
        Assert.Equal("maxMomentum", mx.ParamName);
        Assert.Contains("beta1, which must be in [0, 1)", mx.Message);
        Assert.Equal(0.9, ((AdamOptions)adam.ParamGroups[0].Options).Beta1);
        Assert.Equal("power", Assert.Throws<ArgumentOutOfRangeException>(() => new PolynomialLR(Opt(), totalIters: 2, power: -1)).ParamName);
    }

    [Fact]
    public void SequentialLRTakesANestedSequentialOnlyFirstAndDoesNotMoveOnARefusedStep()
    {
        var opt = Opt(1.0);
        var inner = new SequentialLR(opt, [new ConstantLR(opt, 0.5, 2), new ExponentialLR(opt, 0.9)], [2]);
        var ex = Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [new StepLR(opt, 10), inner], [3]));
        Assert.Contains("schedulers[1] is a SequentialLR", ex.Message);

        var opt2 = Opt(1.0);
        var s = new SequentialLR(opt2, [new OneCycleLR(opt2, 0.1, 4, cycleMomentum: false), new ExponentialLR(opt2, 0.9)], [6]);
        for (int i = 0; i < 4; i++) s.Step();
        double lr = opt2.ParamGroups[0].Lr;
        Assert.Throws<InvalidOperationException>(() => s.Step());
        Assert.Equal(4, s.LastEpoch);
        Assert.Equal(4, s.Schedulers[0].LastEpoch);
        Assert.Equal(lr, opt2.ParamGroups[0].Lr);
    }

    [Fact]
    public void CosineAnnealingWarmRestartsResumesWithStepAtTheEpochReached()
    {
        var full = Opt(0.1);
        var fs = new CosineAnnealingWarmRestarts(full, t0: 10);
        var expected = Trace(full, fs.Step, 27);
        var resumed = Opt(0.1);
        var rs = new CosineAnnealingWarmRestarts(resumed, t0: 10);
        rs.Step(25.0);
        Assert.Equal(5, rs.TCur);
        Assert.Equal(expected[25], resumed.ParamGroups[0].Lr);
        rs.Step(); rs.Step();
        Assert.Equal(7, rs.TCur);
        Assert.Equal(expected[27], resumed.ParamGroups[0].Lr);
    }

    [Fact]
    public void AStepPastIntMaxValueIsRefusedAndChangesNothing()
    {
        var opt = Opt(0.1);
        var s = new ExponentialLR(opt, 0.5) { LastEpoch = int.MaxValue - 1 };
        s.Step();
        Assert.Equal(int.MaxValue, s.LastEpoch);
        double lr = opt.ParamGroups[0].Lr;
        var e = Assert.Throws<InvalidOperationException>(s.Step);
        Assert.Contains("int.MaxValue", e.Message);
        Assert.Equal(int.MaxValue, s.LastEpoch);
        Assert.Equal(lr, opt.ParamGroups[0].Lr);

        // The composite schedulers refuse before stepping any of theirs.
        var opt2 = Opt(0.1);
        var inner = new StepLR(opt2, 3);
        var chain = new ChainedScheduler([inner]) { LastEpoch = int.MaxValue };
        Assert.Throws<InvalidOperationException>(chain.Step);
        Assert.Equal(0, inner.LastEpoch);
        var opt3 = Opt(0.1);
        var first = new ConstantLR(opt3, 0.5, 2);
        var seq = new SequentialLR(opt3, [first, new ExponentialLR(opt3, 0.9)], [2]) { LastEpoch = int.MaxValue };
        int firstEpoch = first.LastEpoch;
        Assert.Throws<InvalidOperationException>(seq.Step);
        Assert.Equal(int.MaxValue, seq.LastEpoch);
        Assert.Equal(firstEpoch, first.LastEpoch);

        // The schedulers with their own Step: CosineAnnealingWarmRestarts (and its epoch form) and ReduceLROnPlateau.
        var opt4 = Opt(0.1);
        var warm = new CosineAnnealingWarmRestarts(opt4, 10) { LastEpoch = int.MaxValue };
        double tCur = warm.TCur;
        Assert.Throws<InvalidOperationException>(warm.Step);
        Assert.Equal(int.MaxValue, warm.LastEpoch);
        Assert.Equal(tCur, warm.TCur);
        Assert.Equal("epoch", Assert.Throws<ArgumentOutOfRangeException>(() => warm.Step(3e9)).ParamName);
        warm.Step(int.MaxValue + 0.5);
        Assert.Equal(int.MaxValue, warm.LastEpoch);
        var plateau = new ReduceLROnPlateau(Opt(0.1)) { LastEpoch = int.MaxValue };
        Assert.Throws<InvalidOperationException>(() => plateau.Step(1.0));
        Assert.Equal(int.MaxValue, plateau.LastEpoch);
    }
}
