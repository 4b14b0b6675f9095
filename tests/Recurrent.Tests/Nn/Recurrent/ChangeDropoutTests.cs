// The dropout probability changed between calls, as PyTorch's test_RNN_change_dropout (rnn.dropout = p): in training
// mode two calls agree only where no mask is random (p = 0 or 1) and each new p gives other outputs than the last; in
// eval mode every call gives the same outputs. Out-of-range values are refused with the property named.
using Recurrent.Nn;

namespace Recurrent.Tests.Nn.Recurrent;

public class ChangeDropoutTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ChangingDropoutBetweenCalls_TakesEffect(bool train)
    {
        var rnn = new Rnn(100, 100, 2, "relu", bias: false, dropout: 0, dtype: DType.Float64, generator: new Generator(11));
        rnn.Train(train);
        var input = Tensor.Rand(new[] { 3, 2, 100 }, DType.Float64, new Generator(12));
        double[]? previous = null;
        foreach (double p in new[] { 0, 0.5, 0, 0.7, 0.2, 1, 0.2, 0 })
        {
            rnn.Dropout = p;
            Assert.Equal(p, rnn.Dropout);
            var (o1, h1) = rnn.Forward(input);
            var (o2, h2) = rnn.Forward(input);
            var a = o1.ToArray<double>();
            bool same = a.SequenceEqual(o2.ToArray<double>()) && h1.ToArray<double>().SequenceEqual(h2.ToArray<double>());
            Assert.True(same == (p == 0 || p == 1 || !train), $"p={p} train={train}: two calls {(same ? "agree" : "differ")}");
            if (previous is not null) Assert.True(a.SequenceEqual(previous) == !train, $"p={p} train={train} against the previous p");
            previous = a;
        }
    }

    [Fact]
    public void OutOfRangeDropout_IsRefused_AndLeavesTheOldValue()
    {
        var lstm = new Lstm(4, 5, 2, dropout: 0.25);
        foreach (double bad in new[] { -0.1, 1.5, double.NaN })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => lstm.Dropout = bad);
            Assert.Equal(nameof(RecurrentBase.Dropout), e.ParamName);
            Assert.Equal(0.25, lstm.Dropout);
        }
        var layer = new Dropout(0.3);
        layer.P = 0.6;
        Assert.Equal(0.6, layer.P);
        Assert.Equal(nameof(Dropout.P), Assert.Throws<ArgumentOutOfRangeException>(() => layer.P = 2).ParamName);
        Assert.Equal(0.6, layer.P);
    }
}
