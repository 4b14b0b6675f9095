// nn.LayerNorm / F.layer_norm: the normalisation over the last dimensions against its definition (biased variance,
// eps inside the square root), the parameters PyTorch names and initialises, float64 finite-difference gradients in
// the input, weight and bias, and PyTorch's messages for shapes that do not fit.
using Recurrent.Autograd;
using Recurrent.Nn;

namespace Recurrent.Tests.Nn;

public class LayerNormTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Normalises_AsItsDefinition(int dims)
    {
        var g = new Generator(2);
        var x = Tensor.Randn([3, 4, 5], DType.Float64, g).Mul(3.0).Add(1.0);
        int[] shape = dims == 1 ? [5] : [4, 5];
        var ln = new LayerNorm(shape, eps: 1e-3, dtype: DType.Float64);
        Init.Normal_(ln.Weight!, generator: g);
        Init.Normal_(ln.Bias!, generator: g);
        var y = ln.Forward(x).ToArray<double>();
        var xs = x.ToArray<double>();
        var w = ln.Weight!.ToArray<double>();
        var b = ln.Bias!.ToArray<double>();
        int n = shape.Aggregate(1, (p, q) => p * q);
        for (int row = 0; row < xs.Length / n; row++)
        {
            var v = xs.Skip(row * n).Take(n).ToArray();
            double mean = v.Average(), variance = v.Select(e => (e - mean) * (e - mean)).Average();
            for (int j = 0; j < n; j++)
            {
                double expected = (v[j] - mean) / Math.Sqrt(variance + 1e-3) * w[j] + b[j];
                Assert.Equal(expected, y[row * n + j], 12);
            }
        }
    }

    [Fact]
    public void Parameters_Printing_AndNoAffine_AsPyTorch()
    {
        var ln = new LayerNorm(8);
        Assert.Equal(["weight", "bias"], ln.StateDict().Keys);
        Assert.All(ln.Weight!.ToArray<float>(), v => Assert.Equal(1f, v));
        Assert.All(ln.Bias!.ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.Equal("LayerNorm((8,), eps=1e-05, elementwise_affine=True)", ln.ToString());
        var plain = new LayerNorm([2, 3], elementwiseAffine: false);
        Assert.Empty(plain.Parameters());
        Assert.Equal("LayerNorm((2, 3), eps=1e-05, elementwise_affine=False)", plain.ToString());
        Assert.Single(new LayerNorm(4, bias: false).Parameters());
        var y = plain.Forward(Tensor.Randn([5, 2, 3], generator: new Generator(1))).View(5, 6);
        Assert.All(y.Mean(1).ToArray<float>(), m => Assert.True(Math.Abs(m) < 1e-5));
    }

    [Fact]
    public void Gradients_MatchFiniteDifferences()
    {
        var g = new Generator(3);
        var x = Tensor.Randn([2, 3, 4], DType.Float64, g).RequiresGrad_();
        var w = Tensor.Randn([3, 4], DType.Float64, g).RequiresGrad_();
        var b = Tensor.Randn([3, 4], DType.Float64, g).RequiresGrad_();
        Assert.Null(GradCheck.Check(t => [Functional.LayerNorm(t[0], [3, 4], t[1], t[2], 1e-5)], [x, w, b]));
        Assert.Null(GradCheck.Check(t => [Functional.LayerNorm(t[0], [4], eps: 0.1)], [x]));
    }

    [Fact]
    public void ShapesThatDoNotFit_AreRefusedInPyTorchsWords()
    {
        var ln = new LayerNorm(5);
        var e = Assert.Throws<ArgumentException>(() => ln.Forward(Tensor.Zeros(2, 3)));
        Assert.Equal("input", e.ParamName);
        Assert.Contains("Given normalized_shape=[5], expected input with shape [*, 5], but got input of size[2, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.LayerNorm(Tensor.Zeros(2, 5), [5], weight: Tensor.Ones(4)));
        Assert.Equal("weight", e.ParamName);
        Assert.Contains("Expected weight to be of same shape as normalized_shape, but got weight of shape [4] and normalized_shape = [5]", e.Message);
        Assert.Throws<ArgumentException>(() => new LayerNorm(Array.Empty<int>()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerNorm(4, eps: -1));
        Assert.Throws<ArgumentException>(() => ln.Forward(Tensor.Zeros([2, 5], DType.Int64)));
    }
}
