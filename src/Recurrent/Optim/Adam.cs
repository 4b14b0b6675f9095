// Adam and AdamW, following torch/optim/adam.py `_single_tensor_adam` operation by operation:
// lerp for the first moment, mul+addcmul for the second, bias corrections in float64 (Python
// floats), denom = sqrt(v)/sqrt(bc2) + eps and addcdiv with -lr/bc1, all tensor arithmetic in
// the parameter's dtype so float32 results match PyTorch's rounding (with libtorch's FMA contraction
// of add-with-alpha, addcmul and lerp; see Sgd.cs).
using Recurrent.Kernels;

namespace Recurrent.Optim;

/// <summary>Hyperparameters of <see cref="Adam"/> and <see cref="AdamW"/>.</summary>
public sealed class AdamOptions : OptimizerOptions
{
    /// <summary>β1, the decay of the first moment.</summary>
    public double Beta1 { get; set; } = 0.9;
    /// <summary>β2, the decay of the second moment.</summary>
    public double Beta2 { get; set; } = 0.999;
    /// <summary>Added to the denominator.</summary>
    public double Eps { get; set; } = 1e-8;
    /// <summary>L2 penalty (Adam) or decoupled decay (AdamW).</summary>
    public double WeightDecay { get; set; }
    /// <summary>Use the maximum of past second moments (AMSGrad).</summary>
    public bool Amsgrad { get; set; }
    /// <summary>Maximise the objective instead of minimising it.</summary>
    public bool Maximize { get; set; }
    /// <summary>Decay the weights directly (AdamW) instead of adding to the gradient (Adam).</summary>
    public bool DecoupledWeightDecay { get; set; }

    /// <inheritdoc/>
    public override void Validate()
    {
        CheckNonNegative(Lr, "learning rate", "lr");
        CheckNonNegative(Eps, "epsilon value", "eps");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentOutOfRangeException("betas", Beta1, $"Invalid beta parameter at index 0: {Num(Beta1)}");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentOutOfRangeException("betas", Beta2, $"Invalid beta parameter at index 1: {Num(Beta2)}");
        CheckNonNegative(WeightDecay, "weight_decay value", "weightDecay");
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, double[] Value)> ToValues() =>
    [
        ("lr", [Lr]), ("betas", [Beta1, Beta2]), ("eps", [Eps]), ("weight_decay", [WeightDecay]),
        ("amsgrad", [Amsgrad ? 1 : 0]), ("maximize", [Maximize ? 1 : 0]), ("decoupled_weight_decay", [DecoupledWeightDecay ? 1 : 0]),
    ];

    /// <inheritdoc/>
    public override bool TrySetValue(string name, double[] v)
    {
        switch (name)
        {
            case "lr": Lr = Value(name, v); return true;
            case "betas": (Beta1, Beta2) = Values2(name, v); return true;
            case "eps": Eps = Value(name, v); return true;
            case "weight_decay": WeightDecay = Value(name, v); return true;
            case "amsgrad": Amsgrad = Value(name, v) != 0; return true;
            case "maximize": Maximize = Value(name, v) != 0; return true;
            case "decoupled_weight_decay": DecoupledWeightDecay = Value(name, v) != 0; return true;
            default: return false;
        }
    }
}

/// <summary>
/// Adam, as <c>torch.optim.Adam</c>. Per step t (per parameter), with g the gradient:
/// <code>
/// g = -g if maximize
/// p = p·(1 - lr·wd) if decoupled (AdamW), else g = g + wd·p
/// m = lerp(m, g, 1-β1);  v = β2·v + (1-β2)·g²;  v̂ = max(v̂, v) with amsgrad
/// p = p - lr/(1-β1ᵗ) · m / (sqrt(v or v̂)/sqrt(1-β2ᵗ) + eps)
/// </code>
/// State: <c>step</c>, <c>exp_avg</c>, <c>exp_avg_sq</c>, <c>max_exp_avg_sq</c> (amsgrad).
/// </summary>
public class Adam : Optimizer<AdamOptions>
{
    private static readonly string[] Names = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    /// <summary>Creates the optimizer over one group of parameters.</summary>
    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, (double Beta1, double Beta2)? betas = null, double eps = 1e-8,
        double weightDecay = 0, bool amsgrad = false, bool maximize = false)
        : this(parameters, lr, betas, eps, weightDecay, amsgrad, maximize, decoupled: false) { }

    private protected Adam(IEnumerable<Tensor> parameters, double lr, (double Beta1, double Beta2)? betas, double eps,
        double weightDecay, bool amsgrad, bool maximize, bool decoupled)
        : base(parameters, new AdamOptions
        {
            Lr = lr, Beta1 = (betas ?? (0.9, 0.999)).Beta1, Beta2 = (betas ?? (0.9, 0.999)).Beta2, Eps = eps,
            WeightDecay = weightDecay, Amsgrad = amsgrad, Maximize = maximize, DecoupledWeightDecay = decoupled,
        })
    {
    }

    /// <inheritdoc/>
    protected override IReadOnlyCollection<string> StateNames => Names;

    /// <inheritdoc/>
    protected override IEnumerable<string> RequiredState(OptimizerOptions options) =>
        ((AdamOptions)options).Amsgrad ? ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"] : ["step", "exp_avg", "exp_avg_sq"];

    /// <inheritdoc/>
    protected override void UpdateCore<T>(AdamOptions o, Tensor parameter, Span<T> p, ReadOnlySpan<T> grad, ParamState state)
    {
        var expAvg = Buffer(state, "exp_avg", parameter).AsSpan<T>();
        var expAvgSq = Buffer(state, "exp_avg_sq", parameter).AsSpan<T>();
        var maxSq = o.Amsgrad ? Buffer(state, "max_exp_avg_sq", parameter).AsSpan<T>() : default;
        long step = (state.Step ?? 0) + 1;                                   // step_t += 1
        state.Step = step;

        // Python-float scalars, rounded to T where a kernel receives them; the per-element arithmetic is
        // OptimizerKernels.Adam (AdamRow: the operations of _single_tensor_adam, vectorised).
        double bc1 = 1 - Math.Pow(o.Beta1, step), bc2 = 1 - Math.Pow(o.Beta2, step);
        double stepSize = o.Lr / bc1, bc2Sqrt = Math.Pow(bc2, 0.5);
        T w1 = T.CreateTruncating(1 - o.Beta1);
        var row = new AdamRow<T>
        {
            Maximize = o.Maximize, UseWeightDecay = o.WeightDecay != 0, Decoupled = o.DecoupledWeightDecay, LerpSmall = T.Abs(w1) < T.CreateTruncating(0.5),
            Decay = T.CreateTruncating(1 - o.Lr * o.WeightDecay), WeightDecay = T.CreateTruncating(o.WeightDecay), W1 = w1, OneMinusW1 = T.One - w1,
            Beta2 = T.CreateTruncating(o.Beta2), OneMinusBeta2 = T.CreateTruncating(1 - o.Beta2), Bc2Sqrt = T.CreateTruncating(bc2Sqrt),
            Eps = T.CreateTruncating(o.Eps), NegStepSize = T.CreateTruncating(-stepSize),
        };
        OptimizerKernels.Adam(p, grad, expAvg, expAvgSq, maxSq, row);
    }
}

/// <summary>
/// Adam with decoupled weight decay (p = p·(1 - lr·weight_decay) before the Adam step), as <c>torch.optim.AdamW</c>.
/// </summary>
public sealed class AdamW : Adam
{
    /// <summary>Creates the optimizer over one group of parameters (weight decay 1e-2 by default).</summary>
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, (double Beta1, double Beta2)? betas = null, double eps = 1e-8,
        double weightDecay = 1e-2, bool amsgrad = false, bool maximize = false)
        : base(parameters, lr, betas, eps, weightDecay, amsgrad, maximize, decoupled: true) { }
}
