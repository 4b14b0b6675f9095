// Unit tests of ClipGrad: total norms of every order, the clip coefficient rule, no-op when below
// max_norm, parameters without gradients, the non-finite error, and clip_grad_value_.
using Recurrent.Optim;

namespace Recurrent.Tests.Optim;

public class ClipGradTests
{
    private static Tensor[] Params(params double[][] grads) => grads.Select(g =>
    {
        var p = Tensor.Zeros([g.Length], DType.Float64).RequiresGrad_();
        p.Grad = Tensor.FromArray(g, g.Length);
        return p;
    }).ToArray();

    [Fact]
    public void TwoNormIsTheNormOfNormsAndClipsByMaxNormOverTotal()
    {
        var ps = Params([3, 4], [12]);                                   // norms 5 and 12 -> 13
        var total = ClipGrad.ClipGradNorm(ps, 1.0);
        Assert.Equal(13.0, total.ToDouble(), 12);
        Assert.Equal([], total.Shape);
        double c = 1.0 / (13 + 1e-6);
        Assert.Equal(new[] { 3 * c, 4 * c }, ps[0].Grad!.ToArray<double>());
        Assert.Equal(new[] { 12 * c }, ps[1].Grad!.ToArray<double>());
    }

    [Theory]
    [InlineData(double.PositiveInfinity, 12.0)]
    [InlineData(1.0, 19.0)]
    [InlineData(3.0, 12.2071)]
    public void OtherNorms(double p, double expected)
    {
        var ps = Params([3, -4], [-12]);
        var total = ClipGrad.ClipGradNorm(ps, 1000, p);
        double exact = double.IsInfinity(p) ? 12 : p == 1 ? 19 : Math.Pow(Math.Pow(Math.Pow(27 + 64, 1 / 3.0), 3) + Math.Pow(12, 3), 1 / 3.0);
        Assert.Equal(exact, total.ToDouble(), 10);
        Assert.Equal(expected, total.ToDouble(), 3);
        Assert.Equal(new[] { 3.0, -4.0 }, ps[0].Grad!.ToArray<double>());   // coefficient clamped to 1: unchanged
    }

    [Fact]
    public void Float32TotalAndSkippedParameters()
    {
        var a = Tensor.Zeros(2).RequiresGrad_(); a.Grad = Tensor.FromArray(new[] { 6f, 8f }, 2);
        var b = Tensor.Zeros(3).RequiresGrad_();                              // no gradient: ignored
        var total = ClipGrad.ClipGradNorm([a, b], 5);
        Assert.Equal(DType.Float32, total.DType);
        Assert.Equal(10f, total.Item<float>());
        Assert.Null(b.Grad);
        float coef = 5f / (10f + 1e-6f);
        Assert.Equal(new[] { 6f * coef, 8f * coef }, a.Grad!.ToArray<float>());
        Assert.Equal(0.0, ClipGrad.ClipGradNorm([b], 1).ToDouble());
    }

    [Fact]
    public void NonFiniteTotal()
    {
        var ps = Params([1, double.NaN]);
        var e = Assert.Throws<InvalidOperationException>(() => ClipGrad.ClipGradNorm(ps, 1, errorIfNonfinite: true));
        Assert.Contains("is non-finite, so it cannot be clipped", e.Message);
        Assert.Equal(1.0, ps[0].Grad!.ToArray<double>()[0]);                  // untouched when it throws
        Assert.True(double.IsNaN(ClipGrad.ClipGradNorm(ps, 1).ToDouble()));
    }

    [Fact]
    public void ClipValueClampsEachElement()
    {
        var ps = Params([0.5, -3, 2], [-0.1]);
        ClipGrad.ClipGradValue(ps, 1.0);
        Assert.Equal(new[] { 0.5, -1, 1 }, ps[0].Grad!.ToArray<double>());
        Assert.Equal(new[] { -0.1 }, ps[1].Grad!.ToArray<double>());
    }
}
