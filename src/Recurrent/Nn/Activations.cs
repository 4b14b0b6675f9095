// Activation modules (Tanh, ReLU, Sigmoid, Softmax, LogSoftmax, LeakyReLU, ELU, SiLU) with PyTorch's printed names.
namespace Recurrent.Nn;

/// <summary>Element-wise tanh, as <c>nn.Tanh</c>.</summary>
public sealed class Tanh : Module<Tensor, Tensor>
{
    /// <inheritdoc/>
    public override string TypeName => "Tanh";
    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => input.Tanh();
}

/// <summary>Element-wise max(x, 0), as <c>nn.ReLU</c>.</summary>
public sealed class ReLU : Module<Tensor, Tensor>
{
    /// <inheritdoc/>
    public override string TypeName => "ReLU";
    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => input.Relu();
}

/// <summary>Element-wise logistic sigmoid, as <c>nn.Sigmoid</c>.</summary>
public sealed class Sigmoid : Module<Tensor, Tensor>
{
    /// <inheritdoc/>
    public override string TypeName => "Sigmoid";
    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => input.Sigmoid();
}

/// <summary>Softmax over <see cref="Dim"/>, as <c>nn.Softmax(dim)</c>.</summary>
public sealed class Softmax(int dim) : Module<Tensor, Tensor>
{
    /// <summary>The dimension that sums to one.</summary>
    public int Dim { get; } = dim;
    /// <inheritdoc/>
    public override string TypeName => "Softmax";
    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => input.Softmax(Dim);
    /// <inheritdoc/>
    public override string ExtraRepr() => $"dim={Dim}";
}

/// <summary>log(softmax(x)) over <see cref="Dim"/>, computed stably, as <c>nn.LogSoftmax(dim)</c>.</summary>
public sealed class LogSoftmax(int dim) : Module<Tensor, Tensor>
{
    /// <summary>The normalised dimension.</summary>
    public int Dim { get; } = dim;
    /// <inheritdoc/>
    public override string TypeName => "LogSoftmax";
    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => input.LogSoftmax(Dim);
    /// <inheritdoc/>
    public override string ExtraRepr() => $"dim={Dim}";
}

/// <summary>x where x &gt; 0, else negativeSlope * x, as <c>nn.LeakyReLU(negative_slope)</c>.</summary>
public sealed class LeakyReLU(double negativeSlope = 0.01) : Module<Tensor, Tensor>
{
    /// <summary>The slope below zero.</summary>
    public double NegativeSlope { get; } = negativeSlope;
    /// <inheritdoc/>
    public override string TypeName => "LeakyReLU";
    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => Functional.LeakyRelu(input, NegativeSlope);
    /// <inheritdoc/>
    public override string ExtraRepr() => $"negative_slope={PyFormat.Float(NegativeSlope)}";
}

/// <summary>x where x &gt; 0, else alpha * (exp(x) - 1), as <c>nn.ELU(alpha)</c>.</summary>
public sealed class ELU(double alpha = 1.0) : Module<Tensor, Tensor>
{
    /// <summary>The value the negative side approaches.</summary>
    public double Alpha { get; } = alpha;
    /// <inheritdoc/>
    public override string TypeName => "ELU";
    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => Functional.Elu(input, Alpha);
    /// <inheritdoc/>
    public override string ExtraRepr() => $"alpha={PyFormat.Float(Alpha)}";
}

/// <summary>x * sigmoid(x), as <c>nn.SiLU</c> (swish).</summary>
public sealed class SiLU : Module<Tensor, Tensor>
{
    /// <inheritdoc/>
    public override string TypeName => "SiLU";
    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => Functional.Silu(input);
}

public static partial class Functional
{
    /// <summary>x where x &gt; 0, else negativeSlope * x, as <c>F.leaky_relu</c> (the gradient at 0 is the slope, as PyTorch's).</summary>
    public static Tensor LeakyRelu(Tensor input, double negativeSlope = 0.01)
    {
        Guard.NotNull(input, nameof(input));
        Guard.Floating(input, nameof(input));
        return Tensor.Where(input.Gt(Tensor.Scalar(0.0, input.DType)), input, input.Mul(negativeSlope));
    }

    /// <summary>x where x &gt; 0, else alpha * (exp(x) - 1), as <c>F.elu</c> (the exponential of the positive side is never
    /// formed, so a large x gives no infinity to the gradient).</summary>
    public static Tensor Elu(Tensor input, double alpha = 1.0)
    {
        Guard.NotNull(input, nameof(input));
        Guard.Floating(input, nameof(input));
        var negative = input.Clamp(max: 0.0).Exp().Sub(1.0).Mul(alpha);
        return Tensor.Where(input.Gt(Tensor.Scalar(0.0, input.DType)), input, negative);
    }

    /// <summary>x * sigmoid(x), as <c>F.silu</c>.</summary>
    public static Tensor Silu(Tensor input)
    {
        Guard.NotNull(input, nameof(input));
        Guard.Floating(input, nameof(input));
        return input.Mul(input.Sigmoid());
    }
}
