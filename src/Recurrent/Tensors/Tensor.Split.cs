// Multi-output splitting ops needed by the recurrent layers: Unbind and SplitWithSizes record
// ONE autograd node for all pieces (as PyTorch's UnbindBackward0 / SplitWithSizesBackward0), so
// slicing a (T*B, G) input projection into T steps costs one gradient buffer in backward
// instead of T zero-filled full-size buffers (which T separate Narrow nodes would allocate).
using Recurrent.Tracing;

namespace Recurrent;

public sealed partial class Tensor
{
    /// <summary>
    /// Removes dimension <paramref name="dim"/> and returns every slice along it (views), as
    /// <c>torch.unbind</c>. One autograd node covers all slices.
    /// </summary>
    public Tensor[] Unbind(int dim = 0)
    {
        if (Dim == 0) throw new ArgumentException($"Dimension specified as {dim} but tensor has no dimensions", nameof(dim));
        int d = Guard.Dim(dim, Dim);
        int n = ShapeRef[d];
        var sizes = new int[n];
        Array.Fill(sizes, 1);
        var pieces = SplitWithSizes(sizes, d);
        var res = new Tensor[n];
        for (int i = 0; i < n; i++) res[i] = pieces[i].Squeeze(d);
        return res;
    }

    // split_with_sizes' checks (Split(int[]) and SplitWithSizes): non-negative sizes that add up, in long, to dim d's size.
    private void CheckSplitSizes(int[] sizes, int d)
    {
        long total = 0;
        foreach (var s in sizes)
        {
            if (s < 0) throw new ArgumentException($"split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes={Guard.ShapeText(sizes)}", nameof(sizes));
            total += s;
        }
        if (total != ShapeRef[d])
            throw new ArgumentException($"split_with_sizes expects split_sizes to sum exactly to {ShapeRef[d]} (input tensor's size at dimension {d}), but got split_sizes={Guard.ShapeText(sizes)}", nameof(sizes));
    }

    /// <summary>
    /// Splits along <paramref name="dim"/> into pieces of the given sizes (views), as
    /// <c>torch.split(t, sizes, dim)</c>, recording one autograd node for all pieces: the
    /// gradient of the input is the pieces' gradients concatenated (zeros where a piece got none).
    /// </summary>
    public Tensor[] SplitWithSizes(int[] sizes, int dim = 0)
    {
        Guard.NotNull(sizes, nameof(sizes));
        if (Dim == 0) throw new ArgumentException("split_with_sizes expects at least a 1-dimensional tensor. Got a 0-dim tensor.", nameof(dim));
        int d = Guard.Dim(dim, Dim);
        CheckSplitSizes(sizes, d);
        var parts = new Tensor[sizes.Length];
        int pos = 0;
        for (int i = 0; i < sizes.Length; i++) { parts[i] = NarrowNoGrad(d, pos, sizes[i]); pos += sizes[i]; }
        if (parts.Length == 0) return parts;
        TraceRecorder.Current?.Op("Split", parts, [this], d, sizes);
        var inShape = ShapeRef; var dt = DType; var sz = (int[])sizes.Clone();
        RecordMulti(parts, "SplitWithSizesBackward0", gs =>
        {
            var z = NewZeroed(dt, inShape);
            int p = 0;
            for (int i = 0; i < sz.Length; i++)
            {
                if (gs[i] is { } g) z.NarrowNoGrad(d, p, sz[i]).Copy_(g);
                p += sz[i];
            }
            return new Tensor?[] { z };
        }, this);
        return parts;
    }
}
