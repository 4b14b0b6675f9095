// The ops a port of a decoding loop or an RNN initialisation reaches for: torch.topk (values, indices, ties, NaN,
// gradient), torch.multinomial (shapes, distinct draws, zero weights, the distribution, seeding, errors),
// F.one_hot and nn.init.orthogonal_ (orthonormal rows or columns, gain, a recurrent module's flat-buffer weight).
using Recurrent.Autograd;
using Recurrent.Nn;

namespace Recurrent.Tests.Tensors;

public class TopKTests
{
    [Fact]
    public void LargestAndSmallest_AlongEachDim_WithIndices()
    {
        var x = Tensor.FromArray(new float[,] { { 1, 5, 3, 5 }, { -2, 0, 7, 4 } });
        var (v, i) = x.TopK(2);
        Assert.Equal(new float[] { 5, 5, 7, 4 }, v.ToArray<float>());
        Assert.Equal(new long[] { 1, 3, 2, 3 }, i.ToArray<long>());   // equal values in index order
        Assert.Equal([2, 2], v.Shape);
        (v, i) = x.TopK(1, dim: 0, largest: false);
        Assert.Equal(new float[] { -2, 0, 3, 4 }, v.ToArray<float>());
        Assert.Equal(new long[] { 1, 1, 0, 1 }, i.ToArray<long>());
        (v, i) = x.T().TopK(3, dim: 0);                                // a transposed (non-contiguous) view
        Assert.Equal(new float[] { 5, 7, 5, 4, 3, 0 }, v.ToArray<float>());
        Assert.Equal(new long[] { 1, 2, 3, 3, 2, 1 }, i.ToArray<long>());
        var (empty, emptyIdx) = x.TopK(0);
        Assert.Equal([2, 0], empty.Shape);
        Assert.Equal([2, 0], emptyIdx.Shape);
    }

    [Fact]
    public void NaNCountsAsLargest_AndIntegersCompareExactly()
    {
        var x = Tensor.FromArray(new double[] { 1, double.NaN, 3, -1 });
        var (v, i) = x.TopK(2);
        Assert.True(double.IsNaN(v.ToArray<double>()[0]));
        Assert.Equal(new long[] { 1, 2 }, i.ToArray<long>());
        (_, i) = x.TopK(4, largest: false);
        Assert.Equal(new long[] { 3, 0, 2, 1 }, i.ToArray<long>());
        // Neighbouring int64 values past 2^53 are one double: compared as long.
        var big = Tensor.FromArray(new long[] { (1L << 53) + 1, 1L << 53, (1L << 53) + 2 });
        var (bv, bi) = big.TopK(3);
        Assert.Equal(new long[] { 2, 0, 1 }, bi.ToArray<long>());
        Assert.Equal(new long[] { (1L << 53) + 2, (1L << 53) + 1, 1L << 53 }, bv.ToArray<long>());
    }

    [Fact]
    public void MatchesASortOfEachRow_OnRandomData()
    {
        var g = new Generator(3);
        var x = Tensor.Randn([4, 7, 5], DType.Float64, g);
        var data = x.ToArray<double>();
        var (v, i) = x.TopK(3, dim: 1);
        var vs = v.ToArray<double>();
        var idx = i.ToArray<long>();
        for (int a = 0; a < 4; a++)
            for (int c = 0; c < 5; c++)
            {
                var expected = Enumerable.Range(0, 7).OrderByDescending(b => data[(a * 7 + b) * 5 + c]).Take(3).ToArray();
                for (int j = 0; j < 3; j++)
                {
                    Assert.Equal(expected[j], idx[(a * 3 + j) * 5 + c]);
                    Assert.Equal(data[(a * 7 + expected[j]) * 5 + c], vs[(a * 3 + j) * 5 + c]);
                }
            }
    }

    [Fact]
    public void EdgeShapes_IntegersSmallestFirst_AndOffsetViews()
    {
        var (v, i) = Tensor.Zeros(2, 0).TopK(0);
        Assert.Equal([2, 0], v.Shape);
        Assert.Equal([2, 0], i.Shape);
        var ints = Tensor.FromArray(new long[] { 4, -2, 9, -2 });
        (v, i) = ints.TopK(3, largest: false);
        Assert.Equal(new long[] { -2, -2, 4 }, v.ToArray<long>());
        Assert.Equal(new long[] { 1, 3, 0 }, i.ToArray<long>());
        var rows = Tensor.FromArray(new float[,] { { 9, 9, 9 }, { 1, 7, 3 }, { 8, 2, 5 } });
        (v, i) = rows[1..].TopK(2);                               // a view that starts past the storage's first element
        Assert.Equal(new float[] { 7, 3, 8, 5 }, v.ToArray<float>());
        Assert.Equal(new long[] { 1, 2, 0, 2 }, i.ToArray<long>());
    }

    [Fact]
    public void TheFirstOfOne_IsTheFirstOfASort()
    {
        // k = 1 scans instead of sorting: the same choice, ties and NaN included, both orders.
        var r = new Random(5);
        var data = new double[40 * 9];
        for (int n = 0; n < data.Length; n++) data[n] = r.Next(4) == 0 ? double.NaN : r.Next(5);
        var x = Tensor.FromArray(data, 40, 9);
        foreach (bool largest in new[] { true, false })
            Assert.Equal(x.TopK(3, largest: largest).Indices[.., 0].ToArray<long>(), x.TopK(1, largest: largest).Indices.Squeeze(1).ToArray<long>());
    }

    [Fact]
    public void ZeroDimTensor_HasOneElement()
    {
        var s = Tensor.Scalar(2.5);
        var (v, i) = s.TopK(1);
        Assert.Empty(v.Shape);
        Assert.Equal(2.5f, v.Item<float>());
        Assert.Equal(0L, i.Item<long>());
        Assert.Throws<ArgumentOutOfRangeException>(() => s.TopK(2));
    }

    [Fact]
    public void ValuesGradient_GoesToTheChosenPositions()
    {
        var x = Tensor.Randn([3, 6], DType.Float64, new Generator(5)).RequiresGrad_();
        Assert.Null(GradCheck.Check(t => [t[0].TopK(2, dim: 1).Values, t[0].TopK(2, dim: 0, largest: false).Values], [x]));
        x.Grad = null;
        var (values, indices) = x.TopK(1);
        values.Sum().Backward();
        var grad = x.Grad!.ToArray<double>();
        var chosen = indices.ToArray<long>();
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 6; c++) Assert.Equal(c == chosen[r] ? 1.0 : 0.0, grad[r * 6 + c]);
    }

    [Fact]
    public void KOutOfRange_NamesKAndTheSize()
    {
        var x = Tensor.Zeros(2, 3);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => x.TopK(4));
        Assert.Equal("k", e.ParamName);
        Assert.Contains("selected index k out of range: k must be in [0, 3] (the size of dim 1 of a tensor of shape [2, 3]), but got 4", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => x.TopK(-1));
        Assert.Equal("dim", Assert.Throws<ArgumentOutOfRangeException>(() => x.TopK(1, dim: 2)).ParamName);
    }
}

public class MultinomialTests
{
    [Fact]
    public void WithoutReplacement_DrawsDistinctCategories_ZeroWeightsLast()
    {
        var w = Tensor.FromArray(new float[] { 0, 10, 3, 0 });
        for (ulong seed = 0; seed < 20; seed++)
        {
            var s = w.Multinomial(4, generator: new Generator(seed)).ToArray<long>();
            Assert.Equal(4, s.Distinct().Count());
            Assert.Equal(new long[] { 1, 2 }, s[..2].Order());   // PyTorch's p / q method: zero weights only after the rest
            Assert.Equal(new long[] { 0, 3 }, s[2..].Order());
        }
        var rows = Tensor.FromArray(new double[,] { { 1, 1, 1 }, { 0, 0, 5 } }).Multinomial(2, generator: new Generator(1));
        Assert.Equal([2, 2], rows.Shape);
        Assert.Equal(DType.Int64, rows.DType);
        Assert.Equal(2L, rows.ToArray<long>()[2]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Frequencies_FollowTheWeights(bool replacement)
    {
        // One draw per call without replacement, 20,000 draws with: each category's share within 5 standard errors.
        var w = Tensor.FromArray(new double[] { 1, 0, 2, 5, 2 });
        double[] p = [0.1, 0, 0.2, 0.5, 0.2];
        var g = new Generator(11);
        const int n = 20_000;
        var counts = new int[5];
        if (replacement) foreach (var c in w.Multinomial(n, replacement: true, generator: g).ToArray<long>()) counts[c]++;
        else for (int i = 0; i < n; i++) counts[w.Multinomial(1, generator: g).Item<long>()]++;
        Assert.Equal(0, counts[1]);
        for (int c = 0; c < 5; c++)
        {
            double se = Math.Sqrt(p[c] * (1 - p[c]) / n);
            Assert.True(Math.Abs(counts[c] / (double)n - p[c]) <= 5 * se + 1e-12, $"category {c}: {counts[c]} of {n}, expected share {p[c]}");
        }
    }

    [Fact]
    public void WithoutReplacement_TheFirstOfSeveralDrawsFollowsTheWeights()
    {
        var w = Tensor.FromArray(new double[] { 1, 2, 5, 2 });
        double[] p = [0.1, 0.2, 0.5, 0.2];
        var g = new Generator(21);
        const int n = 10_000;
        var counts = new int[4];
        for (int i = 0; i < n; i++) counts[w.Multinomial(3, generator: g).ToArray<long>()[0]]++;
        for (int c = 0; c < 4; c++)
            Assert.True(Math.Abs(counts[c] / (double)n - p[c]) <= 5 * Math.Sqrt(p[c] * (1 - p[c]) / n), $"category {c}: {counts[c]} of {n}");
    }

    [Fact]
    public void TheSameSeed_GivesTheSameDraws()
    {
        var w = Tensor.Rand([3, 10], generator: new Generator(2));
        Assert.Equal(w.Multinomial(5, generator: new Generator(9)).ToArray<long>(), w.Multinomial(5, generator: new Generator(9)).ToArray<long>());
        Assert.Equal(w.Multinomial(30, true, new Generator(9)).ToArray<long>(), w.Multinomial(30, true, new Generator(9)).ToArray<long>());
        Assert.NotEqual(w.Multinomial(30, true, new Generator(9)).ToArray<long>(), w.Multinomial(30, true, new Generator(10)).ToArray<long>());
    }

    [Fact]
    public void BadWeightsAndCounts_AreRefusedInPyTorchsWords()
    {
        var w = Tensor.FromArray(new float[] { 1, 2 });
        Assert.Contains("cannot sample n_sample <= 0 samples", Assert.Throws<ArgumentOutOfRangeException>(() => w.Multinomial(0)).Message);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => w.Multinomial(3));
        Assert.Equal("numSamples", e.ParamName);
        Assert.Contains("cannot sample n_sample > prob_dist.size(-1) samples without replacement: numSamples is 3, the weights have 2 categories", e.Message);
        Assert.Equal(3, w.Multinomial(3, replacement: true).Numel);
        Assert.Contains("probability tensor contains either `inf`, `nan` or element < 0: element 1 of the weights is -1",
            Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromArray(new float[] { 1, -1 }).Multinomial(1)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromArray(new float[] { 1, float.NaN }).Multinomial(1, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromArray(new float[] { 1, float.PositiveInfinity }).Multinomial(1));
        Assert.Contains("invalid multinomial distribution (sum of probabilities <= 0): the weights of row 1 sum to 0",
            Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromArray(new float[,] { { 1, 0 }, { 0, 0 } }).Multinomial(1)).Message);
        Assert.Contains("prob_dist must be 1 or 2 dim", Assert.Throws<ArgumentException>(() => Tensor.Ones(2, 2, 2).Multinomial(1)).Message);
        Assert.Contains("multinomial only supports floating-point dtypes for input, got: Int64",
            Assert.Throws<ArgumentException>(() => Tensor.FromArray(new long[] { 1, 2 }).Multinomial(1)).Message);
        Assert.Equal([0, 2], Tensor.Ones(0, 3).Multinomial(2).Shape);
    }
}

public class OneHotTests
{
    [Fact]
    public void EncodesIndices_AsPyTorch()
    {
        // F.one_hot(torch.arange(0, 5) % 3) and with num_classes=5.
        var ids = Tensor.FromArray(new long[] { 0, 1, 2, 0, 1 });
        var h = Functional.OneHot(ids);
        Assert.Equal(DType.Int64, h.DType);
        Assert.Equal([5, 3], h.Shape);
        Assert.Equal(new long[] { 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0 }, h.ToArray<long>());
        Assert.Equal([5, 5], Functional.OneHot(ids, 5).Shape);
        var two = Functional.OneHot(Tensor.FromArray(new long[] { 3, 0, 1, 2 }, 2, 2), 4);
        Assert.Equal([2, 2, 4], two.Shape);
        Assert.Equal(new long[] { 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0 }, two.ToArray<long>());
        Assert.Equal([0, 7], Functional.OneHot(Tensor.Zeros([0], DType.Int64), 7).Shape);
    }

    [Fact]
    public void BadIndices_AreRefusedInPyTorchsWords()
    {
        var e = Assert.Throws<ArgumentException>(() => Functional.OneHot(Tensor.Ones(3)));
        Assert.Equal("tensor", e.ParamName);
        Assert.Contains("one_hot is only applicable to index tensor of type LongTensor", e.Message);
        var r = Assert.Throws<ArgumentOutOfRangeException>(() => Functional.OneHot(Tensor.FromArray(new long[] { 0, -2 })));
        Assert.Contains("Class values must be non-negative: tensor holds -2 at index 1", r.Message);
        r = Assert.Throws<ArgumentOutOfRangeException>(() => Functional.OneHot(Tensor.FromArray(new long[] { 0, 4, 1 }), 3));
        Assert.Contains("Class values must be smaller than num_classes: numClasses is 3, but tensor holds 4 at index 1", r.Message);
        Assert.Contains("Can not infer total number of classes from empty tensor",
            Assert.Throws<ArgumentException>(() => Functional.OneHot(Tensor.Zeros([0], DType.Int64))).Message);
    }
}

public class OrthogonalInitTests
{
    // max |M M^T - I| over the rows of a (rows, cols) matrix (the columns with columns: true).
    private static double Deviation(double[] m, int rows, int cols, bool columns)
    {
        int n = columns ? cols : rows, len = columns ? rows : cols;
        double worst = 0;
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
            {
                double dot = 0;
                for (int k = 0; k < len; k++)
                    dot += (columns ? m[k * cols + a] * m[k * cols + b] : m[a * cols + k] * m[b * cols + k]);
                worst = Math.Max(worst, Math.Abs(dot - (a == b ? 1 : 0)));
            }
        return worst;
    }

    [Theory]
    [InlineData(8, 3)]
    [InlineData(3, 8)]
    [InlineData(5, 5)]
    public void FillsOrthonormalRowsOrColumns(int rows, int cols)
    {
        var w = Init.Orthogonal_(Tensor.Zeros([rows, cols], DType.Float64), generator: new Generator(4));
        Assert.True(Deviation(w.ToArray<double>(), rows, cols, columns: rows > cols) < 1e-12);
        var scaled = Init.Orthogonal_(Tensor.Zeros([rows, cols], DType.Float64), gain: 2.0, generator: new Generator(4));
        Assert.Equal(w.ToArray<double>().Select(v => 2 * v), scaled.ToArray<double>());
    }

    [Fact]
    public void ARecurrentWeight_AndMoreDimensions()
    {
        // PyTorch views the tensor as (size(0), rest); an LSTM's weight_hh (4H, H) gets orthonormal columns in place.
        var lstm = new Lstm(3, 4, generator: new Generator(1));
        var whh = lstm.GetParameter("weight_hh_l0");
        Assert.Same(whh, Init.Orthogonal_(whh, generator: new Generator(2)));
        Assert.True(Deviation(lstm.GetParameter("weight_hh_l0").Double().ToArray<double>(), 16, 4, columns: true) < 1e-6);
        Assert.Equal(whh.ToArray<float>(), lstm.StateDict()["weight_hh_l0"].ToArray<float>());
        lstm.Forward(Tensor.Randn(2, 1, 3));
        var cube = Init.Orthogonal_(Tensor.Zeros([2, 3, 4], DType.Float64), generator: new Generator(3));
        Assert.True(Deviation(cube.ToArray<double>(), 2, 12, columns: false) < 1e-12);
        Assert.Equal(Init.Orthogonal_(Tensor.Zeros(4, 4), generator: new Generator(8)).ToArray<float>(),
            Init.Orthogonal_(Tensor.Zeros(4, 4), generator: new Generator(8)).ToArray<float>());
        Assert.Equal([0, 3], Init.Orthogonal_(Tensor.Zeros(0, 3)).Shape);
        var e = Assert.Throws<ArgumentException>(() => Init.Orthogonal_(Tensor.Zeros(5)));
        Assert.Contains("Only tensors with 2 or more dimensions are supported, but got shape [5]", e.Message);
    }
}

public class WhereTests
{
    [Fact]
    public void ChoosesWithBroadcasting_AndPromotes()
    {
        var cond = Tensor.FromArray(new long[] { 1, 0, 1 }, 3, 1);
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 1, 4);
        var r = Tensor.Where(cond, x, -1.0);
        Assert.Equal([3, 4], r.Shape);
        Assert.Equal(DType.Float32, r.DType);
        Assert.Equal(new float[] { 1, 2, 3, 4, -1, -1, -1, -1, 1, 2, 3, 4 }, r.ToArray<float>());
        var promoted = Tensor.Where(x > 2.0, x, Tensor.Zeros([4], DType.Float64));
        Assert.Equal(DType.Float64, promoted.DType);
        Assert.Equal(new double[] { 0, 0, 3, 4 }, promoted.ToArray<double>());
        var ints = Tensor.Where(Tensor.FromArray(new long[] { 0, 1 }), Tensor.FromArray(new long[] { 5, 6 }), Tensor.FromArray(new long[] { 7, 8 }));
        Assert.Equal(new long[] { 7, 6 }, ints.ToArray<long>());
        // A Python number against an int64 tensor: a fraction makes the result float32, as torch.where's.
        var mixed = Tensor.Where(Tensor.FromArray(new long[] { 1, 0 }), Tensor.FromArray(new long[] { 5, 6 }), 0.5);
        Assert.Equal(DType.Float32, mixed.DType);
        Assert.Equal(new float[] { 5, 0.5f }, mixed.ToArray<float>());
        Assert.Equal(DType.Int64, Tensor.Where(Tensor.FromArray(new long[] { 1, 0 }), Tensor.FromArray(new long[] { 5, 6 }), 2.0).DType);
        var longs = Tensor.FromArray(new long[] { 3, 4 });
        Assert.Equal(new long[] { 7, 4 }, longs.MaskedFill(Tensor.FromArray(new long[] { 1, 0 }), 7).ToArray<long>());
        var overflow = Assert.Throws<ArgumentOutOfRangeException>(() => longs.MaskedFill(Tensor.FromArray(new long[] { 1, 0 }), double.NegativeInfinity));
        Assert.Equal("value", overflow.ParamName);
        Assert.Contains("value cannot be converted to type int64 without overflow", overflow.Message);
        var e = Assert.Throws<ArgumentException>(() => Tensor.Where(Tensor.Ones(2), Tensor.Ones(3), Tensor.Ones(3)));
        Assert.Contains("where: condition [2], input [3] and other [3] do not broadcast", e.Message);
    }

    [Fact]
    public void Gradients_GoToTheChosenSide_AndAnInfiniteUnchosenValueStaysOut()
    {
        var g = new Generator(12);
        var cond = Tensor.FromArray(new double[] { 1, 0, 0, 1, 1, 0 }, 2, 3);
        var x = Tensor.Randn([2, 3], DType.Float64, g).RequiresGrad_();
        var y = Tensor.Randn([3], DType.Float64, g).RequiresGrad_();
        Assert.Null(GradCheck.Check(t => [Tensor.Where(cond, t[0], t[1])], [x, y]));

        var withInf = Tensor.FromArray(new double[] { double.PositiveInfinity, 1 }).RequiresGrad_();
        var other = Tensor.FromArray(new double[] { 5, 6 }).RequiresGrad_();
        var r = Tensor.Where(Tensor.FromArray(new long[] { 0, 1 }), withInf, other);
        Assert.Equal(new double[] { 5, 1 }, r.ToArray<double>());
        r.Mul(3.0).Sum().Backward();
        Assert.Equal(new double[] { 0, 3 }, withInf.Grad!.ToArray<double>());
        Assert.Equal(new double[] { 3, 0 }, other.Grad!.ToArray<double>());
    }

    [Fact]
    public void MaskedFill_GivesPaddedPositionsZeroAttention()
    {
        // scores (B=2, T=4), the second sequence 2 steps long: masked_fill(mask == 0, -inf).softmax(-1).
        var scores = Tensor.Randn([2, 4], DType.Float64, new Generator(3)).RequiresGrad_();
        var mask = Tensor.FromArray(new long[] { 1, 1, 1, 1, 1, 1, 0, 0 }, 2, 4);
        var weights = scores.MaskedFill(mask.Eq(Tensor.Scalar(0L)), double.NegativeInfinity).Softmax(-1);
        var w = weights.ToArray<double>();
        Assert.Equal(0.0, w[6]);
        Assert.Equal(0.0, w[7]);
        Assert.Equal(1.0, w[4] + w[5], 12);
        weights.Mul(Tensor.Randn([2, 4], DType.Float64, new Generator(4))).Sum().Backward();
        var grad = scores.Grad!.ToArray<double>();
        Assert.All(grad, v => Assert.True(double.IsFinite(v)));
        Assert.Equal(0.0, grad[6]);
        Assert.Equal(0.0, grad[7]);
        Assert.Null(GradCheck.Check(t => [t[0].MaskedFill(mask.Eq(Tensor.Scalar(0L)), -1e4)], [scores.Detach().RequiresGrad_()]));
    }
}
