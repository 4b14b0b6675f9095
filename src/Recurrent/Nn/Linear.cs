// nn.Linear: y = x Wᵀ + b over the last dimension, PyTorch's parameter names and default init;
// after dynamic quantization, the int8 product of Quantization/QuantizedLinear.
using Recurrent.Kernels;
using Recurrent.Quantization;

namespace Recurrent.Nn;

/// <summary>
/// Affine map y = x Wᵀ + b applied to the last dimension, as <c>nn.Linear</c>. Input (*, in_features),
/// output (*, out_features). Parameters <c>weight</c> (out_features, in_features) and <c>bias</c> (out_features),
/// both initialised U(-1/√in_features, 1/√in_features) (PyTorch's kaiming_uniform_(a=√5) rule).
/// </summary>
public sealed class Linear : Module<Tensor, Tensor>, IDynamicQuantizable
{
    private QuantizedMatrix? _q;
    /// <summary>Creates the layer; <paramref name="generator"/> seeds the initial weights (default: <see cref="Generator.Default"/>).</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        Guard.NonNegative(inFeatures, nameof(inFeatures));
        Guard.NonNegative(outFeatures, nameof(outFeatures));
        if (dtype == DType.Int64) throw new ArgumentException("Linear: dtype must be floating point (Float32 or Float64), but got torch.int64", nameof(dtype));
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var w = Tensor.Zeros([outFeatures, inFeatures], dtype);
        Init.KaimingUniform_(w, a: Math.Sqrt(5), generator: generator);
        RegisterParameter("weight", w);
        if (bias)
        {
            double bound = inFeatures > 0 ? 1 / Math.Sqrt(inFeatures) : 0;
            RegisterParameter("bias", Tensor.Uniform([outFeatures], -bound, bound, dtype, generator));
        }
        else RegisterParameter("bias", null);
    }

    /// <summary>Size of each input sample.</summary>
    public int InFeatures { get; }
    /// <summary>Size of each output sample.</summary>
    public int OutFeatures { get; }

    /// <summary>
    /// The weight W, (out_features, in_features). Setting it makes the given tensor itself the weight, as PyTorch's
    /// <c>decoder.weight = encoder.weight</c> (weight tying: <c>decoder.Weight = encoder.Weight</c> with an
    /// <see cref="Embedding"/> of (out_features, in_features)); it must be a leaf tensor of this shape and dtype that is
    /// all of its storage. Another module's parameter keeps its <see cref="Tensor.RequiresGrad"/>; any other tensor
    /// becomes trainable, as <c>nn.Parameter(t)</c>.
    /// </summary>
    /// <exception cref="ArgumentNullException">Set to null.</exception>
    /// <exception cref="ArgumentException">Set to a non-leaf tensor, a view of a larger storage, or one of another shape or dtype.</exception>
    /// <exception cref="InvalidOperationException">The layer is quantized (int8 weights).</exception>
    public Tensor Weight
    {
        get => _q is null ? Param("weight")! : throw NoFloatWeight();
        set
        {
            if (_q is not null) throw NoFloatWeight();
            AssignParameter("weight", value, "Linear.Weight");
        }
    }

    private InvalidOperationException NoFloatWeight() => QuantizedWeights.InferenceOnly(TypeName, "its float weight was replaced by int8 weights");

    /// <summary>The int8 weight once quantized, else null (for callers that run the product themselves: LanguageModelStream).</summary>
    internal QuantizedMatrix? QuantizedWeight => _q;

    /// <summary>True once <see cref="Quantizer.QuantizeDynamic{TModule}(TModule)"/> turned the weight into int8 (inference only).</summary>
    public bool IsQuantized => _q is not null;

    bool IDynamicQuantizable.IsQuantized => IsQuantized;

    IReadOnlyDictionary<string, QuantizedMatrix> IDynamicQuantizable.Quantized =>
        _q is null ? throw new InvalidOperationException("Linear is not quantized") : new Dictionary<string, QuantizedMatrix> { ["weight"] = _q };

    IReadOnlyList<(string Name, int Rows, int Cols)> IDynamicQuantizable.QuantizableWeights => [("weight", OutFeatures, InFeatures)];

    void IDynamicQuantizable.InstallQuantized(IReadOnlyDictionary<string, QuantizedMatrix> weights)
    {
        var q = weights.TryGetValue("weight", out var w) && w.N == OutFeatures && w.K == InFeatures ? w
            : throw new ArgumentException($"Linear: weight must be int8 ({OutFeatures}, {InFeatures})", nameof(weights));
        if (Param("bias") is { } bias) ReplaceParameter("bias", QuantizedWeights.PinnedCopy(bias));
        if (HasParameter("weight")) RemoveParameter("weight");   // already gone when the module was quantized before
        _q = q;
    }
    /// <summary>The bias b, (out_features), or null when built with <c>bias: false</c>.</summary>
    public Tensor? Bias => Param("bias");

    /// <inheritdoc/>
    public override string TypeName => "Linear";

    /// <summary>(*, in_features) -> (*, out_features).</summary>
    public override Tensor Forward(Tensor input)
    {
        if (_q is null) return Functional.Linear(input, Weight, Bias);
        if (Training) throw QuantizedWeights.InferenceOnly(TypeName, "it is in training mode");
        Guard.NotNull(input, nameof(input));
        return QuantizedLinear.Apply(input, _q, Bias);
    }

    /// <inheritdoc/>
    public override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={PyFormat.Bool(Bias is not null)}";
}
