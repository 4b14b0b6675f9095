// One step of streaming inference, LSTM hidden 128, batch 1 (the case; input 64 as the grid's
// stream_lstm_b1, and 128): RecurrentStream.Step on spans against the baseline, the module's Forward on a
// one-step tensor carrying the state (NoGrad, dispose scope), and a char-LM step (Embedding 65 x 64 ->
// LSTM -> Linear 65) on a LanguageModelStream. The memory diagnoser shows the stream's 0 B per step.
using BenchmarkDotNet.Attributes;
using Recurrent.Nn;

namespace Recurrent.Micro;

[MemoryDiagnoser]
public class StreamBenchmarks
{
    [Params(64, 128)]
    public int Input { get; set; }

    private Lstm _lstm = null!;
    private RecurrentStream _stream = null!;
    private LanguageModelStream _lm = null!;
    private float[] _x = null!, _y = null!, _logits = null!;
    private long[] _token = null!;
    private Tensor _xt = null!;
    private (Tensor H, Tensor C) _state;

    [GlobalSetup]
    public void Setup()
    {
        var gen = new Generator(5);
        _lstm = new Lstm(Input, 128, generator: gen);
        _lstm.Eval();
        _stream = _lstm.CreateStream();
        _x = Tensor.Randn([Input], DType.Float32, gen).ToArray<float>();
        _y = new float[128];
        _xt = Tensor.FromArray(_x, 1, 1, Input);
        _state = (Tensor.Zeros(1, 1, 128), Tensor.Zeros(1, 1, 128));
        var emb = new Embedding(65, Input, generator: gen);
        var head = new Linear(128, 65, generator: gen);
        _lm = new LanguageModelStream(emb, _lstm, head);
        _logits = new float[65];
        _token = [7];
    }

    [Benchmark(Baseline = true)]
    public float ForwardOneStepTensor()
    {
        using var scope = Tensor.NewDisposeScope();
        using var _ = new NoGrad();
        var (o, (h, c)) = _lstm.Forward(_xt, _state);
        _state = (h.DetachFromDisposeScope(), c.DetachFromDisposeScope());
        return o.AsSpan<float>()[0];
    }

    [Benchmark]
    public float StreamStep()
    {
        _stream.Step(_x, _y);
        return _y[0];
    }

    [Benchmark]
    public float CharLmStreamStep()
    {
        _lm.Step(_token, _logits);
        return _logits[0];
    }
}
