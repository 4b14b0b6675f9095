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
        var shape = x.Shape.ToArray();
        int rows = 1;
        for (int d = 0; d < shape.Length - 1; d++) rows *= shape[d];
        shape[^1] = n;
        var b = bias?.Detach().Contiguous();
        if (k == 0)
        {
            // An empty sum: every row is the bias (zeros without one), as PyTorch's Linear(0, n) gives.
            var empty = Tensor.Allocate(DType.Float32, shape, clear: true);
            if (b is not null)
                for (int r = 0; r < rows; r++) b.AsSpan<float>().CopyTo(empty.AsSpan<float>().Slice(r * n, n));
            return empty;
        }
        var y = Tensor.Allocate(DType.Float32, shape, clear: false);
        fixed (float* px = xc.AsSpan<float>(), py = y.AsSpan<float>(), pb = b is null ? Span<float>.Empty : b.AsSpan<float>())
            Int8Gemm.Linear(rows, px, k, w.View, b is null ? null : pb, false, py, n);
        GC.KeepAlive(w);
        return y;
    }
}
