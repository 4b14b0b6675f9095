// RMSprop (plain, centered, with momentum), following torch/optim/rmsprop.py
// `_single_tensor_rmsprop` operation by operation, in the parameter's dtype, with libtorch's FMA
// contraction of add-with-alpha, addcmul and lerp (see Sgd.cs). A few elements of the fixtures still
// differ by one float32 ulp; no reordering of these operations we tried reproduces them.
using Recurrent.Kernels;

namespace Recurrent.Optim;

/// <summary>Hyperparameters of <see cref="RmsProp"/>.</summary>
public sealed class RmsPropOptions : OptimizerOptions
{
    /// <summary>Smoothing constant of the squared-gradient average.</summary>
    public double Alpha { get; set; } = 0.99;
    /// <summary>Added to the denominator (after the square root).</summary>
    public double Eps { get; set; } = 1e-8;
    /// <summary>L2 penalty added to the gradient.</summary>
    public double WeightDecay { get; set; }
    /// <summary>Momentum factor.</summary>
    public double Momentum { get; set; }
    /// <summary>Normalise by the estimated variance (subtract the squared mean gradient).</summary>
    public bool Centered { get; set; }
    /// <summary>Maximise the objective instead of minimising it.</summary>
    public bool Maximize { get; set; }

    /// <inheritdoc/>
    public override void Validate()
    {
        CheckNonNegative(Lr, "learning rate", "lr");
        CheckNonNegative(Eps, "epsilon value", "eps");
        CheckNonNegative(Momentum, "momentum value", "momentum");
        CheckNonNegative(WeightDecay, "weight_decay value", "weightDecay");
        CheckNonNegative(Alpha, "alpha value", "alpha");
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, double[] Value)> ToValues() =>
    [
        ("lr", [Lr]), ("alpha", [Alpha]), ("eps", [Eps]), ("weight_decay", [WeightDecay]), ("momentum", [Momentum]),
        ("centered", [Centered ? 1 : 0]), ("maximize", [Maximize ? 1 : 0]),
    ];

    /// <inheritdoc/>
    public override bool TrySetValue(string name, double[] v)
    {
        switch (name)
        {
            case "lr": Lr = Value(name, v); return true;
            case "alpha": Alpha = Value(name, v); return true;
            case "eps": Eps = Value(name, v); return true;
            case "weight_decay": WeightDecay = Value(name, v); return true;
            case "momentum": Momentum = Value(name, v); return true;
            case "centered": Centered = Value(name, v) != 0; return true;
            case "maximize": Maximize = Value(name, v) != 0; return true;
            default: return false;
        }
    }
}

/// <summary>
/// RMSprop, as <c>torch.optim.RMSprop</c>. Per step, with g the gradient:
/// <code>
/// g = -g if maximize;  g = g + wd·p
/// v = α·v + (1-α)·g²
/// avg = sqrt(v - ḡ²) with ḡ = lerp(ḡ, g, 1-α) if centered, else sqrt(v);  avg = avg + eps
/// if momentum &gt; 0: buf = momentum·buf + g/avg;  p = p - lr·buf    else p = p - lr·g/avg
/// </code>
/// State: <c>step</c>, <c>square_avg</c>, <c>momentum_buffer</c> (momentum &gt; 0), <c>grad_avg</c> (centered).
/// </summary>
public sealed class RmsProp : Optimizer<RmsPropOptions>
{
    private static readonly string[] Names = ["square_avg", "momentum_buffer", "grad_avg"];

    /// <summary>Creates the optimizer over one group of parameters.</summary>
    public RmsProp(IEnumerable<Tensor> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0,
        double momentum = 0, bool centered = false, bool maximize = false)
        : base(parameters, new RmsPropOptions { Lr = lr, Alpha = alpha, Eps = eps, WeightDecay = weightDecay, Momentum = momentum, Centered = centered, Maximize = maximize })
    {
    }

    /// <inheritdoc/>
    protected override IReadOnlyCollection<string> StateNames => Names;

    /// <inheritdoc/>
    protected override IEnumerable<string> RequiredState(OptimizerOptions options)
    {
        var o = (RmsPropOptions)options;
        yield return "step";
        yield return "square_avg";
        if (o.Momentum > 0) yield return "momentum_buffer";
        if (o.Centered) yield return "grad_avg";
    }

    /// <inheritdoc/>
    protected override void UpdateCore<T>(RmsPropOptions o, Tensor parameter, Span<T> p, ReadOnlySpan<T> grad, ParamState state)
    {
        var sq = Buffer(state, "square_avg", parameter).AsSpan<T>();
        var buf = o.Momentum > 0 ? Buffer(state, "momentum_buffer", parameter).AsSpan<T>() : default;
        var gavg = o.Centered ? Buffer(state, "grad_avg", parameter).AsSpan<T>() : default;
        state.Step = (state.Step ?? 0) + 1;                                   // step += 1

        // The operations of _single_tensor_rmsprop, vectorised (OptimizerKernels.RmsProp / RmsPropRow).
        T oneMinusAlpha = T.CreateTruncating(1 - o.Alpha);
        OptimizerKernels.RmsProp(p, grad, sq, buf, gavg, new RmsPropRow<T>
        {
            Maximize = o.Maximize, UseWeightDecay = o.WeightDecay != 0, LerpSmall = T.Abs(oneMinusAlpha) < T.CreateTruncating(0.5),
            WeightDecay = T.CreateTruncating(o.WeightDecay), Alpha = T.CreateTruncating(o.Alpha), OneMinusAlpha = oneMinusAlpha,
            Eps = T.CreateTruncating(o.Eps), Momentum = T.CreateTruncating(o.Momentum), NegLr = T.CreateTruncating(-o.Lr),
        });
    }
}
