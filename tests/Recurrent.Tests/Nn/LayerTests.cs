// Unit tests of Linear, Embedding, Dropout, the activations, Init and PyFormat: shapes, values against
// naive reference loops, PyTorch's printed forms and error messages, and float64 gradchecks.
using Recurrent.Autograd;
using Recurrent.Nn;

namespace Recurrent.Tests.Nn;

public class LinearTests
{
    private static double[] Reference(Tensor x, Tensor w, Tensor? b)
    {
        int k = w.Size(1), n = w.Size(0), m = x.Numel / k;
        var xs = x.Double().ToArray<double>(); var ws = w.Double().ToArray<double>(); var bs = b?.Double().ToArray<double>();
        var y = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = bs?[j] ?? 0;
                for (int p = 0; p < k; p++) s += xs[i * k + p] * ws[j * k + p];
                y[i * n + j] = s;
            }
        return y;
    }

    [Theory]
    [InlineData(new[] { 3, 4 }, true)]
    [InlineData(new[] { 2, 3, 4 }, false)]
    [InlineData(new[] { 4 }, true)]
    [InlineData(new[] { 0, 4 }, true)]
    public void ForwardMatchesReferenceForAnyLeadingDims(int[] shape, bool bias)
    {
        var m = new Linear(4, 5, bias, generator: new Generator(1));
        var x = Tensor.Randn(shape, DType.Float32, new Generator(2));
        var y = m.Forward(x);
        Assert.Equal([.. shape[..^1], 5], y.Shape);
        var expected = Reference(x, m.Weight, m.Bias);
        var actual = y.Double().ToArray<double>();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
    }

    [Fact]
    public void NonContiguousInputIsHandled()
    {
        var m = new Linear(3, 2, generator: new Generator(3));
        var x = Tensor.Randn([3, 4], DType.Float32, new Generator(4)).T();   // (4, 3) strided
        var expected = Reference(x.Contiguous(), m.Weight, m.Bias);
        var actual = m.Forward(x).Double().ToArray<double>();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
    }

    [Fact]
    public void DefaultInitIsUniformWithinOneOverSqrtFanIn()
    {
        var m = new Linear(16, 64, generator: new Generator(5));
        double bound = 1 / Math.Sqrt(16);
        var w = m.Weight.ToArray<float>(); var b = m.Bias!.ToArray<float>();
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.All(b, v => Assert.InRange(v, -bound, bound));
        Assert.True(w.Max() > 0.8 * bound && w.Min() < -0.8 * bound, "weights should spread over the whole interval");
        var again = new Linear(16, 64, generator: new Generator(5));
        Assert.Equal(w, again.Weight.ToArray<float>());
        Assert.NotEqual(w, new Linear(16, 64, generator: new Generator(6)).Weight.ToArray<float>());
    }

    [Fact]
    public void NamesReprAndStateDict()
    {
        var m = new Linear(2, 3);
        Assert.Equal("Linear(in_features=2, out_features=3, bias=True)", m.ToString());
        Assert.Equal(["weight", "bias"], m.StateDict().Keys);
        Assert.Equal([3, 2], m.Weight.Shape);
        var nb = new Linear(2, 3, bias: false);
        Assert.Null(nb.Bias);
        Assert.Equal(["weight"], nb.StateDict().Keys);
        Assert.Equal("Linear(in_features=2, out_features=3, bias=False)", nb.ToString());
        Assert.Equal(DType.Float64, new Linear(2, 3, dtype: DType.Float64).Weight.DType);
        Assert.Equal("AddmmBackward0", m.Forward(Tensor.Ones(4, 2)).GradFnName);
        Assert.Equal("MmBackward0", nb.Forward(Tensor.Ones(4, 2)).GradFnName);
    }

    [Fact]
    public void ErrorsNameShapes()
    {
        var m = new Linear(5, 6);
        var e = Assert.Throws<ArgumentException>(() => m.Forward(Tensor.Zeros(3, 4)));
        Assert.Contains("mat1 and mat2 shapes cannot be multiplied (3x4 and 5x6)", e.Message);
        Assert.Throws<ArgumentException>(() => m.Forward(Tensor.Zeros([3, 5], DType.Float64)));
        Assert.Throws<ArgumentException>(() => m.Forward(Tensor.Scalar(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Linear(-1, 2));
    }

    [Fact]
    public void GradcheckFloat64()
    {
        var g = new Generator(7);
        var x = Tensor.Randn([2, 3, 4], DType.Float64, g).RequiresGrad_();
        var w = Tensor.Randn([5, 4], DType.Float64, g).RequiresGrad_();
        var b = Tensor.Randn([5], DType.Float64, g).RequiresGrad_();
        Assert.Null(GradCheck.Check(t => [Functional.Linear(t[0], t[1], t[2])], [x, w, b]));
        Assert.Null(GradCheck.Check(t => [Functional.Linear(t[0], t[1])], [Tensor.Randn([4], DType.Float64, g).RequiresGrad_(), w]));
    }

    // Linear hands the GEMM xWᵀ and gᵀx without making the transposed views; it must pick the operands a product with
    // the views picks, or a shape with a dimension of 1 (both layouts fit) reaches another kernel and other bits.
    [Theory]
    [InlineData(4, 300, 1, false)]
    [InlineData(8, 300, 1, true)]
    [InlineData(3, 1, 7, false)]
    [InlineData(40, 300, 1, false)]
    [InlineData(5, 64, 17, true)]
    public void MatchesTheProductWithTransposedViewsBitForBit(int rows, int inFeatures, int outFeatures, bool transposedWeight)
    {
        var g = new Generator(12);
        var x = Tensor.Randn([rows, inFeatures], DType.Float32, g).RequiresGrad_();
        // A weight whose storage is (in, out): its (out, in) view is not row-major.
        var w = (transposedWeight ? Tensor.Randn([inFeatures, outFeatures], DType.Float32, g).T() : Tensor.Randn([outFeatures, inFeatures], DType.Float32, g))
            .Detach().RequiresGrad_();
        var b = Tensor.Randn([outFeatures], DType.Float32, g).RequiresGrad_();
        var gy = Tensor.Randn([rows, outFeatures], DType.Float32, g);

        var y = Functional.Linear(x, w, b);
        y.Backward(gy);
        var (dx, dw, db) = (x.Grad!.ToArray<float>(), w.Grad!.ToArray<float>(), b.Grad!.ToArray<float>());

        var (xd, wd) = (x.Detach(), w.Detach());
        Assert.Equal((xd.Mm(wd.T()) + b.Detach()).ToArray<float>(), y.ToArray<float>());   // y = x Wᵀ + b
        Assert.Equal(gy.Mm(wd).ToArray<float>(), dx);                                      // dx = g W
        Assert.Equal(gy.T().Mm(xd).ToArray<float>(), dw);                                  // dW = gᵀ x
        Assert.Equal(gy.Sum(0).ToArray<float>(), db);
    }

    [Fact]
    public void ModuleGradientsReachParameters()
    {
        var m = new Linear(3, 2, dtype: DType.Float64, generator: new Generator(8));
        var x = Tensor.Randn([4, 3], DType.Float64, new Generator(9));
        m.Forward(x).Sum().Backward();
        // d(Σy)/db = number of rows; d(Σy)/dW[j,:] = Σ_i x[i,:]
        Assert.All(m.Bias!.Grad!.ToArray<double>(), v => Assert.Equal(4.0, v, 12));
        var colSums = x.Sum(0).ToArray<double>();
        var gw = m.Weight.Grad!.ToArray<double>();
        for (int j = 0; j < 2; j++) for (int k = 0; k < 3; k++) Assert.Equal(colSums[k], gw[j * 3 + k], 12);
    }
}

public class EmbeddingTests
{
    [Fact]
    public void InitLookupAndShapes()
    {
        var e = new Embedding(10, 4, paddingIdx: 2, generator: new Generator(1));
        Assert.Equal([10, 4], e.Weight.Shape);
        Assert.All(e.Weight[2].ToArray<float>(), v => Assert.Equal(0f, v));
        var ids = Tensor.FromArray(new long[] { 1, 2, 9, 1, 0, 3 }, 2, 3);
        var y = e.Forward(ids);
        Assert.Equal([2, 3, 4], y.Shape);
        Assert.Equal(e.Weight[9].ToArray<float>(), y[0, 2].ToArray<float>());
        Assert.Equal(e.Weight[1].ToArray<float>(), y[1, 0].ToArray<float>());
        Assert.Equal([4], e.Forward(Tensor.Scalar(5, DType.Int64)).Shape);
        var big = new Embedding(200, 50, generator: new Generator(2)).Weight.ToArray<float>();
        double mean = big.Average(v => (double)v), std = Math.Sqrt(big.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(mean, -0.05, 0.05);
        Assert.InRange(std, 0.95, 1.05);
    }

    [Fact]
    public void PaddingRowGetsNoGradientEvenWhenNonZero()
    {
        var e = new Embedding(4, 3, paddingIdx: -1, dtype: DType.Float64, generator: new Generator(3));
        Assert.Equal(3, e.PaddingIdx);
        using (new NoGrad()) e.Weight[3].Fill_(5);
        var ids = Tensor.FromArray(new long[] { 3, 0, 3, 0, 1 }, 5);
        var y = e.Forward(ids);
        Assert.All(y[0].ToArray<double>(), v => Assert.Equal(5.0, v));     // forward returns the row as it is
        y.Sum().Backward();
        var g = e.Weight.Grad!;
        Assert.All(g[3].ToArray<double>(), v => Assert.Equal(0.0, v));
        Assert.All(g[0].ToArray<double>(), v => Assert.Equal(2.0, v));     // id 0 used twice
        Assert.All(g[1].ToArray<double>(), v => Assert.Equal(1.0, v));
        Assert.All(g[2].ToArray<double>(), v => Assert.Equal(0.0, v));
        Assert.Equal("Embedding(4, 3, padding_idx=3)", e.ToString());
    }

    [Fact]
    public void ScaleGradByFreqDividesByCount()
    {
        var e = new Embedding(3, 2, scaleGradByFreq: true, dtype: DType.Float64);
        e.Forward(Tensor.FromArray(new long[] { 0, 0, 0, 2 }, 4)).Sum().Backward();
        Assert.Equal(new[] { 1.0, 1.0, 0, 0, 1.0, 1.0 }, e.Weight.Grad!.ToArray<double>());
        Assert.Contains("scale_grad_by_freq=True", e.ToString());
    }

    [Fact]
    public void MaxNormRenormalisesReferencedRowsInPlace()
    {
        var w = Tensor.FromArray(new double[] { 3, 4, 0.3, 0.4, 6, 8 }, 3, 2);
        var e = Embedding.FromPretrained(w, freeze: false, maxNorm: 1.0);
        var y = e.Forward(Tensor.FromArray(new long[] { 0, 1 }, 2));
        var rows = e.Weight.ToArray<double>();
        Assert.Equal(1.0, Math.Sqrt(rows[0] * rows[0] + rows[1] * rows[1]), 6);  // scaled by 1/(5 + 1e-7)
        Assert.Equal(new[] { 0.3, 0.4 }, rows[2..4]);                               // norm 0.5 <= 1: untouched
        Assert.Equal(new[] { 6.0, 8.0 }, rows[4..6]);                               // not referenced: untouched
        Assert.Equal(rows[0..2], y[0].ToArray<double>());
        Assert.Contains("max_norm=1.0", e.ToString());
    }

    [Fact]
    public void FromPretrainedFreezes()
    {
        var e = Embedding.FromPretrained(Tensor.Ones(3, 2));
        Assert.False(e.Weight.RequiresGrad);
        Assert.False(e.Forward(Tensor.FromArray(new long[] { 1 }, 1)).RequiresGrad);
        e.Double();
        Assert.False(e.Weight.RequiresGrad);
    }

    [Fact]
    public void Errors()
    {
        var e = new Embedding(5, 3);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => e.Forward(Tensor.FromArray(new long[] { 1, 7 }, 2)));
        Assert.Equal("input", ex.ParamName);
        Assert.Contains("index out of range in self", ex.Message);
        Assert.Contains("7", ex.Message);
        Assert.Contains("[0, 5)", ex.Message);
        Assert.Equal("input", Assert.Throws<ArgumentOutOfRangeException>(() => e.Forward(Tensor.FromArray(new long[] { -1 }, 1))).ParamName);
        var dt = Assert.Throws<ArgumentException>(() => e.Forward(Tensor.Zeros(2)));
        Assert.Contains("indices", dt.Message);
        var pad = Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(5, 3, paddingIdx: 5));
        Assert.Contains("Padding_idx must be within num_embeddings", pad.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(5, 3, paddingIdx: -6));
        Assert.Throws<NotSupportedException>(() => new Embedding(5, 3, sparse: true));
    }

    [Fact]
    public void GradcheckFloat64()
    {
        var w = Tensor.Randn([6, 3], DType.Float64, new Generator(4)).RequiresGrad_();
        var ids = Tensor.FromArray(new long[] { 0, 5, 2, 2, 1, 5 }, 2, 3);
        Assert.Null(GradCheck.Check(t => [Functional.Embedding(ids, t[0])], [w]));
        // scale_grad_by_freq is deliberately not the true gradient (see ScaleGradByFreqDividesByCount).
    }
}

public class DropoutTests
{
    [Theory]
    [InlineData(-0.1, "-0.1")]
    [InlineData(1.5, "1.5")]
    public void RejectsPOutsideUnitInterval(double p, string printed)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(p));
        Assert.Contains($"dropout probability has to be between 0 and 1, but got {printed}", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Functional.Dropout(Tensor.Ones(2), p));
    }

    [Fact]
    public void EvalIsIdentityTrainingScalesKeptElements()
    {
        var d = new Dropout(0.3, new Generator(1));
        var x = Tensor.Full([100, 100], 2.0);
        d.Eval();
        Assert.Same(x, d.Forward(x));
        d.Train();
        var y = d.Forward(x).ToArray<float>();
        float kept = (float)(2.0 * (1 / 0.7));
        Assert.All(y, v => Assert.True(v == 0f || v == kept, $"unexpected value {v}"));
        double zeros = y.Count(v => v == 0f) / (double)y.Length;
        Assert.InRange(zeros, 0.28, 0.32);
        Assert.Equal("Dropout(p=0.3, inplace=False)", d.ToString());
    }

    [Fact]
    public void SameSeedSameMask()
    {
        var x = Tensor.Randn([50], DType.Float32, new Generator(2));
        var a = new Dropout(0.5, new Generator(42)).Forward(x).ToArray<float>();
        var b = new Dropout(0.5, new Generator(42)).Forward(x).ToArray<float>();
        var c = new Dropout(0.5, new Generator(43)).Forward(x).ToArray<float>();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void GradientIsTheMaskTimesScale()
    {
        var x = Tensor.Full([1000], 3.0, DType.Float64).RequiresGrad_();
        var y = Functional.Dropout(x, 0.25, true, new Generator(3));
        y.Sum().Backward();
        var ys = y.ToArray<double>(); var gs = x.Grad!.ToArray<double>();
        for (int i = 0; i < ys.Length; i++) Assert.Equal(ys[i] / 3.0, gs[i], 12);
        Assert.Contains(0.0, gs);
    }

    [Fact]
    public void ZeroAndOne()
    {
        var x = Tensor.Randn([10], DType.Float32, new Generator(4));
        Assert.Same(x, Functional.Dropout(x, 0.0));
        Assert.All(Functional.Dropout(x, 1.0).ToArray<float>(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void GradcheckWithFixedMask()
    {
        var x = Tensor.Randn([3, 4], DType.Float64, new Generator(5)).RequiresGrad_();
        var g = new Generator(0);
        Assert.Null(GradCheck.Check(t => { g.ManualSeed(9); return [Functional.Dropout(t[0], 0.4, true, g)]; }, [x]));
    }
}

public class ActivationTests
{
    [Fact]
    public void LeakyReluEluSilu_AsTheirDefinitions_WithPyTorchsGradientsAtZero()
    {
        var x = Tensor.FromArray(new double[] { -2, -0.5, 0, 0.5, 3, 800 }).RequiresGrad_();
        var xs = x.ToArray<double>();
        Assert.Equal(xs.Select(v => v > 0 ? v : 0.1 * v), new LeakyReLU(0.1).Forward(x).ToArray<double>());
        Assert.Equal(xs.Select(v => v > 0 ? v : 1.5 * (Math.Exp(v) - 1)), new ELU(1.5).Forward(x).ToArray<double>());
        var silu = new SiLU().Forward(x).ToArray<double>();
        for (int i = 0; i < xs.Length; i++) Assert.Equal(xs[i] / (1 + Math.Exp(-xs[i])), silu[i], 12);
        // d/dx at 0 is the negative side's (PyTorch: self > 0 ? grad : grad * slope); x = 800 gives no inf to ELU's gradient.
        Functional.LeakyRelu(x, 0.1).Sum().Backward();
        Assert.Equal(new double[] { 0.1, 0.1, 0.1, 1, 1, 1 }, x.Grad!.ToArray<double>());
        x.Grad = null;
        Functional.Elu(x, 1.5).Sum().Backward();
        var ge = x.Grad!.ToArray<double>();
        Assert.Equal(1.5, ge[2]);
        Assert.Equal(1.0, ge[5]);
        Assert.All(ge, v => Assert.True(double.IsFinite(v)));
        var y = Tensor.FromArray(new double[] { -1.3, -0.2, 0.4, 2.1 }).RequiresGrad_();
        Assert.Null(GradCheck.Check(t => [Functional.LeakyRelu(t[0], 0.2), Functional.Elu(t[0], 0.7), Functional.Silu(t[0])], [y]));
        Assert.Equal("LeakyReLU(negative_slope=0.01)", new LeakyReLU().ToString());
        Assert.Equal("ELU(alpha=1.0)", new ELU().ToString());
        Assert.Equal("SiLU()", new SiLU().ToString());
    }

    [Fact]
    public void ModulesMatchTensorOpsAndPrintLikePyTorch()
    {
        var x = Tensor.Randn([2, 3], DType.Float64, new Generator(1));
        Assert.Equal(x.Tanh().ToArray<double>(), new Tanh().Forward(x).ToArray<double>());
        Assert.Equal(x.Relu().ToArray<double>(), new ReLU().Forward(x).ToArray<double>());
        Assert.Equal(x.Sigmoid().ToArray<double>(), new Sigmoid().Forward(x).ToArray<double>());
        Assert.Equal(x.Softmax(1).ToArray<double>(), new Softmax(1).Forward(x).ToArray<double>());
        Assert.Equal(x.LogSoftmax(-1).ToArray<double>(), new LogSoftmax(-1).Forward(x).ToArray<double>());
        Assert.Equal("Tanh()", new Tanh().ToString());
        Assert.Equal("ReLU()", new ReLU().ToString());
        Assert.Equal("Sigmoid()", new Sigmoid().ToString());
        Assert.Equal("Softmax(dim=1)", new Softmax(1).ToString());
        Assert.Equal("LogSoftmax(dim=-1)", new LogSoftmax(-1).ToString());
    }

    [Fact]
    public void SequentialNamesAndPrints()
    {
        var s = new Sequential(new Linear(2, 3), new ReLU(), new Linear(3, 1, bias: false));
        Assert.Equal(["0.weight", "0.bias", "2.weight"], s.StateDict().Keys);
        Assert.Equal("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n  (2): Linear(in_features=3, out_features=1, bias=False)\n)", s.ToString());
        Assert.Equal([5, 1], s.Forward(Tensor.Ones(5, 2)).Shape);
    }
}

public class InitAndFormatTests
{
    [Theory]
    [InlineData(0.5, "0.5")]
    [InlineData(0.0, "0.0")]
    [InlineData(1.0, "1.0")]
    [InlineData(1e-8, "1e-08")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1e-5, "1e-05")]
    [InlineData(123.25, "123.25")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(double.PositiveInfinity, "inf")]
    [InlineData(0.1, "0.1")]
    public void PythonFloatRepr(double v, string expected) => Assert.Equal(expected, PyFormat.Float(v));

    [Fact]
    public void InitFillsInPlace()
    {
        var t = Tensor.Zeros([4, 8], DType.Float64).RequiresGrad_();
        Init.Uniform_(t, -0.5, 0.5, new Generator(1));
        Assert.All(t.ToArray<double>(), v => Assert.InRange(v, -0.5, 0.5));
        Init.Constant_(t, 3);
        Assert.All(t.ToArray<double>(), v => Assert.Equal(3.0, v));
        Assert.Equal((8, 4), Init.CalculateFanInAndFanOut(t));
        Init.XavierUniform_(t, generator: new Generator(2));
        double b = Math.Sqrt(6.0 / 12);
        Assert.All(t.ToArray<double>(), v => Assert.InRange(v, -b, b));
        Assert.Throws<ArgumentException>(() => Init.CalculateFanInAndFanOut(Tensor.Zeros(3)));
    }
}
