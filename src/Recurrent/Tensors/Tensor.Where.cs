// torch.where and masked_fill: an element-wise choice between two tensors by a condition, with broadcasting, as
// attention over padded sequences masks its scores (scores.masked_fill(mask == 0, float('-inf'))). A choice, not
// arithmetic: an infinite or NaN value on the side not taken never reaches the result or the gradient.
using Recurrent.Tracing;

namespace Recurrent;

public sealed partial class Tensor
{
    /// <summary>
    /// <paramref name="input"/> where <paramref name="condition"/> is nonzero, else <paramref name="other"/>, as
    /// <c>torch.where(condition, input, other)</c>; the three broadcast together and the values promote as
    /// <see cref="ResultType"/>. The condition is any dtype (a comparison's 0/1 result: this library has no bool dtype).
    /// Differentiable in <paramref name="input"/> and <paramref name="other"/>: each gets the gradient where it was chosen.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes do not broadcast.</exception>
    public static Tensor Where(Tensor condition, Tensor input, Tensor other)
    {
        Guard.NotNull(condition, nameof(condition));
        Guard.NotNull(input, nameof(input));
        Guard.NotNull(other, nameof(other));
        var dtype = ResultType(input.DType, other.DType);
        using var trace = TraceScope.Begin();
        Tensor?[] reported = [condition, input, other];
        if (input.DType != dtype) input = input.To(dtype);
        if (other.DType != dtype) other = other.To(dtype);
        int[] shape;
        try { shape = ShapeUtil.Broadcast(ShapeUtil.Broadcast(condition.ShapeRef, input.ShapeRef), other.ShapeRef); }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"where: condition {Guard.ShapeText(condition.ShapeRef)}, input {Guard.ShapeText(input.ShapeRef)} and other {Guard.ShapeText(other.ShapeRef)} do not broadcast: {e.Message}", nameof(condition), e);
        }
        bool[] take;
        Tensor result;
        using (new NoGrad())
        {
            var c = condition.Expand(shape).Contiguous();
            take = new bool[c.Numel];
            for (int i = 0; i < take.Length; i++) take[i] = c.At(c.Offset + i) != 0;
            result = Choose(take, input, other, shape, dtype);
        }
        int[] inShape = input.ShapeRef, otherShape = other.ShapeRef;
        result = Record(result, "WhereBackward0", g =>
        {
            var gc = g.Contiguous();
            var zero = NewZeroed(g.DType, []);
            var forInput = Choose(take, gc, zero, shape, g.DType);
            var forOther = Choose(take, zero, gc, shape, g.DType);
            return [forInput.SumToShape(inShape), forOther.SumToShape(otherShape)];
        }, true, input, other);
        trace.End()?.Op("Where", result, reported);
        return result;
    }

    /// <summary><paramref name="input"/> where <paramref name="condition"/> is nonzero, else the number
    /// <paramref name="other"/>, as <c>torch.where(condition, input, other)</c> with a Python number: typed as PyTorch
    /// types one against input (an int64 input and a fraction or an infinity give float32).</summary>
    public static Tensor Where(Tensor condition, Tensor input, double other)
    {
        Guard.NotNull(input, nameof(input));
        return Where(condition, input, input.ScalarOperand(other));
    }

    /// <summary>
    /// This tensor with <paramref name="value"/> where <paramref name="mask"/> is nonzero, as
    /// <c>masked_fill(mask, value)</c> (out of place; the mask broadcasts): <c>scores.MaskedFill(mask.Eq(0),
    /// double.NegativeInfinity).Softmax(-1)</c> gives padded positions exactly zero weight. The gradient flows where
    /// the mask is zero.
    /// </summary>
    /// <exception cref="ArgumentException">The mask does not broadcast with this tensor.</exception>
    /// <exception cref="ArgumentOutOfRangeException">This tensor is int64 and <paramref name="value"/> is NaN, infinite or out of its range.</exception>
    public Tensor MaskedFill(Tensor mask, double value)
    {
        Guard.NotNull(mask, nameof(mask));
        // masked_fill keeps the tensor's dtype: a number an int64 tensor cannot hold is refused, as PyTorch refuses it.
        if (DType == DType.Int64 && !FitsInt64(value))
            throw new ArgumentOutOfRangeException(nameof(value), value, $"value cannot be converted to type int64 without overflow: this tensor is Int64, and {value} is not in its range");
        return Where(mask, Scalar(value, DType), this);
    }

    private static Tensor Choose(bool[] take, Tensor a, Tensor b, int[] shape, DType dtype) => dtype switch
    {
        DType.Float32 => Choose<float>(take, a, b, shape),
        DType.Float64 => Choose<double>(take, a, b, shape),
        _ => Choose<long>(take, a, b, shape),
    };

    // take[i] ? a : b over the broadcast shape (a and b already in T).
    private static Tensor Choose<T>(bool[] take, Tensor a, Tensor b, int[] shape) where T : unmanaged
    {
        var ac = a.Expand(shape).Contiguous();
        var bc = b.Expand(shape).Contiguous();
        var r = NewZeroed(a.DType, shape);
        ReadOnlySpan<T> av = ac.AsSpan<T>(), bv = bc.AsSpan<T>();
        var rv = r.AsSpan<T>();
        for (int i = 0; i < take.Length; i++) rv[i] = take[i] ? av[i] : bv[i];
        return r;
    }
}
