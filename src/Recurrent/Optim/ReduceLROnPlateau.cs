// ReduceLROnPlateau: steps on a metric (a validation loss) instead of an epoch count, so it is not an LrScheduler;
// the comparisons, counters and the eps rule are PyTorch's.
namespace Recurrent.Optim;

/// <summary>Whether a smaller (<see cref="Min"/>) or a larger (<see cref="Max"/>) metric is an improvement.</summary>
public enum PlateauMode
{
    /// <summary>A smaller metric is better (a loss).</summary>
    Min,
    /// <summary>A larger metric is better (an accuracy).</summary>
    Max,
}

/// <summary>How <see cref="ReduceLROnPlateau.Threshold"/> measures a significant improvement.</summary>
public enum ThresholdMode
{
    /// <summary>Relative: better than <c>best * (1 - threshold)</c> (min) or <c>best * (1 + threshold)</c> (max).</summary>
    Rel,
    /// <summary>Absolute: better than <c>best - threshold</c> (min) or <c>best + threshold</c> (max).</summary>
    Abs,
}

/// <summary>
/// Reduces the learning rate by <see cref="Factor"/> when a metric has not improved for more than
/// <see cref="Patience"/> epochs, as <c>torch.optim.lr_scheduler.ReduceLROnPlateau</c>. Call <see cref="Step(double)"/>
/// once per evaluation with the metric.
/// </summary>
public sealed class ReduceLROnPlateau : ILrScheduler
{
    private double[] _minLrs;
    private readonly double? _defaultMinLr;
    private double[] _lastLr;

    /// <summary>Creates the scheduler with one minimum learning rate for every group.</summary>
    public ReduceLROnPlateau(Optimizer optimizer, PlateauMode mode = PlateauMode.Min, double factor = 0.1, int patience = 10,
        double threshold = 1e-4, ThresholdMode thresholdMode = ThresholdMode.Rel, int cooldown = 0, double minLr = 0, double eps = 1e-8)
        : this(optimizer, mode, factor, patience, threshold, thresholdMode, cooldown, null, minLr, eps) { }

    /// <summary>Creates the scheduler with a minimum learning rate per param group.</summary>
    public ReduceLROnPlateau(Optimizer optimizer, IReadOnlyList<double> minLrs, PlateauMode mode = PlateauMode.Min, double factor = 0.1,
        int patience = 10, double threshold = 1e-4, ThresholdMode thresholdMode = ThresholdMode.Rel, int cooldown = 0, double eps = 1e-8)
        : this(optimizer, mode, factor, patience, threshold, thresholdMode, cooldown, minLrs ?? throw new ArgumentNullException(nameof(minLrs)), 0, eps) { }

    private ReduceLROnPlateau(Optimizer optimizer, PlateauMode mode, double factor, int patience, double threshold,
        ThresholdMode thresholdMode, int cooldown, IReadOnlyList<double>? minLrs, double minLr, double eps)
    {
        Guard.NotNull(optimizer, nameof(optimizer));
        if (!(factor < 1.0)) throw new ArgumentOutOfRangeException(nameof(factor), factor, $"Factor should be < 1.0, but got {factor}");
        Guard.NonNegative(patience, nameof(patience));
        Guard.NonNegative(cooldown, nameof(cooldown));
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, $"mode must be Min or Max, but got {mode}");
        if (!Enum.IsDefined(thresholdMode)) throw new ArgumentOutOfRangeException(nameof(thresholdMode), thresholdMode, $"thresholdMode must be Rel or Abs, but got {thresholdMode}");
        int groups = optimizer.ParamGroups.Count;
        if (minLrs is not null)
        {
            if (minLrs.Count != groups)
                throw new ArgumentException($"expected {groups} min_lrs (one per param group), got {minLrs.Count}", nameof(minLrs));
            _minLrs = minLrs.ToArray();
            _defaultMinLr = null;
        }
        else
        {
            _minLrs = Enumerable.Repeat(minLr, groups).ToArray();
            _defaultMinLr = minLr;
        }
        Optimizer = optimizer;
        Mode = mode;
        Factor = factor;
        Patience = patience;
        Threshold = threshold;
        ThresholdMode = thresholdMode;
        Cooldown = cooldown;
        Eps = eps;
        _lastLr = optimizer.ParamGroups.Select(g => g.Lr).ToArray();
        Best = mode == PlateauMode.Min ? double.PositiveInfinity : double.NegativeInfinity;
    }

    /// <summary>The optimizer whose learning rates are reduced.</summary>
    public Optimizer Optimizer { get; }
    /// <summary>Whether a smaller or a larger metric is better.</summary>
    public PlateauMode Mode { get; }
    /// <summary>New learning rate = old * factor (below 1).</summary>
    public double Factor { get; }
    /// <summary>Epochs without improvement allowed before a reduction.</summary>
    public int Patience { get; }
    /// <summary>The margin a metric must beat the best by to count as an improvement.</summary>
    public double Threshold { get; }
    /// <summary>Whether <see cref="Threshold"/> is relative or absolute.</summary>
    public ThresholdMode ThresholdMode { get; }
    /// <summary>Epochs after a reduction during which bad epochs are not counted.</summary>
    public int Cooldown { get; }
    /// <summary>A reduction smaller than this is not applied.</summary>
    public double Eps { get; }
    /// <summary>The lower bounds of the groups' learning rates.</summary>
    public IReadOnlyList<double> MinLrs => _minLrs;

    /// <summary>The best metric seen (PyTorch's <c>best</c>); settable to resume.</summary>
    public double Best { get; set; }
    /// <summary>Consecutive epochs without improvement (PyTorch's <c>num_bad_epochs</c>); settable to resume.</summary>
    public int NumBadEpochs { get; set { Guard.NonNegative(value, nameof(NumBadEpochs)); field = value; } }
    /// <summary>Epochs of cooldown left (PyTorch's <c>cooldown_counter</c>); settable to resume.</summary>
    public int CooldownCounter { get; set { Guard.NonNegative(value, nameof(CooldownCounter)); field = value; } }
    /// <summary>Number of <see cref="Step(double)"/> calls (PyTorch's <c>last_epoch</c>); settable to resume.</summary>
    public int LastEpoch { get; set; }
    /// <summary>True while bad epochs are not counted after a reduction.</summary>
    public bool InCooldown => CooldownCounter > 0;

    /// <summary>The groups' learning rates after the last step, as <c>get_last_lr()</c>.</summary>
    public double[] GetLastLr() => (double[])_lastLr.Clone();

    /// <summary>
    /// Records one evaluation's metric and reduces the learning rates if it has not improved for more than
    /// <see cref="Patience"/> epochs, as <c>scheduler.step(metrics)</c>. A NaN metric is never an improvement.
    /// </summary>
    public void Step(double metric)
    {
        LrScheduler.CheckCanAdvance(LastEpoch, nameof(ReduceLROnPlateau));
        LastEpoch++;
        if (IsBetter(metric, Best))
        {
            Best = metric;
            NumBadEpochs = 0;
        }
        else
        {
            NumBadEpochs++;
        }
        if (InCooldown)
        {
            CooldownCounter--;
            NumBadEpochs = 0;
        }
        if (NumBadEpochs > Patience)
        {
            ReduceLr();
            CooldownCounter = Cooldown;
            NumBadEpochs = 0;
        }
        _lastLr = Optimizer.ParamGroups.Select(g => g.Lr).ToArray();
    }

    /// <inheritdoc/>
    /// <remarks>The keys are <c>last_epoch</c>, <c>best</c>, <c>num_bad_epochs</c>, <c>cooldown_counter</c>, <c>min_lrs</c> and <c>_last_lr</c>.</remarks>
    public Dictionary<string, Tensor> StateDict() => new(StringComparer.Ordinal)
    {
        ["last_epoch"] = SchedulerStateReader.Scalar(LastEpoch),
        ["best"] = SchedulerStateReader.Scalar(Best),
        ["num_bad_epochs"] = SchedulerStateReader.Scalar(NumBadEpochs),
        ["cooldown_counter"] = SchedulerStateReader.Scalar(CooldownCounter),
        ["min_lrs"] = SchedulerStateReader.Vector(_minLrs),
        ["_last_lr"] = SchedulerStateReader.Vector(_lastLr),
    };

    /// <inheritdoc/>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict) => ((ILrScheduler)this).PrepareLoad(stateDict)();

    Action ILrScheduler.PrepareLoad(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        Guard.NotNull(stateDict, nameof(stateDict));
        var reader = new SchedulerStateReader(stateDict, nameof(ReduceLROnPlateau));
        int groups = Optimizer.ParamGroups.Count;
        int lastEpoch = reader.Int("last_epoch");
        double best = reader.Double("best", finite: false);
        int numBadEpochs = reader.Int("num_bad_epochs", min: 0);
        int cooldownCounter = reader.Int("cooldown_counter", min: 0);
        double[] minLrs = reader.Rates("min_lrs", groups, exact: _defaultMinLr is null);
        double[] lastLr = reader.Rates("_last_lr", groups, exact: false);
        reader.ThrowOnUnread();
        return () => (LastEpoch, Best, NumBadEpochs, CooldownCounter, _minLrs, _lastLr) = (lastEpoch, best, numBadEpochs, cooldownCounter, minLrs, lastLr);
    }

    /// <summary>As <see cref="Step(double)"/> with the value of a one-element tensor (a loss from <c>loss.Item</c>'s tensor).</summary>
    public void Step(Tensor metric)
    {
        Guard.NotNull(metric, nameof(metric));
        if (metric.Numel != 1)
            throw new ArgumentException($"metric must have one element, but got a tensor of shape {metric.Shape}", nameof(metric));
        Step(metric.ToDouble());
    }

    private void ReduceLr()
    {
        var groups = Optimizer.ParamGroups;
        if (groups.Count != _minLrs.Length)
        {
            if (_defaultMinLr is null)
                throw new InvalidOperationException($"The number of param groups in the optimizer ({groups.Count}) differs from when ReduceLROnPlateau was created ({_minLrs.Length}); create it again with one min_lr per group.");
            _minLrs = Enumerable.Repeat(_defaultMinLr.Value, groups.Count).ToArray();
        }
        for (int i = 0; i < groups.Count; i++)
        {
            double oldLr = groups[i].Lr;
            double newLr = Math.Max(oldLr * Factor, _minLrs[i]);
            if (oldLr - newLr > Eps) groups[i].Lr = newLr;
        }
    }

    private bool IsBetter(double a, double best) => (Mode, ThresholdMode) switch
    {
        (PlateauMode.Min, ThresholdMode.Rel) => a < best * (1.0 - Threshold),
        (PlateauMode.Min, ThresholdMode.Abs) => a < best - Threshold,
        (PlateauMode.Max, ThresholdMode.Rel) => a > best * (Threshold + 1.0),
        _ => a > best + Threshold,
    };
}
