// Elementwise math with NumPy broadcasting and autograd: + - * /, Neg, Exp, Log, Tanh,
// Sigmoid, Relu, Pow, Sqrt, Abs, Clamp, and the in-place forms optimizers use.
using Recurrent.Kernels;
using Recurrent.Tracing;

namespace Recurrent;

public sealed partial class Tensor
{
    /// <summary>
    /// PyTorch's type promotion for a binary op on two dtypes: the wider floating type wins (float64 over
    /// float32 over int64); with <paramref name="floating"/> (true division, pow) int64 operands become float32.
    /// Both operands are converted (differentiably) and the op runs on the common dtype.
    /// </summary>
    private Tensor Promoted(Tensor other, Func<Tensor, Tensor, Tensor> run, bool floating = false)
    {
        Guard.NotNull(other, nameof(other));
        var dtype = ResultType(DType, other.DType);
        if (floating && dtype == DType.Int64) dtype = DType.Float32;
        return run(To(dtype), other.To(dtype));
    }

    /// <summary>The dtype of a binary op's result under PyTorch's promotion rules, as <c>torch.result_type</c>.</summary>
    public static DType ResultType(DType a, DType b) =>
        a == DType.Float64 || b == DType.Float64 ? DType.Float64 : a == DType.Float32 || b == DType.Float32 ? DType.Float32 : DType.Int64;

    /// <summary>Element-wise sum with broadcasting, as <c>torch.add</c>.</summary>
    public Tensor Add(Tensor other)
    {
        if (other.DType != DType) return Promoted(other, static (a, b) => a.Add(b));
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
        if (other.DType != DType) return Promoted(other, static (a, b) => a.Sub(b));
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
        if (other.DType != DType) return Promoted(other, static (a, b) => a.Mul(b));
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
        if (other.DType != DType || DType == DType.Int64) return Promoted(other, static (a, b) => a.Div(b), floating: true);
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
        if (exponent.DType != DType || DType == DType.Int64) return Promoted(exponent, static (a, b) => a.Pow(b), floating: true);
        var r = DType == DType.Float32
            ? Elementwise.Binary<float, PowKernel<float>>(this, exponent, default)
            : Elementwise.Binary<double, PowKernel<double>>(this, exponent, default);
        var a = this; var b = exponent;
        // PyTorch's masks: the base's gradient is 0 where the exponent is 0 (b * a^(b-1) is 0 * inf or 0 * nan at a = 0),
        // and the exponent's is 0 where the base is 0 and the exponent >= 0 (the limit of a^b log a).
        return Record(r, "PowBackward1", g => new[]
        {
            a.RequiresGrad ? ZeroWhere(g.Mul(b).Mul(a.Pow(b.Sub(OnesLike(b)))), b, null).SumToShape(a.ShapeRef) : null,
            b.RequiresGrad ? ZeroWhere(g.Mul(r.Detach()).Mul(a.Log()), a, b).SumToShape(b.ShapeRef) : null,
        }, true, this, exponent);
    }

    // t (the broadcast shape) with 0 wherever `zero` is 0 and, when given, `nonNegative` is >= 0 (both broadcast to it):
    // the masks of Pow's gradients, a select (0 * inf and 0 * nan are not 0).
    private static Tensor ZeroWhere(Tensor t, Tensor zero, Tensor? nonNegative)
    {
        var tc = t.Detach().Contiguous().Clone();
        var z = zero.Detach().Expand(tc.ShapeRef).Contiguous();
        var nn = nonNegative?.Detach().Expand(tc.ShapeRef).Contiguous();
        int n = tc.Numel;
        for (int i = 0; i < n; i++)
            if (z.At(z.Offset + i) == 0 && (nn is null || nn.At(nn.Offset + i) >= 0))
            {
                if (tc.DType == DType.Float32) tc.Arr<float>()[tc.Offset + i] = 0;
                else tc.Arr<double>()[tc.Offset + i] = 0;
            }
        return tc;
    }

    /// <summary>Element-wise maximum of two tensors, as <c>torch.maximum</c>.</summary>
    public Tensor Maximum(Tensor other)
    {
        if (other.DType != DType) return Promoted(other, static (a, b) => a.Maximum(b));
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
    public Tensor Eq(Tensor other) => Compare(other, CompareOp.Equal, "Equal");

    /// <summary>1 where this &gt; other, else 0, in this tensor's dtype (no gradient).</summary>
    public Tensor Gt(Tensor other) => Compare(other, CompareOp.Greater, "Greater");

    /// <summary>1 where this &lt; other, else 0, in this tensor's dtype (no gradient).</summary>
    public Tensor Lt(Tensor other) => Compare(other, CompareOp.Less, "Less");

    /// <summary>1 where this != other, else 0, in this tensor's dtype (no gradient).</summary>
    public Tensor Ne(Tensor other) => Compare(other, CompareOp.NotEqual, "NotEqual");

    /// <summary>1 where this &gt;= other, else 0, in this tensor's dtype (no gradient).</summary>
    public Tensor Ge(Tensor other) => Compare(other, CompareOp.GreaterOrEqual, "GreaterOrEqual");

    /// <summary>1 where this &lt;= other, else 0, in this tensor's dtype (no gradient).</summary>
    public Tensor Le(Tensor other) => Compare(other, CompareOp.LessOrEqual, "LessOrEqual");

    // The six comparisons: other's dtype promoted as torch's, then one elementwise kernel; recorded for
    // the ONNX tracer under its operator name (no gradient).
    private Tensor Compare(Tensor other, CompareOp op, string onnxOp)
    {
        Guard.NotNull(other, nameof(other));
        if (other.DType != DType) return Promoted(other, (a, b) => a.Compare(b, op, onnxOp));
        var r = DType switch
        {
            DType.Float32 => Elementwise.Binary<float, CompareKernel<float>>(this, other, new(op)),
            DType.Float64 => Elementwise.Binary<double, CompareKernel<double>>(this, other, new(op)),
            _ => Elementwise.Binary<long, CompareKernel<long>>(this, other, new(op)),
        };
        TraceRecorder.Current?.Op(onnxOp, r, [this, other]);
        return r;
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

    /// <summary>Sine (radians), as <c>torch.sin</c>.</summary>
    public Tensor Sin()
    {
        var r = UnaryFloat("sin", new SinKernel<float>(), new SinKernel<double>());
        var x = this;
        return Record(r, "SinBackward0", g => new[] { g.Mul(x.Detach().Cos()) }, true, this);
    }

    /// <summary>Cosine (radians), as <c>torch.cos</c>.</summary>
    public Tensor Cos()
    {
        var r = UnaryFloat("cos", new CosKernel<float>(), new CosKernel<double>());
        var x = this;
        return Record(r, "CosBackward0", g => new[] { g.Mul(x.Detach().Sin()).Neg() }, true, this);
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
        TraceRecorder.Current?.Op("PowScalar", r, [this], p);
        var x = this;
        return Record(r, "PowBackward0", g => new[] { p == 0 ? g.Mul(Scalar(0.0, x.DType)) : g.Mul(x.Pow(p - 1).Mul(Scalar(p, x.DType))) }, true, this);
    }

    /// <summary>Clamps every element into [min, max] (either bound optional), as <c>torch.clamp</c>.</summary>
    public Tensor Clamp(double? min = null, double? max = null)
    {
        if (min is null && max is null) throw new ArgumentException("torch.clamp: At least one of 'min' or 'max' must not be None");
        double lo = min ?? double.NegativeInfinity, hi = max ?? double.PositiveInfinity;
        var r = UnaryFloat("clamp", new ClampKernel<float>((float)lo, (float)hi), new ClampKernel<double>(lo, hi));
        TraceRecorder.Current?.Op("Clip", r, [this], lo, hi);
        var x = this;
        return Record(r, "ClampBackward1", g => new[] { g.Mul(x.UnaryFloat("mask", new InRangeMaskKernel<float>((float)lo, (float)hi), new InRangeMaskKernel<double>(lo, hi))) }, true, this);
    }

    // ---- scalar overloads and operators ----

    /// <summary>A 0-dim tensor holding <paramref name="value"/>.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32)
    {
        var t = NewZeroed(dtype, Array.Empty<int>());
        switch (dtype)
        {
            case DType.Float32: t.Arr<float>()[0] = (float)value; break;
            case DType.Float64: t.Arr<double>()[0] = value; break;
            default: t.Arr<long>()[0] = (long)value; break;
        }
        return TraceRecorder.MarkConstant(t);
    }

    /// <summary>A Python number as PyTorch types it against this tensor: this dtype, or float32 for a fractional number and an int64 tensor.</summary>
    // An int64 tensor meets a number as PyTorch's Python scalars: a whole number in long's range stays int64, any other
    // (a fraction, NaN, an infinity, 1e19) makes the result float32 (it saturated to long.MaxValue and then wrapped).
    private Tensor ScalarOperand(double s) => Scalar(s,
        DType == DType.Int64 && !(s == Math.Floor(s) && FitsInt64(s)) ? DType.Float32 : DType);

    /// <summary>this + s, as <c>tensor + s</c>.</summary>
    public Tensor Add(double s) => Add(ScalarOperand(s));
    /// <summary>this - s, as <c>tensor - s</c>.</summary>
    public Tensor Sub(double s) => Sub(ScalarOperand(s));
    /// <summary>this * s, as <c>tensor * s</c>.</summary>
    public Tensor Mul(double s) => Mul(ScalarOperand(s));
    /// <summary>this / s (true division), as <c>tensor / s</c>.</summary>
    public Tensor Div(double s) => Div(ScalarOperand(s));

    /// <summary>Elementwise sum with broadcasting and type promotion, as <c>a + b</c> (<see cref="Add(Tensor)"/>).</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    /// <summary>Elementwise difference with broadcasting and type promotion, as <c>a - b</c> (<see cref="Sub(Tensor)"/>).</summary>
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    /// <summary>Elementwise product with broadcasting and type promotion, as <c>a * b</c> (<see cref="Mul(Tensor)"/>); the matrix product is <see cref="MatMul"/>.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    /// <summary>Elementwise true division with broadcasting, as <c>a / b</c> (<see cref="Div(Tensor)"/>); int64 operands give float32.</summary>
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    /// <summary>Elementwise negation, as <c>-a</c> (<see cref="Neg"/>).</summary>
    public static Tensor operator -(Tensor a) => a.Neg();
    /// <summary>Adds a number to every element, as <c>a + s</c>.</summary>
    public static Tensor operator +(Tensor a, double s) => a.Add(s);
    /// <summary>Adds a number to every element, as <c>s + a</c>.</summary>
    public static Tensor operator +(double s, Tensor a) => a.ScalarOperand(s).Add(a);
    /// <summary>Subtracts a number from every element, as <c>a - s</c>.</summary>
    public static Tensor operator -(Tensor a, double s) => a.Sub(s);
    /// <summary>A number minus every element, as <c>s - a</c>.</summary>
    public static Tensor operator -(double s, Tensor a) => a.ScalarOperand(s).Sub(a);
    /// <summary>Multiplies every element by a number, as <c>a * s</c>.</summary>
    public static Tensor operator *(Tensor a, double s) => a.Mul(s);
    /// <summary>Multiplies every element by a number, as <c>s * a</c>.</summary>
    public static Tensor operator *(double s, Tensor a) => a.ScalarOperand(s).Mul(a);
    /// <summary>Divides every element by a number (true division), as <c>a / s</c>.</summary>
    public static Tensor operator /(Tensor a, double s) => a.Div(s);
    /// <summary>A number divided by every element (true division), as <c>s / a</c>.</summary>
    public static Tensor operator /(double s, Tensor a) => a.ScalarOperand(s).Div(a);

    /// <summary>
    /// Elementwise equality, as PyTorch's <c>a == b</c>: 1 where equal, else 0 (in the promoted dtype). It is not a
    /// reference comparison: test for null with <c>is null</c>, and compare identities with <see cref="object.ReferenceEquals"/>.
    /// </summary>
    public static Tensor operator ==(Tensor a, Tensor b) => NotNull(a, "left").Eq(NotNull(b, "right"));
    /// <summary>Elementwise inequality, as <c>a != b</c> (see <see cref="op_Equality(Tensor, Tensor)"/>).</summary>
    public static Tensor operator !=(Tensor a, Tensor b) => NotNull(a, "left").Ne(NotNull(b, "right"));
    /// <summary>Elementwise a &lt; b, as <c>a &lt; b</c>.</summary>
    public static Tensor operator <(Tensor a, Tensor b) => a.Lt(b);
    /// <summary>Elementwise a &gt; b, as <c>a &gt; b</c>.</summary>
    public static Tensor operator >(Tensor a, Tensor b) => a.Gt(b);
    /// <summary>Elementwise a &lt;= b, as <c>a &lt;= b</c>.</summary>
    public static Tensor operator <=(Tensor a, Tensor b) => a.Le(b);
    /// <summary>Elementwise a &gt;= b, as <c>a &gt;= b</c>.</summary>
    public static Tensor operator >=(Tensor a, Tensor b) => a.Ge(b);
    /// <summary>Elementwise equality with a number, as <c>a == s</c>.</summary>
    public static Tensor operator ==(Tensor a, double s) => a.Eq(a.ScalarOperand(s));
    /// <summary>Elementwise inequality with a number, as <c>a != s</c>.</summary>
    public static Tensor operator !=(Tensor a, double s) => a.Ne(a.ScalarOperand(s));
    /// <summary>Elementwise a &lt; s.</summary>
    public static Tensor operator <(Tensor a, double s) => a.Lt(a.ScalarOperand(s));
    /// <summary>Elementwise a &gt; s.</summary>
    public static Tensor operator >(Tensor a, double s) => a.Gt(a.ScalarOperand(s));
    /// <summary>Elementwise a &lt;= s.</summary>
    public static Tensor operator <=(Tensor a, double s) => a.Le(a.ScalarOperand(s));
    /// <summary>Elementwise a &gt;= s.</summary>
    public static Tensor operator >=(Tensor a, double s) => a.Ge(a.ScalarOperand(s));

    private static Tensor NotNull(Tensor? t, string side) =>
        t ?? throw new ArgumentNullException(side, "Tensor == compares elements, not references: test for null with `is null` / `is not null`.");

    /// <summary>Reference identity (tensors compare elementwise with ==; this keeps dictionaries and sets by identity).</summary>
    public override bool Equals(object? obj) => ReferenceEquals(this, obj);

    /// <summary>The identity hash code (see <see cref="Equals(object?)"/>).</summary>
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);

    // ---- in-place, PyTorch's trailing underscore (no autograd; refused on tensors that record history) ----

    private void CheckInPlace(string op)
    {
        if (GradMode.IsEnabled && RequiresGrad)
            throw new InvalidOperationException(IsLeaf
                ? $"{op}: a leaf Variable that requires grad is being used in an in-place operation."
                : $"{op}: in-place operations on tensors that are part of an autograd graph are not supported");
    }

    // A destination with a stride-0 dimension of size > 1 (an Expand) has elements that share one memory location:
    // an in-place add would add into them several times (PyTorch refuses it the same way). An empty tensor writes
    // nothing, whatever its strides (a contiguous (3, 0) has stride 0 in dimension 0).
    private void CheckNoInternalOverlap(string op)
    {
        if (Numel == 0) return;
        for (int i = 0; i < Dim; i++)
            if (ShapeRef[i] > 1 && StridesRef[i] == 0)
                throw new InvalidOperationException($"{op}: unsupported operation: more than one element of the written-to tensor (shape {Guard.ShapeText(ShapeRef)}, dimension {i} expanded) refers to a single memory location. Please Clone() the tensor before performing the operation.");
    }

    // A source that shares this tensor's storage in another layout (x.Add_(x.T()), x.Copy_(x[0])) would be read after
    // some of its elements were written: it is copied first, so the result is the one the expression means.
    private Tensor Unaliased(Tensor other) =>
        ReferenceEquals(other.Data, Data) && !(other.Offset == Offset && other.SameShape(this) && other.StridesRef.AsSpan().SequenceEqual(StridesRef))
            ? other.Clone() : other;

    // The other operand of an in-place op, cast to this dtype as PyTorch does (a floating result cannot go into int64).
    private Tensor InPlaceOperand(Tensor other, string op)
    {
        Guard.NotNull(other, nameof(other));
        CheckNoInternalOverlap(op);
        other = Unaliased(other);
        if (other.DType == DType) return other;
        if (DType == DType.Int64)
            throw new ArgumentException($"{op}: result type {DTypeName(other.DType)} can't be cast to the desired output type torch.int64. Convert this tensor with .To(DType.{other.DType}) first.", nameof(other));
        return other.Detach().To(DType);
    }

    /// <summary>this += other (broadcast to this shape), as <c>tensor.add_(other)</c>.</summary>
    public Tensor Add_(Tensor other, double alpha = 1.0)
    {
        CheckInPlace("add_");
        TraceRecorder.Current?.InPlace("Add_", this, other);
        other = InPlaceOperand(other, "add_");
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
        TraceRecorder.Current?.InPlace("Mul_", this, other);
        other = InPlaceOperand(other, "mul_");
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
        Guard.NotNull(src, nameof(src));
        TraceRecorder.Current?.InPlace("Copy_", this, src);
        if (src.Numel != 1) CheckNoInternalOverlap("copy_");   // one value into every alias of a location is still one value
        src = Unaliased(src);
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
    public Tensor Fill_(double value)
    {
        CheckInt64Value(value, DType, nameof(value));
        return Copy_(Scalar(value, DType));
    }

    /// <summary>Sets every element to zero, as <c>tensor.zero_()</c>.</summary>
    public Tensor Zero_() => Fill_(0);

    /// <summary>Clamps in place, as <c>tensor.clamp_()</c>.</summary>
    public Tensor Clamp_(double? min = null, double? max = null)
    {
        CheckInPlace("clamp_");
        TraceRecorder.Current?.InPlace("Clamp_", this, null);
        double lo = min ?? double.NegativeInfinity, hi = max ?? double.PositiveInfinity;
        if (DType == DType.Float32) Elementwise.UnaryInPlace<float, ClampKernel<float>>(this, new((float)lo, (float)hi));
        else if (DType == DType.Float64) Elementwise.UnaryInPlace<double, ClampKernel<double>>(this, new(lo, hi));
        else Elementwise.UnaryInPlace<long, ClampKernel<long>>(this, new((long)Math.Max(lo, long.MinValue), (long)Math.Min(hi, long.MaxValue)));
        return this;
    }

}
