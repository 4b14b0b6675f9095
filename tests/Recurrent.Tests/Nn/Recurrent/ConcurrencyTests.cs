// The thread-safety contract of eval-mode inference (README "Serving"): concurrent Forward calls on shared
// modules are safe and give the same bits as serial calls, with and without NoGrad, inside dispose scopes or
// not. 8 threads x 1,250 calls over shared LSTM/GRU/RNN stacks: dense, packed (unsorted), padded with lengths,
// unbatched, batch_first, projections, a model large enough that its products and gate rows split over the
// worker team (which then runs whole on each caller that finds it busy), an int8 (dynamically quantized) stack,
// recurrent streams, and an Embedding -> LSTM -> Linear language model.
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Recurrent.Nn;
using Recurrent.Quantization;

namespace Recurrent.Tests.Nn.Recurrent;

[Collection(Serial.Name)]
public class ConcurrencyTests
{
    private sealed record Case(string Name, Func<float[][]> Run);

    private static float[][] Bits(params Tensor?[] tensors) =>
        tensors.Where(t => t is not null).Select(t => t!.Contiguous().ToArray<float>()).ToArray();

    private static List<Case> Cases()
    {
        var g = new Generator(2024);
        var lstm = new Lstm(10, 16, numLayers: 2, dropout: 0.3, generator: g);
        var gru = new Gru(10, 12, bidirectional: true, generator: g);
        var rnn = new Rnn(6, 9, numLayers: 2, nonlinearity: "relu", generator: g);
        var proj = new Lstm(10, 16, batchFirst: true, projSize: 5, generator: g);
        var big = new Lstm(64, 128, generator: g);
        var emb = new Embedding(40, 10, generator: g);
        var head = new Linear(16, 40, generator: g);
        var int8 = Quantizer.QuantizeDynamic(new Lstm(64, 128, numLayers: 2, generator: g));
        foreach (Module m in new Module[] { lstm, gru, rnn, proj, big, emb, head, int8 }) m.Eval();

        var xDense = Tensor.Randn([7, 3, 10], generator: g);
        var h0 = Tensor.Randn([2, 3, 16], generator: g);
        var c0 = Tensor.Randn([2, 3, 16], generator: g);
        var xPadded = Tensor.Randn([4, 7, 10], generator: g);                  // (B, T, I)
        var xPaddedT = xPadded.Transpose(0, 1).Contiguous();                    // (T, B, I)
        long[] lengths = [5, 2, 7, 3];                                          // unsorted
        var xUnbatched = Tensor.Randn([6, 6], generator: g);
        var hUnbatched = Tensor.Randn([2, 9], generator: g);
        var xBig = Tensor.Randn([10, 32, 64], generator: g);
        var tokens = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (long)(i * 7 % 40)).ToArray(), 8, 3);
        var stepInputs = Tensor.Randn([5, 2, 10], generator: g).ToArray<float>();

        return
        [
            new("lstm dense, state given, NoGrad", () =>
            {
                using var _ = new NoGrad();
                var (o, (h, c)) = lstm.Forward(xDense, (h0, c0));
                return Bits(o, h, c);
            }),
            new("lstm dense, recording autograd", () =>
            {
                var (o, (h, c)) = lstm.Forward(xDense, (h0, c0));
                return Bits(o, h, c);
            }),
            new("gru bidirectional packed unsorted, NoGrad", () =>
            {
                using var _ = new NoGrad();
                var packed = RnnUtils.PackPaddedSequence(xPadded, lengths, batchFirst: true, enforceSorted: false);
                var (o, h) = gru.Forward(packed);
                return Bits(o.Data, h);
            }),
            new("gru bidirectional padded with lengths, recording, dispose scope", () =>
            {
                using var scope = Tensor.NewDisposeScope();
                var (o, h) = gru.ForwardPadded(xPaddedT, lengths);
                return Bits(o, h);
            }),
            new("rnn relu unbatched, state given", () =>
            {
                var (o, h) = rnn.Forward(xUnbatched, hUnbatched);
                return Bits(o, h);
            }),
            new("lstm projections batch_first, polymorphic Forward, NoGrad", () =>
            {
                using var _ = new NoGrad();
                var (o, s) = ((RecurrentBase)proj).Forward(xPadded);
                return Bits(o, s.H, s.C);
            }),
            new("lstm 64x128 batch 32 (the worker team), dispose scope, NoGrad", () =>
            {
                using var scope = Tensor.NewDisposeScope();
                using var _ = new NoGrad();
                var (o, (h, c)) = big.Forward(xBig);
                return Bits(o, h, c);
            }),
            new("lstm 64x128 batch 32, recording autograd", () =>
            {
                var (o, (h, c)) = big.Forward(xBig);
                return Bits(o, h, c);
            }),
            new("int8 lstm 64x128 2 layers batch 32", () =>
            {
                var (o, (h, c)) = int8.Forward(xBig);
                return Bits(o, h, c);
            }),
            new("recurrent stream over the shared lstm, 5 steps", () =>
            {
                var stream = lstm.CreateStream(2);
                var y = new float[5 * 2 * 16];
                for (int t = 0; t < 5; t++) stream.Step(stepInputs.AsSpan(t * 20, 20), y.AsSpan(t * 32, 32));
                return [y, stream.State.C!.ToArray<float>()];
            }),
            new("embedding -> lstm -> linear", () =>
            {
                using var _ = new NoGrad();
                var (o, _) = lstm.Forward(emb.Forward(tokens));
                return Bits(head.Forward(o).LogSoftmax(-1));
            }),
        ];
    }

    [Fact]
    public void ConcurrentForwardOnSharedModules_IsBitIdenticalToSerial_TenThousandCalls()
    {
        const int threads = 8, callsPerThread = 1250;
        var cases = Cases();
        var expected = cases.Select(c => c.Run()).ToArray();                   // serial, on this thread
        for (int i = 0; i < cases.Count; i++)                                   // serial results are reproducible
            Assert.True(Same(expected[i], cases[i].Run()), cases[i].Name);

        int calls = 0, mismatches = 0;
        var failures = new ConcurrentQueue<string>();
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < callsPerThread; i++)
            {
                int k = (i * 7 + t * 3) % cases.Count;
                try
                {
                    var got = cases[k].Run();
                    Interlocked.Increment(ref calls);
                    if (!Same(expected[k], got))
                    {
                        Interlocked.Increment(ref mismatches);
                        failures.Enqueue($"mismatch: {cases[k].Name} (thread {t}, call {i})");
                    }
                }
                catch (Exception e)
                {
                    failures.Enqueue($"exception: {cases[k].Name} (thread {t}, call {i}): {e}");
                }
            }
        })).ToList();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();

        Assert.True(failures.IsEmpty, $"{mismatches} mismatches, {failures.Count - mismatches} exceptions; first: {failures.FirstOrDefault()}");
        Assert.Equal(threads * callsPerThread, calls);
        Assert.True(calls >= 10_000);
    }

    private static bool Same(float[][] a, float[][] b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++)
            if (!MemoryMarshal.Cast<float, int>(a[i]).SequenceEqual(MemoryMarshal.Cast<float, int>(b[i]))) return false;   // bit for bit
        return true;
    }
}
