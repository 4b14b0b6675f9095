// Regression tests for the defects a review of the nn modules, losses, schedulers and data utilities found (stop 30).
using Recurrent.Data;
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Review;

public class ModulesReviewTests
{
    [Fact]
    public void CrossEntropyWithProbabilityTargets_RefusesAnIgnoreIndex()
    {
        var x = Tensor.Randn([3, 4], generator: new Generator(1));
        var p = Tensor.Full([3, 4], 0.25);
        var e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(x, p, ignoreIndex: 0));   // ignored nothing, silently
        Assert.Contains("ignore_index is not supported for floating point target", e.Message);
        Assert.Throws<ArgumentException>(() => new CrossEntropyLoss(ignoreIndex: 2).Forward(x, p));
        Functional.CrossEntropy(x, p);                      // the default (-100) is fine
    }

    [Fact]
    public void ChainedSchedulers_ReportTheirOwnLastRates_AndShareTheInitialRate()
    {
        var w = Tensor.Zeros(2).RequiresGrad_();
        var opt = new Sgd([w], lr: 1.0);
        var s1 = new StepLR(opt, 1, 0.5);
        var s2 = new ExponentialLR(opt, 0.9);
        s1.Step();
        s2.Step();
        Assert.Equal([0.5], s1.GetLastLr());                 // was 0.45, the group's rate after s2
        Assert.Equal(0.45, s2.GetLastLr()[0], 12);
        Assert.Equal(0.45, opt.ParamGroups[0].Lr, 12);
        var late = new ExponentialLR(opt, 0.5);              // made after training started: PyTorch's base_lrs is initial_lr
        Assert.Equal([1.0], late.BaseLrs);
        Assert.Equal([1.0], s2.BaseLrs);
    }

    [Fact]
    public void AShuffledLoaderOverAnEmptyDataset_IsRefused()
    {
        var empty = new TensorDataset(Tensor.Zeros(0, 3));
        var e = Assert.Throws<ArgumentException>(() => new DataLoader(empty, batchSize: 2, shuffle: true));   // every epoch was empty
        Assert.Contains("num_samples=0", e.Message);
        Assert.Empty(new DataLoader(empty, batchSize: 2));   // unshuffled: zero batches, as PyTorch's SequentialSampler
    }

    [Fact]
    public void AnEmptySymbol_IsRefusedByTheVocabulary_NotAnIndexError()
    {
        var e = Assert.Throws<ArgumentException>(() => CharVocabulary.FromSymbols([""]));
        Assert.Contains("exactly one character", e.Message);
        var v = CharVocabulary.FromSymbols(["a", "b"]);
        Assert.Equal(-1, v.IndexOf(""));
        Assert.Equal(1, v.IndexOf("b"));
    }

    [Fact]
    public void RecurrentStatesOfAnotherDtype_AreRefusedNamingTheState()
    {
        var x = Tensor.Zeros(2, 4);
        var gru = new GruCell(4, 8);
        var e = Assert.Throws<ArgumentException>(() => gru.Forward(x, Tensor.Zeros([2, 8], DType.Float64)));
        Assert.Equal("hx", e.ParamName);
        var lstmCell = new LstmCell(4, 8);
        var c = Assert.Throws<ArgumentException>(() => lstmCell.Forward(x, (Tensor.Zeros(2, 8), Tensor.Zeros([2, 8], DType.Float64))));   // promoted to float64
        Assert.Equal("cx", c.ParamName);

        var lstm = new Lstm(4, 8);
        var m = Assert.Throws<ArgumentException>(() => lstm.Forward(Tensor.Zeros(3, 2, 4), new RecurrentState(Tensor.Zeros(1, 2, 8), Tensor.Zeros([1, 2, 8], DType.Float64))));
        Assert.Equal("c0", m.ParamName);                     // named h0, with h0's (right) dtype in the message
        Assert.Contains("got torch.float64", m.Message);
    }
}
