// PyTorch's UserWarnings on Warnings.Raised: with PyTorch's messages, only where PyTorch warns, on the calling thread.
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Nn;

public class WarningsTests
{
    // The warnings raised on this thread while `action` runs (other tests' threads raise theirs concurrently).
    private static List<string> Collect(Action action)
    {
        var seen = new List<string>();
        int thread = Environment.CurrentManagedThreadId;
        EventHandler<WarningEventArgs> handler = (_, e) => { if (Environment.CurrentManagedThreadId == thread) seen.Add(e.Message); };
        Warnings.Raised += handler;
        try { action(); }
        finally { Warnings.Raised -= handler; }
        return seen;
    }

    [Fact]
    public void ARecurrentModuleWithDropoutAndOneLayer_Warns_AsPyTorch()
    {
        var seen = Collect(() => new Lstm(2, 3, dropout: 0.5));
        Assert.Equal(["dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects num_layers greater than 1, but got dropout=0.5 and num_layers=1"], seen);
        Assert.Single(Collect(() => new Gru(2, 3, dropout: 1.0)));
        Assert.Single(Collect(() => new Rnn(2, 3, 1, "relu", dropout: 0.25)));

        Assert.Empty(Collect(() => new Lstm(2, 3, numLayers: 2, dropout: 0.5)));
        Assert.Empty(Collect(() => new Lstm(2, 3)));
    }

    [Fact]
    public void ARegressionLossWhoseTargetBroadcasts_Warns_AsPyTorch()
    {
        var x = Tensor.Zeros(4, 1);
        var y = Tensor.Zeros(4);
        Tensor? loss = null;
        var seen = Collect(() => loss = Functional.MseLoss(x, y));
        Assert.Equal(["Using a target size (torch.Size([4])) that is different to the input size (torch.Size([4, 1])). This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size."], seen);
        Assert.Equal(0, loss!.Dim);                                  // still computed: the mean over the broadcast (4, 4)
        Assert.Single(Collect(() => new MSELoss(Reduction.None).Forward(x, y)));
        Assert.Single(Collect(() => Functional.L1Loss(x, y)));
        Assert.Single(Collect(() => Functional.HuberLoss(x, y)));

        Assert.Empty(Collect(() => Functional.MseLoss(x, Tensor.Zeros(4, 1))));
        Assert.Empty(Collect(() => Functional.L1Loss(y, Tensor.Zeros(4))));
    }

    [Fact]
    public void KaimingUniformOfAZeroElementTensor_Warns_AndDrawsNothing()
    {
        var g = new Generator(4);
        var before = new Generator(4).NextUInt64();
        Assert.Equal(["Initializing zero-element tensors is a no-op"], Collect(() => Init.KaimingUniform_(Tensor.Zeros(0, 5), generator: g)));
        Assert.Equal(before, g.NextUInt64());
        Assert.Single(Collect(() => new Linear(0, 3)));              // as nn.Linear(0, 3): its weight is (3, 0)
        Assert.Empty(Collect(() => Init.KaimingUniform_(Tensor.Zeros(2, 5), generator: g)));
    }

    // test_lrscheduler.py's test_old_pattern_warning family: scheduler.step() before the first optimizer.step().
    [Fact]
    public void ASchedulerSteppedBeforeTheOptimizer_Warns_AsPyTorch()
    {
        static Sgd Opt() => new([Tensor.Zeros(2).RequiresGrad_()], lr: 0.05);
        var opt = Opt();
        StepLR? s = null;
        Assert.Empty(Collect(() => s = new StepLR(opt, stepSize: 3)));             // the constructor's own step: silent
        var seen = Collect(() => { for (int i = 0; i < 5; i++) { s!.Step(); opt.Step(); } });
        Assert.Single(seen);                                                         // the first step only
        Assert.StartsWith("Detected call of `lr_scheduler.step()` before `optimizer.step()`.", seen[0]);
        Assert.EndsWith("https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate", seen[0]);
        Assert.Equal(5, s!.LastEpoch);                                               // still stepped as asked

        opt = Opt();
        s = new StepLR(opt, stepSize: 3);
        Assert.Empty(Collect(() => { for (int i = 0; i < 5; i++) { opt.Step(); s.Step(); } }));

        // Resuming (test_old_pattern_warning_resuming): a scheduler set to a later epoch still checks its first step.
        opt = Opt();
        s = new StepLR(opt, stepSize: 3) { LastEpoch = 10 };
        Assert.Single(Collect(() => { s.Step(); opt.Step(); }));

        // An optimizer step before any scheduler existed does not count (PyTorch tracks the steps from the first
        // scheduler on); one after it does, for every scheduler attached to that optimizer later.
        opt = Opt();
        opt.Step();
        s = new StepLR(opt, stepSize: 3);
        Assert.Single(Collect(() => s.Step()));
        opt.Step();
        var late = new ExponentialLR(opt, gamma: 0.5);
        Assert.Empty(Collect(() => late.Step()));

        // A chain: its schedulers' first steps check, each.
        opt = Opt();
        var chain = new ChainedScheduler([new StepLR(opt, stepSize: 3), new ExponentialLR(opt, gamma: 0.9)]);
        Assert.Equal(2, Collect(() => chain.Step()).Count);
        Assert.Empty(Collect(() => { opt.Step(); chain.Step(); }));

        // Where PyTorch's own step does not check: CosineAnnealingWarmRestarts, ReduceLROnPlateau, a SequentialLR
        // (its schedulers check, at their first step, not at a milestone's restart).
        opt = Opt();
        Assert.Empty(Collect(() => new CosineAnnealingWarmRestarts(opt, t0: 2).Step()));
        Assert.Empty(Collect(() => new ReduceLROnPlateau(opt).Step(1.0)));
        opt = Opt();
        var seq = new SequentialLR(opt, [new ConstantLR(opt), new ExponentialLR(opt, gamma: 0.9)], [2]);
        Assert.Single(Collect(() => seq.Step()));
        Assert.Empty(Collect(() => { opt.Step(); seq.Step(); seq.Step(); seq.Step(); }));

        // A restored scheduler that had stepped does not check again (PyTorch restores its _step_count).
        var saved = s.StateDict();
        opt = Opt();
        var restored = new StepLR(opt, stepSize: 3);
        restored.LoadStateDict(saved);
        Assert.Empty(Collect(() => restored.Step()));
    }

    [Fact]
    public void AHandlerThatThrows_MakesTheCallThrow()
    {
        int thread = Environment.CurrentManagedThreadId;
        EventHandler<WarningEventArgs> strict = (_, e) => { if (Environment.CurrentManagedThreadId == thread) throw new InvalidOperationException(e.Message); };
        Warnings.Raised += strict;
        try
        {
            var e = Assert.Throws<InvalidOperationException>(() => new Lstm(2, 3, dropout: 0.5));
            Assert.StartsWith("dropout option adds dropout", e.Message);
        }
        finally { Warnings.Raised -= strict; }
    }
}
