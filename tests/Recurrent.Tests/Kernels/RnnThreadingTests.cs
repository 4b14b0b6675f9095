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
        var s = new RnnLayerSizes(mode, 24, hidden);
        int[] bs = [64, 64, 60, 33, 8];
        int n = bs.Sum(), g = s.Gates * hidden;
        var gen = new Generator(5);
        float[] R(int count, double scale) => Tensor.Uniform(new[] { count }, -scale, scale, generator: gen).ToArray<float>();
        var x = R(n * 24, 1); var wih = R(g * 24, 0.2); var whh = R(g * hidden, 0.1); var bih = R(g, 0.1); var bhh = R(g, 0.1);
        var h0 = R(64 * hidden, 0.5); var c0 = mode == RnnMode.Lstm ? R(64 * hidden, 0.5) : [];
        var dY = R(n * hidden, 1);
        (float[] y, float[] hN, float[] cache, float[] grads) Run(int threads)
        {
            int keep = Parallelism.MaxThreads;
            Parallelism.MaxThreads = threads;
            try
            {
                var y = new float[n * hidden]; var hN = new float[64 * hidden]; var cN = new float[mode == RnnMode.Lstm ? 64 * hidden : 0];
                var cache = new float[RecurrentKernels.LayerCacheSize(s, bs)];
                var w = new RnnLayerWeights<float> { WeightIh = wih, WeightHh = whh, BiasIh = bih, BiasHh = bhh };
                RecurrentKernels.LayerForward<float>(y, hidden, hN, cN, cache, x, h0, c0, w, s, bs);
                var yInf = new float[n * hidden];
                RecurrentKernels.LayerForward<float>(yInf, hidden, [], [], [], x, h0, c0, w, s, bs);
                Assert.Equal(y, yInf);
                var dX = new float[x.Length]; var dWih = new float[wih.Length]; var dWhh = new float[whh.Length];
                var dBih = new float[g]; var dBhh = new float[g]; var dH0 = new float[h0.Length]; var dC0 = new float[c0.Length];
                RecurrentKernels.LayerBackward<float>(dX, dH0, dC0,
                    new RnnLayerGrads<float> { WeightIh = dWih, WeightHh = dWhh, BiasIh = dBih, BiasHh = dBhh },
                    dY, hidden, [], [], cache, x, c0, w, s, bs);
                return (y, hN, cache, [.. dX, .. dWih, .. dWhh, .. dBih, .. dBhh, .. dH0, .. dC0]);
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
