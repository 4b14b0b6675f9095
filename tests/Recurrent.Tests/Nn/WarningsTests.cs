// PyTorch's UserWarnings on Warnings.Raised: with PyTorch's messages, only where PyTorch warns, on the calling thread.
using Recurrent.Nn;

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
