// Unit tests of CrossEntropyLoss, NLLLoss and MSELoss: values against a naive float64 reference
// of PyTorch's documented formulas (weights, ignore_index, label smoothing, K-dim inputs), the
// all-ignored NaN case, PyTorch's error messages, and float64 gradchecks of every variant.
using Recurrent.Autograd;
using Recurrent.Nn;

namespace Recurrent.Tests.Nn;

public class LossTests
{
    /// <summary>PyTorch's cross entropy / nll on (N, C) rows, written out plainly in float64.</summary>
    private static double[] Reference(double[,] x, long[] t, double[]? w, long ignore, double eps, Reduction red, bool logSoftmax)
    {
        int n = x.GetLength(0), c = x.GetLength(1);
        var per = new double[n]; double nllSum = 0, smoothSum = 0, denom = 0;
        for (int i = 0; i < n; i++)
        {
            var logp = new double[c];
            double mx = double.NegativeInfinity; for (int k = 0; k < c; k++) mx = Math.Max(mx, x[i, k]);
            double se = 0; for (int k = 0; k < c; k++) se += Math.Exp(x[i, k] - mx);
            for (int k = 0; k < c; k++) logp[k] = logSoftmax ? x[i, k] - mx - Math.Log(se) : x[i, k];
            if (t[i] == ignore) { per[i] = 0; continue; }
            double wt = w?[t[i]] ?? 1;
            double nll = -wt * logp[t[i]];
            double smooth = 0; for (int k = 0; k < c; k++) smooth -= (w?[k] ?? 1) * logp[k];
            per[i] = (1 - eps) * nll + eps / c * smooth;
            nllSum += nll; smoothSum += smooth; denom += wt;
        }
        return red switch
        {
            Reduction.None => per,
            Reduction.Sum => [per.Sum()],
            _ => [(1 - eps) * nllSum / denom + eps / c * smoothSum / denom],
        };
    }

    private static double[,] Random2D(int n, int c, ulong seed)
    {
        var t = Tensor.Randn([n, c], DType.Float64, new Generator(seed)).ToArray<double>();
        var r = new double[n, c];
        for (int i = 0; i < n; i++) for (int k = 0; k < c; k++) r[i, k] = t[i * c + k] * 2;
        return r;
    }

    public static IEnumerable<object[]> Cases()
    {
        foreach (var red in new[] { Reduction.None, Reduction.Mean, Reduction.Sum })
            foreach (var weighted in new[] { false, true })
                foreach (var eps in new[] { 0.0, 0.2 })
                    foreach (var ignore in new long[] { -100, 2 })
                        yield return [red, weighted, eps, ignore];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void CrossEntropyMatchesReferenceAndGradchecks(Reduction red, bool weighted, double eps, long ignore)
    {
        var x = Random2D(6, 4, 1);
        long[] t = [0, 2, 3, 1, 2, 0];
        double[]? w = weighted ? [0.5, 2.0, 1.5, 0.25] : null;
        var input = Tensor.FromArray(x).RequiresGrad_();
        var target = Tensor.FromArray(t, 6);
        var weight = w is null ? null : Tensor.FromArray(w, 4);
        var loss = new CrossEntropyLoss(weight, ignore, red, eps).Forward(input, target);
        var expected = Reference(x, t, w, ignore, eps, red, logSoftmax: true);
        var actual = loss.ToArray<double>();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 12);
        Assert.Equal(red == Reduction.None ? [6] : Array.Empty<int>(), loss.Shape);
        Assert.Null(GradCheck.Check(a => [Functional.CrossEntropy(a[0], target, weight, ignore, red, eps)], [input]));
    }

    [Theory]
    [InlineData(Reduction.Mean, false)]
    [InlineData(Reduction.Sum, true)]
    [InlineData(Reduction.None, true)]
    public void NllMatchesReferenceAndGradchecks(Reduction red, bool weighted)
    {
        var x = Random2D(5, 3, 2);
        long[] t = [2, 0, 1, 1, 2];
        double[]? w = weighted ? [1.0, 3.0, 0.5] : null;
        var input = Tensor.FromArray(x).RequiresGrad_();
        var target = Tensor.FromArray(t, 5);
        var weight = w is null ? null : Tensor.FromArray(w, 3);
        var loss = new NLLLoss(weight, 1, red).Forward(input, target);
        var expected = Reference(x, t, w, 1, 0, red, logSoftmax: false);
        var actual = loss.ToArray<double>();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 12);
        Assert.Null(GradCheck.Check(a => [Functional.NllLoss(a[0], target, weight, 1, red)], [input]));
    }

    [Fact]
    public void KDimInputEqualsFlattenedRows()
    {
        // (N, C, d) with target (N, d) is the same as (N*d, C) rows with target (N*d).
        var g = new Generator(3);
        var x = Tensor.Randn([2, 4, 3], DType.Float64, g).RequiresGrad_();
        var t = Tensor.FromArray(new long[] { 0, 3, 1, 2, 2, 0 }, 2, 3);
        var w = Tensor.FromArray(new[] { 1.0, 2.0, 0.5, 1.5 }, 4);
        foreach (var red in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
        {
            var kdim = Functional.CrossEntropy(x, t, w, 3, red, 0.1);
            var flat = Functional.CrossEntropy(x.Permute(0, 2, 1).Reshape(6, 4), t.Reshape(6), w, 3, red, 0.1);
            Assert.Equal(red == Reduction.None ? [2, 3] : Array.Empty<int>(), kdim.Shape);
            var a = kdim.ToArray<double>(); var b = flat.ToArray<double>();
            for (int i = 0; i < a.Length; i++) Assert.Equal(b[i], a[i], 12);
            Assert.Null(GradCheck.Check(z => [Functional.CrossEntropy(z[0], t, w, 3, red, 0.1)], [x]));
        }
    }

    [Fact]
    public void UnbatchedInputWithScalarTarget()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0, 0.5 }, 3).RequiresGrad_();
        var loss = Functional.CrossEntropy(x, Tensor.Scalar(1, DType.Int64));
        double lse = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(0.5));
        Assert.Equal(lse - 2.0, loss.ToDouble(), 12);
        Assert.Equal([], loss.Shape);
        Assert.Null(GradCheck.Check(a => [Functional.CrossEntropy(a[0], Tensor.Scalar(1, DType.Int64), labelSmoothing: 0.3)], [x]));
    }

    [Fact]
    public void AllIgnoredMeanIsNanWithZeroGradient()
    {
        var x = Tensor.Randn([3, 4], DType.Float32, new Generator(4)).RequiresGrad_();
        var loss = Functional.CrossEntropy(x, Tensor.FromArray(new long[] { 1, 1, 1 }, 3), ignoreIndex: 1);
        Assert.True(float.IsNaN(loss.Item<float>()));
        loss.Backward();
        Assert.All(x.Grad!.ToArray<float>(), v => Assert.Equal(0f, v));
        var sum = Functional.NllLoss(x.Detach(), Tensor.FromArray(new long[] { 1, 1, 1 }, 3), ignoreIndex: 1, reduction: Reduction.Sum);
        Assert.Equal(0f, sum.Item<float>());
    }

    [Fact]
    public void ProbabilityTargets()
    {
        var g = new Generator(5);
        var x = Tensor.Randn([3, 4], DType.Float64, g).RequiresGrad_();
        var p = Tensor.Rand([3, 4], DType.Float64, g).Softmax(1);
        var w = Tensor.FromArray(new[] { 1.0, 0.5, 2.0, 1.0 }, 4);
        var loss = Functional.CrossEntropy(x, p, w, labelSmoothing: 0.1);
        // -Σ_i Σ_c w_c · q_ic · logp_ic / N with q = p(1-ε) + ε/C
        var lp = x.Detach().LogSoftmax(1).ToArray<double>(); var pa = p.ToArray<double>(); var wa = w.ToArray<double>();
        double s = 0;
        for (int i = 0; i < 12; i++) s -= wa[i % 4] * (pa[i] * 0.9 + 0.1 / 4) * lp[i];
        Assert.Equal(s / 3, loss.ToDouble(), 12);
        Assert.Null(GradCheck.Check(a => [Functional.CrossEntropy(a[0], a[1], w, labelSmoothing: 0.1, reduction: Reduction.None)], [x, p.RequiresGrad_()]));
    }

    [Fact]
    public void MseMatchesFormulaAndGradchecks()
    {
        var g = new Generator(6);
        var x = Tensor.Randn([3, 5], DType.Float64, g).RequiresGrad_();
        var y = Tensor.Randn([3, 5], DType.Float64, g).RequiresGrad_();
        var xa = x.ToArray<double>(); var ya = y.ToArray<double>();
        double sq = xa.Zip(ya, (a, b) => (a - b) * (a - b)).Sum();
        Assert.Equal(sq / 15, new MSELoss().Forward(x, y).ToDouble(), 12);
        Assert.Equal(sq, new MSELoss(Reduction.Sum).Forward(x, y).ToDouble(), 12);
        Assert.Equal([3, 5], new MSELoss(Reduction.None).Forward(x, y).Shape);
        foreach (var red in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
            Assert.Null(GradCheck.Check(a => [Functional.MseLoss(a[0], a[1], red)], [x, y]));
        // Broadcast target, as PyTorch (which warns).
        var row = Tensor.Randn([5], DType.Float64, g).RequiresGrad_();
        Assert.Null(GradCheck.Check(a => [Functional.MseLoss(a[0], a[1])], [x, row]));
        Assert.Throws<ArgumentException>(() => Functional.MseLoss(x, Tensor.Zeros(3, 5)));
    }

    [Fact]
    public void ErrorMessagesFollowPyTorch()
    {
        var x = Tensor.Randn([3, 5], DType.Float32, new Generator(7));
        var oob = Assert.Throws<ArgumentOutOfRangeException>(() => Functional.CrossEntropy(x, Tensor.FromArray(new long[] { 0, 5, 1 }, 3)));
        Assert.Equal("target", oob.ParamName);
        Assert.Contains("Target 5 is out of bounds.", oob.Message);
        Assert.Contains("5 classes", oob.Message);
        Assert.Equal("target", Assert.Throws<ArgumentOutOfRangeException>(() => Functional.NllLoss(x, Tensor.FromArray(new long[] { 0, -1, 1 }, 3))).ParamName);
        var bs = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(x, Tensor.FromArray(new long[] { 0, 1, 2, 3 }, 4)));
        Assert.Contains("Expected input batch_size (3) to match target batch_size (4).", bs.Message);
        var dt = Assert.Throws<ArgumentException>(() => Functional.NllLoss(x, Tensor.Zeros(3)));
        Assert.Contains("torch.int64", dt.Message);
        var ft = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(x, Tensor.Zeros(3)));
        Assert.Contains("torch.float32", ft.Message);
        var w = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(x, Tensor.FromArray(new long[] { 0, 1, 2 }, 3), Tensor.Ones(3)));
        Assert.Contains("weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: [3]", w.Message);
        var kd = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(Tensor.Zeros(2, 5, 4), Tensor.Zeros([2, 3], DType.Int64)));
        Assert.Contains("Expected target size [2, 4], got [2, 3]", kd.Message);
        var ls = Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss(labelSmoothing: 1.5));
        Assert.Contains("label_smoothing must be between 0.0 and 1.0. Got: 1.5", ls.Message);
        var red = Assert.Throws<ArgumentException>(() => ReductionNames.Parse("avg"));
        Assert.Contains("avg is not a valid value for reduction", red.Message);
        Assert.Equal(Reduction.Sum, ReductionNames.Parse("sum"));
        Assert.Equal("none", Reduction.None.ToPyTorch());
    }

    [Fact]
    public void WeightIsABufferAndReprIsPyTorchs()
    {
        var l = new CrossEntropyLoss(Tensor.Ones(3));
        Assert.Equal(["weight"], l.StateDict().Keys);
        Assert.Empty(l.Parameters());
        Assert.Empty(new CrossEntropyLoss().StateDict());
        Assert.Equal("CrossEntropyLoss()", l.ToString());
        Assert.Equal("NLLLoss()", new NLLLoss().ToString());
        Assert.Equal("MSELoss()", new MSELoss().ToString());
        Assert.Equal("NllLossBackward0", l.Forward(Tensor.Zeros(2, 3).RequiresGrad_(), Tensor.Zeros([2], DType.Int64)).GradFnName);
    }

    [Fact]
    public void Float32IsCloseToFloat64()
    {
        var x64 = Tensor.Randn([8, 10], DType.Float64, new Generator(8)).Mul(5);
        var t = Tensor.RandInt(0, 10, [8], new Generator(9));
        var l64 = Functional.CrossEntropy(x64, t, labelSmoothing: 0.1).ToDouble();
        var l32 = Functional.CrossEntropy(x64.Float(), t, labelSmoothing: 0.1).ToDouble();
        Assert.Equal(l64, l32, 5);
    }
}
