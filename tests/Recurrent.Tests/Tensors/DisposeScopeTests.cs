// Dispose scopes: tensors created in a scope are disposed with it, large arrays are recycled
// through the pool only when no live tensor uses them, and a training loop run with one scope
// per iteration computes exactly what it computes without scopes.
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Tensors;

public class DisposeScopeTests
{
    // Large enough to be pooled (>= StoragePool.MinBytes), odd so no other test shares the pool key.
    private static readonly int[] Big = [129, 257];

    [Fact]
    public void TensorsCreatedInAScopeAreDisposedWithIt()
    {
        Tensor small, big, outside = Tensor.Ones(3);
        using (var scope = Tensor.NewDisposeScope())
        {
            small = Tensor.Ones(3) + outside;
            big = Tensor.Zeros(Big);
            Assert.Equal(2 + 1, scope.Count); // Ones(3), the sum, Zeros
            Assert.False(small.IsDisposed);
        }
        Assert.True(small.IsDisposed);
        Assert.True(big.IsDisposed);
        Assert.False(outside.IsDisposed);
        var e = Assert.Throws<ObjectDisposedException>(() => small.Sum());
        Assert.Contains("MoveToOuterDisposeScope", e.Message);
        Assert.Throws<ObjectDisposedException>(() => big.ToArray<float>());
        Assert.Equal(3.0, outside.Sum().ToDouble());
    }

    [Fact]
    public void LargeStorageIsReusedAndComesBackZeroed()
    {
        Array first;
        using (Tensor.NewDisposeScope())
        {
            var a = Tensor.Zeros(Big);
            a.AsSpan<float>().Fill(7f);
            first = a.Data;
        }
        using (Tensor.NewDisposeScope())
        {
            var b = Tensor.Zeros(Big);
            Assert.Same(first, b.Data);
            Assert.All(b.ToArray<float>(), v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void FromArrayCopiesIntoPooledStorageInsideAScope()
    {
        // 4,099 ids (32 KB): a training step's token batch, above the pool threshold; odd length, a key of its own.
        var ids = Enumerable.Range(0, 4099).Select(i => (long)i).ToArray();
        Array first;
        using (Tensor.NewDisposeScope())
        {
            var a = Tensor.FromArray(ids, 4099);
            first = a.Data;
        }
        Array.Reverse(ids);
        using (Tensor.NewDisposeScope())
        {
            var b = Tensor.FromArray(ids, 4099);
            Assert.Same(first, b.Data);                          // the first step's storage, reused
            ids[0] = -1;                                         // a copy: later changes to the source don't show
            Assert.Equal(Enumerable.Range(0, 4099).Reverse().Select(i => (long)i), b.ToArray<long>());
        }
        Assert.Equal(4099, Tensor.FromArray(ids, 4099).Numel);  // outside any scope: an ordinary array
    }

    [Fact]
    public void AViewKeptBeyondTheScopeKeepsItsStorage()
    {
        Tensor kept;
        Array storage;
        using (Tensor.NewDisposeScope())
        {
            var a = Tensor.Full(Big, 3.0);
            storage = a.Data;
            kept = a.Select(0, 5).MoveToOuterDisposeScope(); // no outer scope: detached
        }
        Assert.False(kept.IsDisposed);
        using (Tensor.NewDisposeScope())
        {
            var b = Tensor.Zeros(Big);
            Assert.NotSame(storage, b.Data); // the kept view still uses the old array
            b.AsSpan<float>().Fill(1f);
        }
        Assert.All(kept.ToArray<float>(), v => Assert.Equal(3f, v));
    }

    [Fact]
    public void ViewsMadeInsideTheScopeDelayRecyclingUntilAllAreDisposed()
    {
        using var outer = Tensor.NewDisposeScope();
        Tensor view;
        Array storage;
        using (Tensor.NewDisposeScope())
        {
            var a = Tensor.Full(Big, 2.0);
            storage = a.Data;
            view = a.Narrow(0, 1, 4).MoveToOuterDisposeScope(); // now owned by `outer`
        }
        Assert.False(view.IsDisposed);
        using (Tensor.NewDisposeScope())
        {
            var b = Tensor.Zeros(Big);
            Assert.NotSame(storage, b.Data);
        }
        Assert.Equal(2.0 * 4 * Big[1], view.Sum().ToDouble());
    }

    [Fact]
    public void AScopeReusingTheListOfTheLastOneStartsEmpty()
    {
        Tensor before;
        using (Tensor.NewDisposeScope()) before = Tensor.Ones(3) + Tensor.Ones(3);
        using (var outer = Tensor.NewDisposeScope())
        {
            Assert.Equal(0, outer.Count);                     // the last scope's list, emptied
            var kept = Tensor.Ones(2);
            using (var inner = Tensor.NewDisposeScope())
            {
                Assert.Equal(0, inner.Count);
                _ = Tensor.Ones(4);
                Assert.Equal(1, inner.Count);
            }
            using (var next = Tensor.NewDisposeScope())       // takes the inner scope's list
            {
                Assert.Equal(0, next.Count);
                Assert.Equal(1, outer.Count);
            }
            Assert.False(kept.IsDisposed);
            Assert.Equal(1, outer.Count);
        }
        Assert.True(before.IsDisposed);
    }

    [Fact]
    public void APooledArrayComesBackWithItsLeaseOnlyWhenEveryViewIsDisposed()
    {
        // Each round rents the array the round before gave back; its views count on the same lease each time.
        Array? storage = null;
        for (int round = 0; round < 3; round++)
        {
            Tensor view;
            using (var outer = Tensor.NewDisposeScope())
            {
                using (Tensor.NewDisposeScope())
                {
                    var a = Tensor.Full(Big, round);
                    if (storage is not null) Assert.Same(storage, a.Data);
                    storage = a.Data;
                    view = a.Narrow(0, 0, 2).MoveToOuterDisposeScope();
                }
                using (Tensor.NewDisposeScope())
                    Assert.NotSame(storage, Tensor.Zeros(Big).Data);   // the view still holds it
                Assert.Equal(round * 2.0 * Big[1], view.Sum().ToDouble());
            }
            Assert.True(view.IsDisposed);
        }
    }

    [Fact]
    public void NestedScopesDisposeInReverseOrderOnly()
    {
        var outer = Tensor.NewDisposeScope();
        var inner = Tensor.NewDisposeScope();
        Assert.Throws<InvalidOperationException>(() => outer.Dispose());
        inner.Dispose();
        inner.Dispose(); // a second Dispose does nothing
        outer.Dispose();
        Assert.True(outer.IsDisposed);
        Assert.Null(DisposeScope.Current);
    }

    [Fact]
    public void BackwardPassesOnOneThreadShareNothingButTheirCollections()
    {
        // The engine reuses one thread's walk collections from pass to pass: a pass that fails half-way must leave
        // nothing (no pending gradient, no dependency count) for the next, and a pass run from inside a backward rule
        // gets its own. Here the later-made `good` branch delivers its gradient to p's sink before `bad`'s backward
        // finds the tensor it saved disposed; without the reset, the next pass would count p's sink as waiting for one
        // more gradient and never write p.Grad.
        var p = Tensor.FromArray(new double[] { 1, 2 }, 2).RequiresGrad_();
        Tensor bad;
        using (Tensor.NewDisposeScope())
        {
            var k = Tensor.FromArray(new double[] { 4, 4 }, 2);
            bad = (p * k).MoveToOuterDisposeScope();
        }
        var good = p * 3;
        Assert.Throws<InvalidOperationException>(() => (bad + good).Sum().Backward());
        Assert.Null(p.Grad);
        (p * 5).Sum().Backward();
        Assert.Equal(new double[] { 5, 5 }, p.Grad!.ToArray<double>());

        var a = Tensor.FromArray(new double[] { 1, 2, 3 }, 3).RequiresGrad_();
        var mid = a * a;
        mid.RetainGrad();
        (mid * 2).Sum().Backward();
        Assert.Equal(new double[] { 4, 8, 12 }, a.Grad!.ToArray<double>());
        Assert.Equal(new double[] { 2, 2, 2 }, mid.Grad!.ToArray<double>());

        var inner = Tensor.FromArray(new double[] { 5 }, 1).RequiresGrad_();
        var outer = Tensor.FromArray(new double[] { 2 }, 1).RequiresGrad_();
        var innerLoss = (inner * inner).Sum();   // recorded here: a backward rule runs without grad mode
        var hooked = Tensor.Record(outer * 1, "HookBackward", g =>
        {
            innerLoss.Backward();   // a whole pass while this one waits on its result
            return new Tensor?[] { g * 7 };
        }, false, outer);
        (hooked * 3).Sum().Backward();
        Assert.Equal(new double[] { 21 }, outer.Grad!.ToArray<double>());
        Assert.Equal(new double[] { 10 }, inner.Grad!.ToArray<double>());
    }

    [Fact]
    public void ABackwardOverAVeryLargeGraphDoesNotKeepItsCollections()
    {
        var x = Tensor.FromArray(new double[] { 1 }, 1).RequiresGrad_();
        var y = x;
        for (int i = 0; i < Recurrent.Autograd.Engine.MaxKeptNodes + 10; i++) y = y * 1.0;
        y.Sum().Backward();
        Assert.Equal(new double[] { 1 }, x.Grad!.ToArray<double>());
        Assert.False(Recurrent.Autograd.Engine.HasSpareState);
        (x * 2).Sum().Backward();
        Assert.True(Recurrent.Autograd.Engine.HasSpareState);
        Assert.Equal(new double[] { 3 }, x.Grad!.ToArray<double>());
    }

    [Fact]
    public void BackwardAfterTheForwardsScopeEnded_SaysSoInTheCallersTerms()
    {
        // The loss leaves the scope, but what the embedding and the LSTM saved for their backward does not.
        var emb = new Embedding(10, 4, generator: new Generator(1));
        var lstm = new Lstm(4, 6, generator: new Generator(2));
        Tensor embOnly, whole;
        using (Tensor.NewDisposeScope())
        {
            var ids = Tensor.FromArray(new long[] { 1, 2, 3, 4, 5, 6 }, 3, 2);
            embOnly = emb.Forward(ids).Sum().MoveToOuterDisposeScope();
            var (y, _) = lstm.Forward(emb.Forward(ids));
            whole = y.Sum().MoveToOuterDisposeScope();
        }
        foreach (var (loss, node) in new[] { (embOnly, "Embedding"), (whole, "RnnBackward") })
        {
            var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
            Assert.Contains("Backward() through", e.Message);
            Assert.Contains(node, e.Message);
            Assert.Contains("Call Backward() before that scope is disposed", e.Message);
            Assert.IsType<ObjectDisposedException>(e.InnerException);
        }

        // A disposed gradient or root is the caller's own tensor: its own ObjectDisposedException, not the saved-tensor one.
        var x = Tensor.Ones(3).RequiresGrad_();
        var live = (x * 2).MoveToOuterDisposeScope();
        Tensor gone, goneRoot;
        using (Tensor.NewDisposeScope()) { gone = Tensor.Ones(3); goneRoot = (x * 3).Sum(); }
        Assert.Throws<ObjectDisposedException>(() => live.Backward(gone));
        Assert.Throws<ObjectDisposedException>(() => goneRoot.Backward());
        Assert.Null(x.Grad);

        // The same graphs backpropagate when Backward() runs inside the scope.
        using (Tensor.NewDisposeScope())
        {
            var ids = Tensor.FromArray(new long[] { 1, 2, 3, 4, 5, 6 }, 3, 2);
            var (y, _) = lstm.Forward(emb.Forward(ids));
            y.Sum().Backward();
        }
        Assert.NotNull(emb.Weight.Grad);
    }

    [Fact]
    public void ParametersGradientsAndOptimizerStateSurviveTheScope()
    {
        Lstm lstm;
        Adam adam;
        using (Tensor.NewDisposeScope())
        {
            lstm = new Lstm(8, 40, numLayers: 2, generator: new Generator(3));
            adam = new Adam(lstm.Parameters(), lr: 0.01);
            var (y, _) = lstm.Forward(Tensor.Randn([5, 4, 8], DType.Float32, new Generator(4)));
            y.Sum().Backward();
            adam.Step();
        }
        foreach (var p in lstm.Parameters())
        {
            Assert.False(p.IsDisposed);
            Assert.False(p.Grad!.IsDisposed);
        }
        adam.Step(); // reads its state and the gradients
        Assert.True(lstm.Parameters().All(p => p.ToArray<float>().All(float.IsFinite)));
    }

    [Fact]
    public void TrainingWithOneScopePerIterationMatchesTrainingWithout()
    {
        var withScopes = Train(scoped: true);
        var without = Train(scoped: false);
        Assert.Equal(4, without.OutputArrays);          // a fresh output array every iteration
        // recycled: the output and its gradient (same shape) take turns with the same two arrays
        Assert.InRange(withScopes.OutputArrays, 1, 2);
        Assert.Equal(without.Losses, withScopes.Losses);
        for (int i = 0; i < without.Params.Length; i++) Assert.Equal(without.Params[i], withScopes.Params[i]);
    }

    // A character-model step (Embedding -> 2-layer LSTM -> Linear -> cross entropy, Adam), sized so
    // the LSTM output, its gradient and the logits are pooled; the hidden state is carried between
    // iterations (detached), as in truncated backpropagation through time.
    private static (double[] Losses, float[][] Params, int OutputArrays) Train(bool scoped)
    {
        var gen = new Generator(11);
        var emb = new Embedding(30, 16, generator: gen);
        var lstm = new Lstm(16, 64, numLayers: 2, generator: gen);
        var fc = new Linear(64, 30, generator: gen);
        var ps = emb.Parameters().Concat(lstm.Parameters()).Concat(fc.Parameters()).ToList();
        var adam = new Adam(ps, lr: 0.01);
        var loss = new CrossEntropyLoss();
        var tokens = Tensor.RandInt(0, 30, [33, 16], generator: gen);
        (Tensor H, Tensor C)? state = null;
        var losses = new List<double>();
        var outputArrays = new HashSet<Array>(ReferenceEqualityComparer.Instance);
        for (int it = 0; it < 4; it++)
        {
            var scope = scoped ? Tensor.NewDisposeScope() : null;
            adam.ZeroGrad();
            var input = tokens.Narrow(0, 0, 32);
            var target = tokens.Narrow(0, 1, 32);
            var (y, (h, c)) = lstm.Forward(emb.Forward(input), state);
            outputArrays.Add(y.Data);
            var logits = fc.Forward(y);
            var l = loss.Forward(logits.Reshape(-1, 30), target.Reshape(-1));
            l.Backward();
            adam.Step();
            losses.Add(l.ToDouble());
            state = (h.Detach().DetachFromDisposeScope(), c.Detach().DetachFromDisposeScope());
            scope?.Dispose();
        }
        return (losses.ToArray(), ps.Select(p => p.ToArray<float>()).ToArray(), outputArrays.Count);
    }

    [Fact]
    public void PackedBidirectionalGruWithDropoutMatchesWithoutScopes()
    {
        Assert.Equal(TrainGru(scoped: false), TrainGru(scoped: true));
    }

    // Unsorted packed batches through a 2-layer bidirectional GRU with dropout (the masks come from the
    // generator), SGD with momentum; the padded input and the lengths are made once, outside the scopes.
    private static float[] TrainGru(bool scoped)
    {
        var gen = new Generator(5);
        var gru = new Gru(24, 48, numLayers: 2, batchFirst: true, dropout: 0.25, bidirectional: true, generator: gen);
        var sgd = new Sgd(gru.Parameters(), lr: 0.05, momentum: 0.9);
        var padded = Tensor.Randn([6, 40, 24], DType.Float32, gen);
        long[] lengths = [40, 7, 33, 40, 12, 25];
        for (int it = 0; it < 3; it++)
        {
            using var scope = scoped ? Tensor.NewDisposeScope() : null;
            sgd.ZeroGrad();
            var packed = PackedSequence.FromPadded(padded, lengths, batchFirst: true, enforceSorted: false);
            var (output, hN) = gru.Forward(packed);
            var (unpacked, _) = RnnUtils.PadPackedSequence(output, batchFirst: true);
            (unpacked.Pow(2).Mean() + hN.Sum()).Backward();
            sgd.Step();
        }
        return gru.Parameters().SelectMany(p => p.ToArray<float>()).ToArray();
    }

    [Fact]
    public void ConvertingAndReloadingAModuleInsideAScopeKeepsItUsable()
    {
        var lstm = new Lstm(6, 70, generator: new Generator(8));
        var saved = lstm.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        using (Tensor.NewDisposeScope())
        {
            lstm.To(DType.Float64);                     // new parameter tensors, re-flattened
            lstm.To(DType.Float32);
            lstm.LoadStateDict(saved);
        }
        var x = Tensor.Randn([3, 2, 6], DType.Float32, new Generator(9));
        var (y, _) = lstm.Forward(x);
        var reference = new Lstm(6, 70, generator: new Generator(8));
        Assert.Equal(reference.Forward(x).Output.ToArray<float>(), y.ToArray<float>());
    }

    [Fact]
    public void ALeafMadeInAScopeKeepsItsGradientInThatScope()
    {
        var h = Tensor.Randn(64, 300);                       // 76,800 bytes: pooled inside a scope
        Tensor leaf, grad;
        using (Tensor.NewDisposeScope())
        {
            leaf = h.Detach().RequiresGrad_();               // truncated-BPTT style leaf, one per iteration
            (leaf * 2).Sum().Backward();
            grad = leaf.Grad!;
            Assert.Equal(Enumerable.Repeat(2f, 64 * 300), grad.ToArray<float>());
        }
        Assert.True(leaf.IsDisposed);
        Assert.True(grad.IsDisposed);                        // its storage went back to the pool with the leaf's

        // Moving the leaf out of its scope takes its gradient along.
        Tensor kept;
        using (Tensor.NewDisposeScope())
        {
            kept = h.Detach().RequiresGrad_();
            (kept * 3).Sum().Backward();
            kept.MoveToOuterDisposeScope();
        }
        Assert.False(kept.Grad!.IsDisposed);
        Assert.Equal(3f, kept.Grad.ToArray<float>()[7]);

        // A leaf made outside any scope (a parameter) keeps a gradient computed inside one.
        var w = Tensor.Randn(64, 300).RequiresGrad_();
        using (Tensor.NewDisposeScope()) (w * 4).Sum().Backward();
        Assert.False(w.Grad!.IsDisposed);
        Assert.Equal(4f, w.Grad.ToArray<float>()[0]);

        // A gradient assigned from an enclosing scope stays there (it already outlives the leaf).
        using (Tensor.NewDisposeScope())
        {
            var outer = Tensor.Ones(64, 300);
            Tensor inner;
            using (Tensor.NewDisposeScope())
            {
                inner = Tensor.Zeros(64, 300).RequiresGrad_();
                inner.Grad = outer;
            }
            Assert.True(inner.IsDisposed);
            Assert.False(outer.IsDisposed);
        }
    }
}
