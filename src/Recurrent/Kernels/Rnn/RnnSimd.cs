// Vector widths for the fused gate arithmetic: one static-abstract interface with Vector512,
// Vector256 and scalar bodies (TensorPrimitives' pattern), so each gate loop is written once and
// instantiated per width. Activations are built on RnnExp (vectorised exp, about 1 ulp):
//   sigmoid(x) = 1 / (1 + exp(-x))
//   tanh(x)    = sign(x) * (1 - e) / (1 + e),  e = exp(-2|x|)   for |x| >= 1/4 (no overflow),
//                and its odd Taylor series below 1/4, where 1 - e would cancel
// The scalar body uses the same formulas so lanes and remainders agree.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>One SIMD width over element type <typeparamref name="T"/>.</summary>
internal unsafe interface IRnnVec<TV, T> where TV : unmanaged where T : unmanaged
{
    static abstract int Count { get; }
    static abstract TV Load(T* p);
    static abstract void Store(T* p, TV v);
    static abstract TV Splat(T x);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    /// <summary>a * b + c with one rounding.</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    static abstract TV Div(TV a, TV b);
    static abstract TV Exp(TV x);
    static abstract TV Abs(TV x);
    static abstract TV CopySign(TV magnitude, TV sign);
    /// <summary>|x| &lt; limit ? small : large, per lane.</summary>
    static abstract TV SelectBelow(TV x, T limit, TV small, TV large);
    /// <summary>max(x, 0) (relu).</summary>
    static abstract TV Relu(TV x);
    /// <summary>h &gt; 0 ? d : 0 (relu backward, from the output h).</summary>
    static abstract TV PositiveMask(TV h, TV d);
    /// <summary>Square root, correctly rounded.</summary>
    static abstract TV Sqrt(TV x);
    /// <summary>a &gt; b || a is NaN ? a : b, per lane (torch.maximum's NaN propagation for a).</summary>
    static abstract TV MaxOrNaN(TV a, TV b);
}

/// <summary>How a row body loads and stores its lanes: whole vectors, or the first few lanes of one.</summary>
internal unsafe interface IRnnLanes<TV, T> where TV : unmanaged where T : unmanaged
{
    TV Load(T* p);
    void Store(T* p, TV v);
}

/// <summary>Whole vectors.</summary>
internal readonly unsafe struct FullLanes<TV, T> : IRnnLanes<TV, T> where TV : unmanaged, IRnnVec<TV, T> where T : unmanaged
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public TV Load(T* p) => TV.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public void Store(T* p, TV v) => TV.Store(p, v);
}

/// <summary>The first <c>count</c> lanes of a Vector512 (AVX-512 masked moves: the other lanes read as 0, are not written and never fault).</summary>
internal readonly unsafe struct MaskedLanes512<T> : IRnnLanes<Vec512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Vector512<T> _mask;

    public MaskedLanes512(int count) => _mask = Vector512.LessThan(Vector512<T>.Indices, Vector512.Create(T.CreateTruncating(count)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vec512<T> Load(T* p)
    {
        if (typeof(T) == typeof(float)) return new(Avx512F.MaskLoad((float*)p, _mask.AsSingle(), Vector512<float>.Zero).As<float, T>());
        if (typeof(T) == typeof(double)) return new(Avx512F.MaskLoad((double*)p, _mask.AsDouble(), Vector512<double>.Zero).As<double, T>());
        throw new NotSupportedException();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(T* p, Vec512<T> v)
    {
        if (typeof(T) == typeof(float)) Avx512F.MaskStore((float*)p, _mask.AsSingle(), v.Value.AsSingle());
        else if (typeof(T) == typeof(double)) Avx512F.MaskStore((double*)p, _mask.AsDouble(), v.Value.AsDouble());
        else throw new NotSupportedException();
    }
}

/// <summary>The first <c>count</c> lanes of a Vector256 (AVX masked moves, as <see cref="MaskedLanes512{T}"/>).</summary>
internal readonly unsafe struct MaskedLanes256<T> : IRnnLanes<Vec256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Vector256<T> _mask;

    public MaskedLanes256(int count) => _mask = Vector256.LessThan(Vector256<T>.Indices, Vector256.Create(T.CreateTruncating(count)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vec256<T> Load(T* p)
    {
        if (typeof(T) == typeof(float)) return new(Avx.MaskLoad((float*)p, _mask.AsSingle()).As<float, T>());
        if (typeof(T) == typeof(double)) return new(Avx.MaskLoad((double*)p, _mask.AsDouble()).As<double, T>());
        throw new NotSupportedException();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(T* p, Vec256<T> v)
    {
        if (typeof(T) == typeof(float)) Avx.MaskStore((float*)p, _mask.AsSingle(), v.Value.AsSingle());
        else if (typeof(T) == typeof(double)) Avx.MaskStore((double*)p, _mask.AsDouble(), v.Value.AsDouble());
        else throw new NotSupportedException();
    }
}

/// <summary>Activations on any width.</summary>
internal static class RnnAct
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Sigmoid<TV, T>(TV x) where TV : unmanaged, IRnnVec<TV, T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        TV one = TV.Splat(T.One);
        return TV.Div(one, TV.Add(one, TV.Exp(TV.Sub(TV.Splat(T.Zero), x))));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Tanh<TV, T>(TV x) where TV : unmanaged, IRnnVec<TV, T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        TV one = TV.Splat(T.One);
        TV e = TV.Exp(TV.Mul(TV.Splat(-(T.One + T.One)), TV.Abs(x)));
        TV large = TV.CopySign(TV.Div(TV.Sub(one, e), TV.Add(one, e)), x);
        // Near 0, (1 - e) cancels: its absolute error ~1 ulp(1) is a large relative error of a small
        // tanh (1e-3 at x = 1e-4, which PyTorch's LSTMs do meet when c = f*c + i*g cancels). Below
        // |x| = 1/4 use the odd Taylor series to x^17 instead (truncation < 4e-15 relative).
        TV x2 = TV.Mul(x, x);
        TV p = TV.Splat(T.CreateTruncating(6404582.0 / 10854718875.0));
        p = TV.Fma(p, x2, TV.Splat(T.CreateTruncating(-929569.0 / 638512875.0)));
        p = TV.Fma(p, x2, TV.Splat(T.CreateTruncating(21844.0 / 6081075.0)));
        p = TV.Fma(p, x2, TV.Splat(T.CreateTruncating(-1382.0 / 155925.0)));
        p = TV.Fma(p, x2, TV.Splat(T.CreateTruncating(62.0 / 2835.0)));
        p = TV.Fma(p, x2, TV.Splat(T.CreateTruncating(-17.0 / 315.0)));
        p = TV.Fma(p, x2, TV.Splat(T.CreateTruncating(2.0 / 15.0)));
        p = TV.Fma(p, x2, TV.Splat(T.CreateTruncating(-1.0 / 3.0)));
        TV small = TV.Fma(TV.Mul(x, x2), p, x);
        return TV.SelectBelow(x, T.CreateTruncating(0.25), small, large);
    }
}

/// <summary>Scalar "vector" (one lane): remainders and machines without SIMD.</summary>
internal readonly unsafe struct ScalarVec<T> : IRnnVec<ScalarVec<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T _v;
    private ScalarVec(T v) => _v = v;
    public static int Count => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Load(T* p) => new(*p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(T* p, ScalarVec<T> v) => *p = v._v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Splat(T x) => new(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Add(ScalarVec<T> a, ScalarVec<T> b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Sub(ScalarVec<T> a, ScalarVec<T> b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Mul(ScalarVec<T> a, ScalarVec<T> b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Fma(ScalarVec<T> a, ScalarVec<T> b, ScalarVec<T> c) => new(T.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Div(ScalarVec<T> a, ScalarVec<T> b) => new(a._v / b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Exp(ScalarVec<T> x) => new(T.Exp(x._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Abs(ScalarVec<T> x) => new(T.Abs(x._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> CopySign(ScalarVec<T> m, ScalarVec<T> s) => new(T.CopySign(m._v, s._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> SelectBelow(ScalarVec<T> x, T limit, ScalarVec<T> small, ScalarVec<T> large) => T.Abs(x._v) < limit ? small : large;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Relu(ScalarVec<T> x) => new(T.Max(x._v, T.Zero));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> PositiveMask(ScalarVec<T> h, ScalarVec<T> d) => new(h._v > T.Zero ? d._v : T.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> Sqrt(ScalarVec<T> x) => new(T.Sqrt(x._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ScalarVec<T> MaxOrNaN(ScalarVec<T> a, ScalarVec<T> b) => a._v > b._v || T.IsNaN(a._v) ? a : b;
}

/// <summary>Vector256 lanes.</summary>
internal readonly unsafe struct Vec256<T> : IRnnVec<Vec256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Vector256<T> _v;
    internal Vec256(Vector256<T> v) => _v = v;
    internal Vector256<T> Value => _v;
    public static int Count => Vector256<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> Load(T* p) => new(Vector256.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(T* p, Vec256<T> v) => v._v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> Splat(T x) => new(Vector256.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> Add(Vec256<T> a, Vec256<T> b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> Sub(Vec256<T> a, Vec256<T> b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> Mul(Vec256<T> a, Vec256<T> b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec256<T> Fma(Vec256<T> a, Vec256<T> b, Vec256<T> c)
    {
        if (typeof(T) == typeof(float)) return new(Vector256.FusedMultiplyAdd(a._v.AsSingle(), b._v.AsSingle(), c._v.AsSingle()).As<float, T>());
        if (typeof(T) == typeof(double)) return new(Vector256.FusedMultiplyAdd(a._v.AsDouble(), b._v.AsDouble(), c._v.AsDouble()).As<double, T>());
        throw new NotSupportedException();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> Div(Vec256<T> a, Vec256<T> b) => new(a._v / b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec256<T> Exp(Vec256<T> x)
    {
        if (typeof(T) == typeof(float)) return new(RnnExp.Exp(x._v.AsSingle()).As<float, T>());
        if (typeof(T) == typeof(double)) return new(RnnExp.Exp(x._v.AsDouble()).As<double, T>());
        throw new NotSupportedException();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> Abs(Vec256<T> x) => new(Vector256.Abs(x._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> CopySign(Vec256<T> m, Vec256<T> s) => new(Vector256.CopySign(m._v, s._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> SelectBelow(Vec256<T> x, T limit, Vec256<T> small, Vec256<T> large) => new(Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Abs(x._v), Vector256.Create(limit)), small._v, large._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> Relu(Vec256<T> x) => new(Vector256.Max(x._v, Vector256<T>.Zero));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec256<T> PositiveMask(Vec256<T> h, Vec256<T> d) => new(Vector256.ConditionalSelect(Vector256.GreaterThan(h._v, Vector256<T>.Zero), d._v, Vector256<T>.Zero));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256<T> Sqrt(Vec256<T> x) => new(Vector256.Sqrt(x._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec256<T> MaxOrNaN(Vec256<T> a, Vec256<T> b) =>
        new(Vector256.ConditionalSelect(Vector256.GreaterThan(a._v, b._v) | ~Vector256.Equals(a._v, a._v), a._v, b._v));
}

/// <summary>Vector512 lanes.</summary>
internal readonly unsafe struct Vec512<T> : IRnnVec<Vec512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Vector512<T> _v;
    internal Vec512(Vector512<T> v) => _v = v;
    internal Vector512<T> Value => _v;
    public static int Count => Vector512<T>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> Load(T* p) => new(Vector512.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(T* p, Vec512<T> v) => v._v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> Splat(T x) => new(Vector512.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> Add(Vec512<T> a, Vec512<T> b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> Sub(Vec512<T> a, Vec512<T> b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> Mul(Vec512<T> a, Vec512<T> b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec512<T> Fma(Vec512<T> a, Vec512<T> b, Vec512<T> c)
    {
        if (typeof(T) == typeof(float)) return new(Vector512.FusedMultiplyAdd(a._v.AsSingle(), b._v.AsSingle(), c._v.AsSingle()).As<float, T>());
        if (typeof(T) == typeof(double)) return new(Vector512.FusedMultiplyAdd(a._v.AsDouble(), b._v.AsDouble(), c._v.AsDouble()).As<double, T>());
        throw new NotSupportedException();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> Div(Vec512<T> a, Vec512<T> b) => new(a._v / b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec512<T> Exp(Vec512<T> x)
    {
        if (typeof(T) == typeof(float)) return new(RnnExp.Exp(x._v.AsSingle()).As<float, T>());
        if (typeof(T) == typeof(double)) return new(RnnExp.Exp(x._v.AsDouble()).As<double, T>());
        throw new NotSupportedException();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> Abs(Vec512<T> x) => new(Vector512.Abs(x._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> CopySign(Vec512<T> m, Vec512<T> s) => new(Vector512.CopySign(m._v, s._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> SelectBelow(Vec512<T> x, T limit, Vec512<T> small, Vec512<T> large) => new(Vector512.ConditionalSelect(Vector512.LessThan(Vector512.Abs(x._v), Vector512.Create(limit)), small._v, large._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> Relu(Vec512<T> x) => new(Vector512.Max(x._v, Vector512<T>.Zero));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec512<T> PositiveMask(Vec512<T> h, Vec512<T> d) => new(Vector512.ConditionalSelect(Vector512.GreaterThan(h._v, Vector512<T>.Zero), d._v, Vector512<T>.Zero));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512<T> Sqrt(Vec512<T> x) => new(Vector512.Sqrt(x._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec512<T> MaxOrNaN(Vec512<T> a, Vec512<T> b) =>
        new(Vector512.ConditionalSelect(Vector512.GreaterThan(a._v, b._v) | ~Vector512.Equals(a._v, a._v), a._v, b._v));
}
