// nn.Module's traversal and bulk methods as PyTorch's: apply(fn) (children first, then the module; the usual weight
// initialisation by module type), requires_grad_(False) (freezing), children(), modules() (each module once),
// buffers() and get_submodule(target).
using Recurrent.Nn;
using Recurrent.IO;
using Recurrent.Optim;
using Recurrent.Quantization;

namespace Recurrent.Tests.Nn;

public class ModuleTraversalTests
{
    private sealed class Tagger : Module
    {
        public readonly Embedding Embedding;
        public readonly Lstm Rnn;
        public readonly Linear Head;

        public Tagger(Linear? shared = null)
        {
            var g = new Generator(1);
            Embedding = RegisterModule("embedding", new Embedding(7, 3, generator: g));
            Rnn = RegisterModule("rnn", new Lstm(3, 4, generator: g));
            Head = RegisterModule("head", shared ?? new Linear(4, 5, generator: g));
            if (shared is not null) RegisterModule("head_again", shared);
            RegisterBuffer("steps", Tensor.Zeros(1));
        }
    }

    private sealed class Outer : Module
    {
        public Outer() => RegisterModule("tagger", new Tagger());
    }

    [Fact]
    public void Apply_VisitsChildrenFirst_AndReturnsTheModule()
    {
        var model = new Outer();
        var order = new List<string>();
        var result = model.Apply(m => order.Add(m.TypeName));
        Assert.Same(model, result);
        Assert.Equal(["Embedding", "LSTM", "Linear", "Tagger", "Outer"], order);
    }

    [Fact]
    public void Apply_InitialisesWeightsByModuleType()
    {
        var model = new Tagger();
        var rnnBefore = model.Rnn.GetParameter("weight_ih_l0").ToArray<float>();
        model.Apply(m =>
        {
            if (m is Linear l)
            {
                Init.Constant_(l.Weight, 0.5);
                Init.Zeros_(l.Bias!);
            }
        });
        Assert.All(model.Head.Weight.ToArray<float>(), v => Assert.Equal(0.5f, v));
        Assert.All(model.Head.Bias!.ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.Equal(rnnBefore, model.Rnn.GetParameter("weight_ih_l0").ToArray<float>());
        Assert.Throws<ArgumentNullException>(() => model.Apply(null!));
    }

    [Fact]
    public void RequiresGrad_FreezesEveryParameter_AndAnOptimizerLeavesThemAlone()
    {
        var model = new Tagger();
        Assert.Same(model.Embedding, model.Embedding.RequiresGrad_(false));
        model.Rnn.RequiresGrad_(false);
        Assert.All(model.Embedding.Parameters().Concat(model.Rnn.Parameters()), p => Assert.False(p.RequiresGrad));
        Assert.All(model.Head.Parameters(), p => Assert.True(p.RequiresGrad));

        var frozen = model.Rnn.Parameters().Select(p => p.ToArray<float>()).ToArray();
        var opt = new Sgd(model.Parameters(), lr: 0.1);
        var ids = Tensor.FromArray(new long[] { 1, 2, 3, 4, 5, 6 }, 3, 2);
        var logits = model.Head.Forward(model.Rnn.Forward(model.Embedding.Forward(ids)).Output);
        Functional.CrossEntropy(logits.Reshape(-1, 5), Tensor.FromArray(new long[] { 0, 1, 2, 3, 4, 0 }, 6)).Backward();
        Assert.All(model.Rnn.Parameters(), p => Assert.Null(p.Grad));
        Assert.Null(model.Embedding.Weight.Grad);
        Assert.NotNull(model.Head.Weight.Grad);
        opt.Step();
        Assert.Equal(frozen, model.Rnn.Parameters().Select(p => p.ToArray<float>()).ToArray());

        model.RequiresGrad_();
        Assert.All(model.Parameters(), p => Assert.True(p.RequiresGrad));
    }

    [Fact]
    public void Children_Modules_Buffers_AsPyTorch()
    {
        var shared = new Linear(4, 5, generator: new Generator(9));
        var model = new Tagger(shared);
        // children() lists a module registered twice once, as PyTorch's named_children().
        Assert.Equal(["Embedding", "LSTM", "Linear"], model.Children().Select(m => m.TypeName));
        // modules() lists a module registered twice once; named_modules() with its first name.
        Assert.Equal([model, model.Embedding, model.Rnn, shared], model.Modules());
        Assert.Equal(["", "embedding", "rnn", "head"], model.NamedModules().Select(m => m.Name));
        var modules = model.Modules();
        Assert.Equal(modules.ToList(), modules.ToList());   // enumerable again
        // The printed tree and the state dict keep both registrations, as PyTorch's repr and state_dict().
        Assert.Contains("(head_again): Linear(in_features=4, out_features=5, bias=True)", model.ToString());
        Assert.Contains("head_again.weight", model.StateDict().Keys);
        Assert.Single(model.Buffers());
        Assert.Equal([0f], model.Buffers().Single().ToArray<float>());
    }

    [Fact]
    public void AQuantizedModelWithAModuleRegisteredTwice_SavesAndLoadsUnderBothNames()
    {
        var path = Path.Combine(Path.GetTempPath(), $"shared-{Guid.NewGuid():N}.safetensors");
        try
        {
            var shared = new Linear(4, 5, generator: new Generator(9));
            var model = Quantizer.QuantizeDynamic(new Tagger(shared));
            model.Eval();
            Quantizer.SaveQuantized(model, path);
            var names = SafeTensorsFile.Read(path).Names.ToHashSet();
            Assert.Contains("head.weight", names);
            Assert.Contains("head_again.weight", names);
            var again = new Tagger(new Linear(4, 5, generator: new Generator(1)));
            Quantizer.LoadQuantized(again, path);
            again.Eval();
            var x = Tensor.Randn(2, 4);
            Assert.Equal(model.Head.Forward(x).ToArray<float>(), again.Head.Forward(x).ToArray<float>());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void GetSubmodule_FindsADottedName_OrNamesWhatIsMissing()
    {
        var model = new Outer();
        Assert.Same(model, model.GetSubmodule(""));
        var tagger = (Tagger)model.GetSubmodule("tagger");
        Assert.Same(tagger.Rnn, model.GetSubmodule("tagger.rnn"));
        var e = Assert.Throws<ArgumentException>(() => model.GetSubmodule("tagger.cnn"));
        Assert.Equal("target", e.ParamName);
        Assert.Contains("Tagger has no submodule `cnn`", e.Message);
        Assert.Contains("embedding, rnn, head", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.GetSubmodule("encoder.rnn"));
        Assert.Equal("target", e.ParamName);
        Assert.Contains("no submodule `encoder`", e.Message);
        Assert.Contains("its submodules are: tagger", e.Message);
        Assert.Contains("its submodules are: none", Assert.Throws<ArgumentException>(() => model.GetSubmodule("tagger.rnn.cell")).Message);
    }
}
