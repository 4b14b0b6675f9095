// Activation modules (Tanh, ReLU, Sigmoid, Softmax, LogSoftmax) with PyTorch's printed names.
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
