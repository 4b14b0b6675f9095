// A 2-layer LSTM forward (the seed4_lstm case: 100 steps, batch 32, 20 -> 50) with and without a
// dispose scope: the memory diagnoser shows the 640 kB output leaving the large-object heap.
using BenchmarkDotNet.Attributes;
using Recurrent.Nn;

namespace Recurrent.Micro;

[MemoryDiagnoser]
public class ScopeBenchmarks
{
    private Lstm _lstm = null!;
    private Tensor _x = null!;

    [GlobalSetup]
    public void Setup()
    {
        var gen = new Generator(3);
        _lstm = new Lstm(20, 50, numLayers: 2, generator: gen);
        _lstm.Eval();
        _x = Tensor.Randn([100, 32, 20], DType.Float32, gen);
    }

    [Benchmark(Baseline = true)]
    public float WithoutScope()
    {
        using var _ = new NoGrad();
        return _lstm.Forward(_x).Output.AsSpan<float>()[0];
    }

    [Benchmark]
    public float InDisposeScope()
    {
        using var scope = Tensor.NewDisposeScope();
        using var _ = new NoGrad();
        return _lstm.Forward(_x).Output.AsSpan<float>()[0];
    }
}
