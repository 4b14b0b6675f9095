// The stack runner of a dynamically quantized Rnn / Lstm / Gru: the same contract as the fused and
// composed runners (RecurrentStack.cs), inference only, with every product computed by Int8Gemm from
// the int8 weights and the gate arithmetic of the float kernels (RecurrentKernels.StackForwardQuantized).
using Recurrent.Kernels;
using Recurrent.Nn;

namespace Recurrent.Quantization;

/// <summary>Runs a stack on int8 weights; the output records no autograd history.</summary>
internal sealed unsafe class QuantizedStackRunner : IStackRunner
{
    private readonly QuantizedLayerWeights[] _layers;
    // Keeps the matrices and the pinned biases the descriptors point into alive.
    private readonly QuantizedMatrix[] _matrices;
    private readonly Tensor?[] _biases;

    /// <summary>
    /// matrices: per chain (layer-major, then direction) W_ih, W_hh and W_hr (with a projection);
    /// biases: per chain b_ih, b_hh (pinned float32 tensors) or null without bias.
    /// </summary>
    public QuantizedStackRunner(RnnStackSizes sizes, QuantizedMatrix[] matrices, Tensor?[] biases)
    {
        int chains = sizes.NumLayers * sizes.Directions, per = sizes.ProjSize > 0 ? 3 : 2;
        _matrices = matrices;
        _biases = biases;
        _layers = new QuantizedLayerWeights[chains];
        for (int k = 0; k < chains; k++)
        {
            _layers[k] = new QuantizedLayerWeights
            {
                Ih = matrices[k * per].View,
                Hh = matrices[k * per + 1].View,
                Hr = per == 3 ? matrices[k * per + 2].View : default,
                BiasIh = biases[2 * k] is { } bi ? PinnedPointer(bi) : null,
                BiasHh = biases[2 * k + 1] is { } bh ? PinnedPointer(bh) : null,
            };
        }
    }

    /// <summary>The per-chain weight descriptors (for callers that run the kernel themselves: RecurrentStream).</summary>
    internal ReadOnlySpan<QuantizedLayerWeights> Layers => _layers;

    /// <summary>Keeps the matrices and pinned biases that <see cref="Layers"/> points into alive until this call.</summary>
    internal void KeepAlive()
    {
        GC.KeepAlive(_matrices);
        GC.KeepAlive(_biases);
    }

    private static float* PinnedPointer(Tensor pinned) =>
        (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(pinned.Arr<float>()));

    public StackResult Run(in StackCall call)
    {
        var s = call.Sizes;
        if (call.X.DType != DType.Float32)
            throw new ArgumentException($"input: a quantized {s.Mode.PyTorchName()} runs on float32 input. Expected torch.float32, got {Tensor.DTypeName(call.X.DType)}; convert it with input.To(DType.Float32).", "input");
        var x = call.X.Contiguous();
        var h0 = call.H0.Contiguous();
        var c0 = s.Mode == RnnMode.Lstm ? call.C0!.Contiguous() : null;
        int n = x.Size(0), b = call.BatchSizes[0], states = s.NumLayers * s.Directions, width = s.Directions * s.OutSize;
        var y = Tensor.Allocate(DType.Float32, [n, width], clear: false);
        var hN = Tensor.Allocate(DType.Float32, [states, b, s.OutSize], clear: false);
        var cN = c0 is null ? null : Tensor.Allocate(DType.Float32, [states, b, s.HiddenSize], clear: false);
        RecurrentKernels.StackForwardQuantized(y.AsSpan<float>(), hN.AsSpan<float>(), cN is null ? Span<float>.Empty : cN.AsSpan<float>(),
            x.AsSpan<float>(), h0.AsSpan<float>(), c0 is null ? ReadOnlySpan<float>.Empty : c0.AsSpan<float>(), _layers, s, call.BatchSizes);
        KeepAlive();
        return new StackResult(y, hN, cN);
    }
}
