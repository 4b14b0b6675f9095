using Recurrent.Autograd;

namespace Recurrent.Tests.Tensors;

public class TensorCoreTests
{
    [Fact]
    public void PrintsLikePyTorch()
    {
        Assert.Equal("tensor([[5.],\n        [8.]])", Tensor.FromArray(new float[,] { { 5 }, { 8 } }).ToString());
        Assert.Equal("tensor([1.5000, 2.0000])", Tensor.FromArray(new[] { 1.5f, 2f }).ToString());
        Assert.Equal("tensor([1, 2, 3])", Tensor.FromArray(new long[] { 1, 2, 3 }).ToString());
        Assert.Equal("tensor(3.)", Tensor.Scalar(3).ToString());
        Assert.Equal("tensor([1., 2.], dtype=torch.float64)", Tensor.FromArray(new[] { 1.0, 2.0 }).ToString());
        var x = Tensor.Ones(2).RequiresGrad_();
        Assert.Equal("tensor([1., 1.], requires_grad=True)", x.ToString());
        Assert.Equal("tensor([2., 2.], grad_fn=<AddBackward0>)", (x + x).ToString());
        Assert.Equal("tensor([1.0000e-05, 1.0000e+00])", Tensor.FromArray(new[] { 1e-5f, 1f }).ToString());
    }

    [Fact]
    public void BroadcastingAddAndBackwardAccumulate()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3).RequiresGrad_();
        var b = Tensor.FromArray(new float[] { 10, 20, 30 }, 3).RequiresGrad_();
        var y = (a * b).Sum();
        Assert.Equal(10 + 40 + 90 + 40 + 100 + 180, y.Item<float>());
        y.Backward(retainGraph: true);
        Assert.Equal(new float[] { 10, 20, 30, 10, 20, 30 }, a.Grad!.ToArray<float>());
        Assert.Equal(new float[] { 5, 7, 9 }, b.Grad!.ToArray<float>());
        y.Backward();
        Assert.Equal(new float[] { 10, 14, 18 }, b.Grad!.ToArray<float>());
        Assert.Throws<InvalidOperationException>(() => y.Backward());
    }

    [Fact]
    public void AddUnderscoreWithAlphaScalesTheOtherOperandAndBroadcasts()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        a.Add_(Tensor.FromArray(new float[] { 10, 20 }), alpha: -0.5);
        Assert.Equal(new float[] { -4, -8, -2, -6 }, a.ToArray<float>());
        var t = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2).T();
        t.Add_(Tensor.Ones(2, 2), alpha: 2);
        Assert.Equal(new float[] { 3, 5, 4, 6 }, t.ToArray<float>());
        Assert.Throws<InvalidOperationException>(() => Tensor.Ones(2).RequiresGrad_().Add_(Tensor.Ones(2), 2));
    }

    [Fact]
    public void ViewsShareStorage()
    {
        var a = Tensor.Arange(0, 6, 1, DType.Float32).View(2, 3);
        var t = a.T();
        Assert.False(t.IsContiguous);
        Assert.Equal(new float[] { 0, 3, 1, 4, 2, 5 }, t.ToArray<float>());
        a.Select(0, 1).Fill_(7);
        Assert.Equal(7f, t.GetDouble(2, 1) is var v ? (float)v : 0);
        Assert.Equal(new[] { 3, 2 }, t.Contiguous().View(-1, 2).Shape);
        Assert.Throws<InvalidOperationException>(() => t.View(6));
    }

    [Fact]
    public void MatMulShapes()
    {
        var a = Tensor.Randn(4, 2, 3); var b = Tensor.Randn(3, 5);
        Assert.Equal(new[] { 4, 2, 5 }, a.MatMul(b).Shape);
        Assert.Equal(new[] { 4, 2, 2 }, a.MatMul(a.Transpose(1, 2)).Shape);
        Assert.Equal(new[] { 4, 2 }, a.MatMul(Tensor.Randn(3)).Shape);
        Assert.Equal(Array.Empty<int>(), Tensor.Randn(3).MatMul(Tensor.Randn(3)).Shape);
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Randn(2, 3).Mm(Tensor.Randn(4, 5)));
        Assert.Contains("(2x3 and 4x5)", ex.Message);
    }

    [Fact]
    public void NoGradScopeRecordsNothing()
    {
        var a = Tensor.Ones(2).RequiresGrad_();
        using (new NoGrad()) Assert.False((a * 2).RequiresGrad);
        Assert.True((a * 2).RequiresGrad);
    }

    [Fact]
    public void SumProductMatchesMulSumAndHandsBackTheOtherOperand()
    {
        var gen = new Generator(7);
        var y = Tensor.Randn(new[] { 5, 3, 7 }, DType.Float32, gen).RequiresGrad_();
        var w = Tensor.Randn(new[] { 5, 3, 7 }, DType.Float32, gen);
        var wCopy = w.Clone();
        var loss = y.SumProduct(w);
        Assert.Equal("SumProductBackward0", loss.GradFnName);
        Assert.Equal(0, loss.Dim);
        Assert.Equal(y.Detach().Mul(w).Sum().Item<float>(), loss.Item<float>(), 5);
        loss.Backward();
        // dL/dy = w exactly, and w itself is left untouched by the accumulation into y.Grad.
        Assert.Equal(w.ToArray<float>(), y.Grad!.ToArray<float>());
        Assert.Equal(wCopy.ToArray<float>(), w.ToArray<float>());
        y.SumProduct(w).Backward();
        Assert.Equal(w.Mul(2.0).ToArray<float>(), y.Grad!.ToArray<float>());
        Assert.Equal(wCopy.ToArray<float>(), w.ToArray<float>());
        Assert.Throws<ArgumentException>(() => y.SumProduct(Tensor.Zeros(5, 3)));
    }

    public static IEnumerable<object[]> Ops() => new[]
    {
        new object[] { "add" }, new object[] { "sub" }, new object[] { "mul" }, new object[] { "div" },
        new object[] { "neg" }, new object[] { "exp" }, new object[] { "log" }, new object[] { "tanh" },
        new object[] { "sigmoid" }, new object[] { "relu" }, new object[] { "powscalar" }, new object[] { "pow" },
        new object[] { "sqrt" }, new object[] { "abs" }, new object[] { "clamp" }, new object[] { "sum" },
        new object[] { "sumdim" }, new object[] { "mean" }, new object[] { "meandim" }, new object[] { "max" },
        new object[] { "min" }, new object[] { "softmax" }, new object[] { "logsoftmax" }, new object[] { "mm" },
        new object[] { "bmm" }, new object[] { "matmul" }, new object[] { "transpose" }, new object[] { "permute" },
        new object[] { "view" }, new object[] { "narrow" }, new object[] { "select" }, new object[] { "expand" },
        new object[] { "cat" }, new object[] { "stack" }, new object[] { "chunk" }, new object[] { "indexselect" },
        new object[] { "gather" }, new object[] { "squeeze" }, new object[] { "maximum" }, new object[] { "clone" },
        new object[] { "contiguous" }, new object[] { "sumproduct" }, new object[] { "sin" }, new object[] { "cos" },
        new object[] { "rangeindex" }, new object[] { "promote" },
    };

    [Theory]
    [MemberData(nameof(Ops))]
    public void GradCheckEveryOp(string op)
    {
        var g = new Generator(42);
        var a = Tensor.Uniform(new[] { 2, 3 }, 0.5, 2.0, DType.Float64, g).RequiresGrad_();
        var b = Tensor.Uniform(new[] { 3 }, 0.5, 2.0, DType.Float64, g).RequiresGrad_();
        var c = Tensor.Randn(new[] { 3, 4 }, DType.Float64, g).RequiresGrad_();
        var d3 = Tensor.Randn(new[] { 2, 3, 4 }, DType.Float64, g).RequiresGrad_();
        var mixed = Tensor.Randn(new[] { 2, 3 }, DType.Float64, g).RequiresGrad_();
        Func<Tensor[], Tensor[]> f; Tensor[] inputs;
        switch (op)
        {
            case "add": f = x => new[] { x[0] + x[1] }; inputs = new[] { a, b }; break;
            case "sub": f = x => new[] { x[0] - x[1] }; inputs = new[] { a, b }; break;
            case "mul": f = x => new[] { x[0] * x[1] }; inputs = new[] { a, b }; break;
            case "div": f = x => new[] { x[0] / x[1] }; inputs = new[] { a, b }; break;
            case "neg": f = x => new[] { -x[0] }; inputs = new[] { mixed }; break;
            case "exp": f = x => new[] { x[0].Exp() }; inputs = new[] { mixed }; break;
            case "log": f = x => new[] { x[0].Log() }; inputs = new[] { a }; break;
            case "tanh": f = x => new[] { x[0].Tanh() }; inputs = new[] { mixed }; break;
            case "sigmoid": f = x => new[] { x[0].Sigmoid() }; inputs = new[] { mixed }; break;
            case "relu": f = x => new[] { x[0].Relu() }; inputs = new[] { mixed }; break;
            case "powscalar": f = x => new[] { x[0].Pow(2.5) }; inputs = new[] { a }; break;
            case "pow": f = x => new[] { x[0].Pow(x[1]) }; inputs = new[] { a, b }; break;
            case "sqrt": f = x => new[] { x[0].Sqrt() }; inputs = new[] { a }; break;
            case "abs": f = x => new[] { x[0].Abs() }; inputs = new[] { mixed }; break;
            case "clamp": f = x => new[] { x[0].Clamp(-0.3, 0.4) }; inputs = new[] { mixed }; break;
            case "sum": f = x => new[] { x[0].Sum() }; inputs = new[] { d3 }; break;
            case "sumdim": f = x => new[] { x[0].Sum(1), x[0].Sum(-1, keepDim: true) }; inputs = new[] { d3 }; break;
            case "mean": f = x => new[] { x[0].Mean() }; inputs = new[] { d3 }; break;
            case "meandim": f = x => new[] { x[0].Mean(0, keepDim: true) }; inputs = new[] { d3 }; break;
            case "max": f = x => new[] { x[0].Max(1).Values, x[0].Max() }; inputs = new[] { d3 }; break;
            case "min": f = x => new[] { x[0].Min(2, true).Values, x[0].Min() }; inputs = new[] { d3 }; break;
            case "softmax": f = x => new[] { x[0].Softmax(1) }; inputs = new[] { d3 }; break;
            case "logsoftmax": f = x => new[] { x[0].LogSoftmax(-1) }; inputs = new[] { d3 }; break;
            case "mm": f = x => new[] { x[0].Mm(x[1]), x[1].T().Mm(x[0].T()) }; inputs = new[] { a, c }; break;
            case "bmm": f = x => new[] { x[0].Bmm(x[1].Transpose(1, 2)) }; inputs = new[] { d3, Tensor.Randn(new[] { 2, 5, 4 }, DType.Float64, g).RequiresGrad_() }; break;
            case "matmul": f = x => new[] { x[0].MatMul(x[1]), x[2].MatMul(x[1]), x[1].T().MatMul(x[2]), x[0].MatMul(x[3]) }; inputs = new[] { d3.Transpose(1, 2).Contiguous().Detach().RequiresGrad_(), c, b, Tensor.Randn(new[] { 1, 3, 2 }, DType.Float64, g).RequiresGrad_() }; break;
            case "transpose": f = x => new[] { x[0].Transpose(0, 2) * 1.0 }; inputs = new[] { d3 }; break;
            case "permute": f = x => new[] { x[0].Permute(2, 0, 1).Contiguous() }; inputs = new[] { d3 }; break;
            case "view": f = x => new[] { x[0].View(4, -1), x[0].Transpose(0, 1).Reshape(-1) }; inputs = new[] { d3 }; break;
            case "narrow": f = x => new[] { x[0].Narrow(2, 1, 2) }; inputs = new[] { d3 }; break;
            case "select": f = x => new[] { x[0].Select(1, -1), x[0][1, 2] }; inputs = new[] { d3 }; break;
            case "expand": f = x => new[] { x[0].Unsqueeze(0).Expand(4, 3) }; inputs = new[] { b }; break;
            case "cat": f = x => new[] { Tensor.Cat(new[] { x[0], x[1].Unsqueeze(0) }, 0) }; inputs = new[] { a, b }; break;
            case "stack": f = x => new[] { Tensor.Stack(new[] { x[0], x[1] }, 1) }; inputs = new[] { a, mixed }; break;
            case "chunk": f = x => x[0].Chunk(2, 2).Concat(x[0].Split(new[] { 1, 2 }, 1)).ToArray(); inputs = new[] { d3 }; break;
            case "indexselect": f = x => new[] { x[0].IndexSelect(1, Tensor.FromArray(new long[] { 2, 0, 2 })) }; inputs = new[] { d3 }; break;
            case "gather": f = x => new[] { x[0].Gather(1, Tensor.FromArray(new long[] { 2, 0, 1, 1 }, 2, 2)) }; inputs = new[] { a }; break;
            case "squeeze": f = x => new[] { x[0].Unsqueeze(1).Unsqueeze(-1).Squeeze(1).Squeeze() }; inputs = new[] { a }; break;
            case "maximum": f = x => new[] { x[0].Maximum(x[1]) }; inputs = new[] { mixed, b }; break;
            case "clone": f = x => new[] { x[0].Clone() }; inputs = new[] { a }; break;
            case "contiguous": f = x => new[] { x[0].T().Contiguous() }; inputs = new[] { a }; break;
            case "sin": f = x => new[] { x[0].Sin() }; inputs = new[] { mixed }; break;
            case "cos": f = x => new[] { x[0].Cos() }; inputs = new[] { mixed }; break;
            case "rangeindex": f = x => new[] { x[0][1.., ..^1], x[0][^1, 1..2] }; inputs = new[] { d3 }; break;
            case "promote": f = x => new[] { x[0].Mul(Tensor.FromArray(new float[] { 1.5f, -2f, 0.25f }, 3)), x[1].Add(Tensor.FromArray(new long[] { 1, 2, 3 }, 3)) }; inputs = new[] { a, b }; break;
            case "sumproduct": f = x => new[] { x[0].SumProduct(x[1]), x[0].T().SumProduct(x[1].T()) }; inputs = new[] { a, mixed }; break;
            default: throw new ArgumentException(op);
        }
        Assert.Null(GradCheck.Check(f, inputs));
    }
}
