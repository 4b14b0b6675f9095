// CyclicLR: the cyclical learning-rate policy (Smith, "Cyclical Learning Rates for Training Neural Networks"), in
// PyTorch's closed form so the rates are the doubles PyTorch computes: the cycle and the position in it from the
// step count, a triangle between the base and the peak, and a scale per cycle or per step.
namespace Recurrent.Optim;

/// <summary>The built-in amplitude policies of <see cref="CyclicLR"/>.</summary>
public enum CyclicMode
{
    /// <summary>The same triangle every cycle (PyTorch's <c>'triangular'</c>, the default).</summary>
    Triangular,
    /// <summary>The triangle's height halves every cycle (<c>'triangular2'</c>).</summary>
    Triangular2,
    /// <summary>The height is scaled by <c>gamma</c> to the power of the step count (<c>'exp_range'</c>).</summary>
    ExpRange,
}

/// <summary>What a custom <see cref="CyclicLR"/> scale function is given.</summary>
public enum CyclicScaleMode
{
    /// <summary>The cycle number, from 1 (PyTorch's <c>'cycle'</c>, the default).</summary>
    Cycle,
    /// <summary>The step count (<c>'iterations'</c>).</summary>
    Iterations,
}

/// <summary>
/// Cycles each group's learning rate between a base and a peak, as <c>torch.optim.lr_scheduler.CyclicLR</c>: up over
/// <see cref="StepSizeUp"/> steps, down over <see cref="StepSizeDown"/>, with the height kept
/// (<see cref="CyclicMode.Triangular"/>), halved each cycle (<see cref="CyclicMode.Triangular2"/>), scaled by
/// <c>gamma^step</c> (<see cref="CyclicMode.ExpRange"/>) or by a function of yours. The momentum (SGD's and RMSprop's
/// <c>Momentum</c>, Adam's <c>Beta1</c>) cycles the opposite way unless <c>cycleMomentum: false</c>. The constructor
/// sets every group's learning rate to its base. Call <see cref="LrScheduler.Step"/> after every batch.
/// </summary>
public sealed class CyclicLR : LrScheduler
{
    private readonly double[] _maxLrs;
    private readonly double _totalSize, _stepRatio;
    private readonly Func<double, double> _scaleFn;
    private readonly double _baseMomentum, _maxMomentum;   // one pair for every group, as OneCycleLR

    /// <summary>Creates the schedule with one base and one peak learning rate for every group.</summary>
    /// <param name="optimizer">The optimizer whose learning rates cycle.</param>
    /// <param name="baseLr">The lower bound, where each cycle starts.</param>
    /// <param name="maxLr">The upper bound (reached when the scale is 1).</param>
    /// <param name="stepSizeUp">Steps in the rising half of a cycle (1 or more).</param>
    /// <param name="stepSizeDown">Steps in the falling half (0 or more); null for <paramref name="stepSizeUp"/>.</param>
    /// <param name="mode">The amplitude policy; ignored when <paramref name="scaleFn"/> is given.</param>
    /// <param name="gamma">The base of <see cref="CyclicMode.ExpRange"/>'s scale (there a finite number > 0).</param>
    /// <param name="scaleFn">A custom scale, in [0, 1], of the cycle number or the step count (<paramref name="scaleMode"/>).</param>
    /// <param name="scaleMode">What <paramref name="scaleFn"/> is given; the built-in modes set their own.</param>
    /// <param name="cycleMomentum">Whether the momentum (or Adam's beta1) cycles inversely to the learning rate.</param>
    /// <param name="baseMomentum">The momentum at the peak learning rate.</param>
    /// <param name="maxMomentum">The momentum at the base learning rate, set by the constructor.</param>
    public CyclicLR(Optimizer optimizer, double baseLr, double maxLr, int stepSizeUp = 2000, int? stepSizeDown = null,
        CyclicMode mode = CyclicMode.Triangular, double gamma = 1.0, Func<double, double>? scaleFn = null,
        CyclicScaleMode scaleMode = CyclicScaleMode.Cycle, bool cycleMomentum = true, double baseMomentum = 0.8, double maxMomentum = 0.9)
        : this(optimizer, SameRate(optimizer, baseLr, nameof(baseLr)), SameRate(optimizer, maxLr, nameof(maxLr)), stepSizeUp, stepSizeDown,
            mode, gamma, scaleFn, scaleMode, cycleMomentum, baseMomentum, maxMomentum) { }

    /// <summary>Creates the schedule with a base and a peak learning rate per param group (see the other constructor).</summary>
    public CyclicLR(Optimizer optimizer, IReadOnlyList<double> baseLrs, IReadOnlyList<double> maxLrs, int stepSizeUp = 2000, int? stepSizeDown = null,
        CyclicMode mode = CyclicMode.Triangular, double gamma = 1.0, Func<double, double>? scaleFn = null,
        CyclicScaleMode scaleMode = CyclicScaleMode.Cycle, bool cycleMomentum = true, double baseMomentum = 0.8, double maxMomentum = 0.9)
        : this(optimizer, PerGroupRates(optimizer, baseLrs, nameof(baseLrs)), PerGroupRates(optimizer, maxLrs, nameof(maxLrs)), stepSizeUp, stepSizeDown,
            mode, gamma, scaleFn, scaleMode, cycleMomentum, baseMomentum, maxMomentum) { }

    private CyclicLR(Optimizer optimizer, double[] baseLrs, double[] maxLrs, int stepSizeUp, int? stepSizeDown, CyclicMode mode, double gamma,
        Func<double, double>? scaleFn, CyclicScaleMode scaleMode, bool cycleMomentum, double baseMomentum, double maxMomentum)
        : base(Validate(optimizer, baseLrs, stepSizeUp, stepSizeDown, mode, gamma, scaleFn is null, scaleMode, cycleMomentum, baseMomentum, maxMomentum), initialStep: false)
    {
        StepSizeUp = stepSizeUp;
        StepSizeDown = stepSizeDown ?? stepSizeUp;
        _totalSize = (double)StepSizeUp + StepSizeDown;
        _stepRatio = StepSizeUp / _totalSize;
        Mode = mode;
        Gamma = gamma;
        (_scaleFn, ScaleMode) = scaleFn is not null ? (scaleFn, scaleMode) : mode switch
        {
            CyclicMode.Triangular => (_ => 1.0, CyclicScaleMode.Cycle),
            CyclicMode.Triangular2 => (x => 1 / Math.Pow(2.0, x - 1), CyclicScaleMode.Cycle),
            _ => ((Func<double, double>)(x => Math.Pow(gamma, x)), CyclicScaleMode.Iterations),
        };
        _maxLrs = maxLrs;
        CycleMomentum = cycleMomentum;
        _baseMomentum = baseMomentum;
        _maxMomentum = maxMomentum;
        if (cycleMomentum)
            foreach (var g in optimizer.ParamGroups) SetMomentum(g, maxMomentum);
        // As PyTorch: the initial step starts from the groups' initial_lr (the base rate, unless an earlier scheduler
        // or a loaded optimizer state set one), and only the steps after it from the given base rates.
        InitialStep();
        BaseLrs = baseLrs;
    }

    // Checked before the base constructor, which sets the groups' initial_lr; the groups' rates become the base
    // rates only once everything passed (PyTorch sets them first, so its initial_lr is the base rate on a fresh group).
    private static Optimizer Validate(Optimizer optimizer, double[] baseLrs, int stepSizeUp, int? stepSizeDown, CyclicMode mode, double gamma,
        bool builtInScale, CyclicScaleMode scaleMode, bool cycleMomentum, double baseMomentum, double maxMomentum)
    {
        Checked(stepSizeUp, stepSizeUp >= 1, nameof(stepSizeUp), "must be a positive number of steps");
        if (stepSizeDown is { } down) Checked(down, down >= 0, nameof(stepSizeDown), "must be zero or more steps");
        Checked(mode, Enum.IsDefined(mode), nameof(mode), "must be Triangular, Triangular2 or ExpRange");
        if (builtInScale && mode == CyclicMode.ExpRange)
            Checked(gamma, gamma > 0 && double.IsFinite(gamma), nameof(gamma), "must be a finite number > 0");
        Checked(scaleMode, Enum.IsDefined(scaleMode), nameof(scaleMode), "must be Cycle or Iterations");
        if (cycleMomentum) CheckMomentumCycle(optimizer, baseMomentum, maxMomentum);
        for (int i = 0; i < baseLrs.Length; i++) optimizer.ParamGroups[i].Lr = baseLrs[i];
        return optimizer;
    }

    /// <summary>Steps in the rising half of a cycle.</summary>
    public int StepSizeUp { get; }
    /// <summary>Steps in the falling half of a cycle.</summary>
    public int StepSizeDown { get; }
    /// <summary>The amplitude policy (unused when a scale function was given).</summary>
    public CyclicMode Mode { get; }
    /// <summary>The base of <see cref="CyclicMode.ExpRange"/>'s scale.</summary>
    public double Gamma { get; }
    /// <summary>What the scale function is given: the cycle number or the step count.</summary>
    public CyclicScaleMode ScaleMode { get; }
    /// <summary>Whether the momentum (or Adam's beta1) cycles inversely to the learning rate.</summary>
    public bool CycleMomentum { get; }
    /// <summary>The upper bounds of the groups' learning rates.</summary>
    public IReadOnlyList<double> MaxLrs => _maxLrs;

    /// <inheritdoc/>
    protected override double[] ComputeLrs()
    {
        double cycle = Math.Floor(1 + LastEpoch / _totalSize);
        double x = 1.0 + LastEpoch / _totalSize - cycle;
        double scaleFactor = x <= _stepRatio ? x / _stepRatio : (x - 1) / (_stepRatio - 1);
        double scale = _scaleFn(ScaleMode == CyclicScaleMode.Cycle ? cycle : LastEpoch);
        var groups = Optimizer.ParamGroups;
        int n = Math.Min(Math.Min(BaseLrs.Count, _maxLrs.Length), groups.Count);
        var lrs = new double[n];
        for (int i = 0; i < n; i++) lrs[i] = BaseLrs[i] + (_maxLrs[i] - BaseLrs[i]) * scaleFactor * scale;
        if (CycleMomentum)
        {
            double momentum = _maxMomentum - (_maxMomentum - _baseMomentum) * scaleFactor * scale;
            for (int i = 0; i < Math.Min(_maxLrs.Length, groups.Count); i++) SetMomentum(groups[i], momentum);
        }
        return lrs;
    }
}
