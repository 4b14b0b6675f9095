// Matrix products: Mm (2-D, the one primitive with a backward rule), Bmm, and MatMul with
// PyTorch's 1-D promotion and batch broadcasting composed from views + Bmm.
using Recurrent.Tracing;

namespace Recurrent;

public sealed partial class Tensor
{
    /// <summary>
    /// Describes a 2-D tensor (or, with <paramref name="transpose"/>, its transpose, without making the view) to GEMM
    /// without copying: row-major (trans = false, ld = stride 0) or a transposed view (trans = true, ld = stride 1);
    /// anything else is copied. The transpose takes the same tests on the swapped shape and strides, so a product
    /// gets the same GEMM path and bits as with a <c>x.T()</c> view (a shape with a dimension of 1 passes both tests,
    /// and which one wins decides the kernel).
    /// </summary>
    private static (Tensor t, bool trans, int ld) GemmOperand(Tensor x, bool transpose = false)
    {
        int r = x.ShapeRef[0], c = x.ShapeRef[1];
        int s0 = x.StridesRef[0], s1 = x.StridesRef[1];
        if (transpose) (r, c, s0, s1) = (c, r, s1, s0);
        if ((s1 == 1 || c == 1) && s0 >= Math.Max(1, c)) return (x, false, s0);
        if ((s0 == 1 || r == 1) && s1 >= Math.Max(1, r)) return (x, true, s1);
        var source = transpose ? new Tensor(x, x.Offset, [r, c], [s0, s1]) : x;
        var cc = NewZeroed(x.DType, source.ShapeRef);
        StridedCopy.Copy(source, cc);
        return (cc, false, c);
    }

    /// <summary>out[m,n] = a[m,k] @ b[k,n] as a new contiguous tensor, no autograd (transposed views go to the GEMM without a copy).</summary>
    /// <remarks><paramref name="transposeA"/> / <paramref name="transposeB"/> multiply by aᵀ / bᵀ instead, as a <c>T()</c> view would, without making one.</remarks>
    internal static Tensor MmRaw(Tensor a, Tensor b, bool transposeA = false, bool transposeB = false)
    {
        int m = a.ShapeRef[transposeA ? 1 : 0], k = a.ShapeRef[transposeA ? 0 : 1], n = b.ShapeRef[transposeB ? 0 : 1];
        var r = NewZeroed(a.DType, new[] { m, n });
        if (m == 0 || n == 0 || k == 0) return r; // k = 0: an empty sum, zeros (as torch.mm)
        var (ta, transA, lda) = GemmOperand(a, transposeA);
        var (tb, transB, ldb) = GemmOperand(b, transposeB);
        if (a.DType == DType.Float32)
            MatMulDispatch.Sgemm(transA, transB, m, n, k, 1f, ta.Arr<float>().AsSpan(ta.Offset), lda, tb.Arr<float>().AsSpan(tb.Offset), ldb, 0f, r.Arr<float>(), n);
        else
            MatMulDispatch.Dgemm(transA, transB, m, n, k, 1.0, ta.Arr<double>().AsSpan(ta.Offset), lda, tb.Arr<double>().AsSpan(tb.Offset), ldb, 0.0, r.Arr<double>(), n);
        return r;
    }

    /// <summary>2-D matrix product, as <c>torch.mm</c>.</summary>
    public Tensor Mm(Tensor other)
    {
        Guard.Floating(this, "self");
        Guard.SameDType(this, other, "mm");
        if (Dim != 2) throw new ArgumentException($"self must be a matrix, but got a {Dim}-D tensor");
        if (other.Dim != 2) throw new ArgumentException($"mat2 must be a matrix, but got a {other.Dim}-D tensor", nameof(other));
        if (ShapeRef[1] != other.ShapeRef[0])
            throw new ArgumentException($"mat1 and mat2 shapes cannot be multiplied ({ShapeRef[0]}x{ShapeRef[1]} and {other.ShapeRef[0]}x{other.ShapeRef[1]})", nameof(other));
        var r = MmRaw(this, other);
        var a = this; var b = other;
        return Record(r, "MmBackward0", g => new[]
        {
            a.RequiresGrad ? g.Mm(b.Detach().T()) : null,
            b.RequiresGrad ? a.Detach().T().Mm(g) : null,
        }, true, this, other);
    }

    /// <summary>Batched matrix product of [B,m,k] and [B,k,n], as <c>torch.bmm</c>.</summary>
    public Tensor Bmm(Tensor other)
    {
        Guard.Floating(this, "self");
        Guard.SameDType(this, other, "bmm");
        if (Dim != 3) throw new ArgumentException($"batch1 must be a 3D tensor, but got {Dim}-D");
        if (other.Dim != 3) throw new ArgumentException($"batch2 must be a 3D tensor, but got {other.Dim}-D", nameof(other));
        if (ShapeRef[0] != other.ShapeRef[0] || ShapeRef[2] != other.ShapeRef[1])
            throw new ArgumentException($"Expected size for first two dimensions of batch2 tensor to be: [{ShapeRef[0]}, {ShapeRef[2]}] but got: [{other.ShapeRef[0]}, {other.ShapeRef[1]}].", nameof(other));
        int bsz = ShapeRef[0], m = ShapeRef[1], n = other.ShapeRef[2];
        using var trace = TraceScope.Begin();
        var r = NewZeroed(DType, new[] { bsz, m, n });
        using (new NoGrad())
            for (int i = 0; i < bsz; i++)
                StridedCopy.Copy(MmRaw(Select(0, i), other.Select(0, i)), r.NarrowNoGrad(0, i, 1).Squeeze(0));
        trace.End()?.Op("MatMul", r, [this, other]);
        var a = this; var b = other;
        return Record(r, "BmmBackward0", g => new[]
        {
            a.RequiresGrad ? g.Bmm(b.Detach().Transpose(1, 2)) : null,
            b.RequiresGrad ? a.Detach().Transpose(1, 2).Bmm(g) : null,
        }, true, this, other);
    }

    /// <summary>
    /// Matrix product with PyTorch's rules (1-D operands promoted, batch dims broadcast), as <c>torch.matmul</c> / <c>@</c>.
    /// </summary>
    public Tensor MatMul(Tensor other)
    {
        using var trace = TraceScope.Begin();
        var r = MatMulCore(other);
        trace.End()?.Op("MatMul", r, [this, other]);
        return r;
    }

    private Tensor MatMulCore(Tensor other)
    {
        Guard.SameDType(this, other, "matmul");
        Guard.Floating(this, "input");
        int da = Dim, db = other.Dim;
        if (da == 0 || db == 0) throw new ArgumentException($"both arguments to matmul need to be at least 1D, but they are {da}D and {db}D");
        if (da == 1 && db == 1)
        {
            if (ShapeRef[0] != other.ShapeRef[0])
                throw new ArgumentException($"inconsistent tensor size, expected tensor [{ShapeRef[0]}] and src [{other.ShapeRef[0]}] to have the same number of elements, but got {ShapeRef[0]} and {other.ShapeRef[0]} elements respectively");
            return Unsqueeze(0).Mm(other.Unsqueeze(1)).Reshape();
        }
        if (da == 2 && db == 2) return Mm(other);
        if (da == 1) return Unsqueeze(0).MatMul(other).Squeeze(-2);
        if (db == 1) return MatMul(other.Unsqueeze(1)).Squeeze(-1);
        int k = ShapeRef[da - 1];
        if (other.ShapeRef[db - 2] != k)
            throw new ArgumentException($"mat1 and mat2 shapes cannot be multiplied ({ShapeUtil.Numel(ShapeRef) / Math.Max(k, 1)}x{k} and {other.ShapeRef[db - 2]}x{other.ShapeRef[db - 1]})", nameof(other));
        if (db == 2)
        {
            var lead = ShapeRef[..^1];
            var r2 = Reshape(ShapeUtil.Numel(lead), k).Mm(other);       // the rows counted, not inferred: k may be 0
            return r2.Reshape([.. lead, other.ShapeRef[1]]);
        }
        var batchA = ShapeRef[..^2]; var batchB = other.ShapeRef[..^2];
        var batch = ShapeUtil.Broadcast(batchA, batchB);
        int m = ShapeRef[da - 2], n = other.ShapeRef[db - 1];
        int bn = ShapeUtil.Numel(batch);
        var ea = Expand([.. batch, m, k]).Reshape(bn, m, k);
        var eb = other.Expand([.. batch, k, n]).Reshape(bn, k, n);
        return ea.Bmm(eb).Reshape([.. batch, m, n]);
    }
}
