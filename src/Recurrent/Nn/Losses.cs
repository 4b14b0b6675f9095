// Loss modules (CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss): hold the
// options (weights as buffers, as PyTorch registers them) and call Functional.
namespace Recurrent.Nn;

/// <summary>
/// Base of the loss modules, as PyTorch's <c>_Loss</c>: a <see cref="Reduction"/> and one entry point,
/// <see cref="Forward(Tensor, Tensor)"/> (PyTorch's <c>loss_fn(input, target)</c>).
/// </summary>
public abstract class Loss : Module
{
    /// <summary>Stores the reduction.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reduction"/> is not a defined value.</exception>
    protected Loss(Reduction reduction)
    {
        if (reduction is not (Reduction.None or Reduction.Mean or Reduction.Sum))
            throw new ArgumentOutOfRangeException(nameof(reduction), reduction, $"{(int)reduction} is not a valid value for reduction");
        Reduction = reduction;
    }

    /// <summary>How per-element losses are reduced.</summary>
    public Reduction Reduction { get; }

    /// <summary>Computes the loss of <paramref name="input"/> (the model's output) against <paramref name="target"/>, as <c>loss_fn(input, target)</c>.</summary>
    public abstract Tensor Forward(Tensor input, Tensor target);
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

/// <summary>Mean (or summed) absolute error |x - y|, as <c>nn.L1Loss</c> (see <see cref="Functional.L1Loss"/>).</summary>
public sealed class L1Loss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    /// <inheritdoc/>
    public override string TypeName => "L1Loss";

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.L1Loss(input, target, Reduction);
}

/// <summary>
/// Huber loss, as <c>nn.HuberLoss</c>: squared error below <see cref="Delta"/>, absolute error (scaled by delta) above
/// it (see <see cref="Functional.HuberLoss"/>).
/// </summary>
public sealed class HuberLoss : Loss
{
    /// <summary>Creates the loss; <paramref name="delta"/> (&gt; 0) is where it changes from quadratic to linear.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delta"/> is not positive.</exception>
    public HuberLoss(Reduction reduction = Reduction.Mean, double delta = 1.0) : base(reduction)
    {
        Functional.CheckDelta(delta);
        Delta = delta;
    }

    /// <summary>The threshold between the quadratic and the linear part.</summary>
    public double Delta { get; }

    /// <inheritdoc/>
    public override string TypeName => "HuberLoss";

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.HuberLoss(input, target, Reduction, Delta);
}

/// <summary>
/// Binary cross entropy of probabilities (a sigmoid's output) against targets in [0, 1], as <c>nn.BCELoss</c> (see
/// <see cref="Functional.BinaryCrossEntropy"/>). Prefer <see cref="BCEWithLogitsLoss"/> on logits: it is
/// numerically stable. The element weights are a buffer named <c>weight</c>.
/// </summary>
public sealed class BCELoss : Loss
{
    /// <summary>Creates the loss; <paramref name="weight"/> rescales each element and must broadcast to the input's shape.</summary>
    public BCELoss(Tensor? weight = null, Reduction reduction = Reduction.Mean) : base(reduction)
    {
        if (weight is not null) Guard.Floating(weight, nameof(weight));
        RegisterBuffer("weight", weight?.Detach());
    }

    /// <summary>The element weights, or null.</summary>
    public Tensor? Weight => Buffer("weight");

    /// <inheritdoc/>
    public override string TypeName => "BCELoss";

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.BinaryCrossEntropy(input, target, Weight, Reduction);
}

/// <summary>
/// Sigmoid and binary cross entropy in one numerically stable step, as <c>nn.BCEWithLogitsLoss</c> (see
/// <see cref="Functional.BinaryCrossEntropyWithLogits"/>). The element weights and the positive-class weights are
/// buffers named <c>weight</c> and <c>pos_weight</c>.
/// </summary>
public sealed class BCEWithLogitsLoss : Loss
{
    /// <summary>
    /// Creates the loss. <paramref name="weight"/> rescales each element; <paramref name="posWeight"/> weighs the
    /// positive term of each class (shape (C) for inputs (..., C)), e.g. negatives / positives for an unbalanced class.
    /// Both must broadcast to the input's shape.
    /// </summary>
    public BCEWithLogitsLoss(Tensor? weight = null, Reduction reduction = Reduction.Mean, Tensor? posWeight = null) : base(reduction)
    {
        if (weight is not null) Guard.Floating(weight, nameof(weight));
        if (posWeight is not null) Guard.Floating(posWeight, nameof(posWeight));
        RegisterBuffer("weight", weight?.Detach());
        RegisterBuffer("pos_weight", posWeight?.Detach());
    }

    /// <summary>The element weights, or null.</summary>
    public Tensor? Weight => Buffer("weight");
    /// <summary>The positive-class weights, or null.</summary>
    public Tensor? PosWeight => Buffer("pos_weight");

    /// <inheritdoc/>
    public override string TypeName => "BCEWithLogitsLoss";

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) =>
        Functional.BinaryCrossEntropyWithLogits(input, target, Weight, Reduction, PosWeight);
}
