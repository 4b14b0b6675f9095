// The hand-computed ReLU RNN of the first tutorial: RNNCell stepped by hand and nn.RNN over the whole sequence,
// weight_ih [[-1, 3]], weight_hh [[2]], no bias, relu; inputs [1,2],[2,0],[3,1],[-1,-5] give 5, 8, 16, 18.
using System.Globalization;
using Recurrent.Nn;

namespace Recurrent.Cli.Demos;

/// <summary>RNNCell and RNN with hand-set weights, checked against the values computed by hand.</summary>
public sealed class ReluRnnDemo : IDemo
{
    private static readonly float[][] Inputs = [[1, 2], [2, 0], [3, 1], [-1, -5]];
    private static readonly float[] Expected = [5, 8, 16, 18];

    /// <inheritdoc/>
    public string Name => "relu-rnn";

    /// <inheritdoc/>
    public string Description => "RNNCell and RNN (relu, no bias) with weights set by hand; h = 5, 8, 16, 18 as computed on paper.";

    /// <inheritdoc/>
    public int Run(CliContext ctx)
    {
        var w = ctx.Out;
        Tensor weightIh = Tensor.FromArray(new float[] { -1, 3 }, 1, 2);
        Tensor weightHh = Tensor.FromArray(new float[] { 2 }, 1, 1);
        Tensor x = Tensor.FromArray(Inputs.SelectMany(r => r).ToArray(), 4, 1, 2); // (seq=4, batch=1, input=2)
        w.WriteLine("h_t = relu(x_t W_ih^T + h_(t-1) W_hh^T), W_ih = [[-1, 3]], W_hh = [[2]], no bias, h_0 = 0");
        w.WriteLine("inputs x_1..x_4 = [1, 2], [2, 0], [3, 1], [-1, -5]");
        w.WriteLine();

        // By hand, as on paper.
        var paper = new float[4];
        float hp = 0;
        for (int t = 0; t < 4; t++)
        {
            float pre = -1 * Inputs[t][0] + 3 * Inputs[t][1] + 2 * hp;
            hp = Math.Max(0, pre);
            paper[t] = hp;
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  paper   t={t + 1}: relu(-1*{Inputs[t][0]} + 3*{Inputs[t][1]} + 2*{(t == 0 ? 0 : paper[t - 1])}) = {hp}"));
        }

        // nn.RNNCell, stepped in a loop.
        var cell = new RnnCell(2, 1, bias: false, nonlinearity: "relu");
        cell.LoadStateDict(new Dictionary<string, Tensor> { ["weight_ih"] = weightIh, ["weight_hh"] = weightHh });
        var viaCell = new float[4];
        using (new NoGrad())
        {
            Tensor? h = null;
            for (int t = 0; t < 4; t++)
            {
                h = cell.Forward(x.Select(0, t), h);               // (batch=1, hidden=1)
                viaCell[t] = h.ToArray<float>()[0];
            }
        }
        w.WriteLine($"  RNNCell outputs: {Join(viaCell)}");

        // nn.RNN over the whole sequence at once.
        var rnn = new Rnn(2, 1, numLayers: 1, nonlinearity: "relu", bias: false);
        rnn.LoadStateDict(new Dictionary<string, Tensor> { ["weight_ih_l0"] = weightIh, ["weight_hh_l0"] = weightHh });
        float[] viaRnn, hN;
        using (new NoGrad())
        {
            var (output, h) = rnn.Forward(x);                        // output (4, 1, 1), h_n (1, 1, 1)
            viaRnn = output.Contiguous().ToArray<float>();
            hN = h.Contiguous().ToArray<float>();
        }
        w.WriteLine($"  RNN outputs:     {Join(viaRnn)}   h_n = {Join(hN)}");
        w.WriteLine($"  expected:        {Join(Expected)}");

        bool ok = paper.SequenceEqual(Expected) && viaCell.SequenceEqual(Expected) && viaRnn.SequenceEqual(Expected) && hN[0] == Expected[^1];
        w.WriteLine(ok ? "OK: RNNCell and RNN agree with the hand computation." : "MISMATCH: the layers disagree with the hand computation.");
        return ok ? ExitCodes.Success : ExitCodes.Failure;
    }

    private static string Join(IEnumerable<float> values) =>
        "[" + string.Join(", ", values.Select(v => v.ToString(CultureInfo.InvariantCulture))) + "]";
}
