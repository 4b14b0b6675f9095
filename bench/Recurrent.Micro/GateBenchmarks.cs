// One time step's LSTM gate arithmetic (64 rows): the fused vector row kernel against a plain
// scalar loop over MathF, at a hidden size with a masked tail (50) and a multiple of 16 (256).
using BenchmarkDotNet.Attributes;
using Recurrent.Kernels;

namespace Recurrent.Micro;

[MemoryDiagnoser]
public unsafe class GateBenchmarks
{
    private const int Rows = 64;
    private float[] _gx = [], _gh = [], _bias = [], _c = [], _h = [];

    [Params(50, 256)]
    public int Hidden { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        int g = 4 * Hidden;
        _gx = Enumerable.Range(0, Rows * g).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        _gh = Enumerable.Range(0, Rows * g).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        _bias = Enumerable.Range(0, g).Select(_ => (float)(rng.NextDouble() * 0.2 - 0.1)).ToArray();
        _c = new float[Rows * Hidden];
        _h = new float[Rows * Hidden];
    }

    [Benchmark(Baseline = true)]
    public void ScalarMathF()
    {
        int H = Hidden, g = 4 * H;
        for (int r = 0; r < Rows; r++)
            for (int j = 0; j < H; j++)
            {
                float Pre(int gate) => _gx[r * g + gate * H + j] + _bias[gate * H + j] + (_gh[r * g + gate * H + j] + _bias[gate * H + j]);
                float i = 1f / (1f + MathF.Exp(-Pre(0))), f = 1f / (1f + MathF.Exp(-Pre(1)));
                float gg = MathF.Tanh(Pre(2)), o = 1f / (1f + MathF.Exp(-Pre(3)));
                float c = f * _c[r * H + j] + i * gg;
                _c[r * H + j] = c;
                _h[r * H + j] = o * MathF.Tanh(c);
            }
    }

    [Benchmark]
    public void FusedRows()
    {
        int H = Hidden, g = 4 * H;
        fixed (float* gx = _gx, gh = _gh, b = _bias, c = _c, h = _h)
            for (int r = 0; r < Rows; r++)
                RnnGates<float>.LstmForwardRow(H, gx + r * g, b, gh + r * g, b, c + r * H, c + r * H, h + r * H, null, null);
    }
}
