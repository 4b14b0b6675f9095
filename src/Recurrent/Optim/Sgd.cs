// SGD with momentum, dampening, Nesterov momentum, weight decay and maximize, following
// torch/optim/sgd.py `_single_tensor_sgd` operation by operation (in the parameter's dtype).
// libtorch's CPU kernels contract `a + alpha*b` (add with alpha, addcmul, lerp) into one fused
// multiply-add, so we do too: the SGD and Adam fixtures then match bit for bit.
using Recurrent.Kernels;

namespace Recurrent.Optim;

/// <summary>Hyperparameters of <see cref="Sgd"/>.</summary>
public sealed class SgdOptions : OptimizerOptions
{
    /// <summary>Momentum factor (0 = plain SGD).</summary>
    public double Momentum { get; set; }
    /// <summary>Dampening of the momentum update.</summary>
    public double Dampening { get; set; }
    /// <summary>L2 penalty added to the gradient.</summary>
    public double WeightDecay { get; set; }
    /// <summary>Use Nesterov momentum (needs momentum &gt; 0 and dampening = 0).</summary>
    public bool Nesterov { get; set; }
    /// <summary>Maximise the objective instead of minimising it.</summary>
    public bool Maximize { get; set; }

    /// <inheritdoc/>
    public override void Validate()
    {
        CheckNonNegative(Lr, "learning rate", "lr");
        CheckNonNegative(Momentum, "momentum value", "momentum");
        CheckNonNegative(WeightDecay, "weight_decay value", "weightDecay");
        if (Nesterov && (Momentum <= 0 || Dampening != 0))
            throw new ArgumentException($"Nesterov momentum requires a momentum and zero dampening (got momentum={Num(Momentum)}, dampening={Num(Dampening)})", "nesterov");
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, double[] Value)> ToValues() =>
    [
        ("lr", [Lr]), ("momentum", [Momentum]), ("dampening", [Dampening]), ("weight_decay", [WeightDecay]),
        ("nesterov", [Nesterov ? 1 : 0]), ("maximize", [Maximize ? 1 : 0]),
    ];

    /// <inheritdoc/>
    public override bool TrySetValue(string name, double[] v)
    {
        switch (name)
        {
            case "lr": Lr = Value(name, v); return true;
            case "momentum": Momentum = Value(name, v); return true;
            case "dampening": Dampening = Value(name, v); return true;
            case "weight_decay": WeightDecay = Value(name, v); return true;
            case "nesterov": Nesterov = Value(name, v) != 0; return true;
            case "maximize": Maximize = Value(name, v) != 0; return true;
            default: return false;
        }
    }
}

/// <summary>
/// Stochastic gradient descent, as <c>torch.optim.SGD</c>. Per step, with g the gradient:
/// <code>
/// g = -g if maximize;  g = g + weight_decay·p
/// if momentum ≠ 0: buf = g (first step) else buf = momentum·buf + (1-dampening)·g
///                  g = g + momentum·buf if nesterov else buf
/// p = p - lr·g
/// </code>
/// State: <c>momentum_buffer</c> (only with momentum).
/// </summary>
public sealed class Sgd : Optimizer<SgdOptions>
{
    private static readonly string[] Names = ["momentum_buffer"];

    /// <summary>Creates the optimizer over one group of parameters.</summary>
    public Sgd(IEnumerable<Tensor> parameters, double lr = 1e-3, double momentum = 0, double dampening = 0,
        double weightDecay = 0, bool nesterov = false, bool maximize = false)
        : base(parameters, new SgdOptions { Lr = lr, Momentum = momentum, Dampening = dampening, WeightDecay = weightDecay, Nesterov = nesterov, Maximize = maximize })
    {
    }

    /// <inheritdoc/>
    protected override IReadOnlyCollection<string> StateNames => Names;

    /// <inheritdoc/>
    protected override void UpdateCore<T>(SgdOptions o, Tensor parameter, Span<T> p, ReadOnlySpan<T> grad, ParamState state)
    {
        bool useMom = o.Momentum != 0, first = false;
        Span<T> buf = default;
        if (useMom)
        {
            first = !state.Buffers.ContainsKey("momentum_buffer");
            buf = Buffer(state, "momentum_buffer", parameter).AsSpan<T>();
        }
        // The operations of _single_tensor_sgd, vectorised (OptimizerKernels.Sgd / SgdRow).
        OptimizerKernels.Sgd(p, grad, buf, new SgdRow<T>
        {
            Maximize = o.Maximize, UseWeightDecay = o.WeightDecay != 0, FirstStep = first, Nesterov = o.Nesterov,
            WeightDecay = T.CreateTruncating(o.WeightDecay), Momentum = T.CreateTruncating(o.Momentum),
            OneMinusDampening = T.CreateTruncating(1 - o.Dampening), NegLr = T.CreateTruncating(-o.Lr),
        });
    }
}
