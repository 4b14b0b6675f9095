// The int8 form of y = x W^T + b: the rows of x quantized on the fly (uint8, one scale and zero point per
// row), W int8 per output row, int32 accumulation, float rescale and bias (Int8Gemm.Linear).
using Recurrent.Kernels;

namespace Recurrent.Quantization;

internal static unsafe class QuantizedLinear
{
    /// <summary>x (*, K) float32 -> (*, N) float32 = x W^T + bias, no autograd. bias (N) float32 or null.</summary>
    public static Tensor Apply(Tensor x, QuantizedMatrix w, Tensor? bias)
    {
        if (x.DType != DType.Float32)
            throw new ArgumentException($"input: int8 layers run on float32 input. Expected torch.float32, got {Tensor.DTypeName(x.DType)}; convert it with input.To(DType.Float32).", nameof(x));
        int k = w.K, n = w.N;
        if (x.Dim == 0 || x.Size(-1) != k)
            throw new ArgumentException($"mat1 and mat2 shapes cannot be multiplied ({(x.Dim == 0 ? 1 : x.Numel / Math.Max(1, x.Size(-1)))}x{(x.Dim == 0 ? 0 : x.Size(-1))} and {k}x{n})", nameof(x));
        var xc = x.Detach().Contiguous();
        int rows = xc.Numel / Math.Max(1, k);
        var shape = x.Shape.ToArray();
        shape[^1] = n;
        var y = Tensor.Allocate(DType.Float32, shape, clear: false);
        var b = bias?.Detach().Contiguous();
        fixed (float* px = xc.AsSpan<float>(), py = y.AsSpan<float>(), pb = b is null ? Span<float>.Empty : b.AsSpan<float>())
            Int8Gemm.Linear(rows, px, k, w.View, b is null ? null : pb, false, py, n);
        GC.KeepAlive(w);
        return y;
    }
}
