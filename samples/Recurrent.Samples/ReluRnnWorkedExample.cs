// Seed tutorial 000: the hand-computed ReLU RNN. RNNCell and RNN with input_size 2, hidden_size 1,
// no bias, ReLU, weight_ih [[-1, 3]], weight_hh [[2]] on x = [1,2], [2,0], [3,1], [-1,-5], h0 = 0.
// By hand: h1 = relu(-1+6+0) = 5, h2 = relu(-2+0+10) = 8, h3 = relu(-3+3+16) = 16, h4 = relu(1-15+32) = 18.
using Recurrent.Nn;

namespace Recurrent.Samples;

public static class ReluRnnWorkedExample
{
    public sealed record Result(float[] CellOutputs, float[] RnnOutputs, float HN);

    private static Tensor Inputs() => Tensor.FromArray(new float[,,] { { { 1, 2 } }, { { 2, 0 } }, { { 3, 1 } }, { { -1, -5 } } });

    public static Result Run(TextWriter log)
    {
        // nn.RNNCell: we drive the time loop ourselves.
        var cell = new RnnCell(inputSize: 2, hiddenSize: 1, bias: false, nonlinearity: "relu");
        cell.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["weight_ih"] = Tensor.FromArray(new float[,] { { -1, 3 } }),
            ["weight_hh"] = Tensor.FromArray(new float[,] { { 2 } }),
        });
        var x = Inputs();
        var hx = Tensor.Zeros(1, 1);
        log.WriteLine($"this is x:\n{x}");
        log.WriteLine($"this is h0:\n{hx}");
        var cellOut = new List<float>();
        log.WriteLine("these are hx");
        for (int step = 0; step < 4; step++)
        {
            hx = cell.Forward(x[step], hx);
            cellOut.Add(hx.Item<float>());
            log.WriteLine(hx);
        }

        // nn.RNN: the whole sequence in one call.
        var rnn = new Rnn(inputSize: 2, hiddenSize: 1, numLayers: 1, nonlinearity: "relu", bias: false);
        rnn.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["weight_ih_l0"] = Tensor.FromArray(new float[,] { { -1, 3 } }),
            ["weight_hh_l0"] = Tensor.FromArray(new float[,] { { 2 } }),
        });
        rnn.FlattenParameters();
        var (output, hn) = rnn.Forward(x, Tensor.Zeros(1, 1, 1));
        log.WriteLine($"these are hx\n{output}");
        log.WriteLine($"this is hn\n{hn}");
        return new Result(cellOut.ToArray(), output.ToArray<float>(), hn.Item<float>());
    }
}
