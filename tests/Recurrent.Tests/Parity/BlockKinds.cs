// Parity handlers for the building blocks: Linear, Embedding, LogSoftmax, the losses, Dropout,
// clip_grad_norm_ and the optimizers. Each rebuilds the PyTorch call from the fixture's metadata,
// runs it (forward, then backward of Σ out·gradout), and compares every stored out.* and grad.*.
using Recurrent.Nn;

namespace Recurrent.Tests.Parity;

internal static class BlockHelpers
{
    public static Dictionary<string, Tensor> Params(Fixture f, string prefix = "param.") =>
        f.TensorNames.Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(n => n[prefix.Length..], n => f[n]);

    public static Reduction Reduction(Fixture f) => ReductionNames.Parse(f.Str("reduction"));
}

public sealed class LinearParity : IParityHandler
{
    public IEnumerable<string> Kinds => ["Linear"];

    public void Run(Fixture f)
    {
        var m = new Linear(f.Int("in_features"), f.Int("out_features"), f.Bool("bias"));
        m.LoadStateDict(BlockHelpers.Params(f));
        var x = f["input"].RequiresGrad_();
        var y = m.Forward(x);
        f.AssertClose("out.output", y);
        y.Backward(f["gradout.output"]);
        f.AssertClose("grad.input", x.Grad);
        f.AssertClose("grad.param.weight", m.Weight.Grad);
        if (m.Bias is not null) f.AssertClose("grad.param.bias", m.Bias.Grad);
        Assert.Equal(f.Bool("bias"), f.Has("grad.param.bias"));
    }
}

public sealed class EmbeddingParity : IParityHandler
{
    public IEnumerable<string> Kinds => ["Embedding"];

    public void Run(Fixture f)
    {
        var m = new Embedding(f.Int("num_embeddings"), f.Int("embedding_dim"), f.IntOrNone("padding_idx"),
            f.DoubleOrNone("max_norm"), f.Double("norm_type"), f.Bool("scale_grad_by_freq"), f.Bool("sparse"));
        m.LoadStateDict(BlockHelpers.Params(f));
        var y = m.Forward(f["input"]);
        f.AssertClose("out.output", y);
        y.Backward(f["gradout.output"]);
        f.AssertClose("grad.param.weight", m.Weight.Grad);
    }
}

public sealed class LogSoftmaxParity : IParityHandler
{
    public IEnumerable<string> Kinds => ["LogSoftmax"];

    public void Run(Fixture f)
    {
        var x = f["input"].RequiresGrad_();
        var y = new LogSoftmax(f.Int("dim")).Forward(x);
        f.AssertClose("out.output", y);
        y.Backward(f["gradout.output"]);
        f.AssertClose("grad.input", x.Grad);
    }
}

public sealed class LossParity : IParityHandler
{
    public IEnumerable<string> Kinds => ["CrossEntropyLoss", "NLLLoss", "MSELoss"];

    public void Run(Fixture f)
    {
        var x = f["input"].RequiresGrad_();
        var target = f["target"];
        if (f.Kind == "MSELoss") target.RequiresGrad = true;
        Loss loss = f.Kind switch
        {
            "CrossEntropyLoss" => new CrossEntropyLoss(f.Bool("weight_given") ? f["weight"] : null, f.Int("ignore_index"),
                BlockHelpers.Reduction(f), f.Double("label_smoothing")),
            "NLLLoss" => new NLLLoss(f.Bool("weight_given") ? f["weight"] : null, f.Int("ignore_index"), BlockHelpers.Reduction(f)),
            _ => new MSELoss(BlockHelpers.Reduction(f)),
        };
        var l = loss.Forward(x, target);
        f.AssertClose("out.loss", l);
        l.Backward(f["gradout.loss"]);
        f.AssertClose("grad.input", x.Grad);
        if (f.Has("grad.target")) f.AssertClose("grad.target", target.Grad);
    }
}

public sealed class DropoutParity : IParityHandler
{
    public IEnumerable<string> Kinds => ["Dropout"];

    public void Run(Fixture f)
    {
        Assert.False(f.Bool("inplace"));
        var m = new Dropout(f.Double("p"));
        m.Train(f.Bool("training"));
        var x = f["input"].RequiresGrad_();
        var y = m.Forward(x);
        f.AssertClose("out.output", y);
        // The fixture's gradient convention: backward of Σ y·gradout (y may be x itself in eval mode).
        y.Mul(f["gradout.output"]).Sum().Backward();
        f.AssertClose("grad.input", x.Grad);
    }
}
