// Tensor.RegisterHook as PyTorch's register_hook: a hook receives the gradient with respect to its tensor and may
// return a replacement; leaves' hooks run before .grad is accumulated, non-leaves' before the gradient flows on and
// before retain_grad stores it; handles remove them. Also where our fused recurrent stack writes gradients itself
// (its flat weight-gradient buffer, a leaf h0's .Grad, an embedding table reached per id): a hook sees exactly the
// gradient the ordinary path would hand it.
using Recurrent.Autograd;
using Recurrent.Nn;

namespace Recurrent.Tests.Autograd;

[Collection(Serial.Name)]
public class GradientHookTests
{
    private static double[] D(Tensor t) => t.Contiguous().Double().ToArray<double>();

    [Fact]
    public void LeafHook_ReplacesTheGradient_UntilRemoved()
    {
        // PyTorch's register_hook example.
        var v = Tensor.FromArray(new float[] { 0, 0, 0 }).RequiresGrad_();
        var h = v.RegisterHook(g => g * 2);
        v.Backward(Tensor.FromArray(new float[] { 1, 2, 3 }));
        Assert.Equal(new float[] { 2, 4, 6 }, v.Grad!.ToArray<float>());
        h.Remove();
        h.Remove();   // a second removal does nothing
        v.Grad = null;
        v.Backward(Tensor.FromArray(new float[] { 1, 2, 3 }));
        Assert.Equal(new float[] { 1, 2, 3 }, v.Grad!.ToArray<float>());
    }

    [Fact]
    public void LeafHook_SeesTheSummedGradientOnce_AndItsResultIsAccumulated()
    {
        var a = Tensor.FromArray(new double[] { 1, 2, 3 }).RequiresGrad_();
        var seen = new List<double[]>();
        a.RegisterHook(g => seen.Add(D(g)));
        a.RegisterHook(g => g + 1.0);
        a.Mul(a).Sum().Add(a.Mul(3.0).Sum()).Backward();   // d/da = 2a + 3, from two uses
        Assert.Single(seen);
        Assert.Equal(new double[] { 5, 7, 9 }, seen[0]);
        Assert.Equal(new double[] { 6, 8, 10 }, D(a.Grad!));
        // A second backward: the hooks run again on its own gradient, which is added to .Grad.
        a.Sum().Backward();
        Assert.Equal(new double[] { 1, 1, 1 }, seen[1]);
        Assert.Equal(new double[] { 8, 10, 12 }, D(a.Grad!));
    }

    [Fact]
    public void NonLeafHook_ChangesWhatFlowsOn_InRegistrationOrder()
    {
        var a = Tensor.FromArray(new double[] { 1, 2, 3 }).RequiresGrad_();
        var b = a.Mul(2.0);
        b.RegisterHook(g => g + 1.0);
        b.RegisterHook(g => g * 3.0);
        b.Sum().Backward();
        // (1 + 1) * 3 = 6 reaches b's node, which doubles it.
        Assert.Equal(new double[] { 12, 12, 12 }, D(a.Grad!));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RetainGrad_StoresTheHookedGradient_WhicheverCameFirst(bool retainFirst)
    {
        // PyTorch 2 runs retain_grad's hook after every other hook of the tensor.
        var a = Tensor.FromArray(new double[] { 1, 2 }).RequiresGrad_();
        var b = a.Mul(a);
        if (retainFirst) b.RetainGrad();
        using var h = b.RegisterHook(g => g * 10.0);
        if (!retainFirst) b.RetainGrad();
        b.Sum().Backward();
        Assert.Equal(new double[] { 10, 10 }, D(b.Grad!));
        Assert.Equal(new double[] { 20, 40 }, D(a.Grad!));
    }

    [Fact]
    public void DisposingTheHandle_RemovesTheHook()
    {
        var a = Tensor.FromArray(new double[] { 1, 2 }).RequiresGrad_();
        using (a.RegisterHook(g => g * 0.0)) a.Sum().Backward();
        Assert.Equal(new double[] { 0, 0 }, D(a.Grad!));
        a.Sum().Backward();
        Assert.Equal(new double[] { 1, 1 }, D(a.Grad!));
    }

    [Fact]
    public void AHandleRemovesItsOwnRegistration_OfADelegateRegisteredTwice()
    {
        var a = Tensor.FromArray(new double[] { 1 }).RequiresGrad_();
        Func<Tensor, Tensor?> plusOne = g => g + 1.0, timesThree = g => g * 3.0;
        a.RegisterHook(plusOne);
        a.RegisterHook(timesThree);
        var second = a.RegisterHook(plusOne);
        second.Remove();
        a.Sum().Backward();
        Assert.Equal(new double[] { 6 }, D(a.Grad!));   // (1 + 1) * 3, not 1 * 3 + 1
    }

    [Fact]
    public void Refusals_NameWhatIsWrong()
    {
        var plain = Tensor.FromArray(new float[] { 1, 2 });
        var e = Assert.Throws<InvalidOperationException>(() => plain.RegisterHook(g => g));
        Assert.Contains("cannot register a hook on a tensor that doesn't require gradient", e.Message);
        Assert.Throws<ArgumentNullException>(() => plain.RequiresGrad_().RegisterHook((Func<Tensor, Tensor?>)null!));

        var a = Tensor.FromArray(new float[] { 1, 2 }).RequiresGrad_();
        using (a.RegisterHook(g => Tensor.Zeros(3)))
        {
            e = Assert.Throws<InvalidOperationException>(() => a.Sum().Backward());
            Assert.Contains("returned a tensor of shape [3] for a gradient of shape [2]", e.Message);
        }
        var b = a.Mul(2f);
        b.RegisterHook(g => g.Double());
        e = Assert.Throws<InvalidOperationException>(() => b.Sum().Backward());
        Assert.Contains("returned a tensor of dtype Float64 for a gradient of dtype Float32", e.Message);
    }

    // The gradients of an LSTM's parameters, of a leaf h0 and of x, after a backward of a fixed loss.
    private static (double[][] Params, double[] H0, double[] X) LstmGrads(Lstm lstm, Tensor x, Tensor h0, Tensor c0)
    {
        var (o, (h, _)) = lstm.Forward(x, (h0, c0));
        o.SumProduct(o).Add(h.Sum()).Backward();
        return (lstm.Parameters().Select(p => D(p.Grad!)).ToArray(), D(h0.Grad!), D(x.Grad!));
    }

    [Fact]
    public void HooksOnAFusedStacksInputsAndWeights_SeeTheirOwnGradients()
    {
        var g = new Generator(3);
        var lstm = new Lstm(3, 4, 2, dtype: DType.Float64, generator: g);
        var x = Tensor.Randn([5, 2, 3], DType.Float64, g).RequiresGrad_();
        var h0 = Tensor.Randn([2, 2, 4], DType.Float64, g).RequiresGrad_();
        var c0 = Tensor.Randn([2, 2, 4], DType.Float64, g);
        var plain = LstmGrads(lstm, x, h0, c0);
        lstm.ZeroGrad();
        x.Grad = null;
        // h0 keeps its gradient: the next backward would add into it in place, past a hook.
        var whh = lstm.GetParameter("weight_hh_l1");
        var kept = new List<Tensor>();
        var hooks = new[]
        {
            whh.RegisterHook(gr => { kept.Add(gr); return gr * 3.0; }),
            h0.RegisterHook(gr => gr * 0.5),
            x.RegisterHook(gr => gr * -1.0),
        };
        var hooked = LstmGrads(lstm, x, h0, c0);
        var names = lstm.NamedParameters().Select(p => p.Name).ToArray();
        for (int p = 0; p < names.Length; p++)
        {
            double scale = names[p] == "weight_hh_l1" ? 3 : 1;
            Assert.Equal(plain.Params[p].Select(v => v * scale), hooked.Params[p]);
        }
        Assert.Equal(plain.H0.Select(v => v * 1.5), hooked.H0);   // the first backward's, plus half of this one's
        Assert.Equal(plain.X.Select(v => -v), hooked.X);
        // The gradient a hook kept is its own: later backwards do not write into it.
        var keptValues = D(kept[0]);
        Assert.Equal(plain.Params[Array.IndexOf(names, "weight_hh_l1")], keptValues);
        foreach (var h in hooks) h.Remove();
        lstm.ZeroGrad();
        h0.Grad = null;
        x.Grad = null;
        var again = LstmGrads(lstm, x, h0, c0);
        Assert.Equal(keptValues, D(kept[0]));
        for (int p = 0; p < names.Length; p++) Assert.Equal(plain.Params[p], again.Params[p]);
        Assert.Equal(plain.H0, again.H0);
    }

    [Fact]
    public void AHookedWeightsGradient_AddsToTheGradientItAlreadyHas()
    {
        // Without ZeroGrad the stack would add into the flat gradient buffer in place, past the hook.
        var g = new Generator(4);
        var lstm = new Lstm(3, 4, dtype: DType.Float64, generator: g);
        var x = Tensor.Randn([5, 2, 3], DType.Float64, g);
        double[] Grad() => D(lstm.GetParameter("weight_ih_l0").Grad!);
        lstm.Forward(x).Output.Sum().Backward();
        var once = Grad();
        using (lstm.GetParameter("weight_ih_l0").RegisterHook(gr => gr * 10.0)) lstm.Forward(x).Output.Sum().Backward();
        Assert.Equal(once.Select(v => 11 * v), Grad(), new ToleranceComparer(1e-12));
        lstm.Forward(x).Output.Sum().Backward();
        Assert.Equal(once.Select(v => 12 * v), Grad(), new ToleranceComparer(1e-12));
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tolerance * (1 + Math.Abs(a));
        public int GetHashCode(double v) => 0;
    }

    [Fact]
    public void HooksStayWithAParameter_ThroughToDTypeAndReflattening()
    {
        // PyTorch's module.to(dtype) and flatten_parameters() keep the Parameter objects and so their hooks; ours make
        // new tensors, which take the hooks (and the handles still remove them).
        var lstm = new Lstm(3, 4, generator: new Generator(6));
        var linear = new Linear(4, 2, generator: new Generator(7));
        int lstmCalls = 0, linearCalls = 0;
        var h1 = lstm.GetParameter("weight_hh_l0").RegisterHook(g => { lstmCalls++; return g * 0.0; });
        var h2 = linear.Weight.RegisterHook(g => { linearCalls++; return null; });
        lstm.Double();
        linear.Double();
        var x = Tensor.Randn([5, 2, 3], DType.Float64, new Generator(8));
        linear.Forward(lstm.Forward(x).Output).Sum().Backward();
        Assert.Equal((1, 1), (lstmCalls, linearCalls));
        Assert.All(lstm.GetParameter("weight_hh_l0").Grad!.ToArray<double>(), v => Assert.Equal(0.0, v));
        h1.Remove();
        h2.Remove();
        lstm.ZeroGrad();
        linear.Forward(lstm.Forward(x).Output).Sum().Backward();
        Assert.Equal((1, 1), (lstmCalls, linearCalls));
        Assert.Contains(lstm.GetParameter("weight_hh_l0").Grad!.ToArray<double>(), v => v != 0);
    }

    [Fact]
    public void AHookThatZeroesTableRows_FreezesThemThroughAStackReadingPerId()
    {
        // Training only some rows of an embedding (new tokens added to a pretrained table): a hook on the table's
        // weight masks its gradient. The stack reads the embedding per id and sends the table its gradient itself.
        var g = new Generator(5);
        var emb = new Embedding(6, 4, dtype: DType.Float64, generator: g);
        var lstm = new Lstm(4, 5, dtype: DType.Float64, generator: g);
        var ids = Tensor.FromArray(new long[] { 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 5, 4, 3, 2 }, 8, 2);
        var mask = Tensor.FromArray(new double[] { 0, 0, 0, 0, 1, 1 }, 6, 1);
        double[] Table()
        {
            emb.ZeroGrad();
            lstm.Forward(emb.Forward(ids)).Output.Sum().Backward();
            return D(emb.Weight.Grad!);
        }
        var plain = Table();
        using (emb.Weight.RegisterHook(gr => gr * mask))
        {
            var masked = Table();
            for (int i = 0; i < plain.Length; i++) Assert.Equal(i / 4 >= 4 ? plain[i] : 0, masked[i]);
        }
        Assert.Equal(plain, Table());
    }

    // Whether a stack read its embedding input per id, with the table's gradient sent past the output (its node's first
    // edge is the table's accumulator).
    private static bool RoutedToTable(Tensor output, Embedding emb)
    {
        var node = output.GradFn!;
        while (node.Name != "FusedRnnBackward0") node = node.NextEdges[0].Node!;
        return node.NextEdges[0].Node is AccumulateGrad acc && ReferenceEquals(acc.Leaf, emb.Weight);
    }

    public enum When { BeforeTheForward, AfterTheForward, DuringTheBackward }

    [Theory]
    [InlineData(When.BeforeTheForward, false, false, false)]
    [InlineData(When.AfterTheForward, false, false, false)]
    [InlineData(When.AfterTheForward, true, false, false)]
    [InlineData(When.AfterTheForward, false, true, false)]
    [InlineData(When.AfterTheForward, false, false, true)]
    [InlineData(When.AfterTheForward, true, true, true)]
    [InlineData(When.DuringTheBackward, false, false, false)]
    [InlineData(When.DuringTheBackward, true, false, true)]
    public void AHookOnAnEmbeddingOutput_SeesTheStacksShare(When when, bool otherUse, bool twoStacks, bool batchFirst)
    {
        var g = new Generator(7);
        var emb = new Embedding(5, 4, dtype: DType.Float64, generator: g);
        var lstm = new Lstm(4, 3, 2, batchFirst: batchFirst, dtype: DType.Float64, generator: g);
        var gru = new Gru(4, 2, batchFirst: batchFirst, dtype: DType.Float64, generator: g);
        var ids = Tensor.FromArray(new long[] { 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 3 }, 6, 2);
        (double[] Seen, double[] Table) Run(bool hooked)
        {
            emb.ZeroGrad();
            double[]? seen = null;
            var e = emb.Forward(ids);
            Tensor? hookInput = null;
            Func<Tensor, Tensor?> hook = gr => { seen = D(gr); return gr * 2.0; };
            if (hooked && when == When.BeforeTheForward) e.RegisterHook(hook);
            var (o, _) = lstm.Forward(e);
            var loss = o.SumProduct(o);
            if (twoStacks) loss = loss.Add(gru.Forward(e).Output.Sum());
            if (hooked && when != When.BeforeTheForward) Assert.True(RoutedToTable(o, emb));   // the stack read e per id
            if (hooked && when == When.AfterTheForward) e.RegisterHook(hook);
            // From a hook that runs before the stack's node: the engine has already counted its dependencies.
            if (hooked && when == When.DuringTheBackward) o.RegisterHook(gr => { e.RegisterHook(hook); return null; });
            if (otherUse) loss = loss.Add(e.Mul(e).Sum());
            if (!hooked)
            {
                // The reference: the same loss with e's total gradient taken by hand.
                hookInput = e;
                e.RetainGrad();
            }
            loss.Backward();
            return (seen ?? D(hookInput!.Grad!), D(emb.Weight.Grad!));
        }
        var (total, table) = Run(hooked: false);
        var (seenByHook, hookedTable) = Run(hooked: true);
        Assert.Equal(total.Length, seenByHook.Length);
        for (int i = 0; i < total.Length; i++) Assert.True(Math.Abs(total[i] - seenByHook[i]) <= 1e-12 * (1 + Math.Abs(total[i])), $"seen[{i}]");
        for (int i = 0; i < table.Length; i++)
            Assert.True(Math.Abs(2 * table[i] - hookedTable[i]) <= 1e-12 * (1 + Math.Abs(table[i])), $"table[{i}]: {2 * table[i]} vs {hookedTable[i]}");
    }
}
