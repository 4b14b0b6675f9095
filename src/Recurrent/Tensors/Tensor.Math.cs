// Elementwise math with NumPy broadcasting and autograd: + - * /, Neg, Exp, Log, Tanh,
// Sigmoid, Relu, Pow, Sqrt, Abs, Clamp, and the in-place forms optimizers use.
using Recurrent.Kernels;

namespace Recurrent;

public sealed partial class Tensor
{
    /// <summary>Element-wise sum with broadcasting, as <c>torch.add</c>.</summary>
    public Tensor Add(Tensor other)
    {
        Guard.SameDType(this, other, "add");
        var r = DType switch
        {
            DType.Float32 => Elementwise.Binary<float, AddKernel<float>>(this, other, default),
            DType.Float64 => Elementwise.Binary<double, AddKernel<double>>(this, other, default),
            _ => Elementwise.Binary<long, AddKernel<long>>(this, other, default),
        };
        int[] sa = ShapeRef, sb = other.ShapeRef;
        return Record(r, "AddBackward0", g => new[] { g.SumToShape(sa), g.SumToShape(sb) }, false, this, other);
    }

    /// <summary>Element-wise difference with broadcasting, as <c>torch.sub</c>.</summary>
    public Tensor Sub(Tensor other)
    {
        Guard.SameDType(this, other, "sub");
        var r = DType switch
        {
            DType.Float32 => Elementwise.Binary<float, SubKernel<float>>(this, other, default),
            DType.Float64 => Elementwise.Binary<double, SubKernel<double>>(this, other, default),
            _ => Elementwise.Binary<long, SubKernel<long>>(this, other, default),
        };
        int[] sa = ShapeRef, sb = other.ShapeRef;
        return Record(r, "SubBackward0", g => new[] { g.SumToShape(sa), g.Neg().SumToShape(sb) }, false, this, other);
    }

    /// <summary>Element-wise product with broadcasting, as <c>torch.mul</c>.</summary>
    public Tensor Mul(Tensor other)
    {
        Guard.SameDType(this, other, "mul");
        var r = DType switch
        {
            DType.Float32 => Elementwise.Binary<float, MulKernel<float>>(this, other, default),
            DType.Float64 => Elementwise.Binary<double, MulKernel<double>>(this, other, default),
            _ => Elementwise.Binary<long, MulKernel<long>>(this, other, default),
        };
        var a = this; var b = other;
        return Record(r, "MulBackward0", g => new[]
        {
            a.RequiresGrad ? g.Mul(b).SumToShape(a.ShapeRef) : null,
            b.RequiresGrad ? g.Mul(a).SumToShape(b.ShapeRef) : null,
        }, true, this, other);
    }

    /// <summary>Element-wise true division with broadcasting, as <c>torch.div</c>.</summary>
    public Tensor Div(Tensor other)
    {
        Guard.SameDType(this, other, "div");
        Guard.Floating(this, "input");
        var r = DType == DType.Float32
            ? Elementwise.Binary<float, DivKernel<float>>(this, other, default)
            : Elementwise.Binary<double, DivKernel<double>>(this, other, default);
        var a = this; var b = other;
        return Record(r, "DivBackward0", g => new[]
        {
            a.RequiresGrad ? g.Div(b).SumToShape(a.ShapeRef) : null,
            b.RequiresGrad ? g.Neg().Mul(a).Div(b.Mul(b)).SumToShape(b.ShapeRef) : null,
        }, true, this, other);
    }

    /// <summary>Element-wise power with a tensor exponent, as <c>torch.pow(input, exponent)</c>.</summary>
    public Tensor Pow(Tensor exponent)
    {
        Guard.SameDType(this, exponent, "pow");
        Guard.Floating(this, "input");
        var r = DType == DType.Float32
            ? Elementwise.Binary<float, PowKernel<float>>(this, exponent, default)
            : Elementwise.Binary<double, PowKernel<double>>(this, exponent, default);
        var a = this; var b = exponent;
        return Record(r, "PowBackward1", g => new[]
        {
            a.RequiresGrad ? g.Mul(b).Mul(a.Pow(b.Sub(OnesLike(b)))).SumToShape(a.ShapeRef) : null,
            b.RequiresGrad ? g.Mul(r.Detach()).Mul(a.Log()).SumToShape(b.ShapeRef) : null,
        }, true, this, exponent);
    }

    /// <summary>Element-wise maximum of two tensors, as <c>torch.maximum</c>.</summary>
    public Tensor Maximum(Tensor other)
    {
        Guard.SameDType(this, other, "maximum");
        var r = DType switch
        {
            DType.Float32 => Elementwise.Binary<float, MaximumKernel<float>>(this, other, default),
            DType.Float64 => Elementwise.Binary<double, MaximumKernel<double>>(this, other, default),
            _ => Elementwise.Binary<long, MaximumKernel<long>>(this, other, default),
        };
        var a = this; var b = other;
        return Record(r, "MaximumBackward0", g =>
        {
            var ma = a.Gt(b).Add(a.Eq(b).Mul(Scalar(0.5, a.DType)));
            var mb = ma.Neg().Add(Scalar(1.0, a.DType));
            return new[] { g.Mul(ma).SumToShape(a.ShapeRef), g.Mul(mb).SumToShape(b.ShapeRef) };
        }, true, this, other);
    }

    /// <summary>1 where this == other, else 0, in this tensor's dtype (no gradient).</summary>
    public Tensor Eq(Tensor other)
    {
        Guard.SameDType(this, other, "eq");
        return DType switch
        {
            DType.Float32 => Elementwise.Binary<float, CompareKernel<float>>(this, other, new(CompareOp.Equal)),
            DType.Float64 => Elementwise.Binary<double, CompareKernel<double>>(this, other, new(CompareOp.Equal)),
            _ => Elementwise.Binary<long, CompareKernel<long>>(this, other, new(CompareOp.Equal)),
        };
    }

    /// <summary>1 where this &gt; other, else 0, in this tensor's dtype (no gradient).</summary>
    public Tensor Gt(Tensor other)
    {
        Guard.SameDType(this, other, "gt");
        return DType switch
        {
            DType.Float32 => Elementwise.Binary<float, CompareKernel<float>>(this, other, new(CompareOp.Greater)),
            DType.Float64 => Elementwise.Binary<double, CompareKernel<double>>(this, other, new(CompareOp.Greater)),
            _ => Elementwise.Binary<long, CompareKernel<long>>(this, other, new(CompareOp.Greater)),
        };
    }

    /// <summary>1 where this &lt; other, else 0, in this tensor's dtype (no gradient).</summary>
    public Tensor Lt(Tensor other)
    {
        Guard.SameDType(this, other, "lt");
        return DType switch
        {
            DType.Float32 => Elementwise.Binary<float, CompareKernel<float>>(this, other, new(CompareOp.Less)),
            DType.Float64 => Elementwise.Binary<double, CompareKernel<double>>(this, other, new(CompareOp.Less)),
            _ => Elementwise.Binary<long, CompareKernel<long>>(this, other, new(CompareOp.Less)),
        };
    }

    private Tensor UnaryFloat<TF, TD>(string name, TF f, TD d) where TF : struct, IUnaryKernel<float> where TD : struct, IUnaryKernel<double>
    {
        Guard.Floating(this, "input");
        return DType == DType.Float32 ? Elementwise.Unary<float, TF>(this, f) : Elementwise.Unary<double, TD>(this, d);
    }

    /// <summary>Negation, as <c>torch.neg</c>.</summary>
    public Tensor Neg()
    {
        var r = DType switch
        {
            DType.Float32 => Elementwise.Unary<float, NegKernel<float>>(this, default),
            DType.Float64 => Elementwise.Unary<double, NegKernel<double>>(this, default),
            _ => Elementwise.Unary<long, NegKernel<long>>(this, default),
        };
        return Record(r, "NegBackward0", g => new[] { g.Neg() }, false, this);
    }

    /// <summary>e^x, as <c>torch.exp</c>.</summary>
    public Tensor Exp()
    {
        var r = UnaryFloat("exp", new ExpKernel<float>(), new ExpKernel<double>());
        var rd = r.Detach();
        return Record(r, "ExpBackward0", g => new[] { g.Mul(rd) }, true, this);
    }

    /// <summary>Natural logarithm, as <c>torch.log</c>.</summary>
    public Tensor Log()
    {
        var r = UnaryFloat("log", new LogKernel<float>(), new LogKernel<double>());
        var x = this;
        return Record(r, "LogBackward0", g => new[] { g.Div(x) }, true, this);
    }

    /// <summary>Hyperbolic tangent, as <c>torch.tanh</c>.</summary>
    public Tensor Tanh()
    {
        var r = UnaryFloat("tanh", new TanhKernel<float>(), new TanhKernel<double>());
        var y = r.Detach();
        return Record(r, "TanhBackward0", g => new[] { g.Mul(Scalar(1.0, y.DType).Sub(y.Mul(y))) }, true, this);
    }

    /// <summary>Logistic sigmoid 1/(1+e^-x), as <c>torch.sigmoid</c>.</summary>
    public Tensor Sigmoid()
    {
        var r = UnaryFloat("sigmoid", new SigmoidKernel<float>(), new SigmoidKernel<double>());
        var y = r.Detach();
        return Record(r, "SigmoidBackward0", g => new[] { g.Mul(y).Mul(Scalar(1.0, y.DType).Sub(y)) }, true, this);
    }

    /// <summary>max(x, 0), as <c>torch.relu</c>.</summary>
    public Tensor Relu()
    {
        var r = UnaryFloat("relu", new ReluKernel<float>(), new ReluKernel<double>());
        var y = r.Detach();
        return Record(r, "ReluBackward0", g => new[] { g.Mul(y.UnaryFloat("mask", new CompareScalarKernel<float>(CompareOp.Greater, 0f), new CompareScalarKernel<double>(CompareOp.Greater, 0.0))) }, true, this);
    }

    /// <summary>Square root, as <c>torch.sqrt</c>.</summary>
    public Tensor Sqrt()
    {
        var r = UnaryFloat("sqrt", new SqrtKernel<float>(), new SqrtKernel<double>());
        var y = r.Detach();
        return Record(r, "SqrtBackward0", g => new[] { g.Div(y.Mul(Scalar(2.0, y.DType))) }, true, this);
    }

    /// <summary>Absolute value, as <c>torch.abs</c>.</summary>
    public Tensor Abs()
    {
        var r = DType switch
        {
            DType.Float32 => Elementwise.Unary<float, AbsKernel<float>>(this, default),
            DType.Float64 => Elementwise.Unary<double, AbsKernel<double>>(this, default),
            _ => Elementwise.Unary<long, AbsKernel<long>>(this, default),
        };
        var x = this;
        return Record(r, "AbsBackward0", g => new[] { g.Mul(x.UnaryFloat("sign", new SignKernel<float>(), new SignKernel<double>())) }, true, this);
    }

    /// <summary>x^p with a scalar exponent, as <c>torch.pow(input, p)</c>.</summary>
    public Tensor Pow(double p)
    {
        var r = UnaryFloat("pow", new PowScalarKernel<float>((float)p), new PowScalarKernel<double>(p));
        var x = this;
        return Record(r, "PowBackward0", g => new[] { p == 0 ? g.Mul(Scalar(0.0, x.DType)) : g.Mul(x.Pow(p - 1).Mul(Scalar(p, x.DType))) }, true, this);
    }

    /// <summary>Clamps every element into [min, max] (either bound optional), as <c>torch.clamp</c>.</summary>
    public Tensor Clamp(double? min = null, double? max = null)
    {
        if (min is null && max is null) throw new ArgumentException("torch.clamp: At least one of 'min' or 'max' must not be None");
        double lo = min ?? double.NegativeInfinity, hi = max ?? double.PositiveInfinity;
        var r = UnaryFloat("clamp", new ClampKernel<float>((float)lo, (float)hi), new ClampKernel<double>(lo, hi));
        var x = this;
        return Record(r, "ClampBackward1", g => new[] { g.Mul(x.UnaryFloat("mask", new InRangeMaskKernel<float>((float)lo, (float)hi), new InRangeMaskKernel<double>(lo, hi))) }, true, this);
    }

    // ---- scalar overloads and operators ----

    /// <summary>A 0-dim tensor holding <paramref name="value"/>.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32)
    {
        var t = Empty(dtype, Array.Empty<int>());
        switch (dtype)
        {
            case DType.Float32: t.Arr<float>()[0] = (float)value; break;
            case DType.Float64: t.Arr<double>()[0] = value; break;
            default: t.Arr<long>()[0] = (long)value; break;
        }
        return t;
    }

    public Tensor Add(double s) => Add(Scalar(s, DType));
    public Tensor Sub(double s) => Sub(Scalar(s, DType));
    public Tensor Mul(double s) => Mul(Scalar(s, DType));
    public Tensor Div(double s) => Div(Scalar(s, DType));

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    public static Tensor operator -(Tensor a) => a.Neg();
    public static Tensor operator +(Tensor a, double s) => a.Add(s);
    public static Tensor operator +(double s, Tensor a) => Scalar(s, a.DType).Add(a);
    public static Tensor operator -(Tensor a, double s) => a.Sub(s);
    public static Tensor operator -(double s, Tensor a) => Scalar(s, a.DType).Sub(a);
    public static Tensor operator *(Tensor a, double s) => a.Mul(s);
    public static Tensor operator *(double s, Tensor a) => Scalar(s, a.DType).Mul(a);
    public static Tensor operator /(Tensor a, double s) => a.Div(s);
    public static Tensor operator /(double s, Tensor a) => Scalar(s, a.DType).Div(a);

    // ---- in-place, PyTorch's trailing underscore (no autograd; refused on tensors that record history) ----

    private void CheckInPlace(string op)
    {
        if (GradMode.IsEnabled && RequiresGrad)
            throw new InvalidOperationException(IsLeaf
                ? $"{op}: a leaf Variable that requires grad is being used in an in-place operation."
                : $"{op}: in-place operations on tensors that are part of an autograd graph are not supported");
    }

    /// <summary>this += other (broadcast to this shape), as <c>tensor.add_(other)</c>.</summary>
    public Tensor Add_(Tensor other, double alpha = 1.0)
    {
        CheckInPlace("add_");
        Guard.SameDType(this, other, "add_");
        if (alpha == 1.0)
        {
            switch (DType)
            {
                case DType.Float32: Elementwise.BinaryInPlace<float, AddKernel<float>>(this, other, default); break;
                case DType.Float64: Elementwise.BinaryInPlace<double, AddKernel<double>>(this, other, default); break;
                default: Elementwise.BinaryInPlace<long, AddKernel<long>>(this, other, default); break;
            }
            return this;
        }
        // this + alpha * other in one pass (alpha rounded to the dtype first, as PyTorch's scalar is).
        switch (DType)
        {
            case DType.Float32: Elementwise.BinaryInPlace<float, AddScaledKernel<float>>(this, other, new((float)alpha)); break;
            case DType.Float64: Elementwise.BinaryInPlace<double, AddScaledKernel<double>>(this, other, new(alpha)); break;
            default: Elementwise.BinaryInPlace<long, AddScaledKernel<long>>(this, other, new((long)alpha)); break;
        }
        return this;
    }

    /// <summary>this *= other (broadcast to this shape), as <c>tensor.mul_(other)</c>.</summary>
    public Tensor Mul_(Tensor other)
    {
        CheckInPlace("mul_");
        Guard.SameDType(this, other, "mul_");
        switch (DType)
        {
            case DType.Float32: Elementwise.BinaryInPlace<float, MulKernel<float>>(this, other, default); break;
            case DType.Float64: Elementwise.BinaryInPlace<double, MulKernel<double>>(this, other, default); break;
            default: Elementwise.BinaryInPlace<long, MulKernel<long>>(this, other, default); break;
        }
        return this;
    }

    /// <summary>this *= s, as <c>tensor.mul_(s)</c>.</summary>
    public Tensor Mul_(double s) => Mul_(Scalar(s, DType));

    /// <summary>Copies <paramref name="src"/> (broadcast to this shape) into this tensor, as <c>tensor.copy_(src)</c>.</summary>
    public Tensor Copy_(Tensor src)
    {
        CheckInPlace("copy_");
        var s = src.DType == DType ? src : src.Detach().To(DType);
        var shape = ShapeUtil.Broadcast(ShapeRef, s.ShapeRef);
        if (!shape.AsSpan().SequenceEqual(ShapeRef))
            throw new ArgumentException($"copy_: the source of shape {Guard.ShapeText(s.ShapeRef)} cannot be broadcast to the destination shape {Guard.ShapeText(ShapeRef)}", nameof(src));
        var strides = ShapeUtil.BroadcastStrides(s, ShapeRef);
        switch (DType)
        {
            case DType.Float32: StridedCopy.Copy(s.Arr<float>(), s.Offset, strides, Arr<float>(), Offset, StridesRef, ShapeRef); break;
            case DType.Float64: StridedCopy.Copy(s.Arr<double>(), s.Offset, strides, Arr<double>(), Offset, StridesRef, ShapeRef); break;
            default: StridedCopy.Copy(s.Arr<long>(), s.Offset, strides, Arr<long>(), Offset, StridesRef, ShapeRef); break;
        }
        return this;
    }

    /// <summary>Sets every element to <paramref name="value"/>, as <c>tensor.fill_(value)</c>.</summary>
    public Tensor Fill_(double value) => Copy_(Scalar(value, DType));

    /// <summary>Sets every element to zero, as <c>tensor.zero_()</c>.</summary>
    public Tensor Zero_() => Fill_(0);

    /// <summary>Clamps in place, as <c>tensor.clamp_()</c>.</summary>
    public Tensor Clamp_(double? min = null, double? max = null)
    {
        CheckInPlace("clamp_");
        double lo = min ?? double.NegativeInfinity, hi = max ?? double.PositiveInfinity;
        if (DType == DType.Float32) Elementwise.UnaryInPlace<float, ClampKernel<float>>(this, new((float)lo, (float)hi));
        else if (DType == DType.Float64) Elementwise.UnaryInPlace<double, ClampKernel<double>>(this, new(lo, hi));
        else Elementwise.UnaryInPlace<long, ClampKernel<long>>(this, new((long)Math.Max(lo, long.MinValue), (long)Math.Min(hi, long.MaxValue)));
        return this;
    }

}
