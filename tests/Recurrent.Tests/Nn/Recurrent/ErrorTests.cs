// The recurrent layers' argument and input checks: PyTorch's wording (torch/nn/modules/rnn.py),
// checked by message fragment, and that nothing reaches a kernel with a bad shape.
using Recurrent.Nn;

namespace Recurrent.Tests.Nn.Recurrent;

public class ErrorTests
{
    private static string Message(Action a) => Assert.ThrowsAny<ArgumentException>(a).Message;

    [Fact]
    public void ConstructorArguments()
    {
        Assert.Contains("proj_size has to be smaller than hidden_size", Message(() => new Lstm(4, 5, projSize: 5)));
        Assert.Contains("proj_size has to be smaller than hidden_size", Message(() => new Lstm(4, 5, projSize: 7)));
        Assert.Contains("proj_size should be a positive integer or zero to disable projections", Message(() => new Lstm(4, 5, projSize: -1)));
        foreach (var p in new[] { -0.1, 1.5, double.NaN })
            Assert.Contains("dropout should be a number in range [0, 1] representing the probability of an element being zeroed", Message(() => new Gru(4, 5, 2, dropout: p)));
        Assert.Contains("Unknown nonlinearity 'x'. Select from 'tanh' or 'relu'.", Message(() => new Rnn(4, 5, nonlinearity: "x")));
        Assert.Contains("hidden_size must be greater than zero", Message(() => new Rnn(4, 0)));
        Assert.Contains("hidden_size must be greater than zero", Message(() => new Lstm(4, -3)));
        Assert.Contains("num_layers must be greater than zero", Message(() => new Gru(4, 5, numLayers: 0)));
        Assert.Contains("input_size must be greater than zero", Message(() => new Gru(0, 5)));
        // Rnn and Gru have no projSize parameter; the shared base still refuses it for them.
        Assert.Contains("proj_size argument is only supported for LSTM, not RNN or GRU", Message(() => new ProjectedGru()));
        // Boundary values are accepted.
        Assert.Equal(1.0, new Rnn(2, 2, 2, dropout: 1.0).Dropout);
        Assert.Equal(4, new Lstm(2, 5, projSize: 4).ProjSize);
    }

    /// <summary>A test-only subclass that asks the base for a projected GRU.</summary>
    private sealed class ProjectedGru : RecurrentBase
    {
        public ProjectedGru() : base(global::Recurrent.Kernels.RnnMode.Gru, 4, 5, 1, true, false, 0, false, 2, DType.Float32, null) { }
    }

    [Fact]
    public void InputRankAndFeatureSize()
    {
        var lstm = new Lstm(20, 50, 2);
        var x4 = Tensor.Zeros(2, 3, 4, 20);
        Assert.Contains("LSTM: Expected input to be 2D or 3D, got 4D instead", Message(() => lstm.Forward(x4)));
        Assert.Contains("GRU: Expected input to be 2D or 3D, got 1D instead", Message(() => new Gru(20, 5).Forward(Tensor.Zeros(20))));
        Assert.Contains("RNN: Expected input to be 2D or 3D, got 4D tensor instead", Message(() => new Rnn(20, 5).Forward(x4)));
        Assert.Contains("input.size(-1) must be equal to input_size. Expected 20, got 10", Message(() => lstm.Forward(Tensor.Zeros(5, 3, 10))));
        Assert.Contains("input.size(-1) must be equal to input_size. Expected 20, got 10", Message(() => new Rnn(20, 5).Forward(Tensor.Zeros(5, 10))));
        Assert.Contains("RNN input dtype (torch.float64) does not match weight dtype (torch.float32)", Message(() => new Rnn(20, 5).Forward(Tensor.Zeros(new[] { 5, 20 }, DType.Float64))));
    }

    [Fact]
    public void HiddenStateShapes()
    {
        var lstm = new Lstm(20, 50, 2);
        var x = Tensor.Zeros(5, 32, 20);
        Assert.Contains("Expected hidden[0] size (2, 32, 50), got [1, 32, 50]",
            Message(() => lstm.Forward(x, (Tensor.Zeros(1, 32, 50), Tensor.Zeros(2, 32, 50)))));
        Assert.Contains("Expected hidden[1] size (2, 32, 50), got [2, 32, 40]",
            Message(() => lstm.Forward(x, (Tensor.Zeros(2, 32, 50), Tensor.Zeros(2, 32, 40)))));
        var gru = new Gru(20, 50, 2);
        Assert.Contains("Expected hidden size (2, 32, 50), got [1, 32, 50]", Message(() => gru.Forward(x, Tensor.Zeros(1, 32, 50))));
        Assert.Contains("Expected hidden size (4, 32, 50), got [2, 32, 50]", Message(() => new Gru(20, 50, 2, bidirectional: true).Forward(x, Tensor.Zeros(2, 32, 50))));
        var proj = new Lstm(20, 50, projSize: 10);
        Assert.Contains("Expected hidden[0] size (1, 32, 10), got [1, 32, 50]",
            Message(() => proj.Forward(x, (Tensor.Zeros(1, 32, 50), Tensor.Zeros(1, 32, 50)))));
        // batch_first does not apply to h0: a (batch, layers, hidden) h0 is refused.
        var bf = new Gru(20, 50, 2, batchFirst: true);
        Assert.Contains("Expected hidden size (2, 32, 50), got [32, 2, 50]", Message(() => bf.Forward(Tensor.Zeros(32, 5, 20), Tensor.Zeros(32, 2, 50))));
    }

    [Fact]
    public void BatchedAndUnbatchedStateRanks()
    {
        var rnn = new Rnn(3, 4);
        Assert.Contains("For unbatched 2-D input, hx should also be 2-D but got 3-D tensor", Message(() => rnn.Forward(Tensor.Zeros(5, 3), Tensor.Zeros(1, 1, 4))));
        Assert.Contains("For batched 3-D input, hx should also be 3-D but got 2-D tensor", Message(() => rnn.Forward(Tensor.Zeros(5, 2, 3), Tensor.Zeros(1, 4))));
        var lstm = new Lstm(3, 4);
        Assert.Contains("For unbatched 2-D input, hx and cx should also be 2-D but got (3-D, 2-D) tensors",
            Message(() => lstm.Forward(Tensor.Zeros(5, 3), (Tensor.Zeros(1, 1, 4), Tensor.Zeros(1, 4)))));
        Assert.Contains("For batched 3-D input, hx and cx should also be 3-D but got (3-D, 2-D) tensors",
            Message(() => lstm.Forward(Tensor.Zeros(5, 2, 3), (Tensor.Zeros(1, 2, 4), Tensor.Zeros(1, 4)))));
        // Unbatched state is checked after adding the batch dim, as PyTorch does.
        Assert.Contains("Expected hidden size (1, 1, 4), got [2, 1, 4]", Message(() => rnn.Forward(Tensor.Zeros(5, 3), Tensor.Zeros(2, 4))));
    }
}
