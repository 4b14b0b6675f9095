// Elementwise math on contiguous spans: one operator struct per function, each with a span body (a
// System.Numerics.Tensors.TensorPrimitives call where it has one: vectorised for every width, its
// remainder handled by the same vector code) and, for the few it lacks, a Vector512/256 loop written
// here. The tensor layer (Tensors/ElementwiseOps.cs) handles shapes, strides and broadcasting and
// only ever hands contiguous runs to these kernels, so an element's result never depends on the
// layout of the tensor it sits in. No Tensor, no autograd, no allocation.
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Recurrent.Kernels;

/// <summary>y = f(x) over a contiguous run (x and y may be the same span).</summary>
internal interface IUnaryKernel<T>
{
    void Run(ReadOnlySpan<T> x, Span<T> y);
}

/// <summary>y = f(a, b) over contiguous runs, or with one operand a scalar (the output may alias an input).</summary>
internal interface IBinaryKernel<T>
{
    void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y);
    void Run(ReadOnlySpan<T> a, T b, Span<T> y);
    void Run(T a, ReadOnlySpan<T> b, Span<T> y);
}

internal readonly struct NegKernel<T> : IUnaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Negate(x, y);
}

internal readonly struct AbsKernel<T> : IUnaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Abs(x, y);
}

internal readonly struct ExpKernel<T> : IUnaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Exp(x, y);
}

internal readonly struct LogKernel<T> : IUnaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Log(x, y);
}

/// <summary>
/// tanh with the fused recurrent kernels' activation (RnnAct.Tanh: (1 - e)/(1 + e) above |x| = 1/4, the odd
/// Taylor series below it). TensorPrimitives.Tanh loses relative precision near 0 in float32 (1.7e-4 at
/// x = -2.65e-4), which LSTM cells whose c cancels do meet; this also gives the composed and the fused
/// recurrent paths the same tanh.
/// </summary>
internal readonly unsafe struct TanhKernel<T> : IUnaryKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y)
    {
        if (x.IsEmpty) return;
        fixed (T* px = x, py = y) GateRows<T>.Run(new TanhRow<T> { Length = x.Length, X = px, Y = py });
    }
}

/// <summary>y = tanh(x) as a gate row, run by <see cref="GateRows{T}"/> over every width.</summary>
internal unsafe struct TanhRow<T> : IGateRow<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public T* X, Y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        T* x = X, y = Y;
        for (; j < end; j += TV.Count) lanes.Store(y + j, RnnAct.Tanh<TV, T>(lanes.Load(x + j)));
    }
}

internal readonly struct SigmoidKernel<T> : IUnaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y)
    {
        if (!x.IsEmpty) TensorPrimitives.Sigmoid(x, y);   // TensorPrimitives refuses an empty span here
    }
}

internal readonly struct SqrtKernel<T> : IUnaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Sqrt(x, y);
}

internal readonly struct SinKernel<T> : IUnaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Sin(x, y);
}

internal readonly struct CosKernel<T> : IUnaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Cos(x, y);
}

/// <summary>x^p with a scalar exponent.</summary>
internal readonly struct PowScalarKernel<T>(T p) : IUnaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Pow(x, p, y);
}

/// <summary>max(x, 0); NaN stays NaN (IEEE maximum), -0 becomes +0.</summary>
internal readonly struct ReluKernel<T> : IUnaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y)
    {
        if (!x.IsEmpty) TensorPrimitives.Max(x, T.Zero, y);
    }
}

/// <summary>Clamps into [lo, hi]; NaN stays NaN.</summary>
internal readonly struct ClampKernel<T>(T lo, T hi) : IUnaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y)
    {
        if (x.IsEmpty) return;
        TensorPrimitives.Max(x, lo, y);
        TensorPrimitives.Min(y, hi, y);
    }
}

/// <summary>1 where the comparison holds, else 0 (sign, relu and clamp masks, and comparisons).</summary>
internal enum CompareOp { Greater, Less, Equal, NotEqual, GreaterOrEqual, LessOrEqual }

/// <summary>1 where the comparison of x with a scalar holds, else 0.</summary>
internal readonly struct CompareScalarKernel<T>(CompareOp op, T b) : IUnaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y) => new CompareKernel<T>(op).Run(x, b, y);
}

/// <summary>sign(x): -1, 0 or 1 (0 for NaN).</summary>
internal readonly struct SignKernel<T> : IUnaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            T v = x[i];
            y[i] = v > T.Zero ? T.One : v < T.Zero ? -T.One : T.Zero;
        }
    }
}

/// <summary>1 where lo &lt;= x &lt;= hi, else 0 (the gradient mask of clamp).</summary>
internal readonly struct InRangeMaskKernel<T>(T lo, T hi) : IUnaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> x, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = x[i] >= lo && x[i] <= hi ? T.One : T.Zero;
    }
}

internal readonly struct AddKernel<T> : IBinaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Add(a, b, y);
    public void Run(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Add(a, b, y);
    public void Run(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Add(b, a, y);
}

/// <summary>a + alpha * b, two roundings (PyTorch's add with alpha).</summary>
internal readonly struct AddScaledKernel<T>(T alpha) : IBinaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.MultiplyAdd(b, alpha, a, y);
    public void Run(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Add(a, alpha * b, y);
    public void Run(T a, ReadOnlySpan<T> b, Span<T> y)
    {
        TensorPrimitives.Multiply(b, alpha, y);
        TensorPrimitives.Add(y, a, y);
    }
}

internal readonly struct SubKernel<T> : IBinaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Subtract(a, b, y);
    public void Run(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Subtract(a, b, y);
    public void Run(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Subtract(a, b, y);
}

internal readonly struct MulKernel<T> : IBinaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Multiply(a, b, y);
    public void Run(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Multiply(a, b, y);
    public void Run(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Multiply(b, a, y);
}

internal readonly struct DivKernel<T> : IBinaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Divide(a, b, y);
    public void Run(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Divide(a, b, y);
    public void Run(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Divide(a, b, y);
}

internal readonly struct PowKernel<T> : IBinaryKernel<T> where T : IFloatingPointIeee754<T>
{
    public void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Pow(a, b, y);
    public void Run(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Pow(a, b, y);
    public void Run(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Pow(a, b, y);
}

/// <summary>Elementwise maximum; NaN propagates (torch.maximum).</summary>
internal readonly struct MaximumKernel<T> : IBinaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) { if (!a.IsEmpty) TensorPrimitives.Max(a, b, y); }
    public void Run(ReadOnlySpan<T> a, T b, Span<T> y) { if (!a.IsEmpty) TensorPrimitives.Max(a, b, y); }
    public void Run(T a, ReadOnlySpan<T> b, Span<T> y) { if (!b.IsEmpty) TensorPrimitives.Max(b, a, y); }
}

/// <summary>Elementwise minimum; NaN propagates (torch.minimum).</summary>
internal readonly struct MinimumKernel<T> : IBinaryKernel<T> where T : INumber<T>
{
    public void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) { if (!a.IsEmpty) TensorPrimitives.Min(a, b, y); }
    public void Run(ReadOnlySpan<T> a, T b, Span<T> y) { if (!a.IsEmpty) TensorPrimitives.Min(a, b, y); }
    public void Run(T a, ReadOnlySpan<T> b, Span<T> y) { if (!b.IsEmpty) TensorPrimitives.Min(b, a, y); }
}

/// <summary>1 where the comparison of a and b holds, else 0, in the operands' type (NaN compares false, but NaN != x).</summary>
internal readonly struct CompareKernel<T>(CompareOp op) : IBinaryKernel<T> where T : INumber<T>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private T Test(T a, T b) => op switch
    {
        CompareOp.Greater => a > b,
        CompareOp.Less => a < b,
        CompareOp.Equal => a == b,
        CompareOp.NotEqual => a != b,
        CompareOp.GreaterOrEqual => a >= b,
        _ => a <= b,
    } ? T.One : T.Zero;

    public void Run(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y)
    {
        for (int i = 0; i < a.Length; i++) y[i] = Test(a[i], b[i]);
    }

    public void Run(ReadOnlySpan<T> a, T b, Span<T> y)
    {
        for (int i = 0; i < a.Length; i++) y[i] = Test(a[i], b);
    }

    public void Run(T a, ReadOnlySpan<T> b, Span<T> y)
    {
        for (int i = 0; i < b.Length; i++) y[i] = Test(a, b[i]);
    }
}

/// <summary>Reductions on contiguous spans. float32 sums accumulate in float64 (see docs/DECISIONS.md 6).</summary>
internal static class Reductions
{
    /// <summary>Σ x, accumulated in double; 8 lanes widened at a time for float.</summary>
    public static double Sum(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        var acc0 = Vector256<double>.Zero;
        var acc1 = Vector256<double>.Zero;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float px = ref MemoryMarshal.GetReference(x);
            for (; i + 8 <= n; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref px, (nuint)i));
                acc0 += lo;
                acc1 += hi;
            }
        }
        double s = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) s += x[i];
        return s;
    }

    /// <summary>Σ x in double (sequential order).</summary>
    public static double Sum(ReadOnlySpan<double> x)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += x[i];
        return s;
    }

    /// <summary>Σ x[i] * y[i], each product rounded to float, accumulated in double.</summary>
    public static double SumProduct(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, i = 0;
        var acc0 = Vector256<double>.Zero;
        var acc1 = Vector256<double>.Zero;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float px = ref MemoryMarshal.GetReference(x);
            ref float py = ref MemoryMarshal.GetReference(y);
            for (; i + 8 <= n; i += 8)
            {
                var p = Vector256.LoadUnsafe(ref px, (nuint)i) * Vector256.LoadUnsafe(ref py, (nuint)i);
                var (lo, hi) = Vector256.Widen(p);
                acc0 += lo;
                acc1 += hi;
            }
        }
        double s = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) s += (double)(x[i] * y[i]);
        return s;
    }

    /// <summary>Σ x[i] * y[i] in double (sequential order).</summary>
    public static double SumProduct(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }

    /// <summary>Elements per block of <see cref="SumOfSquares(ReadOnlySpan{float})"/>.</summary>
    internal const int SquaresBlock = 1 << 14;

    /// <summary>
    /// Σ x[i]² with the squares and the sum in double (the 2-norm's square, no overflow for float). Blocks of
    /// <see cref="SquaresBlock"/> elements are summed alone (eight accumulators, so the loads, not the additions'
    /// latency, set the pace) and their sums added in block order; long inputs split over the worker team by whole
    /// blocks, so the result does not depend on the thread count.
    /// </summary>
    public static unsafe double SumOfSquares(ReadOnlySpan<float> x)
    {
        int n = x.Length, blocks = (n + SquaresBlock - 1) / SquaresBlock;
        fixed (float* px = x)
        {
            int parts = Math.Min(Parallelism.Threads, blocks / 4);
            if (parts <= 1)
            {
                double s = 0;
                for (int b = 0; b < blocks; b++) s += BlockSumOfSquares(px + (nint)b * SquaresBlock, Math.Min(SquaresBlock, n - b * SquaresBlock));
                return s;
            }
            double[] sums = System.Buffers.ArrayPool<double>.Shared.Rent(blocks);
            try
            {
                fixed (double* ps = sums)
                {
                    var job = t_squaresJob ??= new SquaresJob();
                    job.X = px;
                    job.N = n;
                    job.Sums = ps;
                    WorkerTeam.Run(job, parts);
                    job.X = null;
                    job.Sums = null;
                    double s = 0;
                    for (int b = 0; b < blocks; b++) s += ps[b];
                    return s;
                }
            }
            finally { System.Buffers.ArrayPool<double>.Shared.Return(sums); }
        }
    }

    [ThreadStatic] private static SquaresJob? t_squaresJob;

    private sealed unsafe class SquaresJob : ParallelJob
    {
        public float* X;
        public double* Sums;
        public int N;

        public override void Execute(int part, int parts)
        {
            int blocks = (N + SquaresBlock - 1) / SquaresBlock;
            int b0 = (int)((long)blocks * part / parts), b1 = (int)((long)blocks * (part + 1) / parts);
            for (int b = b0; b < b1; b++) Sums[b] = BlockSumOfSquares(X + (nint)b * SquaresBlock, Math.Min(SquaresBlock, N - b * SquaresBlock));
        }
    }

    private static unsafe double BlockSumOfSquares(float* x, int n)
    {
        int i = 0;
        double s;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<double> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            for (; i + 32 <= n; i += 32)
            {
                var (l0, h0) = Vector256.Widen(Vector256.Load(x + i));
                var (l1, h1) = Vector256.Widen(Vector256.Load(x + i + 8));
                var (l2, h2) = Vector256.Widen(Vector256.Load(x + i + 16));
                var (l3, h3) = Vector256.Widen(Vector256.Load(x + i + 24));
                a0 = Vector256.FusedMultiplyAdd(l0, l0, a0);
                a1 = Vector256.FusedMultiplyAdd(h0, h0, a1);
                a2 = Vector256.FusedMultiplyAdd(l1, l1, a2);
                a3 = Vector256.FusedMultiplyAdd(h1, h1, a3);
                a4 = Vector256.FusedMultiplyAdd(l2, l2, a4);
                a5 = Vector256.FusedMultiplyAdd(h2, h2, a5);
                a6 = Vector256.FusedMultiplyAdd(l3, l3, a6);
                a7 = Vector256.FusedMultiplyAdd(h3, h3, a7);
            }
            for (; i + 8 <= n; i += 8)
            {
                var (l0, h0) = Vector256.Widen(Vector256.Load(x + i));
                a0 = Vector256.FusedMultiplyAdd(l0, l0, a0);
                a1 = Vector256.FusedMultiplyAdd(h0, h0, a1);
            }
            s = Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)));
        }
        else s = 0;
        for (; i < n; i++) s += (double)x[i] * x[i];
        return s;
    }

    /// <summary>Σ x[i]² in double.</summary>
    public static double SumOfSquares(ReadOnlySpan<double> x)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += x[i] * x[i];
        return s;
    }
}
