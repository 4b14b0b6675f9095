// Schedulers' state dicts: a run interrupted, saved (through safetensors bytes) and resumed in fresh objects goes on with
// the same learning rates, bit for bit, as the run that never stopped, for every scheduler; a state dict with a missing,
// unknown or out-of-range entry is refused by name and changes nothing.
using Recurrent.IO;
using Recurrent.Optim;

namespace Recurrent.Tests.Optim;

public class LrSchedulerStateTests
{
    /// <summary>Adam over two groups (lr 0.1 and 0.05), so every per-group vector has two entries.</summary>
    private static Adam Opt()
    {
        var opt = new Adam([Tensor.Zeros(1).RequiresGrad_()], lr: 0.1);
        opt.AddParamGroup([Tensor.Zeros(1).RequiresGrad_()], o => o.Lr = 0.05);
        return opt;
    }

    // A loss that improves for six evaluations, then stalls, so ReduceLROnPlateau reduces on both sides of the save.
    private static double Metric(int e) => e < 6 ? 1.0 / (e + 1) : 0.15 + 0.001 * (e % 2);

    public static TheoryData<string> Kinds => new(
        "StepLR", "ExponentialLR", "MultiStepLR", "ConstantLR", "LinearLR", "PolynomialLR", "CosineAnnealingLR", "LambdaLR",
        "MultiplicativeLR", "OneCycleLR", "CyclicLR", "CosineAnnealingWarmRestarts", "SequentialLR", "NestedSequentialLR", "ChainedScheduler",
        "ReduceLROnPlateau");

    private static ILrScheduler Make(string kind, Adam opt) => kind switch
    {
        "StepLR" => new StepLR(opt, stepSize: 4, gamma: 0.5),
        "ExponentialLR" => new ExponentialLR(opt, 0.9),
        "MultiStepLR" => new MultiStepLR(opt, [3, 9, 14], gamma: 0.3),
        "ConstantLR" => new ConstantLR(opt, factor: 0.25, totalIters: 13),
        "LinearLR" => new LinearLR(opt, startFactor: 0.1, endFactor: 1.0, totalIters: 17),
        "PolynomialLR" => new PolynomialLR(opt, totalIters: 20, power: 2.0),
        "CosineAnnealingLR" => new CosineAnnealingLR(opt, tMax: 7, etaMin: 0.001),
        "LambdaLR" => new LambdaLR(opt, [e => 1.0 / (e + 1), e => Math.Pow(0.95, e)]),
        "MultiplicativeLR" => new MultiplicativeLR(opt, e => 0.97),
        "OneCycleLR" => new OneCycleLR(opt, maxLr: 0.5, totalSteps: 30),
        "CyclicLR" => new CyclicLR(opt, [0.01, 0.02], [0.1, 0.3], stepSizeUp: 4, stepSizeDown: 3, mode: CyclicMode.Triangular2),
        "CosineAnnealingWarmRestarts" => new CosineAnnealingWarmRestarts(opt, t0: 3, tMult: 2, etaMin: 0.002),
        "SequentialLR" => new SequentialLR(opt, [new LinearLR(opt, 0.2, 1.0, 5), new StepLR(opt, 3, 0.5), new ExponentialLR(opt, 0.8)], [5, 15]),
        // The inner SequentialLR's ExponentialLR sits at epoch -2 until its milestone (PyTorch's recursive undo, twice).
        "NestedSequentialLR" => new SequentialLR(opt, [new SequentialLR(opt, [new ConstantLR(opt, 0.5, 6), new ExponentialLR(opt, 0.9)], [4]),
            new StepLR(opt, 3, 0.5)], [9]),
        "ChainedScheduler" => new ChainedScheduler([new ConstantLR(opt, 0.5, 12), new ExponentialLR(opt, 0.9)]),
        "ReduceLROnPlateau" => new ReduceLROnPlateau(opt, factor: 0.5, patience: 2, cooldown: 1, minLr: 0.004),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static void Step(ILrScheduler s, int e)
    {
        if (s is ReduceLROnPlateau p) p.Step(Metric(e));
        else ((LrScheduler)s).Step();
    }

    private static Dictionary<string, Tensor> ThroughFile(Dictionary<string, Tensor> sd) =>
        TensorIO.ReadTensors(new MemoryStream(TensorIO.Serialize(sd)), out _);

    private static Dictionary<string, double[]> Values(ILrScheduler s) =>
        s.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Double().ToArray<double>());

    public static TheoryData<string, int> KindsAndSavePoints()
    {
        var data = new TheoryData<string, int>();
        // Early (inside warm-ups, before milestones) and late (ReduceLROnPlateau then has a bad epoch counted).
        foreach (string kind in Kinds) { data.Add(kind, 2); data.Add(kind, 12); }
        return data;
    }

    [Theory]
    [MemberData(nameof(KindsAndSavePoints))]
    public void AResumedSchedulerGoesOnAsTheOneThatNeverStopped(string kind, int saveAt)
    {
        const int total = 25;
        var refOpt = Opt();
        var reference = Make(kind, refOpt);
        var expected = new List<double[]>();
        for (int e = 0; e < total; e++)
        {
            Step(reference, e);
            expected.Add(refOpt.ParamGroups.Select(g => g.Lr).ToArray());
        }

        var opt = Opt();
        var first = Make(kind, opt);
        for (int e = 0; e < saveAt; e++) Step(first, e);
        var optimizerState = ThroughFile(opt.StateDict());
        var schedulerState = ThroughFile(first.StateDict());

        var resumedOpt = Opt();
        var resumed = Make(kind, resumedOpt);
        resumedOpt.LoadStateDict(optimizerState);
        resumed.LoadStateDict(schedulerState);
        Assert.Equal(first.GetLastLr(), resumed.GetLastLr());
        Assert.Equal(Values(first), Values(resumed));   // every key loaded, not only the ones the next steps read
        for (int e = saveAt; e < total; e++)
        {
            Step(resumed, e);
            Assert.Equal(expected[e], resumedOpt.ParamGroups.Select(g => g.Lr).ToArray());
        }
        Assert.Equal(reference.GetLastLr(), resumed.GetLastLr());
    }

    [Fact]
    public void TheKeysArePyTorchsNames()
    {
        var opt = Opt();
        Assert.Equal(["_last_lr", "base_lrs", "last_epoch"], new StepLR(opt, 3).StateDict().Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["T_cur", "T_i", "_last_lr", "base_lrs", "last_epoch"],
            new CosineAnnealingWarmRestarts(Opt(), 3).StateDict().Keys.Order(StringComparer.Ordinal));
        var seq = new SequentialLR(opt, [new ConstantLR(opt, 0.5, 2), new ExponentialLR(opt, 0.9)], [2]);
        Assert.Contains("_schedulers.1.last_epoch", seq.StateDict().Keys);
        var sd = seq.StateDict();
        Assert.Equal(DType.Int64, sd["last_epoch"].DType);
        Assert.Equal(DType.Float64, sd["base_lrs"].DType);
        Assert.Equal([0.1, 0.05], sd["base_lrs"].ToArray<double>());
        Assert.Equal(["_last_lr", "best", "cooldown_counter", "last_epoch", "min_lrs", "num_bad_epochs"],
            new ReduceLROnPlateau(Opt()).StateDict().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ABadStateDictIsRefusedByNameAndChangesNothing()
    {
        var opt = Opt();
        var s = new StepLR(opt, stepSize: 2, gamma: 0.5);
        for (int i = 0; i < 3; i++) s.Step();
        var good = s.StateDict();
        var fresh = new StepLR(Opt(), stepSize: 2, gamma: 0.5);
        double[] lastLr = fresh.GetLastLr();

        ArgumentException Refused(Dictionary<string, Tensor> sd)
        {
            var e = Assert.Throws<ArgumentException>(() => fresh.LoadStateDict(sd));
            Assert.Equal("stateDict", e.ParamName);
            Assert.Equal(0, fresh.LastEpoch);
            Assert.Equal(lastLr, fresh.GetLastLr());
            return e;
        }

        Dictionary<string, Tensor> With(string key, Tensor? value)
        {
            var sd = new Dictionary<string, Tensor>(good);
            if (value is null) sd.Remove(key); else sd[key] = value;
            return sd;
        }

        Assert.Contains("StepLR state dict has no \"base_lrs\"", Refused(With("base_lrs", null)).Message);
        Assert.Contains("unexpected key \"gamma\"", Refused(With("gamma", Tensor.Scalar(0.5, DType.Float64))).Message);
        Assert.Contains("\"last_epoch\" must be a whole number in [-2147483648, 2147483647], but got 1.5",
            Refused(With("last_epoch", Tensor.Scalar(1.5, DType.Float64))).Message);
        Assert.Contains("\"last_epoch\" must be one number, but got shape [2]",
            Refused(With("last_epoch", Tensor.FromArray(new long[] { 1, 2 }, 2))).Message);
        Assert.Contains("\"base_lrs\" must be a vector of at most 2 learning rates (one per param group), but got shape [3]",
            Refused(With("base_lrs", Tensor.FromArray(new[] { 0.1, 0.1, 0.1 }, 3))).Message);
        Assert.Contains("\"_last_lr\" must be finite learning rates >= 0, but got nan",
            Refused(With("_last_lr", Tensor.FromArray(new[] { 0.1, double.NaN }, 2))).Message);

        fresh.LoadStateDict(good);
        Assert.Equal(3, fresh.LastEpoch);
        Assert.Equal(s.GetLastLr(), fresh.GetLastLr());

        // A chain checks its schedulers' keys before any of them changes.
        var chainOpt = Opt();
        var chain = new ChainedScheduler([new ConstantLR(chainOpt, 0.5, 4), new ExponentialLR(chainOpt, 0.9)]);
        var sd = chain.StateDict();
        sd["_schedulers.1.last_epoch"] = Tensor.Scalar(2.5, DType.Float64);
        sd["_schedulers.0.last_epoch"] = Tensor.Scalar(7, DType.Int64);
        var ce = Assert.Throws<ArgumentException>(() => chain.LoadStateDict(sd));
        Assert.Contains("\"_schedulers.1.last_epoch\" must be a whole number in [-2147483648, 2147483647], but got 2.5", ce.Message);
        Assert.Equal(0, chain.Schedulers[0].LastEpoch);

        var warm = new CosineAnnealingWarmRestarts(Opt(), 3);
        var wsd = warm.StateDict();
        wsd["T_i"] = Tensor.Scalar(0, DType.Int64);
        Assert.Contains("\"T_i\" must be a whole number in [1,", Assert.Throws<ArgumentException>(() => warm.LoadStateDict(wsd)).Message);

        var plateau = new ReduceLROnPlateau(Opt());
        var psd = plateau.StateDict();
        Assert.Equal(double.PositiveInfinity, psd["best"].ToDouble());
        psd["best"] = Tensor.FromArray(new[] { 0.1, 0.2 }, 2);
        Assert.Contains("\"best\" must be one number, but got shape [2]", Assert.Throws<ArgumentException>(() => plateau.LoadStateDict(psd)).Message);
        psd["cooldown_counter"] = Tensor.Scalar(-1, DType.Int64);
        psd["best"] = Tensor.Scalar(0.25, DType.Float64);
        Assert.Contains("\"cooldown_counter\" must be a whole number in [0,", Assert.Throws<ArgumentException>(() => plateau.LoadStateDict(psd)).Message);
        Assert.Equal(double.PositiveInfinity, plateau.Best);
        psd["cooldown_counter"] = Tensor.Scalar(0, DType.Int64);
        psd["num_bad_epochs"] = Tensor.Scalar(3, DType.Int64);
        plateau.LoadStateDict(psd);
        Assert.Equal((0.25, 3), (plateau.Best, plateau.NumBadEpochs));
        Assert.Throws<ArgumentNullException>(() => plateau.LoadStateDict(null!));
    }
}
