// Elementwise operator structs (one per math function) and the drivers that run them over
// contiguous or broadcast-strided tensors. Generic over float and double (INumber for int64).
using System.Numerics;

namespace Recurrent;

internal interface IUnaryOp<T> { T Apply(T x); }
internal interface IBinaryOp<T> { T Apply(T x, T y); }

internal readonly struct NegOp<T> : IUnaryOp<T> where T : INumber<T> { public T Apply(T x) => -x; }
internal readonly struct ExpOp<T> : IUnaryOp<T> where T : IFloatingPointIeee754<T> { public T Apply(T x) => T.Exp(x); }
internal readonly struct LogOp<T> : IUnaryOp<T> where T : IFloatingPointIeee754<T> { public T Apply(T x) => T.Log(x); }
internal readonly struct TanhOp<T> : IUnaryOp<T> where T : IFloatingPointIeee754<T> { public T Apply(T x) => T.Tanh(x); }
internal readonly struct SigmoidOp<T> : IUnaryOp<T> where T : IFloatingPointIeee754<T> { public T Apply(T x) => T.One / (T.One + T.Exp(-x)); }
internal readonly struct ReluOp<T> : IUnaryOp<T> where T : INumber<T> { public T Apply(T x) => x > T.Zero ? x : (T.IsNaN(x) ? x : T.Zero); }
internal readonly struct SqrtOp<T> : IUnaryOp<T> where T : IFloatingPointIeee754<T> { public T Apply(T x) => T.Sqrt(x); }
internal readonly struct AbsOp<T> : IUnaryOp<T> where T : INumber<T> { public T Apply(T x) => T.Abs(x); }
internal readonly struct SignOp<T> : IUnaryOp<T> where T : INumber<T> { public T Apply(T x) => x > T.Zero ? T.One : x < T.Zero ? -T.One : T.Zero; }
internal readonly struct PositiveMaskOp<T> : IUnaryOp<T> where T : INumber<T> { public T Apply(T x) => x > T.Zero ? T.One : T.Zero; }
internal readonly struct PowScalarOp<T>(T p) : IUnaryOp<T> where T : IFloatingPointIeee754<T> { public T Apply(T x) => T.Pow(x, p); }
internal readonly struct ClampOp<T>(T lo, T hi) : IUnaryOp<T> where T : INumber<T> { public T Apply(T x) => T.IsNaN(x) ? x : x < lo ? lo : x > hi ? hi : x; }
internal readonly struct InRangeMaskOp<T>(T lo, T hi) : IUnaryOp<T> where T : INumber<T> { public T Apply(T x) => x >= lo && x <= hi ? T.One : T.Zero; }

internal readonly struct AddOp<T> : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => x + y; }
internal readonly struct AddScaledOp<T>(T alpha) : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => x + alpha * y; }
internal readonly struct SubOp<T> : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => x - y; }
internal readonly struct MulOp<T> : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => x * y; }
internal readonly struct DivOp<T> : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => x / y; }
internal readonly struct PowOp<T> : IBinaryOp<T> where T : IFloatingPointIeee754<T> { public T Apply(T x, T y) => T.Pow(x, y); }
internal readonly struct MaximumOp<T> : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => T.IsNaN(x) || x > y ? x : y; }
internal readonly struct MinimumOp<T> : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => T.IsNaN(x) || x < y ? x : y; }
internal readonly struct EqOp<T> : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => x == y ? T.One : T.Zero; }
internal readonly struct GtOp<T> : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => x > y ? T.One : T.Zero; }
internal readonly struct LtOp<T> : IBinaryOp<T> where T : INumber<T> { public T Apply(T x, T y) => x < y ? T.One : T.Zero; }

internal static class Elementwise
{
    /// <summary>out = op(x) elementwise; out is a new contiguous tensor.</summary>
    public static Tensor Unary<T, TOp>(Tensor x, TOp op) where TOp : IUnaryOp<T>
    {
        var r = Tensor.Empty(x.DType, x.ShapeRef);
        var dst = r.Arr<T>();
        int n = dst.Length;
        if (x.IsContiguous)
        {
            var src = x.Arr<T>();
            int o = x.Offset;
            for (int i = 0; i < n; i++) dst[i] = op.Apply(src[o + i]);
        }
        else
        {
            var c = Tensor.Empty(x.DType, x.ShapeRef);
            StridedCopy.Copy(x, c);
            var src = c.Arr<T>();
            for (int i = 0; i < n; i++) dst[i] = op.Apply(src[i]);
        }
        return r;
    }

    /// <summary>x = op(x) in place over every element of a (possibly strided) tensor.</summary>
    public static void UnaryInPlace<T, TOp>(Tensor x, TOp op) where TOp : IUnaryOp<T>
    {
        var a = x.Arr<T>();
        if (x.IsContiguous)
        {
            int o = x.Offset, n = x.Numel;
            for (int i = 0; i < n; i++) a[o + i] = op.Apply(a[o + i]);
            return;
        }
        ForEachOffset(x.ShapeRef, x.Offset, x.StridesRef, off => a[off] = op.Apply(a[off]));
    }

    /// <summary>out = op(a, b) with broadcasting; out is a new contiguous tensor.</summary>
    public static Tensor Binary<T, TOp>(Tensor a, Tensor b, TOp op) where TOp : IBinaryOp<T>
    {
        int[] shape = a.SameShape(b) ? a.ShapeRef : ShapeUtil.Broadcast(a.ShapeRef, b.ShapeRef);
        var r = Tensor.Empty(a.DType, shape);
        BinaryInto<T, TOp>(a, b, r.Arr<T>(), 0, Tensor.ContiguousStrides(shape), shape, op);
        return r;
    }

    /// <summary>a = op(a, b) in place; b broadcasts to a's shape.</summary>
    public static void BinaryInPlace<T, TOp>(Tensor a, Tensor b, TOp op) where TOp : IBinaryOp<T>
    {
        var shape = ShapeUtil.Broadcast(a.ShapeRef, b.ShapeRef);
        if (!shape.AsSpan().SequenceEqual(a.ShapeRef))
            throw new ArgumentException($"output with shape {Guard.ShapeText(a.ShapeRef)} doesn't match the broadcast shape {Guard.ShapeText(shape)}");
        BinaryInto<T, TOp>(a, b, a.Arr<T>(), a.Offset, a.StridesRef, shape, op);
    }

    private static void BinaryInto<T, TOp>(Tensor a, Tensor b, T[] dst, int dOff, int[] dStrides, int[] shape, TOp op) where TOp : IBinaryOp<T>
    {
        var xa = a.Arr<T>(); var xb = b.Arr<T>();
        int n = ShapeUtil.Numel(shape);
        if (n == 0) return;
        bool dContig = ShapeUtil.IsContiguous(shape, dStrides);
        if (dContig && a.IsContiguous && b.IsContiguous && a.Numel == n && b.Numel == n)
        {
            int ao = a.Offset, bo = b.Offset;
            for (int i = 0; i < n; i++) dst[dOff + i] = op.Apply(xa[ao + i], xb[bo + i]);
            return;
        }
        if (dContig && a.IsContiguous && a.Numel == n && b.Numel == 1)
        {
            T s = xb[b.Offset]; int ao = a.Offset;
            for (int i = 0; i < n; i++) dst[dOff + i] = op.Apply(xa[ao + i], s);
            return;
        }
        int rank = shape.Length;
        var sa = ShapeUtil.BroadcastStrides(a, shape);
        var sb = ShapeUtil.BroadcastStrides(b, shape);
        if (rank == 0) { dst[dOff] = op.Apply(xa[a.Offset], xb[b.Offset]); return; }
        int inner = shape[rank - 1];
        int ia = sa[rank - 1], ib = sb[rank - 1], id = dStrides[rank - 1];
        var idx = new int[rank];
        int pa = a.Offset, pb = b.Offset, pd = dOff;
        int outer = n / inner;
        for (int o = 0; o < outer; o++)
        {
            for (int j = 0; j < inner; j++) dst[pd + j * id] = op.Apply(xa[pa + j * ia], xb[pb + j * ib]);
            for (int d = rank - 2; d >= 0; d--)
            {
                idx[d]++; pa += sa[d]; pb += sb[d]; pd += dStrides[d];
                if (idx[d] < shape[d]) break;
                pa -= sa[d] * shape[d]; pb -= sb[d] * shape[d]; pd -= dStrides[d] * shape[d];
                idx[d] = 0;
            }
        }
    }

    public static void ForEachOffset(int[] shape, int offset, int[] strides, Action<int> body)
    {
        int rank = shape.Length, n = ShapeUtil.Numel(shape);
        if (n == 0) return;
        if (rank == 0) { body(offset); return; }
        var idx = new int[rank];
        int p = offset;
        for (int i = 0; i < n; i++)
        {
            body(p);
            for (int d = rank - 1; d >= 0; d--)
            {
                idx[d]++; p += strides[d];
                if (idx[d] < shape[d]) break;
                p -= strides[d] * shape[d]; idx[d] = 0;
            }
        }
    }
}
