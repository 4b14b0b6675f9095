// Loss modules (CrossEntropyLoss, NLLLoss, MSELoss): hold the options and call Functional.
namespace Recurrent.Nn;

/// <summary>Base of the loss modules: <c>Forward(input, target)</c> and a <see cref="Reduction"/>, as PyTorch's <c>_Loss</c>.</summary>
public abstract class Loss : Module<(Tensor Input, Tensor Target), Tensor>
{
    /// <summary>Stores the reduction.</summary>
    protected Loss(Reduction reduction)
    {
        if (reduction is not (Reduction.None or Reduction.Mean or Reduction.Sum))
            throw new ArgumentOutOfRangeException(nameof(reduction), reduction, $"{(int)reduction} is not a valid value for reduction");
        Reduction = reduction;
    }

    /// <summary>How per-element losses are reduced.</summary>
    public Reduction Reduction { get; }

    /// <summary>Computes the loss, as <c>loss_fn(input, target)</c>.</summary>
    public abstract Tensor Forward(Tensor input, Tensor target);

    /// <summary>Same as <see cref="Forward(Tensor, Tensor)"/>.</summary>
    public Tensor Call(Tensor input, Tensor target) => Forward(input, target);

    /// <inheritdoc/>
    public sealed override Tensor Forward((Tensor Input, Tensor Target) input) => Forward(input.Input, input.Target);
}

/// <summary>
/// Cross entropy of logits against class indices or class probabilities, as <c>nn.CrossEntropyLoss</c>
/// (see <see cref="Functional.CrossEntropy"/>). The class weights are a buffer named <c>weight</c>.
/// </summary>
public sealed class CrossEntropyLoss : Loss
{
    /// <summary>Creates the loss; <paramref name="weight"/> (C) rescales each class.</summary>
    public CrossEntropyLoss(Tensor? weight = null, long ignoreIndex = -100, Reduction reduction = Reduction.Mean, double labelSmoothing = 0.0)
        : base(reduction)
    {
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, $"label_smoothing must be between 0.0 and 1.0. Got: {PyFormat.Float(labelSmoothing)}");
        if (weight is not null) { Guard.Floating(weight, nameof(weight)); Guard.Rank(weight, 1, nameof(weight)); }
        RegisterBuffer("weight", weight?.Detach());
        IgnoreIndex = ignoreIndex;
        LabelSmoothing = labelSmoothing;
    }

    /// <summary>The class weights (C), or null.</summary>
    public Tensor? Weight => Buffer("weight");
    /// <summary>Targets equal to this are ignored.</summary>
    public long IgnoreIndex { get; }
    /// <summary>ε of label smoothing, in [0, 1].</summary>
    public double LabelSmoothing { get; }

    /// <inheritdoc/>
    public override string TypeName => "CrossEntropyLoss";

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) =>
        Functional.CrossEntropy(input, target, Weight, IgnoreIndex, Reduction, LabelSmoothing);
}

/// <summary>Negative log likelihood of log-probabilities at the target classes, as <c>nn.NLLLoss</c>.</summary>
public sealed class NLLLoss : Loss
{
    /// <summary>Creates the loss; <paramref name="weight"/> (C) rescales each class.</summary>
    public NLLLoss(Tensor? weight = null, long ignoreIndex = -100, Reduction reduction = Reduction.Mean) : base(reduction)
    {
        if (weight is not null) { Guard.Floating(weight, nameof(weight)); Guard.Rank(weight, 1, nameof(weight)); }
        RegisterBuffer("weight", weight?.Detach());
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>The class weights (C), or null.</summary>
    public Tensor? Weight => Buffer("weight");
    /// <summary>Targets equal to this are ignored.</summary>
    public long IgnoreIndex { get; }

    /// <inheritdoc/>
    public override string TypeName => "NLLLoss";

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) =>
        Functional.NllLoss(input, target, Weight, IgnoreIndex, Reduction);
}

/// <summary>Mean (or summed) squared error, as <c>nn.MSELoss</c>.</summary>
public sealed class MSELoss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    /// <inheritdoc/>
    public override string TypeName => "MSELoss";

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.MseLoss(input, target, Reduction);
}
