// Unit tests of L1Loss, HuberLoss, BCELoss and BCEWithLogitsLoss: values worked out by hand from PyTorch's documented
// formulas (each reduction, weights, pos_weight, BCE's log clamp at -100, large logits), float64 gradchecks of input
// and target gradients, PyTorch's error messages, and the modules' buffers and printed form.
using Recurrent.Autograd;
using Recurrent.Nn;

namespace Recurrent.Tests.Nn;

public class PointwiseLossTests
{
    private static Tensor T(params double[] v) => Tensor.FromArray(v, v.Length);

    private static void Close(double[] expected, Tensor actual, int digits = 12)
    {
        var a = actual.ToArray<double>();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++) Assert.Equal(expected[i], a[i], digits);
    }

    private static readonly Reduction[] AllReductions = [Reduction.None, Reduction.Mean, Reduction.Sum];

    [Fact]
    public void L1ValuesAndGradientsByHand()
    {
        // |x - y| = [1, 3, 0]
        var x = T(1, -2, 3.5).RequiresGrad_();
        var y = T(0, 1, 3.5);
        Close([1, 3, 0], new L1Loss(Reduction.None).Forward(x, y));
        Close([4], new L1Loss(Reduction.Sum).Forward(x, y));
        var mean = new L1Loss().Forward(x, y);
        Close([4.0 / 3], mean);
        Assert.Equal([], mean.Shape);
        mean.Backward();
        Close([1.0 / 3, -1.0 / 3, 0], x.Grad!);             // sign(x - y) / numel; 0 where x = y
    }

    [Fact]
    public void HuberValuesAndGradientsByHand()
    {
        // x - y = [0.5, -2, 3]
        var x = T(1.5, -2, 3).RequiresGrad_();
        var y = T(1, 0, 0).RequiresGrad_();
        // delta 1: 0.5·0.25 = 0.125; 1·(2 - 0.5) = 1.5; 1·(3 - 0.5) = 2.5
        Close([0.125, 1.5, 2.5], new HuberLoss(Reduction.None).Forward(x, y));
        Close([4.125 / 3], new HuberLoss().Forward(x, y));
        // delta 2: 0.125; |d| = 2 is not below delta: 2·(2 - 1) = 2 (= 0.5·2², continuous); 2·(3 - 1) = 4
        var sum = new HuberLoss(Reduction.Sum, delta: 2).Forward(x, y);
        Close([6.125], sum);
        sum.Backward();
        Close([0.5, -2, 2], x.Grad!);                         // d inside (-δ, δ), ±δ outside
        Close([-0.5, 2, -2], y.Grad!);
        Assert.Equal(2.0, new HuberLoss(delta: 2).Delta);
    }

    [Fact]
    public void BceValuesByHandWithTheLogClamp()
    {
        var x = T(0.5, 0.9, 0.2);
        var y = T(1, 0, 0.25);
        // -ln 0.5; -ln 0.1; -(0.25·ln 0.2 + 0.75·ln 0.8)
        double[] per = [0.6931471805599453, 2.302585092994046, 0.25 * 1.6094379124341003 + 0.75 * 0.2231435513142097];
        Close(per, new BCELoss(reduction: Reduction.None).Forward(x, y));
        Close([per.Sum() / 3], new BCELoss().Forward(x, y));
        Close([per.Sum()], new BCELoss(reduction: Reduction.Sum).Forward(x, y));
        // Weights rescale each element; the mean still divides by the element count.
        Close([(2 * per[0] + 0 * per[1] + 0.5 * per[2]) / 3], new BCELoss(T(2, 0, 0.5)).Forward(x, y));

        // log(0) is clamped to -100: a confident wrong answer costs 100, a confident right one 0 (not NaN).
        var edges = T(0, 1, 0, 1).RequiresGrad_();
        var loss = Functional.BinaryCrossEntropy(edges, T(1, 0, 0, 1), reduction: Reduction.None);
        Close([100, 100, 0, 0], loss);
        loss.Backward(Tensor.OnesLike(loss));
        // (x - y) / max(x(1 - x), 1e-12)
        Close([-1e12, 1e12, 0, 0], edges.Grad!, 0);
    }

    [Fact]
    public void BceWithLogitsValuesByHand()
    {
        var x = T(0, 2, -3).RequiresGrad_();
        var y = T(1, 0, 1);
        // (1 - y)·x - logσ(x): ln 2; 2 + ln(1 + e^-2) = ln(1 + e^2); ln(1 + e^3)
        double[] per = [0.6931471805599453, 2.1269280110429727, 3.048587351573742];
        Close(per, Functional.BinaryCrossEntropyWithLogits(x, y, reduction: Reduction.None));
        var mean = new BCEWithLogitsLoss().Forward(x, y);
        Close([per.Sum() / 3], mean);
        mean.Backward();
        // (σ(x) - y) / 3
        Close([(0.5 - 1) / 3, 0.8807970779778823 / 3, (0.04742587317756678 - 1) / 3], x.Grad!);

        // pos_weight 3 triples the positive term (y = 1 elements), leaves y = 0 ones; weight rescales after.
        Close([3 * per[0], per[1], 3 * per[2]], new BCEWithLogitsLoss(reduction: Reduction.None, posWeight: T(3)).Forward(x.Detach(), y));
        Close([0.5 * 3 * per[0] + 2 * per[1] + 1 * 3 * per[2]],
            new BCEWithLogitsLoss(T(0.5, 2, 1), Reduction.Sum, posWeight: T(3)).Forward(x.Detach(), y));
        // A soft target mixes both terms: y = 0.25, p = 3 at x = 0: 0.75·0 - (1 + 2·0.25)·ln ½ = 1.5·ln 2
        Close([1.5 * 0.6931471805599453], Functional.BinaryCrossEntropyWithLogits(T(0), T(0.25), posWeight: T(3)));
    }

    [Fact]
    public void BceWithLogitsIsStableForLargeLogits()
    {
        // sigmoid then BCE would give 100 (the clamp) or NaN here; the logits form is exact.
        var x = Tensor.FromArray(new[] { 1000f, -1000f, 1000f, -1000f, 40f }, 5).RequiresGrad_();
        var y = Tensor.FromArray(new[] { 0f, 1f, 1f, 0f, 0f }, 5);
        var loss = Functional.BinaryCrossEntropyWithLogits(x, y, reduction: Reduction.None);
        Assert.Equal(new[] { 1000f, 1000f, 0f, 0f, 40f }, loss.ToArray<float>());
        loss.Sum().Backward();
        Assert.Equal(new[] { 1f, -1f, 0f, 0f, 1f }, x.Grad!.ToArray<float>());
    }

    [Fact]
    public void BceWithLogitsEqualsSigmoidThenBce()
    {
        var g = new Generator(11);
        var x = Tensor.Randn([4, 3], DType.Float64, g).Mul(3);
        var y = Tensor.Rand([4, 3], DType.Float64, g);
        var w = Tensor.Rand([3], DType.Float64, g);
        foreach (var red in AllReductions)
        {
            var a = Functional.BinaryCrossEntropyWithLogits(x, y, w, red).ToArray<double>();
            var b = Functional.BinaryCrossEntropy(x.Sigmoid(), y, w.Expand(4, 3), red).ToArray<double>();
            for (int i = 0; i < a.Length; i++) Assert.Equal(b[i], a[i], 12);
        }
    }

    public static IEnumerable<object[]> GradcheckCases()
    {
        foreach (var loss in new[] { "l1", "huber", "bce", "bce_logits" })
            foreach (var red in AllReductions)
                foreach (var weighted in new[] { false, true })
                    yield return [loss, red, weighted];
    }

    [Theory]
    [MemberData(nameof(GradcheckCases))]
    public void GradchecksInputAndTarget(string loss, Reduction red, bool weighted)
    {
        var g = new Generator(12);
        var x = loss == "bce" ? Tensor.Rand([3, 4], DType.Float64, g).Mul(0.9).Add(0.05) : Tensor.Randn([3, 4], DType.Float64, g).Mul(2);
        var y = loss is "bce" or "bce_logits" ? Tensor.Rand([3, 4], DType.Float64, g) : Tensor.Randn([3, 4], DType.Float64, g);
        var w = weighted ? Tensor.Rand([4], DType.Float64, g).Add(0.5) : null;
        var p = weighted ? Tensor.Rand([4], DType.Float64, g).Mul(3) : null;
        Func<Tensor[], Tensor[]> f = loss switch
        {
            "l1" => a => [Functional.L1Loss(a[0], a[1], red)],
            "huber" => a => [Functional.HuberLoss(a[0], a[1], red, delta: 0.8)],
            "bce" => a => [Functional.BinaryCrossEntropy(a[0], a[1], w, red)],
            _ => a => [Functional.BinaryCrossEntropyWithLogits(a[0], a[1], w, red, p)],
        };
        Assert.Null(GradCheck.Check(f, [x.RequiresGrad_(), y.RequiresGrad_()]));
    }

    [Fact]
    public void L1AndHuberBroadcastTheTargetAndGradcheck()
    {
        var g = new Generator(13);
        var x = Tensor.Randn([3, 4], DType.Float64, g).RequiresGrad_();
        var row = Tensor.Randn([4], DType.Float64, g).RequiresGrad_();
        Assert.Equal([3, 4], Functional.L1Loss(x, row, Reduction.None).Shape);
        Assert.Null(GradCheck.Check(a => [Functional.L1Loss(a[0], a[1])], [x, row]));
        Assert.Null(GradCheck.Check(a => [Functional.HuberLoss(a[0], a[1], Reduction.Sum)], [x, row]));
        var e = Assert.Throws<ArgumentException>(() => Functional.L1Loss(x, Tensor.Zeros([3], DType.Float64)));
        Assert.Contains("The size of tensor a (4) must match the size of tensor b (3) at non-singleton dimension 1", e.Message);
    }

    [Fact]
    public void EmptyInputsMeanIsNanSumIsZero()
    {
        var x = Tensor.Zeros([0, 3], DType.Float32);
        Assert.True(float.IsNaN(new L1Loss().Forward(x, x).Item<float>()));
        Assert.Equal(0f, new BCEWithLogitsLoss(reduction: Reduction.Sum).Forward(x, x).Item<float>());
        Assert.Equal([0, 3], new HuberLoss(Reduction.None).Forward(x, x).Shape);
    }

    [Fact]
    public void Float32IsCloseToFloat64()
    {
        var g = new Generator(14);
        var x = Tensor.Randn([6, 5], DType.Float64, g).Mul(4);
        var y = Tensor.Rand([6, 5], DType.Float64, g);
        Assert.Equal(Functional.BinaryCrossEntropyWithLogits(x, y).ToDouble(), Functional.BinaryCrossEntropyWithLogits(x.Float(), y.Float()).ToDouble(), 5);
        Assert.Equal(Functional.BinaryCrossEntropy(x.Sigmoid(), y).ToDouble(), Functional.BinaryCrossEntropy(x.Sigmoid().Float(), y.Float()).ToDouble(), 5);
        Assert.Equal(Functional.HuberLoss(x, y).ToDouble(), Functional.HuberLoss(x.Float(), y.Float()).ToDouble(), 5);
        Assert.Equal(Functional.L1Loss(x, y).ToDouble(), Functional.L1Loss(x.Float(), y.Float()).ToDouble(), 5);
    }

    [Fact]
    public void ErrorMessagesFollowPyTorch()
    {
        var x = Tensor.Rand(3, 1);
        var bce = Assert.Throws<ArgumentException>(() => new BCELoss().Forward(x, Tensor.Rand(3)));
        Assert.Equal("target", bce.ParamName);
        Assert.StartsWith("Using a target size (torch.Size([3])) that is different to the input size (torch.Size([3, 1])) is deprecated. Please ensure they have the same size.", bce.Message);
        var logits = Assert.Throws<ArgumentException>(() => new BCEWithLogitsLoss().Forward(x, Tensor.Rand(3)));
        Assert.StartsWith("Target size (torch.Size([3])) must be the same as input size (torch.Size([3, 1]))", logits.Message);

        var range = Assert.Throws<ArgumentException>(() => Functional.BinaryCrossEntropy(T(0.5, 1.5), T(0, 1)));
        Assert.Contains("all elements of input should be between 0 and 1", range.Message);
        Assert.Contains("BCEWithLogitsLoss", range.Message);                 // the advice, in our API
        var trange = Assert.Throws<ArgumentException>(() => Functional.BinaryCrossEntropy(T(0.5, 0.5), T(0, 2)));
        Assert.Contains("all elements of target should be between 0 and 1", trange.Message);
        Assert.Throws<ArgumentException>(() => Functional.BinaryCrossEntropy(T(double.NaN), T(0)));

        // Class labels as int64: say how to convert.
        var dt = Assert.Throws<ArgumentException>(() => new BCEWithLogitsLoss().Forward(Tensor.Zeros(2), Tensor.FromArray(new long[] { 0, 1 }, 2)));
        Assert.Contains("expected target of dtype torch.float32 (the input's), but got torch.int64", dt.Message);
        Assert.Contains("target.To(DType.Float32)", dt.Message);
        Assert.Throws<ArgumentException>(() => new L1Loss().Forward(Tensor.Zeros(2), Tensor.Zeros([2], DType.Float64)));
        Assert.Throws<ArgumentException>(() => new HuberLoss().Forward(Tensor.Zeros([2], DType.Int64), Tensor.Zeros([2], DType.Int64)));

        var delta = Assert.Throws<ArgumentOutOfRangeException>(() => new HuberLoss(delta: 0));
        Assert.Contains("huber_loss does not support non-positive values for delta.", delta.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Functional.HuberLoss(x, x, delta: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new L1Loss((Reduction)7));

        var w = Assert.Throws<ArgumentException>(() => new BCEWithLogitsLoss(posWeight: T(1, 2)).Forward(Tensor.Zeros(4, 3), Tensor.Zeros(4, 3)));
        Assert.Equal("pos_weight", w.ParamName);
        Assert.Contains("pos_weight of shape [2] cannot be broadcast to the input's shape [4, 3]", w.Message);
        var wg = Assert.Throws<ArgumentException>(() => Functional.BinaryCrossEntropyWithLogits(Tensor.Zeros(3), Tensor.Zeros(3), Tensor.Ones(3).RequiresGrad_()));
        Assert.Contains("the derivative for 'weight' is not implemented", wg.Message);
    }

    [Fact]
    public void WeightsAreBuffersAndReprIsPyTorchs()
    {
        var l = new BCEWithLogitsLoss(Tensor.Ones(3), posWeight: Tensor.Full([3], 2.0));
        Assert.Equal(["weight", "pos_weight"], l.StateDict().Keys);
        Assert.Empty(l.Parameters());
        Assert.Equal([2f, 2f, 2f], l.PosWeight!.ToArray<float>());
        Assert.Empty(new BCEWithLogitsLoss().StateDict());
        Assert.Equal(["weight"], new BCELoss(Tensor.Ones(3)).StateDict().Keys);
        Assert.Equal("BCEWithLogitsLoss()", l.ToString());
        Assert.Equal("BCELoss()", new BCELoss().ToString());
        Assert.Equal("L1Loss()", new L1Loss().ToString());
        Assert.Equal("HuberLoss()", new HuberLoss().ToString());
        var x = Tensor.Zeros(2, 3).RequiresGrad_();
        Assert.Equal("BinaryCrossEntropyWithLogitsBackward0", l.Forward(x, Tensor.Zeros(2, 3)).GradFnName);
        Assert.Equal("L1LossBackward0", new L1Loss().Forward(x, Tensor.Zeros(2, 3)).GradFnName);
    }

    [Fact]
    public void EveryLossHasOneEntryPoint()
    {
        // Forward(input, target) only: no tuple Forward, no Call.
        Assert.False(typeof(Module<(Tensor, Tensor), Tensor>).IsAssignableFrom(typeof(Loss)));
        foreach (var t in typeof(Loss).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(Loss))))
        {
            var entry = t.GetMethods().Where(m => m.DeclaringType != typeof(object) && m.ReturnType == typeof(Tensor)
                && m.GetParameters().Any(p => p.ParameterType == typeof(Tensor) || p.ParameterType == typeof((Tensor, Tensor)))).ToList();
            Assert.Equal(["Forward"], entry.Select(m => m.Name).Distinct());
            Assert.Single(entry);
        }
    }
}
