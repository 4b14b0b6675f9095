// The int8 state a dynamically quantized module keeps instead of its float weights: one
// QuantizedMatrix per weight (symmetric int8, one scale per output row, packed for Int8Gemm), keyed
// by the weight's PyTorch name, and, for the recurrent stacks, the native descriptors the kernels
// read (QuantizedLayerWeights: matrix views and pinned float bias pointers).
using Recurrent.Kernels;

namespace Recurrent.Quantization;

/// <summary>What a module does when <see cref="Quantizer.QuantizeDynamic{TModule}(TModule)"/> reaches it.</summary>
internal interface IDynamicQuantizable
{
    /// <summary>True once the module computes with int8 weights.</summary>
    bool IsQuantized { get; }

    /// <summary>The names and shapes (rows, columns) of the weights that quantization turns into int8, in state_dict order.</summary>
    IReadOnlyList<(string Name, int Rows, int Cols)> QuantizableWeights { get; }

    /// <summary>Replaces the named float weights by these int8 matrices (every name of <see cref="QuantizableWeights"/>).</summary>
    void InstallQuantized(IReadOnlyDictionary<string, QuantizedMatrix> weights);

    /// <summary>The int8 weights by name (after quantization).</summary>
    IReadOnlyDictionary<string, QuantizedMatrix> Quantized { get; }
}

/// <summary>Shared helpers of the quantized modules.</summary>
internal static class QuantizedWeights
{
    /// <summary>Quantizes a float weight (rows, cols), converting float64 to float32 first.</summary>
    public static QuantizedMatrix Quantize(Tensor weight)
    {
        var w = weight.DType == DType.Float32 ? weight.Detach().Contiguous() : weight.Detach().To(DType.Float32);
        return QuantizedMatrix.Quantize(w.AsSpan<float>(), weight.Size(0), weight.Size(1), Math.Max(1, weight.Size(1)));
    }

    /// <summary>A float32 copy of <paramref name="t"/> on pinned storage (kernels keep raw pointers to it).</summary>
    public static Tensor PinnedCopy(Tensor t)
    {
        var data = GC.AllocateArray<float>(t.Numel, pinned: true);
        var src = t.DType == DType.Float32 ? t.Detach().Contiguous() : t.Detach().To(DType.Float32);
        src.AsSpan<float>().CopyTo(data);
        return new Tensor(data, t.Shape.ToArray()).DetachFromDisposeScope();
    }

    /// <summary>The error for a quantized module run in training mode or converted.</summary>
    public static InvalidOperationException InferenceOnly(string typeName, string what) =>
        new($"{typeName} is quantized for inference (Quantizer.QuantizeDynamic): {what}. Quantized modules run in eval mode only, without gradients; call Eval(), or train the float model and quantize it afterwards.");
}
