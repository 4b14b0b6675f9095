// The fused gate activations are accurate in relative terms everywhere, including near 0 where
// tanh = (1 - e)/(1 + e) would cancel (an LSTM's c = f*c + i*g can be ~1e-4 there).
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

public unsafe class RnnActivationTests
{
    private static IEnumerable<double> Points()
    {
        for (double x = 1e-9; x < 20; x *= 1.07) { yield return x; yield return -x; }
        yield return 0; yield return 0.25; yield return -0.25; yield return 0.2499999; yield return 0.2500001;
    }

    [Fact]
    public void FloatTanhRowIsWithinFourUlpsOfExact()
    {
        var xs = Points().Select(v => (float)v).ToArray();
        int n = xs.Length;
        var zeros = new float[n]; var y = new float[n];
        fixed (float* px = xs, pz = zeros, py = y)
            RnnGates<float>.RnnForwardRow(false, n, px, pz, pz, pz, py, null);
        for (int i = 0; i < n; i++)
        {
            double exact = Math.Tanh(xs[i]);
            double ulp = Math.Max(MathF.BitIncrement(MathF.Abs((float)exact)) - MathF.Abs((float)exact), float.Epsilon);
            Assert.True(Math.Abs(y[i] - exact) <= 4 * ulp, $"tanh({xs[i]:R}) = {y[i]:R}, exact {exact:R}");
        }
    }

    [Fact]
    public void DoubleTanhRowIsRelativelyAccurate()
    {
        var xs = Points().ToArray();
        int n = xs.Length;
        var zeros = new double[n]; var y = new double[n];
        fixed (double* px = xs, pz = zeros, py = y)
            RnnGates<double>.RnnForwardRow(false, n, px, pz, pz, pz, py, null);
        for (int i = 0; i < n; i++)
        {
            double exact = Math.Tanh(xs[i]);
            Assert.True(Math.Abs(y[i] - exact) <= 1e-14 * Math.Abs(exact) + 1e-300, $"tanh({xs[i]:R}) = {y[i]:R}, exact {exact:R}");
        }
    }
}
