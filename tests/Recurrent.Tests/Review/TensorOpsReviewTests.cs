// Regression tests for the defects a review of the tensor ops' argument checks found (stop 30): aliasing in-place
// writes, Flatten's dims, Pow's gradients at a zero base, int64 reductions and fills, Arange and Uniform ranges,
// reductions of empty batches, 0-dim tensors, and a product with k = 0.
namespace Recurrent.Tests.Review;

public class TensorOpsReviewTests
{
    [Fact]
    public void AnInPlaceOpWhoseSourceAliasesTheDestination_ReadsTheSourceAsItWas()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        x.Add_(x.T());                                       // was [[2, 5], [8, 8]]: row 1 read the new x[0, 1]
        Assert.Equal([2f, 5f, 5f, 8f], x.ToArray<float>());
        var y = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        y.Copy_(y.T());
        Assert.Equal([1f, 3f, 2f, 4f], y.ToArray<float>());
        var z = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        z.Mul_(z[0]);                                        // z[0] is read whole before row 0 changes
        Assert.Equal([1f, 4f, 3f, 8f], z.ToArray<float>());
        var w = Tensor.FromArray(new float[] { 1, 2 });
        w.Add_(w);                                           // the same layout: element-wise, fine as it was
        Assert.Equal([2f, 4f], w.ToArray<float>());
    }

    [Fact]
    public void AnInPlaceWriteIntoAnExpandedTensor_IsRefused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Tensor.Zeros(3).Expand(4, 3).Add_(Tensor.Ones(4, 3)));
        Assert.Contains("more than one element of the written-to tensor", e.Message);
        Assert.Throws<InvalidOperationException>(() => Tensor.Zeros(3).Expand(4, 3).Copy_(Tensor.Ones(4, 3)));
        Tensor.Zeros(3).Expand(4, 3).Fill_(1);               // one value into every alias: allowed
    }

    [Fact]
    public void Flatten_WithStartAfterEnd_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, 3).Flatten(1, 0));   // returned [2, 1, 3]
        Assert.Contains("start_dim cannot come after end_dim", e.Message);
        Assert.Equal([6], Tensor.Zeros(2, 3).Flatten().Shape.ToArray());
        Assert.Equal([1], Tensor.Scalar(1).Flatten(0, -1).Shape.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Scalar(1).Flatten(1));
    }

    [Fact]
    public void PowGradients_AtAZeroBase_AreZeroWherePyTorchsAre()
    {
        var a = Tensor.FromArray(new double[] { 0, 0, 2 }).RequiresGrad_();
        var b = Tensor.FromArray(new double[] { 0, 2, 3 }).RequiresGrad_();
        a.Pow(b).Sum().Backward();
        // d/da a^b = b a^(b-1): 0 at b = 0 (not 0 * inf), 0 at a = 0, b = 2; 3 * 4 = 12.
        Assert.Equal([0.0, 0.0, 12.0], a.Grad!.ToArray<double>());
        // d/db a^b = a^b log a: 0 at a = 0 with b >= 0 (not 1 * -inf or 0 * -inf); 8 log 2.
        Assert.Equal([0.0, 0.0, 8 * Math.Log(2)], b.Grad!.ToArray<double>());
    }

    [Fact]
    public void Int64ArgMaxAndMax_CompareAsIntegers()
    {
        var x = Tensor.FromArray(new long[] { 1L << 53, (1L << 53) + 1 });
        Assert.Equal(1, x.ArgMax().Item<long>());             // both were 2^53 as doubles: index 0
        Assert.Equal((1L << 53) + 1, x.Max().Item<long>());
        Assert.Equal(0, x.ArgMin().Item<long>());
    }

    [Fact]
    public void Int64FillsOutsideLongsRange_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => Tensor.Full([2], double.NaN, DType.Int64));   // wrote 0
        Assert.Throws<ArgumentException>(() => Tensor.Zeros([2], DType.Int64).Fill_(1e19));
        Assert.Equal([7L, 7L], Tensor.Full([2], 7, DType.Int64).ToArray<long>());
        Assert.Equal([double.NaN], Tensor.Full([1], double.NaN, DType.Float64).ToArray<double>());
    }

    [Fact]
    public void AnInt64TensorAndANumberPastLongsRange_GiveAFloatResult()
    {
        var x = Tensor.FromArray(new long[] { 1, 2 });
        var big = x.Add(1e19);                               // was int64: 1 + long.MaxValue wrapped to long.MinValue
        Assert.Equal(DType.Float32, big.DType);
        Assert.Equal([1e19f, 1e19f], big.ToArray<float>());
        Assert.Equal([0f, 0f], x.Div(double.PositiveInfinity).ToArray<float>());
        Assert.Equal(DType.Float32, x.Mul(double.NaN).DType);
        Assert.Equal(DType.Int64, x.Add(3).DType);
        Assert.Equal([1.5f, 2.5f], x.Add(0.5).ToArray<float>());
    }

    [Fact]
    public void ArangeAndUniform_RefuseRangesPyTorchRefuses()
    {
        Assert.Throws<ArgumentException>(() => Tensor.Arange(0, double.NaN));               // was an empty tensor
        Assert.Throws<ArgumentException>(() => Tensor.Arange(0, 5, double.NaN));
        var inf = Assert.Throws<ArgumentException>(() => Tensor.Arange(0, double.PositiveInfinity));
        Assert.Equal("end", inf.ParamName);
        Assert.Throws<ArgumentException>(() => Tensor.Arange(0, 1e12, 1e-3));
        Assert.Equal([0L, 2L, 4L], Tensor.Arange(0, 5, 2).ToArray<long>());

        var u = Assert.Throws<ArgumentException>(() => Tensor.Uniform([3], 2, 1));        // drew from (1, 2]
        Assert.Contains("from=2 > to=1", u.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Uniform([3], double.NegativeInfinity, double.PositiveInfinity));
        Assert.Throws<ArgumentException>(() => Tensor.Uniform([3], 0, 1, DType.Int64));
        Assert.All(Tensor.Uniform([100], -1, 1, generator: new Generator(1)).ToArray<float>(), v => Assert.InRange(v, -1f, 1f));
    }

    [Fact]
    public void MaxAlongANonEmptyDimOfAnEmptyBatch_IsEmpty()
    {
        var idx = Tensor.Zeros(0, 5).ArgMax(1);              // refused as if no dim had been given
        Assert.Equal([0], idx.Shape.ToArray());
        Assert.Equal([0], Tensor.Zeros(0, 5).Max(1).Values.Shape.ToArray());
        Assert.Contains("reduction dim 0 to have non-zero size", Assert.Throws<InvalidOperationException>(() => Tensor.Zeros(0, 5).Max(0)).Message);
        Assert.Contains("reduction dim to be specified", Assert.Throws<InvalidOperationException>(() => Tensor.Zeros(0, 5).Max()).Message);
    }

    [Fact]
    public void ZeroDimTensors_GetNamedErrors_OrPyTorchsAnswer()
    {
        var s = Tensor.Scalar(3);
        Assert.Equal(3f, s.Transpose(0, 0).Item<float>());    // IndexOutOfRangeException before
        Assert.Equal(3f, s.Transpose(-1, 0).Item<float>());
        Assert.Contains("narrow() cannot be applied to a 0-dim tensor", Assert.Throws<ArgumentException>(() => s.Narrow(0, 0, 1)).Message);
        Assert.Contains("select() cannot be applied", Assert.Throws<ArgumentException>(() => s.Select(0, 0)).Message);
        Assert.Throws<ArgumentException>(() => s.Split(1));
        Assert.Throws<ArgumentException>(() => s.Split([1]));
        Assert.Throws<ArgumentException>(() => s.Chunk(1));
        Assert.Throws<ArgumentException>(() => s.Unbind());
        Assert.Throws<ArgumentException>(() => s.SplitWithSizes([1]));
        Assert.Throws<ArgumentException>(() => s.IndexSelect(0, Tensor.FromArray(new long[] { 0 })));
        Assert.Contains("zero-dimensional tensor (at position 1)", Assert.Throws<ArgumentException>(() => Tensor.Cat([Tensor.Ones(1), s])).Message);
    }

    [Fact]
    public void MatMul_WithAnEmptyInnerDimension_GivesZeros()
    {
        var r = Tensor.Zeros(2, 3, 0).MatMul(Tensor.Zeros(0, 4));   // Reshape(-1, 0) could not infer the rows
        Assert.Equal([2, 3, 4], r.Shape.ToArray());
        Assert.All(r.ToArray<float>(), v => Assert.Equal(0f, v));
    }
}
