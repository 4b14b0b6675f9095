// Seed tutorial 001: recurrent cells built by hand from Linear layers.
// - LinearRnn: the i2h / i2o network with LogSoftmax (hidden = i2h(cat(x, h)), output = log_softmax(i2o(cat(x, h)))).
// - HandLstmCell / HandGruCell: the tutorial reuses ONE Linear for every gate (a bug: all gates would be
//   equal). Here each gate has its own Linear over cat(x, h), arranged so that the cells equal nn.LSTMCell and
//   nn.GRUCell on the same weights (CopyFrom copies them over), which the tests check.
using Recurrent.Nn;

namespace Recurrent.Samples;

/// <summary>The tutorial's RNN of Linear layers: i2h, i2o and LogSoftmax.</summary>
public sealed class LinearRnn : Module
{
    public LinearRnn(int inputSize, int hiddenSize, int outputSize)
    {
        HiddenSize = hiddenSize;
        I2H = RegisterModule("i2h", new Linear(inputSize + hiddenSize, hiddenSize));
        I2O = RegisterModule("i2o", new Linear(inputSize + hiddenSize, outputSize));
        Softmax = RegisterModule("softmax", new LogSoftmax(dim: 1));
    }

    public int HiddenSize { get; }
    public Linear I2H { get; }
    public Linear I2O { get; }
    public LogSoftmax Softmax { get; }
    public override string TypeName => "RNN";

    public (Tensor Output, Tensor Hidden) Forward(Tensor input, Tensor hidden)
    {
        var combined = Tensor.Cat(new[] { input, hidden }, 1);
        var newHidden = I2H.Forward(combined);
        var output = Softmax.Forward(I2O.Forward(combined));
        return (output, newHidden);
    }

    public Tensor InitHidden() => Tensor.Zeros(1, HiddenSize);
}

/// <summary>An LSTM cell with a separate Linear per gate over cat(x, h), gate order i, f, g, o.</summary>
public sealed class HandLstmCell : Module
{
    private readonly Linear[] _gates = new Linear[4];
    private static readonly string[] Names = { "input_gate", "forget_gate", "cell_gate", "output_gate" };

    public HandLstmCell(int inputSize, int hiddenSize)
    {
        InputSize = inputSize; HiddenSize = hiddenSize;
        for (int g = 0; g < 4; g++) _gates[g] = RegisterModule(Names[g], new Linear(inputSize + hiddenSize, hiddenSize));
    }

    public int InputSize { get; }
    public int HiddenSize { get; }

    public (Tensor H, Tensor C) Forward(Tensor input, Tensor hidden, Tensor cell)
    {
        var combined = Tensor.Cat(new[] { input, hidden }, 1);
        var i = _gates[0].Forward(combined).Sigmoid();
        var f = _gates[1].Forward(combined).Sigmoid();
        var g = _gates[2].Forward(combined).Tanh();
        var o = _gates[3].Forward(combined).Sigmoid();
        var c = f * cell + i * g;
        return (o * c.Tanh(), c);
    }

    /// <summary>Copies an LSTMCell's weights: gate k's Linear is [W_ih rows k | W_hh rows k], bias b_ih + b_hh.</summary>
    public void CopyFrom(LstmCell source)
    {
        var sd = source.StateDict();
        int h = HiddenSize;
        using var _ = new NoGrad();
        for (int g = 0; g < 4; g++)
        {
            var w = Tensor.Cat(new[] { sd["weight_ih"].Narrow(0, g * h, h), sd["weight_hh"].Narrow(0, g * h, h) }, 1);
            _gates[g].Weight.Copy_(w);
            _gates[g].Bias!.Copy_(sd["bias_ih"].Narrow(0, g * h, h) + sd["bias_hh"].Narrow(0, g * h, h));
        }
    }
}

/// <summary>
/// A GRU cell from Linear layers in PyTorch's formulation, gate order r, z, n:
/// r = σ(L_r(cat(x, h))), z = σ(L_z(cat(x, h))), n = tanh(L_in(x) + r * L_hn(h)), h' = (1 - z) * n + z * h.
/// (The reset gate multiplies W_hn h + b_hn, not h itself, so n needs two Linears.)
/// </summary>
public sealed class HandGruCell : Module
{
    public HandGruCell(int inputSize, int hiddenSize)
    {
        HiddenSize = hiddenSize;
        Reset = RegisterModule("reset_gate", new Linear(inputSize + hiddenSize, hiddenSize));
        Update = RegisterModule("update_gate", new Linear(inputSize + hiddenSize, hiddenSize));
        NewInput = RegisterModule("new_input", new Linear(inputSize, hiddenSize));
        NewHidden = RegisterModule("new_hidden", new Linear(hiddenSize, hiddenSize));
    }

    public int HiddenSize { get; }
    public Linear Reset { get; }
    public Linear Update { get; }
    public Linear NewInput { get; }
    public Linear NewHidden { get; }

    public Tensor Forward(Tensor input, Tensor hidden)
    {
        var combined = Tensor.Cat(new[] { input, hidden }, 1);
        var r = Reset.Forward(combined).Sigmoid();
        var z = Update.Forward(combined).Sigmoid();
        var n = (NewInput.Forward(input) + r * NewHidden.Forward(hidden)).Tanh();
        return (1.0 - z) * n + z * hidden;
    }

    /// <summary>Copies a GRUCell's weights into the per-gate Linears.</summary>
    public void CopyFrom(GruCell source)
    {
        var sd = source.StateDict();
        int h = HiddenSize;
        using var _ = new NoGrad();
        Linear[] rz = { Reset, Update };
        for (int g = 0; g < 2; g++)
        {
            rz[g].Weight.Copy_(Tensor.Cat(new[] { sd["weight_ih"].Narrow(0, g * h, h), sd["weight_hh"].Narrow(0, g * h, h) }, 1));
            rz[g].Bias!.Copy_(sd["bias_ih"].Narrow(0, g * h, h) + sd["bias_hh"].Narrow(0, g * h, h));
        }
        NewInput.Weight.Copy_(sd["weight_ih"].Narrow(0, 2 * h, h));
        NewInput.Bias!.Copy_(sd["bias_ih"].Narrow(0, 2 * h, h));
        NewHidden.Weight.Copy_(sd["weight_hh"].Narrow(0, 2 * h, h));
        NewHidden.Bias!.Copy_(sd["bias_hh"].Narrow(0, 2 * h, h));
    }
}

public static class HandBuiltCellsDemo
{
    public sealed record Result(double LstmMaxDiff, double GruMaxDiff, double LogSoftmaxRowSum);

    public static Result Run(TextWriter log, ulong seed = 7)
    {
        var gen = new Generator(seed);
        var rnn = new LinearRnn(inputSize: 3, hiddenSize: 5, outputSize: 4);
        var (output, hidden) = rnn.Forward(Tensor.Randn(new[] { 1, 3 }, generator: gen), rnn.InitHidden());
        log.WriteLine(rnn);
        log.WriteLine($"output (log-probabilities): {output}");
        log.WriteLine($"hidden: {hidden}");

        var lstm = new LstmCell(3, 5, generator: gen);
        var hand = new HandLstmCell(3, 5);
        hand.CopyFrom(lstm);
        var x = Tensor.Randn(new[] { 2, 3 }, generator: gen);
        var h0 = Tensor.Randn(new[] { 2, 5 }, generator: gen);
        var c0 = Tensor.Randn(new[] { 2, 5 }, generator: gen);
        var (hRef, cRef) = lstm.Forward(x, (h0, c0));
        var (hHand, cHand) = hand.Forward(x, h0, c0);
        double lstmDiff = Math.Max((hRef - hHand).Abs().Max().ToDouble(), (cRef - cHand).Abs().Max().ToDouble());
        log.WriteLine($"hand-built LSTM cell vs LSTMCell: max |diff| = {lstmDiff:G3}");

        var gru = new GruCell(3, 5, generator: gen);
        var handGru = new HandGruCell(3, 5);
        handGru.CopyFrom(gru);
        double gruDiff = (gru.Forward(x, h0) - handGru.Forward(x, h0)).Abs().Max().ToDouble();
        log.WriteLine($"hand-built GRU cell vs GRUCell: max |diff| = {gruDiff:G3}");
        return new Result(lstmDiff, gruDiff, output.Exp().Sum().ToDouble());
    }
}
