// Shape arithmetic: element counts, contiguity, broadcasting.
namespace Recurrent;

internal static class ShapeUtil
{
    public static int Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var s in shape)
        {
            n *= s;
            if (n > Array.MaxLength) throw new ArgumentException($"shape {Guard.ShapeText(shape)} has more elements than an array can hold ({Array.MaxLength})");
        }
        return (int)n;
    }

    public static bool IsContiguous(ReadOnlySpan<int> shape, ReadOnlySpan<int> strides)
    {
        int expected = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] == 1) continue;
            if (strides[i] != expected) return false;
            expected *= shape[i];
        }
        return true;
    }

    /// <summary>NumPy/PyTorch broadcast of two shapes.</summary>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int n = Math.Max(a.Length, b.Length);
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int da = i < n - a.Length ? 1 : a[i - (n - a.Length)];
            int db = i < n - b.Length ? 1 : b[i - (n - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"The size of tensor a ({da}) must match the size of tensor b ({db}) at non-singleton dimension {i}");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    /// <summary>Strides of <paramref name="t"/> seen with the broadcast shape <paramref name="shape"/> (0 on broadcast dims).</summary>
    public static int[] BroadcastStrides(Tensor t, ReadOnlySpan<int> shape)
    {
        var r = new int[shape.Length];
        int lead = shape.Length - t.Dim;
        for (int i = 0; i < t.Dim; i++)
            r[lead + i] = t.ShapeRef[i] == 1 && shape[lead + i] != 1 ? 0 : t.StridesRef[i];
        return r;
    }

    public static int[] Normalize(ReadOnlySpan<int> shape, int numel)
    {
        var r = shape.ToArray();
        int infer = -1; long nonZero = 1; bool hasZero = false;
        for (int i = 0; i < r.Length; i++)
        {
            if (r[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException("only one dimension can be inferred");
                infer = i;
            }
            else if (r[i] < 0) throw new ArgumentException($"invalid shape dimension {r[i]}");
            else if (r[i] == 0) hasZero = true;
            else
            {
                // The product stops at the largest array: past it no element count can match (and in long it could
                // wrap back to a matching one), and a view's strides, products of its trailing sizes, must fit an int
                // even where a zero leaves it empty.
                nonZero *= r[i];
                if (nonZero > Array.MaxLength)
                    throw new ArgumentException($"shape '{Guard.ShapeText(shape)}' is invalid for input of size {numel}: its non-zero sizes multiply to more than the {Array.MaxLength} elements a Tensor can index");
            }
        }
        long known = hasZero ? 0 : nonZero;
        if (infer >= 0)
        {
            if (known == 0 || numel % known != 0)
                throw new ArgumentException($"shape '{Guard.ShapeText(shape)}' is invalid for input of size {numel}");
            r[infer] = (int)(numel / known);
        }
        else if (known != numel)
            throw new ArgumentException($"shape '{Guard.ShapeText(shape)}' is invalid for input of size {numel}");
        return r;
    }
}

/// <summary>Copies between arbitrarily strided tensors of the same shape and dtype.</summary>
internal static class StridedCopy
{
    public static void Copy(Tensor src, Tensor dst)
    {
        switch (src.DType)
        {
            case DType.Float32: Copy<float>(src.Arr<float>(), src.Offset, src.StridesRef, dst.Arr<float>(), dst.Offset, dst.StridesRef, dst.ShapeRef); break;
            case DType.Float64: Copy<double>(src.Arr<double>(), src.Offset, src.StridesRef, dst.Arr<double>(), dst.Offset, dst.StridesRef, dst.ShapeRef); break;
            default: Copy<long>(src.Arr<long>(), src.Offset, src.StridesRef, dst.Arr<long>(), dst.Offset, dst.StridesRef, dst.ShapeRef); break;
        }
    }

    /// <summary>Copies with explicit (possibly zero, for broadcasting) source strides.</summary>
    public static void Copy<T>(T[] src, int srcOff, int[] srcStrides, T[] dst, int dstOff, int[] dstStrides, int[] shape)
    {
        int rank = shape.Length;
        int n = ShapeUtil.Numel(shape);
        if (n == 0) return;
        if (rank == 0) { dst[dstOff] = src[srcOff]; return; }
        if (ShapeUtil.IsContiguous(shape, srcStrides) && ShapeUtil.IsContiguous(shape, dstStrides))
        {
            Array.Copy(src, srcOff, dst, dstOff, n);
            return;
        }
        int inner = shape[rank - 1], si = srcStrides[rank - 1], di = dstStrides[rank - 1];
        var idx = new int[rank];
        int so = srcOff, dof = dstOff;
        int outer = n / inner;
        for (int o = 0; o < outer; o++)
        {
            if (si == 1 && di == 1) Array.Copy(src, so, dst, dof, inner);
            else for (int j = 0; j < inner; j++) dst[dof + j * di] = src[so + j * si];
            for (int d = rank - 2; d >= 0; d--)
            {
                idx[d]++;
                so += srcStrides[d]; dof += dstStrides[d];
                if (idx[d] < shape[d]) break;
                so -= srcStrides[d] * shape[d]; dof -= dstStrides[d] * shape[d];
                idx[d] = 0;
            }
        }
    }
}
