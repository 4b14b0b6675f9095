// A recurrent case of the grid (FORMAT.md 1.1 / 3): the library's Rnn / Lstm / Gru module (the
// path a user gets: fused kernels behind autograd), fp32, bias, no dropout, h0 = c0 = zeros.
// Built once (weights, x, and G for training); Iterate() is one timed iteration, inside a
// dispose scope as the libtorch anchor's (TorchSharp NewDisposeScope), so the iteration's
// tensors are released at its end and large ones reuse pooled storage:
//   inference: forward under NoGrad;
//   training:  zero the grads of every parameter and of x in place, forward, loss = sum(y * G),
//              backward (grads of all parameters and of x).
// With int8 (--quantize int8), the module is dynamically quantized once before warm-up (the one-time
// "prepare for inference" FORMAT.md 3.4 allows: the user's Quantizer.QuantizeDynamic) and only the
// inference phase runs.
using Recurrent.Nn;
using Recurrent.Quantization;

namespace Recurrent.Bench;

internal sealed class RecurrentCase : IBenchCase
{
    private readonly RecurrentBase _model;
    private readonly Tensor _x;
    private readonly Tensor? _g;
    private readonly Tensor[] _params;
    private readonly bool _training;

    public RecurrentCase(RecurrentCaseSpec spec, string phase, ulong seed = 1, bool int8 = false)
    {
        if (phase is not ("inference" or "training"))
            throw new ArgumentException($"case {spec.Name}: unknown phase. Expected inference or training, got \"{phase}\".", nameof(phase));
        Name = spec.Name;
        Phase = phase;
        Flops = spec.Flops(phase);
        MinIters = spec.MinIters;
        _training = phase == "training";
        var gen = new Generator(seed);
        int I = spec.InputSize, H = spec.HiddenSize, L = spec.NumLayers;
        bool bi = spec.Bidirectional, bf = spec.BatchFirst;
        _model = spec.Mode switch
        {
            "LSTM" => new Lstm(I, H, L, bias: true, batchFirst: bf, bidirectional: bi, generator: gen),
            "GRU" => new Gru(I, H, L, bias: true, batchFirst: bf, bidirectional: bi, generator: gen),
            "RNN_TANH" => new Rnn(I, H, L, "tanh", bias: true, batchFirst: bf, bidirectional: bi, generator: gen),
            "RNN_RELU" => new Rnn(I, H, L, "relu", bias: true, batchFirst: bf, bidirectional: bi, generator: gen),
            _ => throw new ArgumentException($"case {spec.Name}: unknown mode. Expected LSTM, GRU, RNN_TANH or RNN_RELU, got \"{spec.Mode}\"."),
        };
        _model.Train(_training);
        if (int8) Quantizer.QuantizeDynamic(_model).Eval();
        int[] xShape = bf ? [spec.Batch, spec.SeqLen, I] : [spec.SeqLen, spec.Batch, I];
        _x = Tensor.Randn(xShape, DType.Float32, gen);
        if (_training)
        {
            _x.RequiresGrad = true;
            int[] yShape = bf ? [spec.Batch, spec.SeqLen, spec.Directions * H] : [spec.SeqLen, spec.Batch, spec.Directions * H];
            _g = Tensor.Randn(yShape, DType.Float32, gen);
        }
        _params = int8 ? [] : _model.Parameters().ToArray();
    }

    public string Name { get; }
    public string? Phase { get; }
    public double Flops { get; }
    public int MinIters { get; }

    public void Iterate()
    {
        using var scope = Tensor.NewDisposeScope();
        if (!_training)
        {
            using var _ = new NoGrad();
            Forward();
            return;
        }
        // 1. zero the gradients in place (FORMAT.md 3.2 allows zeroing instead of None)
        foreach (var p in _params) p.Grad?.AsSpan<float>().Clear();
        _x.Grad?.AsSpan<float>().Clear();
        // 2-4. forward, loss = sum(y * G) (one fused op: dL/dy is G itself, no y * G tensor), backward
        var y = Forward();
        y.SumProduct(_g!).Backward();
    }

    private Tensor Forward() => _model.Forward(_x).Output;

    public void Dispose() { }
}
