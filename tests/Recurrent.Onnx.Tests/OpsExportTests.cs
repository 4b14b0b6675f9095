// Tensor ops and layers outside the recurrent stack, exported and run in ONNX Runtime at several batch and
// sequence sizes (the example's and two others).
using Recurrent.Nn;

namespace Recurrent.Onnx.Tests;

public class OpsExportTests
{
    private static readonly Generator G = new(42);

    /// <summary>x of shape (T, B, F) at the example's (5, 3) and two other sizes.</summary>
    private static (Tensor[] Example, Tensor[][] Runs) SeqBatch(int features, params Func<int, int, Tensor>[] extra)
    {
        Tensor[] Make(int t, int b) => [Tensor.Randn([t, b, features], generator: G), .. extra.Select(f => f(t, b))];
        return (Make(5, 3), [Make(7, 2), Make(2, 4)]);
    }

    private static void Check(string name, Func<Tensor[], Tensor[]> forward, (Tensor[] Example, Tensor[][] Runs) inputs, Module? module = null) =>
        OrtCheck.ExportAndVerify(name, forward, inputs.Example, inputs.Runs, new OnnxExportOptions { Module = module });

    [Fact]
    public void ArithmeticWithBroadcastingAndScalars()
    {
        var bias = Tensor.Randn([4], generator: G);
        Check("arith", xs =>
        {
            var x = xs[0]; var y = xs[1];
            var a = x + y * 2.0 - bias / 3.0;              // (T,B,4) with (T,B,4), scalars and a (4) constant
            var b = 1.5 - x.Div(y.Abs() + 1.0) * (-x);      // scalar on the left, unary minus
            var c = x.Sum(0, keepDim: true) + x;            // (1,B,4) broadcast over T
            var d = x.Maximum(y) + x.Pow(2.0) + (x.Abs() + 0.5).Pow(y.Tanh()) + x.Clamp(-0.5, 0.7) + x.Clamp(min: 0.1);
            return [a, b, c, d];
        }, SeqBatch(4, (t, b) => Tensor.Randn([t, b, 4], generator: G)));
    }

    [Fact]
    public void UnaryOpsActivationsAndSoftmax()
    {
        Check("unary", xs =>
        {
            var x = xs[0];
            return [x.Exp(), (x.Abs() + 1.0).Log(), x.Tanh(), x.Sigmoid(), x.Relu(), (x.Abs() + 0.1).Sqrt(), x.Sin(), x.Cos(), x.Neg(),
                new ReLU().Forward(x), new Tanh().Forward(x), new Sigmoid().Forward(x),
                x.Softmax(-1), x.LogSoftmax(2), new Softmax(0).Forward(x), new LogSoftmax(1).Forward(x)];
        }, SeqBatch(6));
    }

    [Fact]
    public void ViewsReshapesTransposesAndIndexing()
    {
        Check("views", xs =>
        {
            var x = xs[0];                                   // (T, B, 6)
            int t = x.Size(0), b = x.Size(1);
            var flat = x.View(-1, 6);                        // (T*B, 6)
            var back = flat.View(t, b, 6);                   // sizes from the example's T and B stay dynamic
            var split = x.Reshape(t, b, 2, 3).Permute(2, 0, 1, 3);
            var merged = x.Transpose(0, 1).Contiguous().View(b, -1);    // (B, T*6)
            return [flat, back * 2.0, split, merged, x.Flatten(1), x.Flatten(), x.Transpose(1, 2).Reshape(t, 6, b),
                x.Unsqueeze(1).Squeeze(1), x.Unsqueeze(-1), x.Narrow(2, 1, 3), x.Select(2, 1), x.Select(0, -1),
                x[1.., ..^1], x[^1], x[0], x[.., 1], x[..^1, .., 2..4], x[^2..], x[0].T().Contiguous().Detach() + 0.0];
        }, SeqBatch(6));
    }

    [Fact]
    public void FixedSlicesOfADynamicDimension_KeepTheirLength_AtOtherLengths()
    {
        // x[..3] with an example of exactly 3 steps is still 3 steps (it was dropped as "the whole dimension"), and
        // Narrow(0, 1, 2) short of the end is 2 steps at any length.
        Tensor[] Steps(int t) => [Tensor.Randn([t, 2, 4], generator: G)];
        OrtCheck.ExportAndVerify("fixed-slices", xs => [xs[0][..3] * 2.0, xs[0].Narrow(0, 0, 2) + 1.0, xs[0][^3..], xs[0][1..]],
            Steps(3), [Steps(5), Steps(6)]);
    }

    [Fact]
    public void CatStackSplitChunkExpand()
    {
        Check("cat", xs =>
        {
            var x = xs[0]; var y = xs[1];
            var parts = x.Chunk(2, 2);                       // along the static feature dim
            var sized = x.Split([1, 3], 2);
            return [Tensor.Cat([x, y], 2), Tensor.Cat([x, y], 0), Tensor.Stack([x, y], 1), Tensor.Stack([x, y], 0),
                parts[0] - parts[1], sized[0] * sized[1].Sum(2, keepDim: true), x.Sum(2, keepDim: true).Expand(-1, -1, 4) + x,
                x.SplitWithSizes([2, 2], 2)[1]];
        }, SeqBatch(4, (t, b) => Tensor.Randn([t, b, 4], generator: G)));
    }

    [Fact]
    public void ReductionsMaxArgMaxAndComparisons()
    {
        Check("reduce", xs =>
        {
            var x = xs[0];
            var (values, indices) = x.Max(2);
            var (minValues, minIndices) = x.Min(1, keepDim: true);
            return [x.Sum(), x.Sum(0), x.Sum(1, keepDim: true), x.Mean(), x.Mean(0), x.Mean(2, keepDim: true), values, indices,
                minValues, minIndices, x.ArgMax(2), x.ArgMax(), x.Max(), x.Min(), x.ArgMin(1),
                x > 0.0, x < 0.5, (x >= 0.2).Float() * x, x == x.Relu(), x.Ne(x.Relu()), x.Le(x.Neg())];
        }, SeqBatch(5));
    }

    [Fact]
    public void TopKLargestAndSmallest_AlongAnyDim()
    {
        // A decoder's greedy step (topk(1)) and a top-k candidate list, both orders, on the last and a middle dim.
        Check("topk", xs =>
        {
            var x = xs[0];
            var (top, topi) = x.TopK(2);
            var (low, lowi) = x.TopK(2, dim: 1, largest: false);   // the batch is 2, 3 or 4
            var (_, next) = x.TopK(1);
            var (steps, stepi) = x.TopK(x.Size(0), dim: 0);          // k is the dynamic length: the whole axis at any length
            return [top, topi, low, lowi, next.Squeeze(-1), top.Sum(-1), steps, stepi];
        }, SeqBatch(5));
    }

    [Fact]
    public void WhereAndMaskedFill_AsAttentionMasksScores()
    {
        // A comparison of graph values as the condition, a constant mask broadcast over the batch, a scalar other side.
        Check("where", xs =>
        {
            var x = xs[0];
            var mask = Tensor.FromArray(new float[] { 1, 1, 0, 1, 0, 1 });
            var masked = x.MaskedFill(mask.Eq(Tensor.Scalar(0.0)), double.NegativeInfinity).Softmax(-1);
            return [Tensor.Where(x > 0.0, x, x * 0.1), Tensor.Where(x < 0.5, x, 2.0), masked, x.MaskedFill(x > 1.0, 1.0)];
        }, SeqBatch(6));
    }

    [Fact]
    public void LeakyReluEluSilu()
    {
        Check("activations", xs => [new LeakyReLU(0.2).Forward(xs[0]), new ELU(0.5).Forward(xs[0] * 3.0), new SiLU().Forward(xs[0])], SeqBatch(4));
    }

    [Fact]
    public void LayerNormWithAndWithoutAffine()
    {
        var affine = new LayerNorm(6, eps: 1e-4);
        Init.Normal_(affine.Weight!, generator: G);
        Init.Normal_(affine.Bias!, generator: G);
        var plain = new LayerNorm([2, 3], elementwiseAffine: false);
        var noBias = new LayerNorm(6, bias: false);
        var model = new Sequential(affine);
        Check("layernorm", xs => [affine.Forward(xs[0]), plain.Forward(xs[0].Reshape(xs[0].Size(0), xs[0].Size(1), 2, 3)), noBias.Forward(xs[0] * 2.0)],
            SeqBatch(6), model);
    }

    [Fact]
    public void OneHotBuiltWithOps()
    {
        const int V = 7;
        var eye = Tensor.Eye(V);
        Tensor[] Ids(int t, int b) => [Tensor.RandInt(0, V, [t, b], G)];
        OrtCheck.ExportAndVerify("onehot", xs =>
        {
            var ids = xs[0];                                                          // (T, B) int64
            var viaEq = ids.Unsqueeze(-1).Eq(Tensor.Arange(V)).To(DType.Float32);     // (T, B, V)
            var viaEye = eye.IndexSelect(0, ids.Flatten()).View(ids.Size(0), ids.Size(1), V);
            var viaGather = eye.Gather(0, ids.Flatten().Unsqueeze(1).Expand(-1, V));
            return [viaEq, viaEye, viaGather, viaEq.ArgMax(-1), (ids * 2 + 1) - ids];
        }, Ids(5, 3), [Ids(4, 6), Ids(9, 2)]);
    }

    [Fact]
    public void LinearEmbeddingDropoutSequential()
    {
        var emb = new Embedding(11, 6, generator: G);
        var seq = new Sequential(new Linear(6, 8, generator: G), new Dropout(0.3), new ReLU(), new Linear(8, 3, bias: false, generator: G));
        emb.Eval(); seq.Eval();
        Tensor[] Ids(int t, int b) => [Tensor.RandInt(0, 11, [t, b], G)];
        OrtCheck.ExportAndVerify("layers", xs =>
        {
            var e = emb.Forward(xs[0]);                                                // (T, B, 6)
            return [seq.Forward(e), seq.Forward(e.View(-1, 6)), Functional.Linear(e[0], seq[0] is Linear l ? l.Weight : throw new InvalidOperationException())];
        }, Ids(5, 3), [Ids(2, 7), Ids(8, 2)]);
    }

    [Fact]
    public void MatMulVariants()
    {
        var w = Tensor.Randn([4, 3], generator: G);
        var v = Tensor.Randn([4], generator: G);
        Check("matmul", xs =>
        {
            var x = xs[0];                                   // (T, B, 4)
            var sq = x.Transpose(0, 1);                      // (B, T, 4)
            return [x.MatMul(w), x.MatMul(v), sq.MatMul(sq.Transpose(1, 2)), x[0].Mm(w), x[0].MatMul(x[0].T()), sq.Bmm(sq.Transpose(1, 2))];
        }, SeqBatch(4));
    }

    [Fact]
    public void DtypeConversionsAndLikeFactories()
    {
        Check("dtypes", xs =>
        {
            var x = xs[0];
            return [x.Double() * 2.0, (x * 3.0).Long(), x.ArgMax(2).Float() + 0.5, Tensor.ZerosLike(x) + 1.0, Tensor.OnesLike(x) * x, Tensor.FullLike(x, 2.5),
                x.Double().Sum(0)];
        }, SeqBatch(3));
    }

    [Fact]
    public void ParametersAreNamedByStateDictKeys()
    {
        var model = new Sequential(new Linear(3, 4, generator: G), new Tanh(), new Linear(4, 2, generator: G));
        var path = OrtCheck.TempPath("names");
        var result = OnnxExport.Export(model, Tensor.Randn([5, 3], generator: G), path);
        File.Delete(path);
        Assert.Contains("0.weight", result.InitializerNames);
        Assert.Contains("0.bias", result.InitializerNames);
        Assert.Contains("2.weight", result.InitializerNames);
        Assert.Equal(2, result.NodeCounts["Gemm"]);
        Assert.Equal("input_dim0", result.Inputs[0].Dims[0]);
        Assert.Equal("3", result.Inputs[0].Dims[1]);
        Assert.Equal(["input_dim0", "2"], result.Outputs[0].Dims);
    }

    [Fact]
    public void ExplicitDynamicAxesNameTheDimensions()
    {
        var lin = new Linear(3, 2, generator: G);
        var axes = new Dictionary<string, IReadOnlyDictionary<int, string>>
        {
            ["x"] = new Dictionary<int, string> { [0] = "seq", [1] = "batch" },
        };
        var r = OrtCheck.ExportAndVerify("axes", xs => [lin.Forward(xs[0]).View(-1, 2)], [Tensor.Randn([5, 3, 3], generator: G)],
            [[Tensor.Randn([2, 4, 3], generator: G)]], new OnnxExportOptions { InputNames = ["x"], OutputNames = ["y"], DynamicAxes = axes, Module = lin });
        Assert.Equal(["seq", "batch", "3"], r.Inputs[0].Dims);
        Assert.Equal(["seq*batch", "2"], r.Outputs[0].Dims);
    }

    [Fact]
    public void StaticAxesWhenDynamicAxesIsEmpty()
    {
        var lin = new Linear(3, 2, generator: G);
        var path = OrtCheck.TempPath("static");
        var r = OnnxExport.Export(xs => [lin.Forward(xs[0])], [Tensor.Randn([5, 3, 3], generator: G)], path,
            new OnnxExportOptions { DynamicAxes = new Dictionary<string, IReadOnlyDictionary<int, string>>() });
        File.Delete(path);
        Assert.Equal(["5", "3", "3"], r.Inputs[0].Dims);
    }

    [Fact]
    public void ConstantsChangedInPlaceAreSnapshotAtEachUse()
    {
        // A constant built in the forward with in-place ops (a one-hot row, a mask), used, changed, used again.
        Check("inplace-constant", xs =>
        {
            var m = Tensor.Zeros(4, 6);
            m[1].Fill_(1);
            m.Select(1, 3).Add_(Tensor.Ones(4));
            var a = xs[0].MatMul(m);
            m[2].Fill_(2);
            var b = xs[0].MatMul(m);
            return [a, b];
        }, SeqBatch(4));
    }

    [Fact]
    public void OutputsThatAreInputsOrReturnedTwiceGetTheirOwnNames()
    {
        Check("passthrough", xs => { var y = xs[0] * 2.0; return [xs[0], y, y]; }, SeqBatch(2));
    }

    [Fact]
    public void OutputsThatAreConstantsOrParametersGoThroughAnIdentity()
    {
        // A constant made in the forward and a parameter returned as it is: both initializers, neither a node's output.
        var lin = new Linear(2, 3, generator: G);
        Check("constout", xs => [xs[0] * 2.0, Tensor.Ones(4) * 3.0, lin.Bias!], SeqBatch(2), lin);
    }

    [Fact]
    public void OutputNamesTheTracerWouldHaveMadeUpAreTheCallers()
    {
        // "tanh_out" is the name the tracer gives a Tanh node's output; the caller's output of that name is honoured.
        var r = OrtCheck.ExportAndVerify("names", xs => [xs[0].Tanh() * 2.0, xs[0].Tanh()], SeqBatch(2).Example, SeqBatch(2).Runs,
            new OnnxExportOptions { OutputNames = ["tanh_out", "t"] });
        Assert.Equal(["tanh_out", "t"], r.Outputs.Select(o => o.Name));
    }
}
