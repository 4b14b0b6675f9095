// Large steps split the gate rows (forward and backward) over the worker team: the same bits for any
// thread count (and equal to the one-thread path, which the reference tests check).
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

public class RnnThreadingTests
{
    [Theory]
    [InlineData(RnnMode.Lstm, 128)]
    [InlineData(RnnMode.Gru, 128)]
    [InlineData(RnnMode.RnnTanh, 256)]
    [InlineData(RnnMode.RnnRelu, 256)]
    public void ForwardAndBackwardAreBitIdenticalForOneAndTwoThreads(RnnMode mode, int hidden)
    {
        var s = new RnnStackSizes(mode, 24, hidden, NumLayers: 1, Bidirectional: true);
        int[] bs = [64, 64, 60, 33, 8];
        int n = bs.Sum(), width = 2 * hidden;
        var gen = new Generator(5);
        float[] R(int count, double scale) => Tensor.Uniform(new[] { count }, -scale, scale, generator: gen).ToArray<float>();
        var x = R(n * 24, 1); var w = R((int)s.WeightCount, 0.1);
        var h0 = R(2 * 64 * hidden, 0.5); var c0 = mode == RnnMode.Lstm ? R(2 * 64 * hidden, 0.5) : [];
        var dY = R(n * width, 1);
        (float[] y, float[] hN, float[] cache, float[] grads) Run(int threads)
        {
            int keep = Parallelism.MaxThreads;
            Parallelism.MaxThreads = threads;
            try
            {
                var y = new float[n * width]; var hN = new float[h0.Length]; var cN = new float[c0.Length];
                var cache = new float[RecurrentKernels.StackCacheSize(s, bs)];
                RecurrentKernels.StackForward<float>(y, hN, cN, cache, x, h0, c0, w, s, bs);
                // Inference (no cache) gives the same bits, the reverse direction's joining rows included.
                var yInf = new float[n * width];
                RecurrentKernels.StackForward<float>(yInf, [], [], [], x, h0, c0, w, s, bs);
                Assert.Equal(y, yInf);
                var dX = new float[x.Length]; var dW = new float[w.Length]; var dH0 = new float[h0.Length]; var dC0 = new float[c0.Length];
                RecurrentKernels.StackBackward<float>(dX, dH0, dC0, dW, false, dY, [], [], cache, x, c0, w, s, bs);
                return (y, hN, cache, [.. dX, .. dW, .. dH0, .. dC0]);
            }
            finally { Parallelism.MaxThreads = keep; }
        }
        var one = Run(1);
        var two = Run(2);
        Assert.Equal(one.y, two.y);
        Assert.Equal(one.hN, two.hN);
        Assert.Equal(one.cache, two.cache);
        Assert.Equal(one.grads, two.grads);
        Assert.Contains(one.grads, v => v != 0);
        Assert.Contains(one.y, v => v != 0);
    }
}
