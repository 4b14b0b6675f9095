// nn.LayerNorm: each sample normalised over its last dimensions (mean 0, biased variance 1, then eps), with an
// element-wise scale and shift, as layer-normalised LSTMs and attention blocks use it. Built from differentiable tensor
// ops (so its gradients are autograd's); exported to ONNX as LayerNormalization.
using Recurrent.Tracing;

namespace Recurrent.Nn;

/// <summary>
/// Layer normalisation over the last <c>NormalizedShape.Length</c> dimensions, as <c>nn.LayerNorm(normalized_shape, eps,
/// elementwise_affine, bias)</c>: y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias, with the biased variance.
/// Parameters <c>weight</c> (ones) and <c>bias</c> (zeros) of shape <see cref="NormalizedShape"/>.
/// </summary>
public sealed class LayerNorm : Module<Tensor, Tensor>
{
    /// <summary>Normalises over the last dimension, of size <paramref name="normalizedShape"/>.</summary>
    public LayerNorm(int normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32)
        : this([normalizedShape], eps, elementwiseAffine, bias, dtype) { }

    /// <summary>Normalises over the last dimensions, of sizes <paramref name="normalizedShape"/>.</summary>
    /// <exception cref="ArgumentException">The shape is empty or has a negative size, eps is negative or NaN, or the dtype is int64.</exception>
    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32)
    {
        Guard.NotNull(normalizedShape, nameof(normalizedShape));
        if (normalizedShape.Length == 0) throw new ArgumentException("LayerNorm: normalizedShape must have at least one dimension, but got []", nameof(normalizedShape));
        foreach (int s in normalizedShape) Guard.NonNegative(s, nameof(normalizedShape));
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, $"LayerNorm: eps must be a non-negative number, but got {eps}");
        if (dtype == DType.Int64) throw new ArgumentException("LayerNorm: dtype must be floating point (Float32 or Float64), but got torch.int64", nameof(dtype));
        NormalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        ElementwiseAffine = elementwiseAffine;
        RegisterParameter("weight", elementwiseAffine ? Tensor.Ones(NormalizedShape, dtype) : null);
        RegisterParameter("bias", elementwiseAffine && bias ? Tensor.Zeros(NormalizedShape, dtype) : null);
    }

    /// <summary>The sizes of the normalised (last) dimensions.</summary>
    public int[] NormalizedShape { get; }
    /// <summary>Added to the variance before the square root.</summary>
    public double Eps { get; }
    /// <summary>Whether the layer has a weight (and, unless created without, a bias).</summary>
    public bool ElementwiseAffine { get; }
    /// <summary>The scale (ones at creation), or null without elementwise affine.</summary>
    public Tensor? Weight => Param("weight");
    /// <summary>The shift (zeros at creation), or null.</summary>
    public Tensor? Bias => Param("bias");

    /// <inheritdoc/>
    public override string TypeName => "LayerNorm";

    /// <summary>Input (*, NormalizedShape), output of the same shape.</summary>
    public override Tensor Forward(Tensor input) => Functional.LayerNorm(input, NormalizedShape, Weight, Bias, Eps);

    /// <inheritdoc/>
    public override string ExtraRepr() =>
        $"({string.Join(", ", NormalizedShape)}{(NormalizedShape.Length == 1 ? "," : "")}), eps={PyFormat.Float(Eps)}, elementwise_affine={PyBool(ElementwiseAffine)}";
}

public static partial class Functional
{
    /// <summary>
    /// Layer normalisation of <paramref name="input"/> over its last dimensions, which must equal
    /// <paramref name="normalizedShape"/>, as <c>F.layer_norm(input, normalized_shape, weight, bias, eps)</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The input's trailing sizes, or the weight's or bias's shape, differ from <paramref name="normalizedShape"/>.</exception>
    public static Tensor LayerNorm(Tensor input, int[] normalizedShape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        Guard.NotNull(input, nameof(input));
        Guard.NotNull(normalizedShape, nameof(normalizedShape));
        Guard.Floating(input, nameof(input));
        int k = normalizedShape.Length, rank = input.Dim;
        bool fits = k >= 1 && k <= rank;
        for (int i = 0; i < k && fits; i++) fits = input.ShapeRef[rank - k + i] == normalizedShape[i];
        if (!fits)
            throw new ArgumentException($"Given normalized_shape={Guard.ShapeText(normalizedShape)}, expected input with shape [*, {string.Join(", ", normalizedShape)}], but got input of size{Guard.ShapeText(input.ShapeRef)}", nameof(input));
        if (weight is not null && !weight.ShapeRef.AsSpan().SequenceEqual(normalizedShape))
            throw new ArgumentException($"Expected weight to be of same shape as normalized_shape, but got weight of shape {Guard.ShapeText(weight.ShapeRef)} and normalized_shape = {Guard.ShapeText(normalizedShape)}", nameof(weight));
        if (bias is not null && !bias.ShapeRef.AsSpan().SequenceEqual(normalizedShape))
            throw new ArgumentException($"Expected bias to be of same shape as normalized_shape, but got bias of shape {Guard.ShapeText(bias.ShapeRef)} and normalized_shape = {Guard.ShapeText(normalizedShape)}", nameof(bias));
        using var trace = TraceScope.Begin();
        int n = 1;
        foreach (int s in normalizedShape) n *= s;
        int[] rows = [.. input.ShapeRef[..(rank - k)], n];
        var x = input.Reshape(rows);
        var centered = x.Sub(x.Mean(-1, keepDim: true));
        var variance = centered.Mul(centered).Mean(-1, keepDim: true);
        var y = centered.Div(variance.Add(eps).Sqrt()).Reshape(input.Shape);
        if (weight is not null) y = y.Mul(weight);
        if (bias is not null) y = y.Add(bias);
        trace.End()?.Op("LayerNorm", y, [input, weight, bias], k, eps);
        return y;
    }
}
