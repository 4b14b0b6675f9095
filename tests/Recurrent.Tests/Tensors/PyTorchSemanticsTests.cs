// The Python-facing semantics a porting user relies on: type promotion in mixed-dtype arithmetic,
// elementwise == and comparison operators (not reference equality), ToArray with conversion,
// C# range slicing as Python slices, TensorShape as torch.Size, Linspace, and in-place casting rules.
namespace Recurrent.Tests.Tensors;

public class PyTorchSemanticsTests
{
    [Fact]
    public void MixedDtypeArithmetic_PromotesAsPyTorch()
    {
        var f = Tensor.FromArray(new float[] { 1.5f, 2.5f }, 2);
        var d = Tensor.FromArray(new double[] { 0.25, 0.5 }, 2);
        var l = Tensor.FromArray(new long[] { 3, 4 }, 2);
        Assert.Equal(DType.Float64, (f + d).DType);
        Assert.Equal(new[] { 1.75, 3.0 }, (f + d).ToArray<double>());
        Assert.Equal(DType.Float32, (l * f).DType);
        Assert.Equal(new[] { 4.5f, 10f }, (l * f).ToArray<float>());
        Assert.Equal(DType.Int64, (l + l).DType);
        // True division of integers gives float32, as torch.div.
        Assert.Equal(new[] { 1.5f, 2f }, (l / Tensor.FromArray(new long[] { 2, 2 }, 2)).ToArray<float>());
        // A Python number keeps the tensor's dtype unless it is fractional against an integer tensor.
        Assert.Equal(DType.Float32, (f * 2).DType);
        Assert.Equal(DType.Int64, (l * 2).DType);
        Assert.Equal(new[] { 7.5f, 10f }, (l * 2.5).ToArray<float>());
        Assert.Equal(DType.Float64, Tensor.ResultType(DType.Float32, DType.Float64));
        // In place keeps this dtype; a floating result cannot go into int64.
        f.Add_(d);
        Assert.Equal(new[] { 1.75f, 3f }, f.ToArray<float>());
        var ex = Assert.Throws<ArgumentException>(() => l.Add_(d));
        Assert.Contains("can't be cast to the desired output type torch.int64", ex.Message);
    }

    [Fact]
    public void EqualityOperators_CompareElements()
    {
        var pred = Tensor.FromArray(new long[] { 1, 2, 3, 4 }, 4);
        var labels = Tensor.FromArray(new long[] { 1, 0, 3, 0 }, 4);
        Tensor eq = pred == labels;
        Assert.Equal(new long[] { 1, 0, 1, 0 }, eq.ToArray<long>());
        Assert.Equal(2L, (pred == labels).Sum().Item<long>());
        Assert.Equal(new long[] { 0, 1, 0, 1 }, (pred != labels).ToArray<long>());
        Assert.Equal(new long[] { 0, 1, 0, 1 }, (pred > labels).ToArray<long>());
        Assert.Equal(new long[] { 1, 0, 1, 0 }, (pred <= labels).ToArray<long>());
        Assert.Equal(new long[] { 0, 0, 1, 1 }, (pred >= 3).ToArray<long>());
        // Identity still works where it is asked for.
        Assert.True(pred.Equals(pred));
        Assert.False(pred.Equals(pred.Clone()));
        var set = new HashSet<Tensor> { pred, pred.Clone() };
        Assert.Equal(2, set.Count);
        Tensor? none = null;
        Assert.Throws<ArgumentNullException>(() => pred == none!);
    }

    [Fact]
    public void ToArray_ConvertsBetweenDtypes()
    {
        var f = Tensor.FromArray(new float[] { 1.5f, -2.75f }, 2);
        Assert.Equal(new[] { 1.5, -2.75 }, f.ToArray<double>());
        Assert.Equal(new long[] { 1, -2 }, f.ToArray<long>());
        Assert.Equal(new[] { 3f }, Tensor.FromArray(new long[] { 3 }, 1).ToArray<float>());
        Assert.Throws<NotSupportedException>(() => f.ToArray<int>());
    }

    [Fact]
    public void RangeIndexing_IsPythonSlicing()
    {
        var x = Tensor.Arange(0, 24, 1, DType.Float32).Reshape(2, 3, 4);
        // x[1:, :-1] and x[-1, 1:2]
        Assert.Equal(new[] { 1, 2, 4 }, x[1.., ..^1].Shape.ToArray());
        Assert.Equal(new[] { 12f, 13, 14, 15, 16, 17, 18, 19 }, x[1.., ..^1].ToArray<float>());
        Assert.Equal(new[] { 1, 4 }, x[^1, 1..2].Shape.ToArray());
        Assert.Equal(new[] { 16f, 17, 18, 19 }, x[^1, 1..2].ToArray<float>());
        Assert.Equal(new[] { 20f, 21, 22, 23 }, x[1, 2].ToArray<float>());
        Assert.Equal(23f, x[-1, -1, -1].Item<float>());
        Assert.Equal(new[] { 3, 4 }, x[0, ..].Shape.ToArray());
        Assert.Throws<ArgumentException>(() => x[0, 0, 0, 0]);
        Assert.Throws<IndexOutOfRangeException>(() => x[2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => x[0..5]);
    }

    [Fact]
    public void Shape_IsTorchSize()
    {
        var x = Tensor.Zeros(2, 3, 4);
        var s = x.Shape;
        Assert.Equal(3, s.Count);
        Assert.Equal(4, s[-1]);
        Assert.Equal(24, s.Numel);
        Assert.True(s == Tensor.Ones(2, 3, 4).Shape);
        Assert.True(s.Equals(new[] { 2, 3, 4 }));
        Assert.Equal("[2, 3, 4]", s.ToString());
        Assert.Equal(new[] { 2, 3, 4 }, s.ToArray());
        Assert.Equal("2, 3, 4", string.Join(", ", x.Shape));
        Assert.Throws<IndexOutOfRangeException>(() => s[3]);
        // No copy: reading the shape allocates nothing.
        long before = GC.GetAllocatedBytesForCurrentThread();
        int total = 0;
        for (int i = 0; i < 100; i++) foreach (var v in x.Shape) total += v;
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(900, total);
    }

    [Fact]
    public void Linspace_IncludesBothEnds()
    {
        Assert.Equal(new[] { 0f, 0.25f, 0.5f, 0.75f, 1f }, Tensor.Linspace(0, 1, 5).ToArray<float>());
        Assert.Equal(new[] { -1.0 }, Tensor.Linspace(-1, 3, 1, DType.Float64).ToArray<double>());
        Assert.Empty(Tensor.Linspace(0, 1, 0).ToArray<float>());
        var t = Tensor.Linspace(0, Math.PI, 7, DType.Float64);
        Assert.Equal(Math.PI, t.ToArray<double>()[^1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Linspace(0, 1, -1));
        Assert.Equal(new[] { 0.0, 1.0, 0.0 }, Tensor.Linspace(0, Math.PI, 3, DType.Float64).Sin().ToArray<double>().Select(v => Math.Round(v, 12)));
    }
}
