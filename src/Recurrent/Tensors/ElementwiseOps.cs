// The elementwise driver: runs a span kernel of Kernels/Elementwise.cs over tensors of any layout.
// Contiguous operands go to the kernel whole; broadcasting and strided views are walked row by row
// (the last dimension), each row gathered into a contiguous scratch run when it is not one already,
// so every element goes through the same kernel code whatever the layout. Large contiguous runs
// are split over the worker team on 1024-element boundaries (the same per-element results for any
// thread count: the kernels are elementwise and each part is long enough for their vector code).
using Recurrent.Kernels;

namespace Recurrent;

internal static class Elementwise
{
    // Runs this many elements or more split over the worker team.
    private const int ParallelElements = 1 << 18;
    private const int PartAlign = 1024;

    /// <summary>out = op(x) elementwise; out is a new contiguous tensor.</summary>
    public static Tensor Unary<T, TOp>(Tensor x, TOp op) where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        var r = Tensor.Allocate(x.DType, x.ShapeRef, clear: false);
        var src = x.IsContiguous ? x : Copy(x);
        RunUnary(op, src.AsSpan<T>(), r.AsSpan<T>());
        return r;
    }

    /// <summary>x = op(x) in place over every element of a (possibly strided) tensor.</summary>
    public static void UnaryInPlace<T, TOp>(Tensor x, TOp op) where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        if (x.IsContiguous)
        {
            var s = x.AsSpan<T>();
            RunUnary(op, s, s);
            return;
        }
        var c = Copy(x);
        var cs = c.AsSpan<T>();
        RunUnary(op, cs, cs);
        StridedCopy.Copy(c, x);
    }

    /// <summary>out = op(a, b) with broadcasting; out is a new contiguous tensor.</summary>
    public static Tensor Binary<T, TOp>(Tensor a, Tensor b, TOp op) where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        int[] shape = a.SameShape(b) ? a.ShapeRef : ShapeUtil.Broadcast(a.ShapeRef, b.ShapeRef);
        var r = Tensor.Allocate(a.DType, shape, clear: false);
        BinaryInto<T, TOp>(a, b, r, op);
        return r;
    }

    /// <summary>a = op(a, b) in place; b broadcasts to a's shape.</summary>
    public static void BinaryInPlace<T, TOp>(Tensor a, Tensor b, TOp op) where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        var shape = ShapeUtil.Broadcast(a.ShapeRef, b.ShapeRef);
        if (!shape.AsSpan().SequenceEqual(a.ShapeRef))
            throw new ArgumentException($"output with shape {Guard.ShapeText(a.ShapeRef)} doesn't match the broadcast shape {Guard.ShapeText(shape)}");
        if (a.IsContiguous)
        {
            BinaryInto<T, TOp>(a, b, a, op);
            return;
        }
        var c = Tensor.Allocate(a.DType, a.ShapeRef, clear: false);
        BinaryInto<T, TOp>(a, b, c, op);
        StridedCopy.Copy(c, a);
    }

    // dst (contiguous, the broadcast shape) = op(a, b). dst may be a itself.
    private static void BinaryInto<T, TOp>(Tensor a, Tensor b, Tensor dst, TOp op) where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        var shape = dst.ShapeRef;
        int n = dst.Numel;
        if (n == 0) return;
        var d = dst.AsSpan<T>();
        bool aFull = a.Numel == n, bFull = b.Numel == n;
        if (aFull && bFull && a.IsContiguous && b.IsContiguous)
        {
            RunBinary(op, a.AsSpan<T>(), b.AsSpan<T>(), d);
            return;
        }
        if (aFull && a.IsContiguous && b.Numel == 1)
        {
            op.Run(a.AsSpan<T>(), b.Arr<T>()[b.Offset], d);
            return;
        }
        if (bFull && b.IsContiguous && a.Numel == 1)
        {
            op.Run(a.Arr<T>()[a.Offset], b.AsSpan<T>(), d);
            return;
        }
        // Row by row over the last dimension: each operand row is a contiguous run, one repeated element,
        // or a strided run gathered into scratch.
        int rank = shape.Length, inner = shape[rank - 1], outer = n / inner;
        var sa = ShapeUtil.BroadcastStrides(a, shape);
        var sb = ShapeUtil.BroadcastStrides(b, shape);
        var xa = a.Arr<T>();
        var xb = b.Arr<T>();
        T[]? rowA = sa[rank - 1] is 0 or 1 ? null : new T[inner];
        T[]? rowB = sb[rank - 1] is 0 or 1 ? null : new T[inner];
        var idx = new int[rank];
        int pa = a.Offset, pb = b.Offset;
        for (int o = 0; o < outer; o++)
        {
            var dRow = d.Slice(o * inner, inner);
            int ia = sa[rank - 1], ib = sb[rank - 1];
            if (ia == 0 && ib == 0)
            {
                T av = xa[pa];
                dRow.Fill(xb[pb]);
                op.Run(av, dRow, dRow);
            }
            else if (ia == 0) op.Run(xa[pa], Row(xb, pb, ib, inner, rowB), dRow);
            else if (ib == 0) op.Run(Row(xa, pa, ia, inner, rowA), xb[pb], dRow);
            else op.Run(Row(xa, pa, ia, inner, rowA), Row(xb, pb, ib, inner, rowB), dRow);
            for (int k = rank - 2; k >= 0; k--)
            {
                idx[k]++; pa += sa[k]; pb += sb[k];
                if (idx[k] < shape[k]) break;
                pa -= sa[k] * shape[k]; pb -= sb[k] * shape[k];
                idx[k] = 0;
            }
        }
    }

    // One row of `inner` elements from `offset` with stride `stride` (1: the array itself; else gathered into scratch).
    private static ReadOnlySpan<T> Row<T>(T[] data, int offset, int stride, int inner, T[]? scratch)
    {
        if (stride == 1) return data.AsSpan(offset, inner);
        for (int j = 0; j < inner; j++) scratch![j] = data[offset + j * stride];
        return scratch;
    }

    private static Tensor Copy(Tensor x)
    {
        var c = Tensor.Allocate(x.DType, x.ShapeRef, clear: false);
        StridedCopy.Copy(x, c);
        return c;
    }

    private static void RunUnary<T, TOp>(TOp op, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        int parts = Parts(x.Length);
        if (parts == 1) { op.Run(x, y); return; }
        unsafe
        {
            fixed (T* px = x, py = y)
            {
                var job = UnaryJob<T, TOp>.Rent(op, px, py, x.Length);
                WorkerTeam.Run(job, parts);
                job.Return();
            }
        }
    }

    private static void RunBinary<T, TOp>(TOp op, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        int parts = Parts(a.Length);
        if (parts == 1) { op.Run(a, b, y); return; }
        unsafe
        {
            fixed (T* pa = a, pb = b, py = y)
            {
                var job = BinaryJob<T, TOp>.Rent(op, pa, pb, py, a.Length);
                WorkerTeam.Run(job, parts);
                job.Return();
            }
        }
    }

    private static int Parts(int n)
    {
        int threads = Parallelism.Threads;
        if (threads <= 1 || n < ParallelElements) return 1;
        return Math.Min(threads, n / PartAlign);
    }

    /// <summary>[start, end) of part <paramref name="part"/> of <paramref name="n"/> elements, boundaries on PartAlign.</summary>
    internal static (int Start, int End) PartRange(int n, int part, int parts)
    {
        int blocks = (n + PartAlign - 1) / PartAlign;
        int b0 = (int)((long)blocks * part / parts), b1 = (int)((long)blocks * (part + 1) / parts);
        return (Math.Min(n, b0 * PartAlign), Math.Min(n, b1 * PartAlign));
    }

    private sealed unsafe class UnaryJob<T, TOp> : ParallelJob where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        [ThreadStatic] private static UnaryJob<T, TOp>? t_cached;
        private TOp _op;
        private T* _x, _y;
        private int _n;

        public static UnaryJob<T, TOp> Rent(TOp op, T* x, T* y, int n)
        {
            var job = t_cached ?? new UnaryJob<T, TOp>();
            t_cached = null;
            job._op = op; job._x = x; job._y = y; job._n = n;
            return job;
        }

        public void Return() { _x = _y = null; t_cached = this; }

        public override void Execute(int part, int parts)
        {
            var (s, e) = PartRange(_n, part, parts);
            _op.Run(new ReadOnlySpan<T>(_x + s, e - s), new Span<T>(_y + s, e - s));
        }
    }

    private sealed unsafe class BinaryJob<T, TOp> : ParallelJob where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        [ThreadStatic] private static BinaryJob<T, TOp>? t_cached;
        private TOp _op;
        private T* _a, _b, _y;
        private int _n;

        public static BinaryJob<T, TOp> Rent(TOp op, T* a, T* b, T* y, int n)
        {
            var job = t_cached ?? new BinaryJob<T, TOp>();
            t_cached = null;
            job._op = op; job._a = a; job._b = b; job._y = y; job._n = n;
            return job;
        }

        public void Return() { _a = _b = _y = null; t_cached = this; }

        public override void Execute(int part, int parts)
        {
            var (s, e) = PartRange(_n, part, parts);
            _op.Run(new ReadOnlySpan<T>(_a + s, e - s), new ReadOnlySpan<T>(_b + s, e - s), new Span<T>(_y + s, e - s));
        }
    }
}
