// Shape and indexing ops. Views (View, Transpose, Permute, Squeeze, Unsqueeze, Narrow, Select,
// Expand) share storage through strides; Cat, Stack, IndexSelect and Gather copy. All differentiable.
using Recurrent.Tracing;

namespace Recurrent;

public sealed partial class Tensor
{
    private Tensor ViewOf(int offset, int[] shape, int[]? strides) => new(this, offset, shape, strides);

    /// <summary>A view with a new shape (one dim may be -1), as <c>tensor.view</c>. Needs a contiguous tensor.</summary>
    public Tensor View(params int[] shape)
    {
        var s = ShapeUtil.Normalize(shape, Numel);
        if (!IsContiguous)
            throw new InvalidOperationException("view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .Reshape(...) instead (or .Contiguous().View(...)).");
        var inShape = ShapeRef;
        var r = ViewOf(Offset, s, null);
        return Record(r, "ViewBackward0", g => new[] { g.Reshape(inShape) }, false, this);
    }

    /// <summary>Like <see cref="View"/> but copies when the layout requires it, as <c>tensor.reshape</c>.</summary>
    public Tensor Reshape(params int[] shape) => IsContiguous ? View(shape) : Contiguous().View(shape);

    /// <summary>Flattens dims startDim..endDim into one, as <c>torch.flatten</c>.</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Dim == 0)
        {
            Guard.Dim(startDim, 1); Guard.Dim(endDim, 1);   // a 0-dim tensor takes dims 0 and -1, as PyTorch
            return Reshape(1);
        }
        int s = Guard.Dim(startDim, Dim), e = Guard.Dim(endDim, Dim);
        if (s > e)
            throw new ArgumentException($"flatten() has invalid args: start_dim cannot come after end_dim. Expected startDim <= endDim, got startDim {startDim} (dimension {s}) and endDim {endDim} (dimension {e})", nameof(startDim));
        var shape = new List<int>();
        for (int i = 0; i < s; i++) shape.Add(ShapeRef[i]);
        int prod = 1; for (int i = s; i <= e; i++) prod *= ShapeRef[i];
        shape.Add(prod);
        for (int i = e + 1; i < Dim; i++) shape.Add(ShapeRef[i]);
        return Reshape(shape.ToArray());
    }

    // PyTorch's refusal of an op that needs a dimension on a 0-dim tensor (Guard.Dim accepts dims 0 and -1 there).
    private void NotZeroDim(string message)
    {
        if (Dim == 0) throw new ArgumentException(message + $" Got a 0-dim tensor (shape {Guard.ShapeText(ShapeRef)}).");
    }

    /// <summary>Swaps two dimensions (a view), as <c>tensor.transpose</c>.</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        int a = Guard.Dim(dim0, Dim, nameof(dim0)), b = Guard.Dim(dim1, Dim, nameof(dim1));
        if (Dim == 0) return Record(ViewOf(Offset, [], []), "TransposeBackward0", g => new[] { g }, false, this);   // PyTorch: dims 0 / -1 of a scalar
        var sh = Shape.ToArray(); var st = Strides;
        (sh[a], sh[b]) = (sh[b], sh[a]);
        (st[a], st[b]) = (st[b], st[a]);
        var r = ViewOf(Offset, sh, st);
        TraceRecorder.Current?.Op("Transpose", r, [this], a, b);
        return Record(r, "TransposeBackward0", g => new[] { g.Transpose(a, b) }, false, this);
    }

    /// <summary>Transpose of a 2-D tensor (1-D and 0-D unchanged), as <c>tensor.t()</c>.</summary>
    public Tensor T()
    {
        if (Dim > 2) throw new InvalidOperationException($"t() expects a tensor with <= 2 dimensions, but self is {Dim}D");
        return Dim < 2 ? this : Transpose(0, 1);
    }

    /// <summary>Reorders dimensions (a view), as <c>tensor.permute</c>.</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Dim)
            throw new ArgumentException($"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {Dim} is not equal to len(dims) = {dims.Length}", nameof(dims));
        var p = new int[Dim]; var seen = new bool[Dim];
        for (int i = 0; i < Dim; i++)
        {
            p[i] = Guard.Dim(dims[i], Dim, nameof(dims));
            if (seen[p[i]]) throw new ArgumentException("permute(): duplicate dims are not allowed.", nameof(dims));
            seen[p[i]] = true;
        }
        var sh = new int[Dim]; var st = new int[Dim];
        for (int i = 0; i < Dim; i++) { sh[i] = ShapeRef[p[i]]; st[i] = StridesRef[p[i]]; }
        var inv = new int[Dim];
        for (int i = 0; i < Dim; i++) inv[p[i]] = i;
        var r = ViewOf(Offset, sh, st);
        TraceRecorder.Current?.Op("Permute", r, [this], p);
        return Record(r, "PermuteBackward0", g => new[] { g.Permute(inv) }, false, this);
    }

    /// <summary>Removes all size-1 dims, or only <paramref name="dim"/> if it has size 1, as <c>tensor.squeeze</c>.</summary>
    public Tensor Squeeze(int? dim = null)
    {
        var sh = new List<int>(); var st = new List<int>();
        int d = dim is { } dd ? Guard.Dim(dd, Dim) : -1;
        for (int i = 0; i < Dim; i++)
        {
            bool drop = ShapeRef[i] == 1 && (dim is null || i == d);
            if (!drop) { sh.Add(ShapeRef[i]); st.Add(StridesRef[i]); }
        }
        var inShape = ShapeRef;
        return Record(ViewOf(Offset, sh.ToArray(), st.ToArray()), "SqueezeBackward0", g => new[] { g.Reshape(inShape) }, false, this);
    }

    /// <summary>Inserts a size-1 dim at <paramref name="dim"/>, as <c>tensor.unsqueeze</c>.</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = Guard.Dim(dim, Dim + 1);
        var sh = ShapeRef.ToList(); var st = StridesRef.ToList();
        int stride = d < Dim ? StridesRef[d] * ShapeRef[d] : 1;
        sh.Insert(d, 1); st.Insert(d, stride);
        return Record(ViewOf(Offset, sh.ToArray(), st.ToArray()), "UnsqueezeBackward0", g => new[] { g.Squeeze(d) }, false, this);
    }

    /// <summary>The slice [start, start+length) of one dim (a view), as <c>tensor.narrow</c>.</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        NotZeroDim("narrow() cannot be applied to a 0-dim tensor.");
        int d = Guard.Dim(dim, Dim);
        int size = ShapeRef[d], requestedStart = start;
        if (start < -size || start > size)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"start out of range (expected to be in range of [{-size}, {size}], but got {start})");
        if (start < 0) start += size;
        if (length < 0)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"narrow(): length must be non-negative, but got {length}");
        if ((long)start + length > size)   // in long: int would wrap for a length near int.MaxValue
            throw new ArgumentOutOfRangeException(nameof(length), length, $"start ({start}) + length ({length}) exceeds dimension size ({size}).");
        var sh = Shape.ToArray(); sh[d] = length;
        var inShape = ShapeRef; var dt = DType;
        var r = ViewOf(Offset + start * StridesRef[d], sh, StridesRef);
        TraceRecorder.Current?.Op("Narrow", r, [this], d, requestedStart, length);
        return Record(r, "NarrowBackward0", g =>
        {
            var z = NewZeroed(dt, inShape);
            z.NarrowNoGrad(d, start, length).Copy_(g);
            return new[] { z };
        }, false, this);
    }

    internal Tensor NarrowNoGrad(int d, int start, int length)
    {
        var sh = Shape.ToArray(); sh[d] = length;
        return ViewOf(Offset + start * StridesRef[d], sh, StridesRef);
    }

    /// <summary>Index <paramref name="index"/> of one dim, removing the dim (a view), as <c>tensor.select</c> / <c>x[i]</c>.</summary>
    public Tensor Select(int dim, int index)
    {
        NotZeroDim("select() cannot be applied to a 0-dim tensor.");
        int d = Guard.Dim(dim, Dim);
        int size = ShapeRef[d], requestedIndex = index;
        if (index < -size || index >= size)
            throw new IndexOutOfRangeException($"select(): index {index} out of range for tensor of size {Guard.ShapeText(ShapeRef)} at dimension {d}");
        if (index < 0) index += size;
        var sh = ShapeRef.ToList(); var st = StridesRef.ToList();
        int off = Offset + index * StridesRef[d];
        sh.RemoveAt(d); st.RemoveAt(d);
        var inShape = ShapeRef; var dt = DType; int idx = index;
        var r = ViewOf(off, sh.ToArray(), st.ToArray());
        TraceRecorder.Current?.Op("Select", r, [this], d, requestedIndex);
        return Record(r, "SelectBackward0", g =>
        {
            var z = NewZeroed(dt, inShape);
            z.NarrowNoGrad(d, idx, 1).Copy_(g.Unsqueeze(d));
            return new[] { z };
        }, false, this);
    }

    /// <summary>Broadcasts size-1 dims to a larger shape without copying (-1 keeps a dim), as <c>tensor.expand</c>.</summary>
    public Tensor Expand(params int[] shape)
    {
        Guard.NotNull(shape, nameof(shape));
        if (shape.Length < Dim)
            throw new ArgumentException($"expand: the number of sizes provided ({shape.Length}) must be greater or equal to the number of dimensions in the tensor ({Dim})", nameof(shape));
        var sh = new int[shape.Length]; var st = new int[shape.Length];
        int lead = shape.Length - Dim;
        for (int i = 0; i < shape.Length; i++)
        {
            int want = shape[i];
            if (want < -1 || (i < lead && want == -1))
                throw new ArgumentException(want == -1 ? "expand: -1 not allowed in leading, non-existing dimension"
                    : $"expand: the expanded size {want} at dimension {i} is invalid: expected a size >= 0, or -1 to keep the dimension. Target sizes: {Guard.ShapeText(shape)}", nameof(shape));
            if (i < lead) { sh[i] = want; st[i] = 0; continue; }
            int have = ShapeRef[i - lead];
            if (want == -1) want = have;
            if (have != want && have != 1)
                throw new ArgumentException($"The expanded size of the tensor ({want}) must match the existing size ({have}) at non-singleton dimension {i}.  Target sizes: {Guard.ShapeText(shape)}.  Tensor sizes: {Guard.ShapeText(ShapeRef)}", nameof(shape));
            sh[i] = want; st[i] = have == want ? StridesRef[i - lead] : 0;
        }
        ShapeUtil.Numel(sh);                                   // the expanded view must be indexable too
        var inShape = ShapeRef;
        return Record(ViewOf(Offset, sh, st), "ExpandBackward0", g => new[] { g.SumToShape(inShape) }, false, this);
    }

    /// <summary>Sums a broadcast gradient back down to <paramref name="shape"/>.</summary>
    internal Tensor SumToShape(int[] shape)
    {
        if (ShapeRef.AsSpan().SequenceEqual(shape)) return this;
        var t = this;
        int lead = Dim - shape.Length;
        for (int i = 0; i < lead; i++) t = t.Sum(0);
        for (int i = 0; i < shape.Length; i++)
            if (shape[i] == 1 && t.ShapeRef[i] != 1) t = t.Sum(i, keepDim: true);
        return t;
    }

    /// <summary>Concatenates along an existing dim, as <c>torch.cat</c>.</summary>
    public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        Guard.NotNull(tensors, nameof(tensors));
        if (tensors.Count == 0) throw new ArgumentException("torch.cat(): expected a non-empty list of Tensors", nameof(tensors));
        var first = tensors[0];
        for (int k = 0; k < tensors.Count; k++)
            if (tensors[k] is { Dim: 0 })
                throw new ArgumentException($"zero-dimensional tensor (at position {k}) cannot be concatenated", nameof(tensors));
        int d = Guard.Dim(dim, first.Dim);
        long total = 0;
        for (int k = 0; k < tensors.Count; k++)
        {
            var t = tensors[k];
            if (t is null) throw new ArgumentNullException(nameof(tensors), $"{nameof(tensors)}[{k}] must not be null");
            Guard.SameDType(first, t, "torch.cat()");
            if (t.Dim != first.Dim)
                throw new ArgumentException($"Tensors must have same number of dimensions: got {first.Dim} and {t.Dim}", nameof(tensors));
            for (int i = 0; i < t.Dim; i++)
                if (i != d && t.ShapeRef[i] != first.ShapeRef[i])
                    throw new ArgumentException($"Sizes of tensors must match except in dimension {d}. Expected size {first.ShapeRef[i]} but got size {t.ShapeRef[i]} for tensor number {k} in the list.", nameof(tensors));
            total += t.ShapeRef[d];
        }
        if (total > int.MaxValue)
            throw new ArgumentException($"torch.cat(): the sizes along dimension {d} add up to {total}, more than a dimension holds ({int.MaxValue})", nameof(tensors));
        var sh = first.Shape.ToArray(); sh[d] = (int)total;
        var r = NewZeroed(first.DType, sh);
        int pos = 0;
        var sizes = new int[tensors.Count];
        for (int k = 0; k < tensors.Count; k++)
        {
            var t = tensors[k];
            sizes[k] = t.ShapeRef[d];
            StridedCopy.Copy(t, r.NarrowNoGrad(d, pos, sizes[k]));
            pos += sizes[k];
        }
        TraceRecorder.Current?.Op("Concat", r, tensors.ToArray(), d);
        return Record(r, "CatBackward0", g =>
        {
            var gs = new Tensor?[sizes.Length];
            int p = 0;
            for (int k = 0; k < sizes.Length; k++) { gs[k] = g.Narrow(d, p, sizes[k]); p += sizes[k]; }
            return gs;
        }, false, tensors.ToArray());
    }

    /// <summary>Stacks equal-shaped tensors along a new dim, as <c>torch.stack</c>.</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        Guard.NotNull(tensors, nameof(tensors));
        if (tensors.Count == 0) throw new ArgumentException("stack expects a non-empty TensorList", nameof(tensors));
        for (int k = 1; k < tensors.Count; k++)
            if (!tensors[k].SameShape(tensors[0]))
                throw new ArgumentException($"stack expects each tensor to be equal size, but got {Guard.ShapeText(tensors[0].ShapeRef)} at entry 0 and {Guard.ShapeText(tensors[k].ShapeRef)} at entry {k}", nameof(tensors));
        int d = Guard.Dim(dim, tensors[0].Dim + 1);
        return Cat(tensors.Select(t => t.Unsqueeze(d)).ToList(), d);
    }

    /// <summary>Splits into pieces of <paramref name="splitSize"/> along a dim (views), as <c>torch.split</c>.</summary>
    public Tensor[] Split(int splitSize, int dim = 0)
    {
        Guard.Positive(splitSize, nameof(splitSize));
        NotZeroDim("split expects at least a 1-dimensional tensor");
        int d = Guard.Dim(dim, Dim);
        int size = ShapeRef[d];
        var parts = new List<Tensor>();
        for (long s = 0; s < size; s += splitSize) parts.Add(Narrow(d, (int)s, (int)Math.Min(splitSize, size - s)));
        if (parts.Count == 0) parts.Add(Narrow(d, 0, 0));
        return parts.ToArray();
    }

    /// <summary>Splits into pieces of the given sizes along a dim, as <c>torch.split(t, [2, 3])</c>.</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        Guard.NotNull(sizes, nameof(sizes));
        NotZeroDim("split expects at least a 1-dimensional tensor");
        int d = Guard.Dim(dim, Dim);
        CheckSplitSizes(sizes, d);
        var parts = new Tensor[sizes.Length];
        int p = 0;
        for (int i = 0; i < sizes.Length; i++) { parts[i] = Narrow(d, p, sizes[i]); p += sizes[i]; }
        return parts;
    }

    /// <summary>Splits into <paramref name="chunks"/> nearly equal pieces, as <c>torch.chunk</c>.</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        Guard.Positive(chunks, nameof(chunks));
        NotZeroDim("chunk expects at least a 1-dimensional tensor");
        int d = Guard.Dim(dim, Dim);
        int size = ShapeRef[d];
        int each = (int)Math.Max(1, ((long)size + chunks - 1) / chunks);
        return Split(each, d);
    }

    /// <summary>Rows (entries of <paramref name="dim"/>) picked by an int64 index vector, as <c>torch.index_select</c>.</summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        Guard.DType(index, DType.Int64, nameof(index));
        using var trace = TraceScope.Begin();
        if (index.Dim > 1) throw new ArgumentException($"index_select(): Index is supposed to be a vector, but got a {index.Dim}-D tensor", nameof(index));
        NotZeroDim("index_select() on a 0-dim tensor is not supported; Unsqueeze(0) it first");
        int d = Guard.Dim(dim, Dim);
        var idx = index.ToArray<long>();
        int size = ShapeRef[d];
        foreach (var i in idx)
            if (i < 0 || i >= size) throw new IndexOutOfRangeException($"index_select(): index {i} out of range for tensor of size {Guard.ShapeText(ShapeRef)} at dimension {d}");
        var sh = Shape.ToArray(); if (Dim > 0) sh[d] = idx.Length;
        var r = NewZeroed(DType, sh);
        for (int k = 0; k < idx.Length; k++) StridedCopy.Copy(NarrowNoGrad(d, (int)idx[k], 1), r.NarrowNoGrad(d, k, 1));
        trace.End()?.Op("IndexSelect", r, [this, index], d);
        var inShape = ShapeRef; var dt = DType;
        return Record(r, "IndexSelectBackward0", g =>
        {
            var z = NewZeroed(dt, inShape);
            var gc = g.Contiguous();
            for (int k = 0; k < idx.Length; k++) z.NarrowNoGrad(d, (int)idx[k], 1).Add_(gc.NarrowNoGrad(d, k, 1));
            return new Tensor?[] { z, null };
        }, false, this, index);
    }

    /// <summary>out[i][j] = self[index[i][j]][j] (for dim 0) etc., as <c>torch.gather</c>.</summary>
    public Tensor Gather(int dim, Tensor index)
    {
        Guard.DType(index, DType.Int64, nameof(index));
        NotZeroDim("gather() on a 0-dim tensor is not supported; Unsqueeze(0) it first");
        int d = Guard.Dim(dim, Dim);
        if (index.Dim != Dim)
            throw new ArgumentException($"Index tensor must have the same number of dimensions as input tensor (index: {index.Dim}, input: {Dim})", nameof(index));
        for (int i = 0; i < Dim; i++)
            if (i != d && index.ShapeRef[i] > ShapeRef[i])
                throw new ArgumentException($"Size does not match at dimension {i} expected index {Guard.ShapeText(index.ShapeRef)} to be smaller than self {Guard.ShapeText(ShapeRef)} apart from dimension {d}", nameof(index));
        var ic = index.Contiguous();
        var ia = ic.Arr<long>();
        var r = NewZeroed(DType, index.ShapeRef);
        int n = r.Numel;
        var offs = GatherOffsets(index.ShapeRef, ia, ic.Offset, d, ShapeRef[d]);
        switch (DType)
        {
            case DType.Float32: { var s = Arr<float>(); var o = r.Arr<float>(); for (int i = 0; i < n; i++) o[i] = s[Offset + Off(offs[i])]; break; }
            case DType.Float64: { var s = Arr<double>(); var o = r.Arr<double>(); for (int i = 0; i < n; i++) o[i] = s[Offset + Off(offs[i])]; break; }
            default: { var s = Arr<long>(); var o = r.Arr<long>(); for (int i = 0; i < n; i++) o[i] = s[Offset + Off(offs[i])]; break; }
        }
        TraceRecorder.Current?.Op("GatherElements", r, [this, index], d);
        var inShape = ShapeRef; var dt = DType;
        return Record(r, "GatherBackward0", g =>
        {
            var z = NewZeroed(dt, inShape);
            var gc = g.Contiguous();
            var zst = z.StridesRef;
            for (int i = 0; i < n; i++)
            {
                int o = 0; for (int k = 0; k < offs[i].Length; k++) o += offs[i][k] * zst[k];
                if (dt == DType.Float32) z.Arr<float>()[o] += gc.Arr<float>()[gc.Offset + i];
                else z.Arr<double>()[o] += gc.Arr<double>()[gc.Offset + i];
            }
            return new Tensor?[] { z, null };
        }, false, this, index);

        int Off(int[] full) { int o = 0; for (int k = 0; k < full.Length; k++) o += full[k] * StridesRef[k]; return o; }
    }

    private static int[][] GatherOffsets(int[] ishape, long[] ia, int ioff, int d, int size)
    {
        int n = ShapeUtil.Numel(ishape);
        var res = new int[n][];
        var idx = new int[ishape.Length];
        for (int i = 0; i < n; i++)
        {
            long v = ia[ioff + i];
            if (v < 0 || v >= size) throw new IndexOutOfRangeException($"index {v} is out of bounds for dimension {d} with size {size}");
            var full = (int[])idx.Clone();
            full[d] = (int)v;
            res[i] = full;
            for (int k = ishape.Length - 1; k >= 0; k--) { if (++idx[k] < ishape[k]) break; idx[k] = 0; }
        }
        return res;
    }
}
