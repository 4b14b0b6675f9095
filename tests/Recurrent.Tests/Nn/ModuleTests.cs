// Module.GetParameter / SetParameter: one parameter by dotted name without building a state dict;
// SetParameter copies into the existing parameter, so optimizers and a recurrent module's flat
// buffer (which the kernels read) see the new values.
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Nn;

public class ModuleTests
{
    private sealed class Net : Module
    {
        public Net()
        {
            RegisterModule("rnn", new Lstm(3, 4, numLayers: 2, generator: new Generator(1)));
            RegisterModule("fc", new Linear(4, 2, generator: new Generator(2)));
        }
    }

    [Fact]
    public void GetParameter_ReadsOneParameterByDottedName()
    {
        var net = new Net();
        var sd = net.StateDict();
        Assert.Equal(sd["rnn.weight_hh_l1"].ToArray<float>(), net.GetParameter("rnn.weight_hh_l1").ToArray<float>());
        Assert.Same(net.Parameters().Last(), net.GetParameter("fc.bias"));
        var ex = Assert.Throws<ArgumentException>(() => net.GetParameter("rnn.weight_xx_l0"));
        Assert.Contains("weight_ih_l0", ex.Message);
        Assert.Throws<ArgumentException>(() => net.GetParameter("cnn.weight"));
    }

    [Fact]
    public void SetParameter_CopiesIntoTheSameParameter_AndTheKernelsSeeIt()
    {
        var net = new Net();
        var lstm = (Lstm)net.NamedChildren().First().Module;
        var before = net.GetParameter("rnn.weight_ih_l0");
        var sgd = new Sgd(net.Parameters(), lr: 0.1);
        var x = Tensor.Randn([5, 2, 3], generator: new Generator(3));
        var (y0, _) = lstm.Forward(x);
        var zeros = Tensor.Zeros(16, 3).Double();                  // converted to the parameter's dtype
        net.SetParameter("rnn.weight_ih_l0", zeros);
        Assert.Same(before, net.GetParameter("rnn.weight_ih_l0"));
        Assert.All(lstm.Weights(0).WeightIh.ToArray<float>(), v => Assert.Equal(0f, v));
        var (y1, _) = lstm.Forward(x);
        Assert.NotEqual(y0.ToArray<float>(), y1.ToArray<float>());
        // The fused path agrees with the composed reference on the new weights.
        lstm.Runner = ComposedStackRunner.Instance;
        Assert.Equal(y1.ToArray<float>(), lstm.Forward(x).Output.ToArray<float>(), new FloatTolerance(1e-6f));
        Assert.Contains(sgd.ParamGroups[0].Params, p => ReferenceEquals(p, before));
        var ex = Assert.Throws<ArgumentException>(() => net.SetParameter("fc.weight", Tensor.Zeros(3, 3)));
        Assert.Contains("Expected shape [2, 4], got [3, 3]", ex.Message);
    }

    private sealed class FloatTolerance(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(float v) => 0;
    }
}
