// Tensor factories: Zeros, Ones, Full, Arange, Eye, Rand, Randn, FromArray (flat + shape,
// multidimensional and jagged arrays), the *Like variants.
using Recurrent.Tracing;

namespace Recurrent;

public sealed partial class Tensor
{
    private static int[] CheckShape(int[] shape)
    {
        Guard.NotNull(shape, nameof(shape));
        foreach (var s in shape)
            if (s < 0) throw new ArgumentException($"Trying to create tensor with negative dimension {s}: {Guard.ShapeText(shape)}", nameof(shape));
        return (int[])shape.Clone();
    }

    /// <summary>Zeros of the given shape, as <c>torch.zeros</c>.</summary>
    public static Tensor Zeros(int[] shape, DType dtype = DType.Float32, bool requiresGrad = false)
        => TraceRecorder.MarkConstant(NewZeroed(dtype, CheckShape(shape)).RequiresGrad_(requiresGrad));
    /// <summary>Zeros of the given shape (float32), as <c>torch.zeros(2, 3)</c>.</summary>
    public static Tensor Zeros(params int[] shape) => Zeros(shape, DType.Float32);

    /// <summary>Ones of the given shape, as <c>torch.ones</c>.</summary>
    public static Tensor Ones(int[] shape, DType dtype = DType.Float32, bool requiresGrad = false)
        => Full(shape, 1.0, dtype, requiresGrad);
    /// <summary>Ones of the given shape (float32).</summary>
    public static Tensor Ones(params int[] shape) => Ones(shape, DType.Float32);

    /// <summary>A tensor filled with <paramref name="value"/>, as <c>torch.full</c>.</summary>
    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32, bool requiresGrad = false)
    {
        CheckInt64Value(value, dtype, nameof(value));
        var t = NewZeroed(dtype, CheckShape(shape));
        switch (dtype)
        {
            case DType.Float32: Array.Fill(t.Arr<float>(), (float)value); break;
            case DType.Float64: Array.Fill(t.Arr<double>(), value); break;
            default: Array.Fill(t.Arr<long>(), (long)value); break;
        }
        return TraceRecorder.MarkConstant(t.RequiresGrad_(requiresGrad));
    }

    // An int64 tensor takes a whole value in long's range: NaN was written as 0 and 1e19 as long.MaxValue (PyTorch:
    // "value cannot be converted to type int64_t without overflow").
    internal static bool FitsInt64(double value) => value >= -9.2233720368547758e18 && value < 9.2233720368547758e18;

    internal static void CheckInt64Value(double value, DType dtype, string name)
    {
        if (dtype == DType.Int64 && !FitsInt64(value))
            throw new ArgumentException($"{name}: value cannot be converted to type int64 without overflow. Expected a number in long's range, got {value}", name);
    }

    /// <summary>Zeros of <paramref name="t"/>'s shape and dtype, as <c>torch.zeros_like</c>.</summary>
    public static Tensor ZerosLike(Tensor t)
    {
        var r = NewZeroed(t.DType, t.ShapeRef);
        TraceRecorder.Current?.Op("FullLike", r, [t], 0.0);
        return r;
    }
    /// <summary>Ones of <paramref name="t"/>'s shape and dtype, as <c>torch.ones_like</c>.</summary>
    public static Tensor OnesLike(Tensor t) => FullLike(t, 1.0);
    /// <summary><paramref name="value"/> in every element, of <paramref name="t"/>'s shape and dtype, as <c>torch.full_like</c>.</summary>
    public static Tensor FullLike(Tensor t, double value)
    {
        var r = Full(t.ShapeRef, value, t.DType);
        TraceRecorder.Current?.Op("FullLike", r, [t], value);
        return r;
    }

    /// <summary>Values from start (inclusive) to end (exclusive) by step, as <c>torch.arange</c>.</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Int64)
    {
        if (!double.IsFinite(start) || !double.IsFinite(end))
            throw new ArgumentException($"unsupported range: {start} -> {end}. Expected finite start and end.", double.IsFinite(start) ? nameof(end) : nameof(start));
        if (!(step > 0 || step < 0)) throw new ArgumentException($"step must be nonzero, got {step}", nameof(step));
        if ((end - start) / step < 0) throw new ArgumentException($"upper bound and larger bound inconsistent with step sign (start {start}, end {end}, step {step})", nameof(step));
        double count = Math.Ceiling((end - start) / step);
        if (count > Array.MaxLength)
            throw new ArgumentException($"arange: {start} to {end} by {step} is {count} values, more than a tensor holds ({Array.MaxLength})", nameof(step));
        int n = (int)count;
        var t = NewZeroed(dtype, new[] { n });
        for (int i = 0; i < n; i++)
        {
            double v = start + i * step;
            switch (dtype)
            {
                case DType.Float32: t.Arr<float>()[i] = (float)v; break;
                case DType.Float64: t.Arr<double>()[i] = v; break;
                default: t.Arr<long>()[i] = (long)v; break;
            }
        }
        return TraceRecorder.MarkConstant(t);
    }

    /// <summary>
    /// <paramref name="steps"/> evenly spaced values from <paramref name="start"/> to <paramref name="end"/>, both
    /// included, as <c>torch.linspace</c> (computed as PyTorch does: from the start for the first half, from the end
    /// for the second, so both ends are exact).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is negative.</exception>
    public static Tensor Linspace(double start, double end, int steps, DType dtype = DType.Float32)
    {
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"number of steps must be non-negative, but got {steps}");
        var t = NewZeroed(dtype, new[] { steps });
        double step = steps > 1 ? (end - start) / (steps - 1) : 0;
        int half = steps / 2;
        for (int i = 0; i < steps; i++)
        {
            double v = steps == 1 ? start : i < half ? start + step * i : end - step * (steps - 1 - i);
            switch (dtype)
            {
                case DType.Float32: t.Arr<float>()[i] = (float)v; break;
                case DType.Float64: t.Arr<double>()[i] = v; break;
                default: t.Arr<long>()[i] = (long)v; break;
            }
        }
        return TraceRecorder.MarkConstant(t);
    }

    /// <summary>0, 1, ..., end-1 as int64, as <c>torch.arange(end)</c>.</summary>
    public static Tensor Arange(int end) => Arange(0, end, 1, DType.Int64);

    /// <summary>The n x m identity matrix, as <c>torch.eye</c>.</summary>
    public static Tensor Eye(int n, int? m = null, DType dtype = DType.Float32)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be greater or equal to 0, got {n}");
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, $"m must be greater or equal to 0, got {m}");
        int cols = m ?? n;
        var t = Zeros(new[] { n, cols }, dtype);
        for (int i = 0; i < Math.Min(n, cols); i++)
        {
            switch (dtype)
            {
                case DType.Float32: t.Arr<float>()[i * cols + i] = 1; break;
                case DType.Float64: t.Arr<double>()[i * cols + i] = 1; break;
                default: t.Arr<long>()[i * cols + i] = 1; break;
            }
        }
        return TraceRecorder.MarkConstant(t);
    }

    /// <summary>Uniform [0, 1) values, as <c>torch.rand</c>.</summary>
    public static Tensor Rand(int[] shape, DType dtype = DType.Float32, Generator? generator = null)
    {
        Guard.Floating(Scalar(0, dtype), "dtype");
        var g = generator ?? Generator.Default;
        var t = NewZeroed(dtype, CheckShape(shape));
        if (dtype == DType.Float32) { var a = t.Arr<float>(); for (int i = 0; i < a.Length; i++) a[i] = (float)((g.NextUInt64() >> 40) * (1.0 / (1 << 24))); }
        else { var a = t.Arr<double>(); for (int i = 0; i < a.Length; i++) a[i] = g.NextDouble(); }
        return TraceRecorder.MarkConstant(t);
    }
    /// <summary>Uniform float32 values in [0, 1) of the given shape from <see cref="Generator.Default"/>, as <c>torch.rand(*size)</c>.</summary>
    public static Tensor Rand(params int[] shape) => Rand(shape, DType.Float32);

    /// <summary>Standard normal values, as <c>torch.randn</c>.</summary>
    public static Tensor Randn(int[] shape, DType dtype = DType.Float32, Generator? generator = null)
    {
        Guard.Floating(Scalar(0, dtype), "dtype");
        var g = generator ?? Generator.Default;
        var t = NewZeroed(dtype, CheckShape(shape));
        if (dtype == DType.Float32) { var a = t.Arr<float>(); for (int i = 0; i < a.Length; i++) a[i] = (float)g.NextNormal(); }
        else { var a = t.Arr<double>(); for (int i = 0; i < a.Length; i++) a[i] = g.NextNormal(); }
        return TraceRecorder.MarkConstant(t);
    }
    /// <summary>Standard normal float32 values of the given shape from <see cref="Generator.Default"/>, as <c>torch.randn(*size)</c>.</summary>
    public static Tensor Randn(params int[] shape) => Randn(shape, DType.Float32);

    /// <summary>Uniform values in [low, high), as <c>tensor.uniform_(low, high)</c> on a fresh tensor.</summary>
    public static Tensor Uniform(int[] shape, double low, double high, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (dtype == DType.Int64) throw new ArgumentException("Uniform: expected a floating point dtype, got torch.int64", nameof(dtype));
        if (!(low <= high))
            throw new ArgumentException($"uniform_ expects to return a [from, to) range, but found from={low} > to={high}", nameof(low));
        if (!double.IsFinite(high - low))
            throw new ArgumentException($"uniform_ expects a finite range, but found from={low} to={high} (to - from = {high - low})", nameof(high));
        var g = generator ?? Generator.Default;
        var t = NewZeroed(dtype, CheckShape(shape));
        if (dtype == DType.Float32) { var a = t.Arr<float>(); for (int i = 0; i < a.Length; i++) a[i] = (float)(low + (high - low) * g.NextDouble()); }
        else if (dtype == DType.Float64) { var a = t.Arr<double>(); for (int i = 0; i < a.Length; i++) a[i] = low + (high - low) * g.NextDouble(); }
        else throw new ArgumentException("Uniform: expected a floating point dtype", nameof(dtype));
        return TraceRecorder.MarkConstant(t);
    }

    /// <summary>Random integers in [low, high), as <c>torch.randint</c>.</summary>
    public static Tensor RandInt(long low, long high, int[] shape, Generator? generator = null)
    {
        if (high <= low) throw new ArgumentException($"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}");
        var g = generator ?? Generator.Default;
        var t = NewZeroed(DType.Int64, CheckShape(shape));
        var a = t.Arr<long>();
        for (int i = 0; i < a.Length; i++) a[i] = low + g.NextLong(high - low);
        return TraceRecorder.MarkConstant(t);
    }

    /// <summary>A 1-D tensor over a copy of <paramref name="data"/>, a one-element array too, as <c>torch.tensor([5.])</c>.</summary>
    public static Tensor FromArray(float[] data) => FromVector(data);
    /// <summary>A 1-D float64 tensor over a copy of <paramref name="data"/>, as <c>torch.tensor([5.], dtype=torch.float64)</c>.</summary>
    public static Tensor FromArray(double[] data) => FromVector(data);
    /// <summary>A 1-D int64 tensor over a copy of <paramref name="data"/>, as <c>torch.tensor([2])</c>.</summary>
    public static Tensor FromArray(long[] data) => FromVector(data);

    /// <summary>
    /// A tensor over a copy of flat row-major <paramref name="data"/> with the given shape. An explicitly empty shape
    /// makes a one-element array a 0-dim tensor (a longer one 1-D); without a shape argument the array is 1-D.
    /// </summary>
    public static Tensor FromArray(float[] data, params int[] shape) => FromFlat(data, shape);
    /// <summary>A float64 tensor over a copy of flat row-major data (the shape as the float overload).</summary>
    public static Tensor FromArray(double[] data, params int[] shape) => FromFlat(data, shape);
    /// <summary>An int64 tensor over a copy of flat row-major data (the shape as the float overload).</summary>
    public static Tensor FromArray(long[] data, params int[] shape) => FromFlat(data, shape);

    private static Tensor FromVector<T>(T[] data)
    {
        Guard.NotNull(data, nameof(data));
        return FromFlat(data, [data.Length]);
    }

    private static Tensor FromFlat<T>(T[] data, int[] shape)
    {
        Guard.NotNull(data, nameof(data));
        if (shape is null || shape.Length == 0 && data.Length != 1) shape = new[] { data.Length };
        shape = CheckShape(shape);
        int n = ShapeUtil.Numel(shape);
        if (n != data.Length)
            throw new ArgumentException($"shape '{Guard.ShapeText(shape)}' is invalid for input of size {data.Length}", nameof(shape));
        // A copy; inside a dispose scope a large one takes pooled storage, like every other tensor made there.
        var t = Allocate(DTypeOf<T>(), shape, clear: false);
        data.AsSpan().CopyTo(t.Arr<T>());
        return TraceRecorder.MarkConstant(t);
    }

    /// <summary>
    /// A tensor from a (possibly multidimensional or jagged) array of float, double, long or int,
    /// as <c>torch.tensor([[1., 2.], [3., 4.]])</c>. int becomes int64.
    /// </summary>
    public static Tensor FromArray(Array array)
    {
        Guard.NotNull(array, nameof(array));
        var shape = new List<int>();
        var flat = new List<object>();
        Flatten(array, 0, shape, flat);
        var elem = flat.Count > 0 ? flat[0].GetType() : typeof(float);
        var sh = shape.ToArray();
        if (elem == typeof(float)) return TraceRecorder.MarkConstant(new Tensor(flat.Select(x => (float)x).ToArray(), sh));
        if (elem == typeof(double)) return TraceRecorder.MarkConstant(new Tensor(flat.Select(x => (double)x).ToArray(), sh));
        if (elem == typeof(long)) return TraceRecorder.MarkConstant(new Tensor(flat.Select(x => (long)x).ToArray(), sh));
        if (elem == typeof(int)) return TraceRecorder.MarkConstant(new Tensor(flat.Select(x => (long)(int)x).ToArray(), sh));
        throw new ArgumentException($"FromArray: unsupported element type {elem}", nameof(array));
    }

    private static void Flatten(Array a, int depth, List<int> shape, List<object> flat)
    {
        if (a.Rank > 1)
        {
            if (depth != 0) throw new ArgumentException("FromArray: multidimensional arrays cannot be nested in jagged arrays", "array");
            for (int r = 0; r < a.Rank; r++) shape.Add(a.GetLength(r));
            foreach (var x in a) flat.Add(x!);
            return;
        }
        int len = a.Length;
        if (shape.Count == depth) shape.Add(len);
        else if (shape[depth] != len)
            throw new ArgumentException($"FromArray: expected sequence of length {shape[depth]} at dim {depth} (got {len})", "array");
        foreach (var x in a)
        {
            if (x is Array inner) Flatten(inner, depth + 1, shape, flat);
            else if (x is null) throw new ArgumentException($"FromArray: a null element at dim {depth}; expected a number or a nested array", "array");
            else
            {
                if (shape.Count != depth + 1) throw new ArgumentException($"FromArray: ragged nested array at dim {depth}", "array");
                flat.Add(x!);
            }
        }
    }
}
