// Parity handlers for the building blocks: Linear, Embedding, LogSoftmax, the losses, Dropout,
// clip_grad_norm_ and the optimizers. Each rebuilds the PyTorch call from the fixture's metadata,
// runs it (forward, then backward of Σ out·gradout), and compares every stored out.* and grad.*.
using Recurrent.Nn;
using Recurrent.Optim;

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

public sealed class ClipGradNormParity : IParityHandler
{
    public IEnumerable<string> Kinds => ["clip_grad_norm_"];

    public void Run(Fixture f)
    {
        var names = f.List<string>("params");
        var ps = names.Select(n => f["grad_before." + n].RequiresGrad_()).ToList();  // values unused, shapes match
        foreach (var (p, n) in ps.Zip(names)) p.Grad = f["grad_before." + n];
        var total = ClipGrad.ClipGradNorm(ps, f.Double("max_norm"), f.Double("norm_type"), f.Bool("error_if_nonfinite"));
        f.AssertClose("out.total_norm", total);
        foreach (var (p, n) in ps.Zip(names)) f.AssertClose("grad_after." + n, p.Grad);
    }
}

public sealed class OptimizerParity : IParityHandler
{
    public IEnumerable<string> Kinds => ["SGD", "Adam", "AdamW", "RMSprop"];

    public void Run(Fixture f)
    {
        var names = f.List<string>("params");
        var ps = names.Select(n => f["param." + n].RequiresGrad_()).ToList();
        Optimizer opt = f.Kind switch
        {
            "SGD" => new Sgd(ps, f.Double("lr"), f.Double("momentum"), f.Double("dampening"), f.Double("weight_decay"), f.Bool("nesterov"), f.Bool("maximize")),
            "RMSprop" => new RmsProp(ps, f.Double("lr"), f.Double("alpha"), f.Double("eps"), f.Double("weight_decay"), f.Double("momentum"), f.Bool("centered"), f.Bool("maximize")),
            "Adam" => new Adam(ps, f.Double("lr"), Betas(f), f.Double("eps"), f.Double("weight_decay"), f.Bool("amsgrad"), f.Bool("maximize")),
            _ => new AdamW(ps, f.Double("lr"), Betas(f), f.Double("eps"), f.Double("weight_decay"), f.Bool("amsgrad"), f.Bool("maximize")),
        };
        int steps = f.Int("steps");
        for (int k = 1; k <= steps; k++)
        {
            foreach (var (p, n) in ps.Zip(names)) p.Grad = f[$"step{k}.grad.{n}"];
            opt.Step();
            // Same float32 operations in PyTorch's order (with libtorch's FMA contraction of a + alpha*b): SGD and Adam
            // are bit-exact; RMSprop and adamw_amsgrad_weight_decay differ by 1 ulp in a few elements, so allow 2 ulps relative plus 1e-7 absolute (an ulp carried from an earlier step of larger magnitude)
            // (far tighter than assert_close's default atol of 1e-5).
            foreach (var (p, n) in ps.Zip(names)) f.AssertClose($"step{k}.param.{n}", p, rtol: 2.5e-7, atol: 1e-7);
        }
    }

    private static (double, double) Betas(Fixture f)
    {
        var b = f.List<double>("betas");
        return (b[0], b[1]);
    }
}
