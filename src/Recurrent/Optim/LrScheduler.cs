// Learning-rate schedulers, as torch.optim.lr_scheduler: a base that steps an epoch counter and
// rewrites each param group's lr, StepLR and ExponentialLR in PyTorch's chainable (multiplicative)
// form so the lr values are the same doubles PyTorch computes.
namespace Recurrent.Optim;

/// <summary>
/// Base of the schedulers, as <c>torch.optim.lr_scheduler.LRScheduler</c>. Construction performs PyTorch's initial
/// step (epoch 0, learning rates unchanged); call <see cref="Step"/> once per epoch after <c>optimizer.Step()</c>.
/// </summary>
public abstract class LrScheduler
{
    /// <summary>Remembers each group's initial learning rate and takes the initial step.</summary>
    protected LrScheduler(Optimizer optimizer)
    {
        Guard.NotNull(optimizer, nameof(optimizer));
        Optimizer = optimizer;
        // PyTorch's group.setdefault("initial_lr", group["lr"]): the first scheduler on a group fixes it, and every
        // later one (chained, or made after training started) takes the same base.
        foreach (var g in optimizer.ParamGroups) g.InitialLr ??= g.Lr;
        BaseLrs = optimizer.ParamGroups.Select(g => g.InitialLr!.Value).ToArray();
        LastEpoch = -1;
        Step();
    }

    /// <summary>The optimizer whose learning rates are scheduled.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The groups' <see cref="ParamGroup.InitialLr"/> (PyTorch's <c>base_lrs</c>): their learning rates when the first scheduler was attached.</summary>
    public IReadOnlyList<double> BaseLrs { get; }

    /// <summary>Number of <see cref="Step"/> calls after the initial one (PyTorch's <c>last_epoch</c>); settable to resume.</summary>
    public int LastEpoch { get; set; }

    /// <summary>Advances one epoch and writes the new learning rates into the param groups, as <c>scheduler.step()</c>.</summary>
    public void Step()
    {
        LastEpoch++;
        var lrs = ComputeLrs();
        for (int i = 0; i < lrs.Length; i++) Optimizer.ParamGroups[i].Lr = lrs[i];
        _lastLr = Optimizer.ParamGroups.Select(g => g.Lr).ToArray();
    }

    private double[] _lastLr = [];

    /// <summary>
    /// The learning rates this scheduler set at its last step, as <c>get_last_lr()</c> (not the groups' current ones: a
    /// scheduler chained after it may have changed them since).
    /// </summary>
    public double[] GetLastLr() => (double[])_lastLr.Clone();

    /// <summary>The learning rates for epoch <see cref="LastEpoch"/>, from the groups' current ones.</summary>
    protected abstract double[] ComputeLrs();
}

/// <summary>Multiplies the learning rate by <see cref="Gamma"/> every <see cref="StepSize"/> epochs, as <c>StepLR</c>.</summary>
public sealed class StepLR : LrScheduler
{
    /// <summary>Creates the scheduler; <paramref name="stepSize"/> must be positive.</summary>
    public StepLR(Optimizer optimizer, int stepSize, double gamma = 0.1) : base(Check(optimizer, stepSize))
    {
        StepSize = stepSize;
        Gamma = gamma;
    }

    private static Optimizer Check(Optimizer optimizer, int stepSize)
    {
        Guard.Positive(stepSize, nameof(stepSize));
        return optimizer;
    }

    /// <summary>Period of the decay, in epochs.</summary>
    public int StepSize { get; }
    /// <summary>Multiplicative factor.</summary>
    public double Gamma { get; }

    /// <inheritdoc/>
    protected override double[] ComputeLrs() =>
        Optimizer.ParamGroups.Select(g => LastEpoch == 0 || LastEpoch % StepSize != 0 ? g.Lr : g.Lr * Gamma).ToArray();
}

/// <summary>Multiplies the learning rate by <see cref="Gamma"/> every epoch, as <c>ExponentialLR</c>.</summary>
public sealed class ExponentialLR(Optimizer optimizer, double gamma) : LrScheduler(optimizer)
{
    /// <summary>Multiplicative factor.</summary>
    public double Gamma { get; } = gamma;

    /// <inheritdoc/>
    protected override double[] ComputeLrs() =>
        Optimizer.ParamGroups.Select(g => LastEpoch == 0 ? g.Lr : g.Lr * Gamma).ToArray();
}
