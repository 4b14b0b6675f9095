// Seed tutorials 002-004: the shape walk-throughs. RNN(1027 -> 256) over 35 steps with batch 2, and
// RNN / LSTM / GRU(20, 50, num_layers=2) on input (100, 32, 20) with h0 (2, 32, 50).
using Recurrent.Nn;

namespace Recurrent.Samples;

public static class ShapeWalkthrough
{
    public sealed record Result(IReadOnlyDictionary<string, int[]> Shapes);

    public static Result Run(TextWriter log, ulong seed = 3)
    {
        var gen = new Generator(seed);
        var shapes = new Dictionary<string, int[]>();
        void Show(string name, Tensor t) { shapes[name] = t.Shape; log.WriteLine($"{name}: torch.Size([{string.Join(", ", t.Shape)}])"); }

        using var _ = new NoGrad();
        var rnn1 = new Rnn(inputSize: 1027, hiddenSize: 256, generator: gen);
        var (o1, h1) = rnn1.Forward(Tensor.Randn(new[] { 35, 2, 1027 }, generator: gen));
        Show("rnn_1027.output", o1); Show("rnn_1027.h_n", h1);

        var x = Tensor.Randn(new[] { 100, 32, 20 }, generator: gen);
        var h0 = Tensor.Randn(new[] { 2, 32, 50 }, generator: gen);
        var rnn = new Rnn(20, 50, numLayers: 2, generator: gen);
        var (o, hn) = rnn.Forward(x, h0);
        Show("rnn.output", o); Show("rnn.h_n", hn); Show("rnn.weight_ih_l0", rnn.StateDict()["weight_ih_l0"]);

        var lstm = new Lstm(20, 50, numLayers: 2, generator: gen);
        var (lo, (lh, lc)) = lstm.Forward(x, (h0, Tensor.Randn(new[] { 2, 32, 50 }, generator: gen)));
        Show("lstm.output", lo); Show("lstm.h_n", lh); Show("lstm.c_n", lc); Show("lstm.weight_ih_l0", lstm.StateDict()["weight_ih_l0"]);

        var gru = new Gru(20, 50, numLayers: 2, generator: gen);
        var (go, gh) = gru.Forward(x, h0);
        Show("gru.output", go); Show("gru.h_n", gh); Show("gru.weight_ih_l0", gru.StateDict()["weight_ih_l0"]);
        log.WriteLine(lstm);
        return new Result(shapes);
    }
}
