// Large steps split the gate rows (forward and backward) over the worker team, and stacks of several
// layers or directions run as a task graph over both threads: the same bits for any thread count
// (and equal to the one-thread path, which the reference tests check), run after run.
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

[Collection(Serial.Name)]
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
        (float[] y, float[] hN, float[] cache, float[] grads) Run(int threads) => WithThreads<(float[], float[], float[], float[])>(threads, () =>
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
        });
        var one = Run(1);
        var two = Run(2);
        Assert.Equal(one.y, two.y);
        Assert.Equal(one.hN, two.hN);
        Assert.Equal(one.cache, two.cache);
        Assert.Equal(one.grads, two.grads);
        Assert.Contains(one.grads, v => v != 0);
        Assert.Contains(one.y, v => v != 0);
    }

    [Theory]
    [InlineData(RnnMode.Lstm, 2, false, false, 0)]
    [InlineData(RnnMode.Lstm, 3, true, true, 0)]
    [InlineData(RnnMode.Lstm, 2, true, true, 7)]
    [InlineData(RnnMode.Gru, 2, true, true, 0)]
    [InlineData(RnnMode.Gru, 3, false, false, 0)]
    [InlineData(RnnMode.RnnTanh, 2, true, false, 0)]
    [InlineData(RnnMode.RnnRelu, 4, false, true, 0)]
    [InlineData(RnnMode.Gru, 1, true, true, 0)]
    public void StackSchedule_IsBitIdenticalForOneAndTwoThreads_RunAfterRun(RnnMode mode, int layers, bool bidir, bool packed, int proj) =>
        CheckStackOneAndTwoThreads(mode, layers, bidir, packed, proj, input: 24, hidden: 40, batch: 6);

    // Inference keeps the layer outputs of a stack in two alternating buffers, so from four layers on, layer l + 2
    // writes into the buffer whose chunk-edge rows layer l's next chunks still read as h_{t-1}. Without a dropout
    // mask: the same bits as training (which keeps every layer's output) and as one thread, run after run. This checks
    // the buffers' reuse and the graph's waits end to end; the overwrite the waits prevent needs one thread to fall two
    // layers behind the other (a preemption), which this test does not force: with the wait removed it still passes.
    [Theory]
    [InlineData(RnnMode.Gru, 4, false)]
    [InlineData(RnnMode.RnnTanh, 5, false)]
    [InlineData(RnnMode.Lstm, 4, true)]
    public void DeepStackInference_WithoutMask_IsBitIdenticalToTrainingAndOneThread(RnnMode mode, int layers, bool bidir)
    {
        var s = new RnnStackSizes(mode, 24, 40, layers, bidir);
        int[] bs = Enumerable.Repeat(6, 48).ToArray();
        int n = bs.Sum(), width = s.Directions * s.OutSize, states = layers * s.Directions;
        var gen = new Generator(8);
        float[] R(int count, double scale) => Tensor.Uniform(new[] { count }, -scale, scale, generator: gen).ToArray<float>();
        var x = R(n * 24, 1); var w = R((int)s.WeightCount, 0.3);
        var h0 = R(states * 6 * s.OutSize, 0.5); var c0 = mode == RnnMode.Lstm ? R(states * 6 * 40, 0.5) : [];
        var trained = WithThreads(1, () =>
        {
            var y = new float[n * width];
            var cache = new float[RecurrentKernels.StackCacheSize(s, bs)];
            RecurrentKernels.StackForward<float>(y, new float[h0.Length], new float[c0.Length], cache, x, h0, c0, w, s, bs);
            return y;
        });
        float[] Infer(int threads) => WithThreads(threads, () =>
        {
            var y = new float[n * width];
            RecurrentKernels.StackForward<float>(y, [], [], [], x, h0, c0, w, s, bs);
            return y;
        });
        Assert.Contains(trained, v => v != 0);
        Assert.Equal(trained, Infer(1));
        for (int rep = 0; rep < 20; rep++) Assert.Equal(trained, Infer(2));
    }

    // One thread runs the whole sequence as one chunk, two threads (small steps) chunks of 8 steps: the input projections and input
    // gradients then have 23 * B rows against 8 * B. These sizes put the one-thread products of layer 0 above the
    // GEMM's 2^21-flop threshold (the blocked, packed path) and the two-thread chunks below it.
    [Theory]
    [InlineData(RnnMode.Lstm, 2, false, false, 0)]
    [InlineData(RnnMode.Lstm, 2, true, true, 0)]
    [InlineData(RnnMode.Gru, 2, true, false, 0)]
    [InlineData(RnnMode.RnnTanh, 3, false, true, 0)]
    [InlineData(RnnMode.Lstm, 2, false, true, 24)]
    public void StackSchedule_ChunkSizeDoesNotChangeBits_AcrossTheGemmThreshold(RnnMode mode, int layers, bool bidir, bool packed, int proj) =>
        CheckStackOneAndTwoThreads(mode, layers, bidir, packed, proj, input: 32, hidden: mode == RnnMode.RnnTanh ? 256 : 64, batch: 8);

    // Stacks whose steps' recurrent products are large run 4-step chunks at two threads (8 for small steps): the same
    // bits as one thread (one chunk of the whole sequence), run after run, forward and backward.
    [Theory]
    [InlineData(RnnMode.Lstm, 2, false, true, 256)]
    [InlineData(RnnMode.Gru, 2, true, false, 320)]
    public void StackSchedule_ShortChunks_AreBitIdenticalToOneThread(RnnMode mode, int layers, bool bidir, bool packed, int hidden)
    {
        var s = new RnnStackSizes(mode, 32, hidden, layers, bidir);
        Assert.Equal(RnnStackSchedule<float>.ChunkSteps, WithThreads(2, () => RnnStackSchedule<float>.StepsPerChunk(s, 23, 8)));
        Assert.Equal(RnnStackSchedule<float>.SmallStepChunkSteps, WithThreads(2, () => RnnStackSchedule<float>.StepsPerChunk(s, 23, 4)));
        Assert.Equal(23, WithThreads(1, () => RnnStackSchedule<float>.StepsPerChunk(s, 23, 8)));
        CheckStackOneAndTwoThreads(mode, layers, bidir, packed, proj: 0, input: 32, hidden: hidden, batch: 8);
    }

    // A single-layer LSTM's forward at two threads splits each step by hidden units (each thread: its columns of
    // h W_hh^T, then its units' gates) instead of in two phases: the same bits as one thread, in inference and in
    // training (outputs, h_n, c_n and the saved cache), with packed rows joining from h0/c0 and steps too small to
    // split in between.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LstmForward_SplitByHiddenUnits_IsBitIdenticalToOneThread(bool packed)
    {
        var s = new RnnStackSizes(RnnMode.Lstm, 48, 128, NumLayers: 1, Bidirectional: false);
        int[] bs = SplitBatchSizes(packed);
        Assert.True(RnnLayerCore<float>.SplitsStepsByUnits(s.Layer(0, 0), bs[0], quantized: false, threads: 2));
        Assert.False(RnnLayerCore<float>.SplitsStepsByUnits(s.Layer(0, 0), bs[0], quantized: false, threads: 1));
        int n = bs.Sum(), hidden = 128;
        var gen = new Generator(8);
        float[] R(int count, double scale) => Tensor.Uniform(new[] { count }, -scale, scale, generator: gen).ToArray<float>();
        var x = R(n * 48, 1); var w = R((int)s.WeightCount, 0.15);
        var h0 = R(bs[0] * hidden, 0.5); var c0 = R(bs[0] * hidden, 0.5);
        float[] Run(int threads, bool training) => Forward(threads, training, keepCache: true, s, bs, x, h0, c0, w, mask: []);
        var inference = Run(1, training: false);
        var training = Run(1, training: true);
        Assert.Contains(inference, v => v != 0);
        Assert.Equal(inference, training[..inference.Length]);
        for (int rep = 0; rep < 3; rep++)
        {
            Assert.Equal(inference, Run(2, training: false));
            Assert.Equal(training, Run(2, training: true));
        }
    }

    // An inference forward of a one-direction LSTM stack at two threads runs layer by layer (each step split by hidden
    // units, each projection split over the team) instead of on the task graph: the same bits as one thread and as the
    // training forward (which keeps the graph), with dropout masks between layers, h0/c0, h_n/c_n, three layers (the
    // alternating output buffers) and packed rows joining from h0/c0.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LstmStackInference_LayerByLayer_IsBitIdenticalToOneThreadAndToTraining(bool packed)
    {
        var s = new RnnStackSizes(RnnMode.Lstm, 40, 128, NumLayers: 3, Bidirectional: false);
        int[] bs = SplitBatchSizes(packed);
        int n = bs.Sum(), hidden = 128, states = 3 * bs[0] * hidden;
        WithThreads(2, () =>
        {
            Assert.True(RnnStackSchedule<float>.LayerByLayer(s, bs[0], training: false, quantized: false));
            Assert.False(RnnStackSchedule<float>.LayerByLayer(s, bs[0], training: true, quantized: false));
            Assert.False(RnnStackSchedule<float>.LayerByLayer(s, bs[0], training: false, quantized: true));
            Assert.False(RnnStackSchedule<float>.LayerByLayer(s with { Bidirectional = true }, bs[0], training: false, quantized: false));
            return 0;
        });
        WithThreads(1, () => { Assert.False(RnnStackSchedule<float>.LayerByLayer(s, bs[0], training: false, quantized: false)); return 0; });
        var gen = new Generator(9);
        float[] R(int count, double scale) => Tensor.Uniform(new[] { count }, -scale, scale, generator: gen).ToArray<float>();
        var x = R(n * 40, 1); var w = R((int)s.WeightCount, 0.15);
        var h0 = R(states, 0.5); var c0 = R(states, 0.5);
        var mask = R(2 * n * hidden, 1).Select(v => v > -0.4f ? 1 / 0.7f : 0f).ToArray();
        float[] Run(int threads, bool training) => Forward(threads, training, keepCache: false, s, bs, x, h0, c0, w, mask);
        var one = Run(1, training: false);
        Assert.Contains(one, v => v != 0);
        Assert.Equal(one, Run(1, training: true));
        for (int rep = 0; rep < 3; rep++)
        {
            Assert.Equal(one, Run(2, training: false));
            Assert.Equal(one, Run(2, training: true));
        }
    }

    // Batches of 32 rows for the split tests; packed, they shrink through steps too small to split (under 4 rows).
    private static int[] SplitBatchSizes(bool packed) => packed ? [32, 32, 30, 24, 24, 17, 9, 5, 4, 3, 2, 1] : Enumerable.Repeat(32, 12).ToArray();

    // A stack's forward at `threads` (training: with a cache): y, h_n, c_n and, with keepCache, the cache.
    private static float[] Forward(int threads, bool training, bool keepCache, RnnStackSizes s, int[] bs, float[] x, float[] h0, float[] c0,
        float[] w, float[] mask) => WithThreads<float[]>(threads, () =>
    {
        var y = new float[bs.Sum() * s.Directions * s.OutSize]; var hN = new float[h0.Length]; var cN = new float[c0.Length];
        var cache = training ? new float[RecurrentKernels.StackCacheSize(s, bs)] : [];
        RecurrentKernels.StackForward<float>(y, hN, cN, cache, x, h0, c0, w, s, bs, mask);
        return keepCache ? [.. y, .. hN, .. cN, .. cache] : [.. y, .. hN, .. cN];
    });

    private static void CheckStackOneAndTwoThreads(RnnMode mode, int layers, bool bidir, bool packed, int proj, int input, int hidden, int batch)
    {
        var s = new RnnStackSizes(mode, input, hidden, layers, bidir, proj);
        int[] bs = packed ? [6, 6, 5, 5, 4, 4, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1] : Enumerable.Repeat(6, 23).ToArray();
        if (batch != 6) bs = bs.Select(v => v * batch / 6).Select(v => Math.Max(1, v)).ToArray();
        int n = bs.Sum(), width = s.Directions * s.OutSize, states = layers * s.Directions;
        var gen = new Generator(6);
        float[] R(int count, double scale) => Tensor.Uniform(new[] { count }, -scale, scale, generator: gen).ToArray<float>();
        var x = R(n * input, 1); var w = R((int)s.WeightCount, 0.2); var dY = R(n * width, 1);
        var h0 = R(states * bs[0] * s.OutSize, 0.5); var c0 = mode == RnnMode.Lstm ? R(states * bs[0] * hidden, 0.5) : [];
        var mask = layers > 1 ? R((layers - 1) * n * width, 1).Select(v => v > -0.4f ? 1 / 0.7f : 0f).ToArray() : [];
        float[] Run(int threads) => WithThreads<float[]>(threads, () =>
        {
            var y = new float[n * width]; var hN = new float[h0.Length]; var cN = new float[c0.Length];
            var cache = new float[RecurrentKernels.StackCacheSize(s, bs)];
            RecurrentKernels.StackForward<float>(y, hN, cN, cache, x, h0, c0, w, s, bs, mask);
            var yInf = new float[y.Length];
            RecurrentKernels.StackForward<float>(yInf, [], [], [], x, h0, c0, w, s, bs, mask);
            if (mask.Length == 0) Assert.Equal(y, yInf);
            var dX = new float[x.Length]; var dW = new float[w.Length]; var dH0 = new float[h0.Length]; var dC0 = new float[c0.Length];
            RecurrentKernels.StackBackward<float>(dX, dH0, dC0, dW, false, dY, [], [], cache, x, c0, w, s, bs, mask);
            return [.. y, .. hN, .. cN, .. dX, .. dW, .. dH0, .. dC0];
        });
        var one = Run(1);
        Assert.Contains(one, v => v != 0);
        for (int rep = 0; rep < 3; rep++) Assert.Equal(one, Run(2));
    }

    // Runs `run` with the kernels limited to `threads` threads, restoring the limit afterwards.
    private static T WithThreads<T>(int threads, Func<T> run)
    {
        int keep = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try { return run(); }
        finally { Parallelism.MaxThreads = keep; }
    }
}
