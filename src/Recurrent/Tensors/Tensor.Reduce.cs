// Reductions (Sum, Mean, Max, Min, ArgMax, ArgMin) with dim and keepdim, and the
// numerically stable Softmax / LogSoftmax. Float32 sums accumulate in float64.
using Recurrent.Kernels;
using Recurrent.Tracing;

namespace Recurrent;

public sealed partial class Tensor
{
    /// <summary>(outer, size, inner) of a contiguous layout reduced over <paramref name="d"/>.</summary>
    private (int outer, int size, int inner) Split3(int d)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < d; i++) outer *= ShapeRef[i];
        for (int i = d + 1; i < Dim; i++) inner *= ShapeRef[i];
        return (outer, Dim == 0 ? 1 : ShapeRef[d], inner);
    }

    private int[] ReducedShape(int d, bool keepDim)
    {
        if (Dim == 0) return Array.Empty<int>();
        var l = ShapeRef.ToList();
        if (keepDim) l[d] = 1; else l.RemoveAt(d);
        return l.ToArray();
    }

    /// <summary>Sum of all elements (0-dim), as <c>tensor.sum()</c>.</summary>
    public Tensor Sum()
    {
        var c = Contiguous();
        var r = NewZeroed(DType, Array.Empty<int>());
        int n = Numel;
        switch (DType)
        {
            case DType.Float32: r.Arr<float>()[0] = (float)Reductions.Sum(c.AsSpan<float>()); break;
            case DType.Float64: r.Arr<double>()[0] = Reductions.Sum(c.AsSpan<double>()); break;
            default: { var a = c.Arr<long>(); long s = 0; for (int i = 0; i < n; i++) s += a[c.Offset + i]; r.Arr<long>()[0] = s; break; }
        }
        var inShape = ShapeRef;
        return Record(r, "SumBackward0", g => new[] { g.Expand(inShape) }, false, this);
    }

    /// <summary>
    /// <c>(this * other).sum()</c> for two tensors of the same shape and dtype (no broadcasting), as a
    /// 0-dim tensor, without materialising the product. Float32 accumulates in float64.
    /// </summary>
    /// <remarks>
    /// Meant for losses such as <c>sum(y * G)</c>: the backward returns <c>g * other</c> and
    /// <c>g * this</c>, and when the incoming gradient is exactly 1 it hands back the other operand
    /// itself (no copy; gradient consumers never write into what they receive).
    /// </remarks>
    public Tensor SumProduct(Tensor other)
    {
        Guard.SameDType(this, other, "sum_product");
        Guard.Shape(other, ShapeRef, "other");
        var a = Contiguous();
        var b = other.Contiguous();
        var r = NewZeroed(DType, Array.Empty<int>());
        int n = Numel;
        switch (DType)
        {
            case DType.Float32:
                r.Arr<float>()[0] = (float)Reductions.SumProduct(a.AsSpan<float>(), b.AsSpan<float>());
                break;
            case DType.Float64:
                r.Arr<double>()[0] = Reductions.SumProduct(a.AsSpan<double>(), b.AsSpan<double>());
                break;
            default:
            {
                var x = a.AsSpan<long>(); var y = b.AsSpan<long>();
                long s = 0;
                for (int i = 0; i < n; i++) s += x[i] * y[i];
                r.Arr<long>()[0] = s;
                break;
            }
        }
        var self = this;
        return Record(r, "SumProductBackward0", g =>
        {
            bool one = g.ToDouble() == 1.0;
            return new[]
            {
                self.RequiresGrad ? (one ? other : other.Mul(g)) : null,
                other.RequiresGrad ? (one ? self : self.Mul(g)) : null,
            };
        }, true, this, other);
    }

    /// <summary>Sum over one dim, as <c>tensor.sum(dim, keepdim)</c>.</summary>
    public Tensor Sum(int dim, bool keepDim = false)
    {
        int d = Guard.Dim(dim, Dim);
        var c = Contiguous();
        var (outer, size, inner) = c.Split3(d);
        var r = NewZeroed(DType, ReducedShape(d, keepDim));
        switch (DType)
        {
            case DType.Float32:
                {
                    var a = c.Arr<float>(); var o = r.Arr<float>();
                    for (int p = 0; p < outer; p++)
                        for (int q = 0; q < inner; q++)
                        {
                            double s = 0; int b = c.Offset + p * size * inner + q;
                            for (int i = 0; i < size; i++) s += a[b + i * inner];
                            o[p * inner + q] = (float)s;
                        }
                    break;
                }
            case DType.Float64:
                {
                    var a = c.Arr<double>(); var o = r.Arr<double>();
                    for (int p = 0; p < outer; p++)
                        for (int q = 0; q < inner; q++)
                        {
                            double s = 0; int b = c.Offset + p * size * inner + q;
                            for (int i = 0; i < size; i++) s += a[b + i * inner];
                            o[p * inner + q] = s;
                        }
                    break;
                }
            default:
                {
                    var a = c.Arr<long>(); var o = r.Arr<long>();
                    for (int p = 0; p < outer; p++)
                        for (int q = 0; q < inner; q++)
                        {
                            long s = 0; int b = c.Offset + p * size * inner + q;
                            for (int i = 0; i < size; i++) s += a[b + i * inner];
                            o[p * inner + q] = s;
                        }
                    break;
                }
        }
        var inShape = ShapeRef;
        TraceRecorder.Current?.Op("ReduceSum", r, [this], d, keepDim);
        return Record(r, "SumBackward1", g => new[] { (keepDim || inShape.Length == 0 ? g : g.Unsqueeze(d)).Expand(inShape) }, false, this);
    }

    /// <summary>Mean of all elements, as <c>tensor.mean()</c>.</summary>
    public Tensor Mean()
    {
        Guard.Floating(this, "input");
        using var trace = TraceScope.Begin();
        var r = Sum().Div(Numel);
        trace.End()?.Op("ReduceMean", r, [this], null, false);
        return r;
    }

    /// <summary>Mean over one dim, as <c>tensor.mean(dim, keepdim)</c>.</summary>
    public Tensor Mean(int dim, bool keepDim = false)
    {
        Guard.Floating(this, "input");
        using var trace = TraceScope.Begin();
        var r = Sum(dim, keepDim).Div(Dim == 0 ? 1 : ShapeRef[Guard.Dim(dim, Dim)]);
        trace.End()?.Op("ReduceMean", r, [this], Dim == 0 ? 0 : Guard.Dim(dim, Dim), keepDim);
        return r;
    }

    /// <summary>Maximum of all elements (0-dim), as <c>tensor.max()</c>.</summary>
    public Tensor Max() => Flatten().MaxMin(0, false, true, whole: true).Values;
    /// <summary>Minimum of all elements (0-dim), as <c>tensor.min()</c>.</summary>
    public Tensor Min() => Flatten().MaxMin(0, false, false, whole: true).Values;

    /// <summary>Maximum over a dim with its (first) index, as <c>tensor.max(dim, keepdim)</c>.</summary>
    public (Tensor Values, Tensor Indices) Max(int dim, bool keepDim = false) => MaxMin(dim, keepDim, true);
    /// <summary>Minimum over a dim with its (first) index, as <c>tensor.min(dim, keepdim)</c>.</summary>
    public (Tensor Values, Tensor Indices) Min(int dim, bool keepDim = false) => MaxMin(dim, keepDim, false);

    /// <summary>Index of the maximum over a dim (of the flattened tensor when null), as <c>torch.argmax</c>.</summary>
    public Tensor ArgMax(int? dim = null, bool keepDim = false)
        => dim is null ? Flatten().MaxMin(0, false, true, whole: true).Indices : MaxMin(dim.Value, keepDim, true).Indices;
    /// <summary>Index of the minimum over a dim, as <c>torch.argmin</c>.</summary>
    public Tensor ArgMin(int? dim = null, bool keepDim = false)
        => dim is null ? Flatten().MaxMin(0, false, false, whole: true).Indices : MaxMin(dim.Value, keepDim, false).Indices;

    /// <summary>
    /// The <paramref name="k"/> largest elements along <paramref name="dim"/> (the smallest with
    /// <paramref name="largest"/> false) and their indices, as <c>torch.topk(input, k, dim, largest, sorted)</c>:
    /// <c>var (_, topi) = output.TopK(1)</c> picks a decoder's next token. The results are always in order (largest
    /// first, or smallest first), which <paramref name="sorted"/> false allows; equal values keep their index order,
    /// and NaN counts as larger than every number, as PyTorch's (ONNX Runtime's TopK, in an exported graph, does not
    /// order NaN). Values is differentiable: its gradient goes back to the chosen positions.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is negative or larger than the size of <paramref name="dim"/>.</exception>
    public (Tensor Values, Tensor Indices) TopK(int k, int dim = -1, bool largest = true, bool sorted = true)
    {
        ThrowIfDisposed();
        if (Dim == 0)
        {
            // A 0-dim tensor has one element: k is 0 or 1 (PyTorch treats it as size 1 along dim 0 or -1).
            Guard.Dim(dim, 1);
            var (v, i) = Unsqueeze(0).TopK(k, 0, largest, sorted);
            return (v.Squeeze(0), i.Squeeze(0));
        }
        int d = Guard.Dim(dim, Dim);
        int size = ShapeRef[d];
        if (k < 0 || k > size)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"selected index k out of range: k must be in [0, {size}] (the size of dim {d} of a tensor of shape {Guard.ShapeText(ShapeRef)}), but got {k}");
        using var trace = TraceScope.Begin();
        var c = Contiguous();
        var (outer, _, inner) = c.Split3(d);
        var shape = (int[])ShapeRef.Clone();
        shape[d] = k;
        var idx = NewZeroed(DType.Int64, shape);
        var ia = idx.Arr<long>();
        var order = new int[size];
        var keys = new double[size];
        var longKeys = DType == DType.Int64 ? new long[size] : null;
        var longData = longKeys is null ? null : c.Arr<long>();
        Comparison<int> compare = longKeys is not null
            ? (a, b) => largest ? longKeys[b].CompareTo(longKeys[a]) is var l && l != 0 ? l : a.CompareTo(b)
                                : longKeys[a].CompareTo(longKeys[b]) is var m && m != 0 ? m : a.CompareTo(b)
            // double.CompareTo orders NaN below every number; PyTorch's topk counts it above.
            : (a, b) => (largest ? NanHigh(keys[b], keys[a]) : NanHigh(keys[a], keys[b])) is var f && f != 0 ? f : a.CompareTo(b);
        for (int p = 0; p < outer; p++)
            for (int q = 0; q < inner; q++)
            {
                int b = c.Offset + p * size * inner + q;
                for (int i = 0; i < size; i++)
                {
                    order[i] = i;
                    if (longKeys is not null) longKeys[i] = longData![b + i * inner];
                    else keys[i] = c.At(b + i * inner);
                }
                if (k == 1)
                {
                    // A decoder's greedy step: one pass for the first element that sorts first, no sort.
                    int best = 0;
                    for (int i = 1; i < size; i++)
                        if (compare(i, best) < 0) best = i;
                    ia[p * inner + q] = best;
                    continue;
                }
                Array.Sort(order, compare);
                for (int j = 0; j < k; j++) ia[(p * k + j) * inner + q] = order[j];
            }
        var values = Gather(d, idx);
        trace.End()?.Op("TopK", (values, idx), [this], k, d, largest, sorted);
        return (values, idx);

        static int NanHigh(double x, double y) => double.IsNaN(x) ? (double.IsNaN(y) ? 0 : 1) : double.IsNaN(y) ? -1 : x.CompareTo(y);
    }

    // whole: the reduction of the whole (flattened) tensor, without a dim.
    private (Tensor Values, Tensor Indices) MaxMin(int dim, bool keepDim, bool max, bool whole = false)
    {
        int d = Guard.Dim(dim, Dim);
        // Only the reduced dimension must be non-empty: an empty batch reduced along a non-empty dim gives an empty result.
        if (ShapeRef[d] == 0)
            throw new InvalidOperationException(whole
                ? "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument."
                : $"max(): Expected reduction dim {d} to have non-zero size.");
        var c = Contiguous();
        var (outer, size, inner) = c.Split3(d);
        var shape = ReducedShape(d, keepDim);
        var vals = NewZeroed(DType, shape);
        var idx = NewZeroed(DType.Int64, shape);
        var ia = idx.Arr<long>();
        for (int p = 0; p < outer; p++)
            for (int q = 0; q < inner; q++)
            {
                int b = c.Offset + p * size * inner + q;
                int best = 0;
                if (DType == DType.Int64)
                {
                    // Compared as long: past 2^53 neighbouring values are one double.
                    var la = c.Arr<long>();
                    long lv = la[b];
                    for (int i = 1; i < size; i++)
                    {
                        long v = la[b + i * inner];
                        if (max ? v > lv : v < lv) { lv = v; best = i; }
                    }
                }
                else
                {
                    double bv = c.At(b);
                    for (int i = 1; i < size; i++)
                    {
                        double v = c.At(b + i * inner);
                        if (double.IsNaN(bv)) break;
                        if (double.IsNaN(v) || (max ? v > bv : v < bv)) { bv = v; best = i; }
                    }
                }
                ia[p * inner + q] = best;
                vals.SetAt(p * inner + q, c, b + best * inner);
            }
        var inShape = ShapeRef; var dt = DType;
        var res = Record(vals, max ? "MaxBackward0" : "MinBackward0", g =>
        {
            var z = NewZeroed(dt, inShape);
            var gc = g.Contiguous();
            for (int p = 0; p < outer; p++)
                for (int q = 0; q < inner; q++)
                {
                    int o = p * size * inner + q + (int)ia[p * inner + q] * inner;
                    if (dt == DType.Float32) z.Arr<float>()[o] += gc.Arr<float>()[gc.Offset + p * inner + q];
                    else z.Arr<double>()[o] += gc.Arr<double>()[gc.Offset + p * inner + q];
                }
            return new[] { z };
        }, false, this);
        TraceRecorder.Current?.Op(max ? "MaxDim" : "MinDim", (res, idx), [this], d, keepDim);
        return (res, idx);
    }

    private double At(int flatOffset) => DType switch
    {
        DType.Float32 => Arr<float>()[flatOffset],
        DType.Float64 => Arr<double>()[flatOffset],
        _ => Arr<long>()[flatOffset],
    };

    private void SetAt(int i, Tensor src, int srcOff)
    {
        switch (DType)
        {
            case DType.Float32: Arr<float>()[i] = src.Arr<float>()[srcOff]; break;
            case DType.Float64: Arr<double>()[i] = src.Arr<double>()[srcOff]; break;
            default: Arr<long>()[i] = src.Arr<long>()[srcOff]; break;
        }
    }

    /// <summary>Softmax over a dim, as <c>torch.softmax</c>.</summary>
    public Tensor Softmax(int dim)
    {
        var y = SoftmaxCore(dim, log: false);
        TraceRecorder.Current?.Op("Softmax", y, [this], Guard.Dim(dim, Dim));
        var yd = y.Detach(); int d = Guard.Dim(dim, Dim);
        // dx = y * (g - sum(g * y))
        return Record(y, "SoftmaxBackward0", g => new[] { yd.Mul(g.Sub(g.Mul(yd).Sum(d, keepDim: true))) }, true, this);
    }

    /// <summary>log(softmax(x)) computed stably, as <c>torch.log_softmax</c>.</summary>
    public Tensor LogSoftmax(int dim)
    {
        var y = SoftmaxCore(dim, log: true);
        TraceRecorder.Current?.Op("LogSoftmax", y, [this], Guard.Dim(dim, Dim));
        var yd = y.Detach(); int d = Guard.Dim(dim, Dim);
        // dx = g - exp(y) * sum(g)
        return Record(y, "LogSoftmaxBackward0", g => new[] { g.Sub(yd.Exp().Mul(g.Sum(d, keepDim: true))) }, true, this);
    }

    private Tensor SoftmaxCore(int dim, bool log)
    {
        Guard.Floating(this, "input");
        int d = Guard.Dim(dim, Dim);
        var c = Contiguous();
        var (outer, size, inner) = c.Split3(d);
        var r = NewZeroed(DType, ShapeRef);
        if (DType == DType.Float32) SoftmaxKernel(c.Arr<float>(), c.Offset, r.Arr<float>(), outer, size, inner, log);
        else SoftmaxKernel(c.Arr<double>(), c.Offset, r.Arr<double>(), outer, size, inner, log);
        return r;
    }

    private static void SoftmaxKernel<T>(T[] x, int off, T[] y, int outer, int size, int inner, bool log)
        where T : System.Numerics.IFloatingPointIeee754<T>
    {
        for (int p = 0; p < outer; p++)
            for (int q = 0; q < inner; q++)
            {
                int b = p * size * inner + q;
                T m = T.NegativeInfinity;
                for (int i = 0; i < size; i++) { var v = x[off + b + i * inner]; if (v > m || T.IsNaN(v)) m = v; }
                if (T.IsInfinity(m) && m < T.Zero) m = T.Zero;
                double s = 0;
                for (int i = 0; i < size; i++) s += double.CreateTruncating(T.Exp(x[off + b + i * inner] - m));
                if (log)
                {
                    T ls = T.CreateTruncating(Math.Log(s));
                    for (int i = 0; i < size; i++) y[b + i * inner] = x[off + b + i * inner] - m - ls;
                }
                else
                {
                    for (int i = 0; i < size; i++) y[b + i * inner] = T.CreateTruncating(double.CreateTruncating(T.Exp(x[off + b + i * inner] - m)) / s);
                }
            }
    }
}
