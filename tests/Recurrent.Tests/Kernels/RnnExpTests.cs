// Accuracy of the vectorised exp behind the fused gates (RnnExp), every width and element type,
// against Math.Exp in double: float within 2 ulp, double within 4e-16 relative, over the whole
// unclamped range, plus saturation and NaN propagation.
using System.Runtime.Intrinsics;
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

public class RnnExpTests
{
    private static IEnumerable<double> Points(double lo, double hi, int count)
    {
        var r = new Random(5);
        for (int i = 0; i < count; i++) yield return lo + (hi - lo) * i / (count - 1);
        for (int i = 0; i < count; i++) yield return (r.NextDouble() * 2 - 1) * 3;
    }

    [Fact]
    public void Float_WithinTwoUlp()
    {
        double worst = 0;
        foreach (double v in Points(-86, 87, 20000))
        {
            float x = (float)v;
            double exact = Math.Exp(x);
            float a = RnnExp.Exp(Vector512.Create(x)).GetElement(7), b = RnnExp.Exp(Vector256.Create(x)).GetElement(3);
            double ulp = Math.Abs(MathF.BitIncrement((float)exact) - (float)exact);
            worst = Math.Max(worst, Math.Max(Math.Abs(a - exact), Math.Abs(b - exact)) / ulp);
        }
        Assert.True(worst <= 2, $"worst error {worst} ulp");
    }

    [Fact]
    public void Double_WithinFourEMinus16Relative()
    {
        double worst = 0;
        foreach (double x in Points(-700, 700, 20000))
        {
            double exact = Math.Exp(x);
            double a = RnnExp.Exp(Vector512.Create(x)).GetElement(5), b = RnnExp.Exp(Vector256.Create(x)).GetElement(1);
            worst = Math.Max(worst, Math.Max(Math.Abs(a - exact), Math.Abs(b - exact)) / exact);
        }
        Assert.True(worst <= 4e-16, $"worst relative error {worst:E3}");
    }

    [Fact]
    public void SaturatesAndPropagatesNaN()
    {
        Assert.True(RnnExp.Exp(Vector512.Create(-1000f)).GetElement(0) < 1e-37f);
        Assert.True(RnnExp.Exp(Vector512.Create(1000f)).GetElement(0) > 1e38f);
        Assert.True(float.IsNaN(RnnExp.Exp(Vector512.Create(float.NaN)).GetElement(0)));
        Assert.True(double.IsNaN(RnnExp.Exp(Vector256.Create(double.NaN)).GetElement(0)));
        Assert.True(RnnExp.Exp(Vector256.Create(-1e5)).GetElement(0) < 1e-300);
    }

    [Fact]
    public void MagicNumberBitPatterns()
    {
        Assert.Equal(RnnExp.FMagicBits, BitConverter.SingleToInt32Bits(1.5f * (1 << 23)));
        Assert.Equal(RnnExp.DMagicBits, BitConverter.DoubleToInt64Bits(1.5 * (1L << 52)));
    }
}
