// Learning-rate schedulers, as torch.optim.lr_scheduler: a base that steps an epoch counter and rewrites each param
// group's lr, the chainable (multiplicative) schedulers in PyTorch's own recursive forms so the lr values are the
// doubles PyTorch computes, their closed forms where SequentialLR restarts one at a milestone, and ReduceLROnPlateau
// (in ReduceLROnPlateau.cs), which steps on a metric instead of an epoch.
namespace Recurrent.Optim;

/// <summary>
/// Base of the schedulers, as <c>torch.optim.lr_scheduler.LRScheduler</c>. Construction performs PyTorch's initial
/// step (epoch 0); call <see cref="Step"/> once per epoch (or per batch, for schedules counted in batches) after
/// <c>optimizer.Step()</c>. Several schedulers on one optimizer chain, as in PyTorch: each multiplies the learning
/// rate the others left.
/// </summary>
public abstract class LrScheduler : ILrScheduler
{
    /// <summary>Remembers each group's initial learning rate and takes the initial step.</summary>
    protected LrScheduler(Optimizer optimizer) : this(optimizer, initialStep: true) { }

    private protected LrScheduler(Optimizer optimizer, bool initialStep)
    {
        Guard.NotNull(optimizer, nameof(optimizer));
        Optimizer = optimizer;
        // PyTorch's group.setdefault("initial_lr", group["lr"]): the first scheduler on a group fixes it, and every
        // later one (chained, or made after training started) takes the same base.
        foreach (var g in optimizer.ParamGroups) g.InitialLr ??= g.Lr;
        BaseLrs = optimizer.ParamGroups.Select(g => g.InitialLr!.Value).ToArray();
        LastEpoch = -1;
        optimizer.StepsTracked = true;
        if (initialStep) InitialStep();
    }

    /// <summary>The optimizer whose learning rates are scheduled.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The groups' <see cref="ParamGroup.InitialLr"/> (PyTorch's <c>base_lrs</c>): their learning rates when the first scheduler was attached.</summary>
    public IReadOnlyList<double> BaseLrs { get; private protected set; }

    /// <summary>Number of <see cref="Step"/> calls after the initial one (PyTorch's <c>last_epoch</c>); settable to resume.</summary>
    public int LastEpoch { get; set; }

    /// <summary>True while the constructor's initial step computes the learning rates (PyTorch's <c>_is_initial</c>).</summary>
    protected bool IsInitial { get; private set; }

    /// <summary>Advances one epoch and writes the new learning rates into the param groups, as <c>scheduler.step()</c>.</summary>
    public virtual void Step()
    {
        CheckCanAdvance();
        WarnIfBeforeOptimizerStep();
        LastEpoch++;
        double[] lrs;
        try { lrs = ComputeLrs(); }
        catch { LastEpoch--; throw; }   // a refused step (OneCycleLR past its total) changes nothing
        Apply(lrs);
    }

    /// <summary>Refuses a step past <see cref="int.MaxValue"/>, where <see cref="LastEpoch"/> would wrap to a negative epoch.</summary>
    private protected void CheckCanAdvance() => CheckCanAdvance(LastEpoch, GetType().Name);

    /// <summary>The check of <see cref="CheckCanAdvance()"/> for any scheduler's epoch count.</summary>
    internal static void CheckCanAdvance(int lastEpoch, string scheduler)
    {
        if (lastEpoch == int.MaxValue)
            throw new InvalidOperationException($"{scheduler}: LastEpoch is already {int.MaxValue} (int.MaxValue), the last epoch a scheduler counts; another Step() would wrap it to a negative epoch.");
    }

    // Steps taken, the constructor's included (PyTorch's _step_count): the first step after the constructor's is the
    // one that checks the order of the calls.
    private int _stepCount;

    /// <summary>
    /// PyTorch's UserWarning for the pre-1.1 order, <c>scheduler.Step()</c> before the first <c>optimizer.Step()</c>:
    /// raised on <see cref="Warnings.Raised"/> by a scheduler's first step after its constructor's when the optimizer
    /// has not stepped since a scheduler was attached to it. The rates are still computed as asked.
    /// </summary>
    private void WarnIfBeforeOptimizerStep()
    {
        if (_stepCount++ == 1 && !Optimizer.StepCalledWhileTracked)
            Warnings.Warn("Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and later, you should call them in the opposite order: `optimizer.step()` before `lr_scheduler.step()`.  Failure to do this will result in PyTorch skipping the first value of the learning rate schedule. See more details at https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate");
    }

    /// <summary>PyTorch's <c>_initial_step</c>: one step that chainable schedulers treat as "leave the rates as they are".</summary>
    internal void InitialStep()
    {
        _stepCount = 0;
        IsInitial = true;
        try { Step(); }
        finally { IsInitial = false; }
    }

    /// <summary>PyTorch's <c>_update_lr(0)</c>, which SequentialLR calls at a milestone: epoch 0 by the closed form where there is one.</summary>
    internal void RestartAtEpochZero()
    {
        int was = LastEpoch;
        LastEpoch = 0;
        double[] lrs;
        try { lrs = ClosedFormLrs() ?? ComputeLrs(); }
        catch { LastEpoch = was; throw; }
        Apply(lrs);
    }

    /// <summary>
    /// Takes back the constructor's step (PyTorch's <c>recursive_undo</c>, for a scheduler a SequentialLR takes over): a
    /// scheduler's own, a SequentialLR's or a ChainedScheduler's in each of its schedulers.
    /// </summary>
    internal void UndoInitialStep()
    {
        if (Children.Length == 0) LastEpoch--;
        else foreach (var s in Children) s.UndoInitialStep();
    }

    /// <summary>The schedulers a <see cref="SequentialLR"/> or a <see cref="ChainedScheduler"/> drives; none for the others.</summary>
    private protected virtual LrScheduler[] Children => [];

    private protected void Apply(double[] lrs)
    {
        var groups = Optimizer.ParamGroups;
        if (lrs.Length > groups.Count)
            throw new InvalidOperationException($"{GetType().Name} computed {lrs.Length} learning rates for an optimizer with {groups.Count} param groups");
        for (int i = 0; i < lrs.Length; i++) groups[i].Lr = lrs[i];
        SetLastLr(groups.Select(g => g.Lr).ToArray());
    }

    private protected void SetLastLr(double[] lrs) => _lastLr = lrs;

    private double[] _lastLr = [];

    /// <summary>
    /// The learning rates this scheduler set at its last step, as <c>get_last_lr()</c> (not the groups' current ones: a
    /// scheduler chained after it may have changed them since).
    /// </summary>
    public double[] GetLastLr() => (double[])_lastLr.Clone();

    /// <inheritdoc/>
    /// <remarks>
    /// The keys are <c>last_epoch</c>, <c>base_lrs</c> and <c>_last_lr</c>, plus <c>T_i</c> and <c>T_cur</c> for
    /// <see cref="CosineAnnealingWarmRestarts"/> and each scheduler's keys under <c>_schedulers.{i}.</c> for
    /// <see cref="SequentialLR"/> and <see cref="ChainedScheduler"/>. A subclass outside this library saves the base's
    /// keys only.
    /// </remarks>
    public Dictionary<string, Tensor> StateDict()
    {
        var sd = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        WriteState(sd, "");
        return sd;
    }

    /// <inheritdoc/>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict) => ((ILrScheduler)this).PrepareLoad(stateDict)();

    Action ILrScheduler.PrepareLoad(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        Guard.NotNull(stateDict, nameof(stateDict));
        var reader = new SchedulerStateReader(stateDict, GetType().Name);
        Action apply = ReadState(reader, "");
        reader.ThrowOnUnread();
        return apply;
    }

    /// <summary>
    /// Adds this scheduler's progress to <paramref name="sd"/>, each key after <paramref name="prefix"/>, and its
    /// schedulers' (a SequentialLR's or a ChainedScheduler's) under <c>_schedulers.{i}.</c>.
    /// </summary>
    internal virtual void WriteState(Dictionary<string, Tensor> sd, string prefix)
    {
        sd[prefix + "last_epoch"] = SchedulerStateReader.Scalar(LastEpoch);
        sd[prefix + "base_lrs"] = SchedulerStateReader.Vector(BaseLrs);
        sd[prefix + "_last_lr"] = SchedulerStateReader.Vector(_lastLr);
        for (int i = 0; i < Children.Length; i++) Children[i].WriteState(sd, $"{prefix}_schedulers.{i}.");
    }

    /// <summary>Reads and checks the keys <see cref="WriteState"/> writes; the returned action sets them and cannot fail.</summary>
    internal virtual Action ReadState(SchedulerStateReader reader, string prefix)
    {
        int groups = Optimizer.ParamGroups.Count;
        // Any epoch: a scheduler nested in a SequentialLR inside another sits at -2 until its milestone (PyTorch's too).
        int lastEpoch = reader.Int(prefix + "last_epoch");
        double[] baseLrs = reader.Rates(prefix + "base_lrs", groups, exact: false);
        double[] lastLr = reader.Rates(prefix + "_last_lr", groups, exact: false);
        var children = new Action[Children.Length];
        for (int i = 0; i < children.Length; i++) children[i] = Children[i].ReadState(reader, $"{prefix}_schedulers.{i}.");
        return () =>
        {
            (LastEpoch, BaseLrs, _lastLr) = (lastEpoch, baseLrs, lastLr);
            // PyTorch saves _step_count, which is last_epoch + 1 for a scheduler stepped from its start: a restored
            // scheduler that has stepped does not check the order of the calls again.
            _stepCount = Math.Max(_stepCount, lastEpoch + 1);
            foreach (var load in children) load();
        };
    }

    /// <summary>The learning rates for epoch <see cref="LastEpoch"/>, from the groups' current ones (PyTorch's chainable <c>get_lr</c>).</summary>
    protected abstract double[] ComputeLrs();

    /// <summary>The learning rates for epoch <see cref="LastEpoch"/> from <see cref="BaseLrs"/> alone (PyTorch's <c>_get_closed_form_lr</c>), or null where the schedule has none.</summary>
    protected virtual double[]? ClosedFormLrs() => null;

    /// <summary>The groups' current learning rates, each passed through <paramref name="f"/>.</summary>
    private protected double[] FromGroups(Func<double, double> f)
    {
        var groups = Optimizer.ParamGroups;
        var lrs = new double[groups.Count];
        for (int i = 0; i < lrs.Length; i++) lrs[i] = f(groups[i].Lr);
        return lrs;
    }

    /// <summary>The base learning rates (as many as the groups that have one), each passed through <paramref name="f"/>.</summary>
    private protected double[] FromBase(Func<double, double> f)
    {
        int n = Math.Min(BaseLrs.Count, Optimizer.ParamGroups.Count);
        var lrs = new double[n];
        for (int i = 0; i < n; i++) lrs[i] = f(BaseLrs[i]);
        return lrs;
    }

    /// <summary>For a schedule that cycles the momentum: every group has one (or Adam's beta1) that takes both values.</summary>
    private protected static void CheckMomentumCycle(Optimizer optimizer, double baseMomentum, double maxMomentum)
    {
        foreach (var g in optimizer.ParamGroups)
        {
            if (g.Options is not (SgdOptions or RmsPropOptions or AdamOptions))
                throw new ArgumentException($"optimizer must support momentum or beta1 with cycleMomentum enabled ({g.Options.GetType().Name} has neither); pass cycleMomentum: false", "cycleMomentum");
            // The values the cycle writes must be ones the optimizer would accept from its constructor.
            foreach (var (value, name) in new[] { (baseMomentum, nameof(baseMomentum)), (maxMomentum, nameof(maxMomentum)) })
                if (g.Options is AdamOptions ? !(value >= 0 && value < 1) : !(value >= 0 && double.IsFinite(value)))
                    throw new ArgumentOutOfRangeException(name, value, g.Options is AdamOptions
                        ? $"{name} becomes Adam's beta1, which must be in [0, 1), but got {value}"
                        : $"{name} becomes the optimizer's momentum, which must be a finite number >= 0, but got {value}");
        }
    }

    /// <summary>Sets a group's momentum (SGD's and RMSprop's <c>Momentum</c>, Adam's <c>Beta1</c>).</summary>
    private protected static void SetMomentum(ParamGroup group, double value)
    {
        switch (group.Options)
        {
            case SgdOptions o: o.Momentum = value; break;
            case RmsPropOptions o: o.Momentum = value; break;
            case AdamOptions o: o.Beta1 = value; break;
        }
    }

    /// <summary>One value for every group, or one per group (PyTorch's <c>_format_param</c>), each a finite learning rate >= 0.</summary>
    private protected static double[] PerGroupRates(Optimizer optimizer, IReadOnlyList<double> values, string name)
    {
        Guard.NotNull(optimizer, nameof(optimizer));
        Guard.NotNull(values, name);
        if (values.Count != optimizer.ParamGroups.Count)
            throw new ArgumentException($"{name} must have the same length as optimizer.param_groups. {name} has {values.Count} values, param_groups has {optimizer.ParamGroups.Count}.", name);
        for (int i = 0; i < values.Count; i++)
            if (!(values[i] >= 0 && double.IsFinite(values[i])))
                throw new ArgumentOutOfRangeException(name, values[i], $"{name}[{i}] must be a finite learning rate >= 0, but got {values[i]}");
        return values.ToArray();
    }

    /// <summary>One finite learning rate >= 0 for every group.</summary>
    private protected static double[] SameRate(Optimizer optimizer, double value, string name)
    {
        Guard.NotNull(optimizer, nameof(optimizer));
        Checked(value, value >= 0 && double.IsFinite(value), name, "must be a finite learning rate >= 0");
        return Enumerable.Repeat(value, optimizer.ParamGroups.Count).ToArray();
    }

    private protected static T Checked<T>(T value, bool ok, string name, string expected)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"{name} {expected}, but got {value}");
        return value;
    }

    // What SequentialLR and ChainedScheduler ask of their lists: every entry present, on the one optimizer, listed once.
    private protected static void CheckSchedulers(IReadOnlyList<LrScheduler> schedulers, Optimizer optimizer, string owner, string twiceNote)
    {
        var seen = new HashSet<LrScheduler>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < schedulers.Count; i++)
        {
            if (schedulers[i] is null) throw new ArgumentNullException(nameof(schedulers), $"schedulers[{i}] must not be null");
            if (!ReferenceEquals(schedulers[i].Optimizer, optimizer))
                throw new ArgumentException($"{owner} expects all schedulers to belong to the same optimizer, but schedulers[{i}] ({schedulers[i].GetType().Name}) belongs to another one", nameof(schedulers));
            if (!seen.Add(schedulers[i]))
                throw new ArgumentException($"schedulers[{i}] is listed twice{twiceNote}", nameof(schedulers));
        }
    }

    private protected static IReadOnlyList<Func<int, double>> Lambdas(Optimizer optimizer, IReadOnlyList<Func<int, double>> lambdas, string name)
    {
        Guard.NotNull(optimizer, nameof(optimizer));
        Guard.NotNull(lambdas, name);
        if (lambdas.Count != optimizer.ParamGroups.Count)
            throw new ArgumentException($"Expected {optimizer.ParamGroups.Count} lr_lambdas (one per param group), but got {lambdas.Count}", name);
        for (int i = 0; i < lambdas.Count; i++)
            if (lambdas[i] is null) throw new ArgumentNullException(name, $"{name}[{i}] must not be null");
        return lambdas.ToArray();
    }

    private protected static IReadOnlyList<Func<int, double>> Repeat(Optimizer optimizer, Func<int, double> lambda, string name)
    {
        Guard.NotNull(optimizer, nameof(optimizer));
        Guard.NotNull(lambda, name);
        return Enumerable.Repeat(lambda, optimizer.ParamGroups.Count).ToArray();
    }
}

/// <summary>Multiplies the learning rate by <see cref="Gamma"/> every <see cref="StepSize"/> epochs, as <c>StepLR</c>.</summary>
public sealed class StepLR(Optimizer optimizer, int stepSize, double gamma = 0.1) : LrScheduler(optimizer)
{
    /// <summary>Period of the decay, in epochs (positive).</summary>
    public int StepSize { get; } = Checked(stepSize, stepSize > 0, nameof(stepSize), "must be greater than zero");
    /// <summary>Multiplicative factor.</summary>
    public double Gamma { get; } = gamma;

    /// <inheritdoc/>
    protected override double[] ComputeLrs() =>
        FromGroups(lr => LastEpoch == 0 || LastEpoch % StepSize != 0 ? lr : lr * Gamma);

    /// <inheritdoc/>
    protected override double[] ClosedFormLrs() => FromBase(b => b * Math.Pow(Gamma, LastEpoch / StepSize));
}

/// <summary>Multiplies the learning rate by <see cref="Gamma"/> every epoch, as <c>ExponentialLR</c>.</summary>
public sealed class ExponentialLR(Optimizer optimizer, double gamma) : LrScheduler(optimizer)
{
    /// <summary>Multiplicative factor.</summary>
    public double Gamma { get; } = gamma;

    /// <inheritdoc/>
    protected override double[] ComputeLrs() => FromGroups(lr => IsInitial ? lr : lr * Gamma);

    /// <inheritdoc/>
    protected override double[] ClosedFormLrs() => FromBase(b => b * Math.Pow(Gamma, LastEpoch));
}

/// <summary>
/// Sets each group's learning rate to its base rate times <c>lrLambda(epoch)</c>, as <c>LambdaLR</c> (a warm-up is
/// <c>e =&gt; Math.Min(1.0, (e + 1) / 100.0)</c>). The function is called at construction with epoch 0.
/// </summary>
public sealed class LambdaLR : LrScheduler
{
    private readonly IReadOnlyList<Func<int, double>> _lambdas;

    /// <summary>One function for every param group.</summary>
    public LambdaLR(Optimizer optimizer, Func<int, double> lrLambda) : this(optimizer, Repeat(optimizer, lrLambda, nameof(lrLambda)), 0) { }

    /// <summary>One function per param group, in the groups' order.</summary>
    public LambdaLR(Optimizer optimizer, IReadOnlyList<Func<int, double>> lrLambdas) : this(optimizer, Lambdas(optimizer, lrLambdas, nameof(lrLambdas)), 0) { }

    private LambdaLR(Optimizer optimizer, IReadOnlyList<Func<int, double>> lambdas, int _) : base(optimizer, initialStep: false)
    {
        _lambdas = lambdas;
        InitialStep();
    }

    /// <inheritdoc/>
    protected override double[] ComputeLrs()
    {
        int n = Math.Min(BaseLrs.Count, _lambdas.Count);
        var lrs = new double[n];
        for (int i = 0; i < n; i++) lrs[i] = BaseLrs[i] * _lambdas[i](LastEpoch);
        return lrs;
    }
}

/// <summary>Multiplies each group's learning rate by <c>lrLambda(epoch)</c> every epoch after the first, as <c>MultiplicativeLR</c>.</summary>
public sealed class MultiplicativeLR : LrScheduler
{
    private readonly IReadOnlyList<Func<int, double>> _lambdas;

    /// <summary>One function for every param group.</summary>
    public MultiplicativeLR(Optimizer optimizer, Func<int, double> lrLambda) : this(optimizer, Repeat(optimizer, lrLambda, nameof(lrLambda)), 0) { }

    /// <summary>One function per param group, in the groups' order.</summary>
    public MultiplicativeLR(Optimizer optimizer, IReadOnlyList<Func<int, double>> lrLambdas) : this(optimizer, Lambdas(optimizer, lrLambdas, nameof(lrLambdas)), 0) { }

    private MultiplicativeLR(Optimizer optimizer, IReadOnlyList<Func<int, double>> lambdas, int _) : base(optimizer, initialStep: false)
    {
        _lambdas = lambdas;
        InitialStep();
    }

    /// <inheritdoc/>
    protected override double[] ComputeLrs()
    {
        var groups = Optimizer.ParamGroups;
        if (IsInitial) return FromGroups(lr => lr);
        int n = Math.Min(groups.Count, _lambdas.Count);
        var lrs = new double[n];
        for (int i = 0; i < n; i++) lrs[i] = groups[i].Lr * _lambdas[i](LastEpoch);
        return lrs;
    }
}

/// <summary>
/// Multiplies the learning rate by <see cref="Gamma"/> at each milestone epoch, as <c>MultiStepLR</c> (a milestone
/// listed twice multiplies by <c>Gamma</c> squared).
/// </summary>
public sealed class MultiStepLR : LrScheduler
{
    private readonly Dictionary<int, int> _counts;
    private readonly int[] _sorted;

    /// <summary>Creates the scheduler; <paramref name="milestones"/> are epoch indices (non-negative).</summary>
    public MultiStepLR(Optimizer optimizer, IEnumerable<int> milestones, double gamma = 0.1) : this(optimizer, Sorted(optimizer, milestones), gamma) { }

    private static int[] Sorted(Optimizer optimizer, IEnumerable<int> milestones)
    {
        // Checked before the base constructor, which sets the groups' initial_lr: a refused scheduler changes nothing.
        Guard.NotNull(optimizer, nameof(optimizer));
        Guard.NotNull(milestones, nameof(milestones));
        var sorted = milestones.Order().ToArray();
        if (sorted.Length > 0 && sorted[0] < 0)
            throw new ArgumentOutOfRangeException(nameof(milestones), sorted[0], $"milestones must be non-negative epoch indices, but got {sorted[0]}");
        return sorted;
    }

    private MultiStepLR(Optimizer optimizer, int[] sorted, double gamma) : base(optimizer, initialStep: false)
    {
        _sorted = sorted;
        _counts = _sorted.CountBy(m => m).ToDictionary(p => p.Key, p => p.Value);
        Gamma = gamma;
        InitialStep();
    }

    /// <summary>The milestones in increasing order, each as often as it was given.</summary>
    public IReadOnlyList<int> Milestones => _sorted;
    /// <summary>Multiplicative factor.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    protected override double[] ComputeLrs() =>
        _counts.TryGetValue(LastEpoch, out int n) ? FromGroups(lr => lr * Math.Pow(Gamma, n)) : FromGroups(lr => lr);

    /// <inheritdoc/>
    protected override double[] ClosedFormLrs()
    {
        // bisect_right: how many milestones are <= the epoch.
        int passed = 0;
        while (passed < _sorted.Length && _sorted[passed] <= LastEpoch) passed++;
        return FromBase(b => b * Math.Pow(Gamma, passed));
    }
}

/// <summary>
/// Multiplies the learning rate by <see cref="Factor"/> for the first <see cref="TotalIters"/> epochs and restores it
/// after, as <c>ConstantLR</c>.
/// </summary>
public sealed class ConstantLR(Optimizer optimizer, double factor = 1.0 / 3, int totalIters = 5) : LrScheduler(optimizer)
{
    // PyTorch accepts 0 and then divides by it at epoch total_iters (ZeroDivisionError); refused here at construction.
    /// <summary>The factor, in (0, 1].</summary>
    public double Factor { get; } = Checked(factor, factor > 0 && factor <= 1, nameof(factor), "must be in (0, 1]");
    /// <summary>Epochs at the reduced rate (non-negative).</summary>
    public int TotalIters { get; } = Checked(totalIters, totalIters >= 0, nameof(totalIters), "must be non-negative");

    /// <inheritdoc/>
    protected override double[] ComputeLrs()
    {
        if (LastEpoch == 0) return FromGroups(lr => lr * Factor);
        if (LastEpoch != TotalIters) return FromGroups(lr => lr);
        return FromGroups(lr => lr * (1.0 / Factor));
    }

    /// <inheritdoc/>
    protected override double[] ClosedFormLrs() =>
        FromBase(b => b * (Factor + (LastEpoch >= TotalIters ? 1 : 0) * (1 - Factor)));
}

/// <summary>
/// Moves the learning rate's factor linearly from <see cref="StartFactor"/> to <see cref="EndFactor"/> over
/// <see cref="TotalIters"/> epochs, as <c>LinearLR</c> (the usual warm-up).
/// </summary>
public sealed class LinearLR(Optimizer optimizer, double startFactor = 1.0 / 3, double endFactor = 1.0, int totalIters = 5)
    : LrScheduler(optimizer)
{
    /// <summary>The factor at epoch 0, in (0, 1].</summary>
    public double StartFactor { get; } = Checked(startFactor, startFactor > 0 && startFactor <= 1, nameof(startFactor), "must be in (0, 1]");
    /// <summary>The factor from epoch <see cref="TotalIters"/> on, in [0, 1].</summary>
    public double EndFactor { get; } = Checked(endFactor, endFactor >= 0 && endFactor <= 1, nameof(endFactor), "must be in [0, 1]");
    /// <summary>Epochs over which the factor moves (positive).</summary>
    public int TotalIters { get; } = Checked(totalIters, totalIters > 0, nameof(totalIters), "must be greater than zero");

    /// <inheritdoc/>
    protected override double[] ComputeLrs()
    {
        if (LastEpoch == 0) return FromGroups(lr => lr * StartFactor);
        if (IsInitial || LastEpoch > TotalIters) return FromGroups(lr => lr);
        double f = 1.0 + (EndFactor - StartFactor) / (TotalIters * StartFactor + (LastEpoch - 1) * (EndFactor - StartFactor));
        return FromGroups(lr => lr * f);
    }

    /// <inheritdoc/>
    protected override double[] ClosedFormLrs() =>
        FromBase(b => b * (StartFactor + (EndFactor - StartFactor) * Math.Min(TotalIters, LastEpoch) / TotalIters));
}

/// <summary>Decays the learning rate by <c>(1 - epoch / totalIters)^power</c> to zero at <see cref="TotalIters"/>, as <c>PolynomialLR</c>.</summary>
public sealed class PolynomialLR(Optimizer optimizer, int totalIters = 5, double power = 1.0) : LrScheduler(optimizer)
{
    /// <summary>Epochs of the decay (positive).</summary>
    public int TotalIters { get; } = Checked(totalIters, totalIters > 0, nameof(totalIters), "must be greater than zero");
    /// <summary>The power of the polynomial (finite, non-negative: a negative one would make the rate infinite at <see cref="TotalIters"/>).</summary>
    public double Power { get; } = Checked(power, power >= 0 && double.IsFinite(power), nameof(power), "must be a finite number >= 0");

    /// <inheritdoc/>
    protected override double[] ComputeLrs()
    {
        if (IsInitial || LastEpoch > TotalIters) return FromGroups(lr => lr);
        double f = Math.Pow((1.0 - (double)LastEpoch / TotalIters) / (1.0 - (double)(LastEpoch - 1) / TotalIters), Power);
        return FromGroups(lr => lr * f);
    }

    /// <inheritdoc/>
    protected override double[] ClosedFormLrs() =>
        FromBase(b => b * Math.Pow(1.0 - (double)Math.Min(TotalIters, LastEpoch) / TotalIters, Power));
}

/// <summary>
/// Anneals the learning rate along a cosine from its base to <see cref="EtaMin"/> over <see cref="TMax"/> epochs, as
/// <c>CosineAnnealingLR</c> (in PyTorch's recursive form; past <see cref="TMax"/> it rises again, as PyTorch's does).
/// </summary>
public sealed class CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin = 0.0) : LrScheduler(optimizer)
{
    /// <summary>Half period, in epochs (positive).</summary>
    public int TMax { get; } = Checked(tMax, tMax > 0, nameof(tMax), "must be greater than zero");
    /// <summary>The minimum learning rate.</summary>
    public double EtaMin { get; } = etaMin;

    /// <inheritdoc/>
    protected override double[] ComputeLrs()
    {
        if (IsInitial) return FromGroups(lr => lr);
        var groups = Optimizer.ParamGroups;
        var lrs = new double[Math.Min(groups.Count, BaseLrs.Count)];
        if ((LastEpoch - 1 - TMax) % (2 * TMax) == 0)
        {
            for (int i = 0; i < lrs.Length; i++)
                lrs[i] = groups[i].Lr + (BaseLrs[i] - EtaMin) * (1 - Math.Cos(Math.PI / TMax)) / 2;
            return lrs;
        }
        double ratio = (1 + Math.Cos(Math.PI * LastEpoch / TMax)) / (1 + Math.Cos(Math.PI * (LastEpoch - 1) / TMax));
        for (int i = 0; i < lrs.Length; i++) lrs[i] = ratio * (groups[i].Lr - EtaMin) + EtaMin;
        return lrs;
    }

    /// <inheritdoc/>
    protected override double[] ClosedFormLrs() =>
        FromBase(b => EtaMin + (b - EtaMin) * (1 + Math.Cos(Math.PI * LastEpoch / TMax)) / 2);
}

/// <summary>
/// Runs schedulers one after another, switching at the milestones, as <c>SequentialLR</c>: a warm-up then a decay is
/// <c>new SequentialLR(opt, [new LinearLR(opt, 0.1, totalIters: 5), new CosineAnnealingLR(opt, 95)], [5])</c>. At a
/// milestone the next scheduler starts at its epoch 0 from the base learning rates.
/// </summary>
public sealed class SequentialLR : LrScheduler
{
    private readonly LrScheduler[] _schedulers;
    private readonly int[] _milestones;

    /// <summary>
    /// Takes over <paramref name="schedulers"/> (all on <paramref name="optimizer"/>); <paramref name="milestones"/> are
    /// the epochs at which each scheduler after the first starts, increasing, one fewer than the schedulers.
    /// </summary>
    public SequentialLR(Optimizer optimizer, IReadOnlyList<LrScheduler> schedulers, IReadOnlyList<int> milestones)
        : base(Validate(optimizer, schedulers, milestones), initialStep: false)
    {
        _schedulers = schedulers.ToArray();
        _milestones = milestones.ToArray();
        LastEpoch = 0;
        // As PyTorch: the rates go back to the base, every scheduler's constructor step is taken back, and the first
        // scheduler takes its initial step again.
        for (int i = 0; i < optimizer.ParamGroups.Count; i++) optimizer.ParamGroups[i].Lr = optimizer.ParamGroups[i].InitialLr!.Value;
        foreach (var s in _schedulers) s.UndoInitialStep();
        _schedulers[0].InitialStep();
        SetLastLr(_schedulers[0].GetLastLr());
    }

    // Checked before the base constructor, which sets the groups' initial_lr: a refused scheduler changes nothing.
    private static Optimizer Validate(Optimizer optimizer, IReadOnlyList<LrScheduler> schedulers, IReadOnlyList<int> milestones)
    {
        Guard.NotNull(optimizer, nameof(optimizer));
        Guard.NotNull(schedulers, nameof(schedulers));
        Guard.NotNull(milestones, nameof(milestones));
        if (schedulers.Count < 1)
            throw new ArgumentException("SequentialLR expects at least one scheduler, but got no scheduler.", nameof(schedulers));
        CheckSchedulers(schedulers, optimizer, nameof(SequentialLR), "");
        // A later scheduler restarts at its milestone from its closed form; a SequentialLR or a ChainedScheduler has
        // none (PyTorch fails there, at the milestone: NotImplementedError, or step() taking no epoch).
        for (int i = 1; i < schedulers.Count; i++)
            if (schedulers[i] is SequentialLR or ChainedScheduler)
                throw new ArgumentException($"schedulers[{i}] is a {schedulers[i].GetType().Name}, which cannot restart at a milestone; only the first scheduler may be one", nameof(schedulers));
        if (milestones.Count != schedulers.Count - 1)
            throw new ArgumentException($"SequentialLR expects one milestone fewer than schedulers, but got {schedulers.Count} schedulers and {milestones.Count} milestones", nameof(milestones));
        for (int i = 0; i < milestones.Count; i++)
            if (milestones[i] < 1 || (i > 0 && milestones[i] <= milestones[i - 1]))
                throw new ArgumentOutOfRangeException(nameof(milestones), milestones[i], $"milestones must be positive and increasing, but milestones[{i}] is {milestones[i]}" + (i > 0 ? $" after {milestones[i - 1]}" : ""));
        return optimizer;
    }

    /// <summary>The schedulers, in order.</summary>
    public IReadOnlyList<LrScheduler> Schedulers => _schedulers;
    /// <summary>The epochs at which each scheduler after the first starts.</summary>
    public IReadOnlyList<int> Milestones => _milestones;

    /// <summary>Advances one epoch: the scheduler whose span holds it steps, or starts at a milestone.</summary>
    public override void Step()
    {
        CheckCanAdvance();
        LastEpoch++;
        int idx = 0;
        while (idx < _milestones.Length && _milestones[idx] <= LastEpoch) idx++;
        var s = _schedulers[idx];
        try
        {
            if (idx > 0 && _milestones[idx - 1] == LastEpoch) s.RestartAtEpochZero();
            else s.Step();
        }
        catch { LastEpoch--; throw; }   // the scheduler refused its step (and did not move): neither does this one
        SetLastLr(s.GetLastLr());
    }

    private protected override LrScheduler[] Children => _schedulers;

    /// <summary>Not used: <see cref="Step"/> delegates to the schedulers.</summary>
    protected override double[] ComputeLrs() => _schedulers[0].GetLastLr();
}

/// <summary>
/// Steps several schedulers of one optimizer together, as <c>ChainedScheduler</c>: each step calls every scheduler's
/// <see cref="LrScheduler.Step"/> in order, so each multiplies the rate the ones before it left (a warm-up factor
/// and a decay at once: <c>new ChainedScheduler([new ConstantLR(opt, 0.1, totalIters: 2), new ExponentialLR(opt, 0.9)])</c>).
/// Taking no initial step of its own, it leaves the rates its schedulers' constructors set. Stepping the same
/// schedulers also directly would step them twice. A scheduler that refuses its step (a <see cref="OneCycleLR"/>
/// past its total) stops the chain there, with the schedulers before it stepped, as in PyTorch.
/// </summary>
public sealed class ChainedScheduler : LrScheduler
{
    private readonly LrScheduler[] _schedulers;

    /// <summary>
    /// Chains <paramref name="schedulers"/>, all on one optimizer (<paramref name="optimizer"/> when given, else the
    /// first scheduler's).
    /// </summary>
    public ChainedScheduler(IReadOnlyList<LrScheduler> schedulers, Optimizer? optimizer = null)
        : base(Validate(schedulers, optimizer), initialStep: false)
    {
        _schedulers = schedulers.ToArray();
        LastEpoch = 0;
        SetLastLr(ComputeLrs());
    }

    // Checked before the base constructor, which sets the groups' initial_lr: a refused chain changes nothing.
    private static Optimizer Validate(IReadOnlyList<LrScheduler> schedulers, Optimizer? optimizer)
    {
        Guard.NotNull(schedulers, nameof(schedulers));
        if (schedulers.Count < 1)
            throw new ArgumentException("ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.", nameof(schedulers));
        if (schedulers[0] is null) throw new ArgumentNullException(nameof(schedulers), "schedulers[0] must not be null");
        optimizer ??= schedulers[0].Optimizer;
        CheckSchedulers(schedulers, optimizer, nameof(ChainedScheduler), " (it would step twice per step)");
        return optimizer;
    }

    /// <summary>The chained schedulers, in the order they step.</summary>
    public IReadOnlyList<LrScheduler> Schedulers => _schedulers;

    /// <summary>Steps every scheduler once, in order; <see cref="LrScheduler.GetLastLr"/> is then the groups' rates.</summary>
    public override void Step()
    {
        CheckCanAdvance();
        foreach (var s in _schedulers) s.Step();
        LastEpoch++;
        SetLastLr(ComputeLrs());
    }

    private protected override LrScheduler[] Children => _schedulers;

    /// <summary>The groups' rates as the chain left them.</summary>
    protected override double[] ComputeLrs() => FromGroups(lr => lr);
}

/// <summary>How <see cref="OneCycleLR"/> moves between its phase boundaries.</summary>
public enum AnnealStrategy
{
    /// <summary>Along half a cosine (PyTorch's <c>'cos'</c>, the default).</summary>
    Cos,
    /// <summary>Along a straight line (<c>'linear'</c>).</summary>
    Linear,
}

/// <summary>
/// The 1cycle policy, as <c>OneCycleLR</c>: the learning rate rises from <c>maxLr / divFactor</c> to <c>maxLr</c> over
/// the first <c>pctStart</c> of <c>totalSteps</c> and anneals to <c>maxLr / divFactor / finalDivFactor</c>, while the
/// momentum (SGD's and RMSprop's <c>Momentum</c>, Adam's <c>Beta1</c>) moves the opposite way. Call <see cref="LrScheduler.Step"/>
/// after every batch; for PyTorch's <c>epochs=E, steps_per_epoch=S</c> pass <c>totalSteps: E * S</c>. Not chainable.
/// </summary>
public sealed class OneCycleLR : LrScheduler
{
    private readonly double[] _maxLrs, _minLrs;
    private readonly double _maxMomentum, _baseMomentum;   // one pair for every group, as the constructor takes them
    private readonly (double End, int StartLr, int EndLr, int StartMom, int EndMom)[] _phases;
    // Phase ends refer to these per-group values: 0 initial_lr, 1 max_lr, 2 min_lr; momentum 0 max, 1 base.

    /// <summary>Creates the schedule with one peak learning rate for every group.</summary>
    public OneCycleLR(Optimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3, AnnealStrategy annealStrategy = AnnealStrategy.Cos,
        bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95, double divFactor = 25.0, double finalDivFactor = 1e4,
        bool threePhase = false)
        : this(optimizer, SameRate(optimizer, maxLr, nameof(maxLr)), totalSteps, pctStart, annealStrategy, cycleMomentum, baseMomentum, maxMomentum, divFactor, finalDivFactor, threePhase, 0) { }

    /// <summary>Creates the schedule with a peak learning rate per param group.</summary>
    public OneCycleLR(Optimizer optimizer, IReadOnlyList<double> maxLrs, int totalSteps, double pctStart = 0.3, AnnealStrategy annealStrategy = AnnealStrategy.Cos,
        bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95, double divFactor = 25.0, double finalDivFactor = 1e4,
        bool threePhase = false)
        : this(optimizer, PerGroupRates(optimizer, maxLrs, nameof(maxLrs)), totalSteps, pctStart, annealStrategy, cycleMomentum, baseMomentum, maxMomentum, divFactor, finalDivFactor, threePhase, 0) { }

    private OneCycleLR(Optimizer optimizer, double[] maxLrs, int totalSteps, double pctStart, AnnealStrategy annealStrategy, bool cycleMomentum,
        double baseMomentum, double maxMomentum, double divFactor, double finalDivFactor, bool threePhase, int _)
        : base(Validate(optimizer, maxLrs, totalSteps, pctStart, annealStrategy, cycleMomentum, baseMomentum, maxMomentum, divFactor, finalDivFactor, threePhase), initialStep: false)
    {
        TotalSteps = totalSteps;
        PctStart = pctStart;
        Strategy = annealStrategy;
        CycleMomentum = cycleMomentum;
        var ends = PhaseEnds(totalSteps, pctStart, threePhase);
        _phases = threePhase
            ? [(ends[0], 0, 1, 0, 1), (ends[1], 1, 0, 1, 0), (ends[2], 0, 2, 0, 0)]
            : [(ends[0], 0, 1, 0, 1), (ends[1], 1, 2, 1, 0)];
        var groups = optimizer.ParamGroups;
        _maxLrs = maxLrs;
        _minLrs = new double[groups.Count];
        _maxMomentum = maxMomentum;
        _baseMomentum = baseMomentum;
        // As PyTorch (which overwrites initial_lr rather than keeping an earlier scheduler's): the schedule starts at max_lr / div_factor.
        for (int i = 0; i < groups.Count; i++)
        {
            groups[i].InitialLr = maxLrs[i] / divFactor;
            _minLrs[i] = groups[i].InitialLr!.Value / finalDivFactor;
            if (cycleMomentum) SetMomentum(groups[i], maxMomentum);
        }
        BaseLrs = groups.Select(g => g.InitialLr!.Value).ToArray();
        InitialStep();
    }

    /// <summary>Steps in the whole cycle; stepping past it is refused.</summary>
    public int TotalSteps { get; }
    /// <summary>Fraction of the cycle spent raising the learning rate.</summary>
    public double PctStart { get; }
    /// <summary>Cosine or linear annealing.</summary>
    public AnnealStrategy Strategy { get; }
    /// <summary>Whether the momentum (or Adam's beta1) cycles inversely to the learning rate.</summary>
    public bool CycleMomentum { get; }

    /// <summary>PyTorch's <c>end_step</c> of each phase.</summary>
    private static double[] PhaseEnds(int totalSteps, double pctStart, bool threePhase) => threePhase
        ? [pctStart * totalSteps - 1, 2 * pctStart * totalSteps - 2, totalSteps - 1]
        : [pctStart * totalSteps - 1, totalSteps - 1];

    private static Optimizer Validate(Optimizer optimizer, double[] maxLrs, int totalSteps, double pctStart, AnnealStrategy strategy, bool cycleMomentum,
        double baseMomentum, double maxMomentum, double divFactor, double finalDivFactor, bool threePhase)
    {
        Checked(totalSteps, totalSteps > 0, nameof(totalSteps), "must be a positive number of steps");
        Checked(pctStart, pctStart >= 0 && pctStart <= 1, nameof(pctStart), "must be between 0 and 1");
        Checked(strategy, Enum.IsDefined(strategy), "annealStrategy", "must be Cos or Linear");
        Checked(divFactor, divFactor > 0 && double.IsFinite(divFactor), nameof(divFactor), "must be a positive number");
        Checked(finalDivFactor, finalDivFactor > 0 && double.IsFinite(finalDivFactor), nameof(finalDivFactor), "must be a positive number");
        // A phase that a step lands in but that has no length divides by zero (PyTorch: ZeroDivisionError at that step,
        // after the constructor has changed the groups): the first phase when it ends at step 0, the last when it ends
        // where the one before it does (pctStart 1).
        var ends = PhaseEnds(totalSteps, pctStart, threePhase);
        if (ends[0] == 0.0 || ends[^1] == ends[^2])
            throw new ArgumentOutOfRangeException(nameof(pctStart), pctStart, $"pctStart {pctStart} with totalSteps {totalSteps} leaves a phase of the cycle empty (phase ends {string.Join(", ", ends)}); choose pctStart so that pctStart * totalSteps is not 1 and pctStart is below 1");
        if (cycleMomentum) CheckMomentumCycle(optimizer, baseMomentum, maxMomentum);
        return optimizer;
    }

    private double Anneal(double start, double end, double pct)
    {
        if (Strategy == AnnealStrategy.Linear) return (end - start) * pct + start;
        double cosOut = Math.Cos(Math.PI * pct) + 1;
        return end + (start - end) / 2.0 * cosOut;
    }

    /// <inheritdoc/>
    protected override double[] ComputeLrs()
    {
        int step = LastEpoch;
        if (step > TotalSteps)
            throw new InvalidOperationException($"Tried to step {step} times. The specified number of total steps is {TotalSteps}");
        var groups = Optimizer.ParamGroups;
        int n = Math.Min(groups.Count, _maxLrs.Length);
        var lrs = new double[n];
        var moms = new double[n];
        for (int gi = 0; gi < n; gi++)
        {
            double initial = groups[gi].InitialLr ?? BaseLrs[gi];
            double start = 0.0;
            for (int p = 0; p < _phases.Length; p++)
            {
                var phase = _phases[p];
                if (step <= phase.End || p == _phases.Length - 1)
                {
                    if (phase.End == start)
                        throw new InvalidOperationException($"OneCycleLR: step {step} falls in an empty phase (pctStart {PctStart} of {TotalSteps} steps); PyTorch divides by zero here");
                    double pct = (step - start) / (phase.End - start);
                    lrs[gi] = Anneal(Lr(phase.StartLr), Lr(phase.EndLr), pct);
                    moms[gi] = Anneal(Mom(phase.StartMom), Mom(phase.EndMom), pct);
                    break;
                }
                start = phase.End;
            }

            double Lr(int which) => which switch { 0 => initial, 1 => _maxLrs[gi], _ => _minLrs[gi] };
            double Mom(int which) => which == 0 ? _maxMomentum : _baseMomentum;
        }
        if (CycleMomentum)
            for (int gi = 0; gi < n; gi++) SetMomentum(groups[gi], moms[gi]);
        return lrs;
    }
}

/// <summary>
/// Cosine annealing with warm restarts (SGDR), as <c>CosineAnnealingWarmRestarts</c>: the rate falls from the base
/// to <see cref="EtaMin"/> over <see cref="T0"/> epochs, restarts, and each period is <see cref="TMult"/> times the
/// last. <see cref="Step(double)"/> takes a fractional epoch for per-batch stepping (PyTorch's <c>step(epoch + i / iters)</c>),
/// and is also the way to resume: <c>Step(epochReached)</c> sets <see cref="TCur"/> and <see cref="Ti"/> from the epoch
/// (setting <see cref="LrScheduler.LastEpoch"/> alone does not move them).
/// </summary>
public sealed class CosineAnnealingWarmRestarts : LrScheduler
{
    /// <summary>Creates the scheduler: <paramref name="t0"/> epochs to the first restart, each period <paramref name="tMult"/> times the last.</summary>
    public CosineAnnealingWarmRestarts(Optimizer optimizer, int t0, int tMult = 1, double etaMin = 0.0)
        : base(Validate(optimizer, t0, tMult), initialStep: false)
    {
        T0 = t0;
        Ti = t0;
        TMult = tMult;
        EtaMin = etaMin;
        TCur = -1;
        InitialStep();
    }

    private static Optimizer Validate(Optimizer optimizer, int t0, int tMult)
    {
        Guard.NotNull(optimizer, nameof(optimizer));
        Checked(t0, t0 > 0, nameof(t0), "must be a positive number of epochs");
        Checked(tMult, tMult >= 1, nameof(tMult), "must be an integer >= 1");
        return optimizer;
    }

    /// <summary>Epochs to the first restart.</summary>
    public int T0 { get; }
    /// <summary>Growth factor of the period after each restart.</summary>
    public int TMult { get; }
    /// <summary>The minimum learning rate.</summary>
    public double EtaMin { get; }
    /// <summary>The current period, in epochs (PyTorch's <c>T_i</c>).</summary>
    public long Ti { get; private set; }
    /// <summary>Epochs since the last restart (PyTorch's <c>T_cur</c>; fractional after <see cref="Step(double)"/>).</summary>
    public double TCur { get; private set; }

    /// <summary>Advances one epoch, restarting when the period ends.</summary>
    public override void Step()
    {
        CheckCanAdvance();
        if (LastEpoch < 0) { Step(0); return; }
        TCur += 1;
        if (TCur >= Ti)
        {
            TCur %= Ti;
            Ti = checked(Ti * TMult);
        }
        LastEpoch++;
        Apply(ComputeLrs());
    }

    /// <summary>Moves to <paramref name="epoch"/> (fractional for per-batch stepping; non-negative).</summary>
    public void Step(double epoch)
    {
        if (!(epoch >= 0) || !double.IsFinite(epoch))
            throw new ArgumentOutOfRangeException(nameof(epoch), epoch, $"Expected non-negative epoch, but got {epoch}");
        if (epoch >= int.MaxValue + 1.0)
            throw new ArgumentOutOfRangeException(nameof(epoch), epoch, $"epoch must be below {int.MaxValue + 1L} (LastEpoch is an int), but got {epoch}");
        if (epoch >= T0)
        {
            if (TMult == 1) TCur = epoch % T0;
            else
            {
                int n = (int)Math.Log(epoch / T0 * (TMult - 1) + 1, TMult);
                double pow = Math.Pow(TMult, n);
                TCur = epoch - T0 * (pow - 1) / (TMult - 1);
                Ti = checked((long)(T0 * pow));
            }
        }
        else
        {
            Ti = T0;
            TCur = epoch;
        }
        LastEpoch = (int)Math.Floor(epoch);
        Apply(ComputeLrs());
    }

    internal override void WriteState(Dictionary<string, Tensor> sd, string prefix)
    {
        base.WriteState(sd, prefix);
        sd[prefix + "T_i"] = SchedulerStateReader.Scalar(Ti);
        sd[prefix + "T_cur"] = SchedulerStateReader.Scalar(TCur);
    }

    internal override Action ReadState(SchedulerStateReader reader, string prefix)
    {
        Action own = base.ReadState(reader, prefix);
        long ti = reader.Long(prefix + "T_i", 1, 1L << 53);
        double tCur = reader.Double(prefix + "T_cur");
        if (tCur < -1) throw new ArgumentException($"the {GetType().Name} state dict's \"{prefix}T_cur\" must be -1 or more, but got {Nn.PyFormat.Float(tCur)}", "stateDict");
        return () => { own(); Ti = ti; TCur = tCur; };
    }

    /// <inheritdoc/>
    protected override double[] ComputeLrs() =>
        FromBase(b => EtaMin + (b - EtaMin) * (1 + Math.Cos(Math.PI * TCur / Ti)) / 2);
}
