// ZeroGrad's default (set to null, as PyTorch's zero_grad()) keeps the storage of a gradient no caller has
// seen and the next backward writes into it: no new gradient arrays per training step. These tests pin
// both halves: the reuse happens (same storage, right values, inside dispose scopes too), and it never
// touches a gradient a caller read or set, which keeps PyTorch's semantics (an old .grad is never
// overwritten by a later backward).
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Optim;

public class GradientReuseTests
{
    // Linear(300, 70): its weight gradient is 84 KB, above the dispose scopes' pooling threshold.
    private static (Linear Fc, Sgd Opt, Tensor X1, Tensor X2) Setup()
    {
        var gen = new Generator(3);
        var fc = new Linear(300, 70, generator: gen);
        return (fc, new Sgd(fc.Parameters(), 0.1), Tensor.Randn([5, 300], DType.Float32, gen), Tensor.Randn([5, 300], DType.Float32, gen));
    }

    private static void Backward(Linear fc, Tensor x) => fc.Forward(x).Pow(2).Sum().Backward();

    // The weight gradient of the same loss computed on fresh leaves (a gradient made from nothing).
    private static float[] FreshWeightGrad(Linear fc, Tensor x)
    {
        var w = fc.Weight.Detach().Clone().RequiresGrad_();
        var b = fc.Bias!.Detach().Clone().RequiresGrad_();
        Functional.Linear(x, w, b).Pow(2).Sum().Backward();
        return w.Grad!.ToArray<float>();
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void ZeroGradReusesTheStorageOfAnUnseenGradient(bool scoped, bool viaModule)
    {
        var (fc, opt, x1, x2) = Setup();
        Tensor? first = null;
        foreach (var x in new[] { x1, x2, x1 })
        {
            using var scope = scoped ? Tensor.NewDisposeScope() : null;
            if (viaModule) fc.ZeroGrad(); else opt.ZeroGrad();
            Backward(fc, x);
            first ??= fc.Weight.GradUnseen;
            Assert.Same(first, fc.Weight.GradUnseen);
            Assert.Equal(FreshWeightGrad(fc, x), fc.Weight.GradUnseen!.ToArray<float>());
            opt.Step();
        }
        Assert.False(first!.IsDisposed);
    }

    [Fact]
    public void AGradientTheCallerReadIsNeverOverwritten()
    {
        var (fc, opt, x1, x2) = Setup();
        opt.ZeroGrad();
        Backward(fc, x1);
        var seen = fc.Weight.Grad!;                              // the caller keeps the step's gradient
        var values = seen.ToArray<float>();
        opt.ZeroGrad();
        Assert.Null(fc.Weight.Grad);
        Backward(fc, x2);
        Assert.NotSame(seen, fc.Weight.Grad);
        Assert.Equal(values, seen.ToArray<float>());
        Assert.Equal(FreshWeightGrad(fc, x2), fc.Weight.Grad!.ToArray<float>());
        Assert.NotEqual(values, fc.Weight.Grad!.ToArray<float>());
    }

    [Fact]
    public void SettingTheGradientToNullReleasesItsStorage()
    {
        var (fc, opt, x1, x2) = Setup();
        Backward(fc, x1);
        var first = fc.Weight.GradUnseen;
        opt.ZeroGrad();                                          // kept for reuse...
        fc.Weight.Grad = null;                                   // ...until the caller lets it go, as PyTorch frees it
        Backward(fc, x2);
        Assert.NotSame(first, fc.Weight.GradUnseen);
        Assert.Equal(FreshWeightGrad(fc, x2), fc.Weight.Grad!.ToArray<float>());
    }

    [Fact]
    public void ClippingAndStepsDoNotCountAsSeeing()
    {
        var (fc, opt, x1, x2) = Setup();
        opt.ZeroGrad();
        Backward(fc, x1);
        var first = fc.Weight.GradUnseen;
        ClipGrad.ClipGradNorm(fc.Parameters(), 1.0);
        ClipGrad.ClipGradValue(fc.Parameters(), 10.0);
        opt.Step();
        opt.ZeroGrad();
        Backward(fc, x2);
        Assert.Same(first, fc.Weight.GradUnseen);
    }

    [Fact]
    public void ZeroGradKeepingTheTensorsStillZeroesTheSeenOne()
    {
        var (fc, opt, x1, _) = Setup();
        Backward(fc, x1);
        var seen = fc.Weight.Grad!;
        opt.ZeroGrad(setToNone: false);
        Assert.Same(seen, fc.Weight.Grad);
        Assert.All(seen.ToArray<float>(), v => Assert.Equal(0f, v));
    }
}

public class RecurrentGradientBufferReuseTests
{
    [Fact]
    public void TheFlatGradientIsRenewedOnlyWhenACallerReadADroppedOne()
    {
        var gen = new Generator(4);
        var lstm = new Lstm(8, 24, numLayers: 2, generator: gen);
        var opt = new Sgd(lstm.Parameters(), 0.1);
        var x1 = Tensor.Randn([5, 3, 8], DType.Float32, gen);
        var x2 = Tensor.Randn([5, 3, 8], DType.Float32, gen);
        void Backward(Tensor x) { var (y, _) = lstm.Forward(x); y.Pow(2).Sum().Backward(); }
        void AdoptedViewsOf(Tensor buffer) => Assert.All(lstm.Parameters(), p => Assert.Same(buffer.Data, p.GradUnseen!.Data));

        opt.ZeroGrad();
        Backward(x1);
        var buffer = lstm.Flat.GradBuffer;
        var views = lstm.Parameters().Select(p => p.GradUnseen!).ToArray();
        opt.Step();
        opt.ZeroGrad();
        Backward(x2);
        Assert.Same(buffer, lstm.Flat.GradBuffer);            // nobody saw the views: the storage is reused
        AdoptedViewsOf(buffer);
        Assert.All(lstm.Parameters().Zip(views), pv => Assert.Same(pv.Second, pv.First.GradUnseen));   // and the view tensors

        var kept = lstm.Parameters().Last().Grad!;            // the caller keeps one step's gradient
        var values = kept.ToArray<float>();
        opt.Step();
        opt.ZeroGrad();
        Backward(x1);
        Assert.NotSame(buffer, lstm.Flat.GradBuffer);         // as PyTorch: a held gradient is never overwritten
        Assert.NotSame(kept, lstm.Parameters().Last().GradUnseen);
        Assert.Equal(values, kept.ToArray<float>());
        Assert.NotEqual(values, lstm.Parameters().Last().GradUnseen!.ToArray<float>());
        var renewed = lstm.Flat.GradBuffer;
        AdoptedViewsOf(renewed);

        opt.ZeroGrad();
        Backward(x2);
        Assert.Same(renewed, lstm.Flat.GradBuffer);           // unseen again: reused again
    }

    [Fact]
    public void AGradientTheCallerSetToNullIsNeverOverwritten()
    {
        var (lstm, opt, x1, x2) = Setup();
        Backward(lstm, x1);
        var buffer = lstm.Flat.GradBuffer;
        var p = lstm.Parameters().First();
        var kept = p.Grad!;                                   // the caller reads a view...
        var values = kept.ToArray<float>();
        p.Grad = null;                                        // ...and drops it through the setter, so ZeroGrad finds null
        opt.ZeroGrad();
        Backward(lstm, x2);
        Assert.NotSame(buffer, lstm.Flat.GradBuffer);
        Assert.Equal(values, kept.ToArray<float>());
    }

    [Fact]
    public void AFrozenParametersGradientIsNeverTouched()
    {
        var (lstm, _, x1, x2) = Setup();
        Backward(lstm, x1);
        var frozen = lstm.Parameters().First();
        var kept = frozen.Grad!;
        var values = kept.ToArray<float>();
        frozen.RequiresGrad = false;
        var opt = new Sgd(lstm.Parameters().Skip(1), 0.1);   // the frozen one is not in the optimizer: its view stays
        Backward(lstm, x2);                                   // the others add into their views
        Assert.Equal(values, kept.ToArray<float>());
        Assert.Same(kept, frozen.Grad);
        opt.ZeroGrad();
        Backward(lstm, x1);                                   // the others adopt fresh views
        Assert.Equal(values, kept.ToArray<float>());
        opt.ZeroGrad(setToNone: false);
        Backward(lstm, x2);
        Assert.Equal(values, kept.ToArray<float>());
    }

    private static (Lstm Lstm, Sgd Opt, Tensor X1, Tensor X2) Setup()
    {
        var gen = new Generator(6);
        var lstm = new Lstm(8, 24, numLayers: 2, generator: gen);
        return (lstm, new Sgd(lstm.Parameters(), 0.1), Tensor.Randn([5, 3, 8], DType.Float32, gen), Tensor.Randn([5, 3, 8], DType.Float32, gen));
    }

    private static void Backward(Lstm lstm, Tensor x) { var (y, _) = lstm.Forward(x); y.Pow(2).Sum().Backward(); }
}
