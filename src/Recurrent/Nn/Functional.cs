// The functional forms of the layers, as torch.nn.functional: Linear (one GEMM against a
// transposed view of W, one autograd node), Embedding (row gather with padding_idx, max_norm,
// scale_grad_by_freq), Dropout, and the activations. Losses are in Functional.Losses.cs.
using Recurrent.Tracing;

namespace Recurrent.Nn;

/// <summary>Stateless layer and loss functions, as <c>torch.nn.functional</c> (<c>F.linear</c>, <c>F.cross_entropy</c>, ...).</summary>
public static partial class Functional
{
    // ------------------------------------------------------------------ linear

    /// <summary>
    /// y = x Wᵀ + b over the last dim, as <c>F.linear</c>. <paramref name="input"/>: (*, in_features);
    /// <paramref name="weight"/>: (out_features, in_features); <paramref name="bias"/>: (out_features) or null.
    /// Returns (*, out_features). One GEMM reads W through a transposed view (no copy of W).
    /// </summary>
    public static Tensor Linear(Tensor input, Tensor weight, Tensor? bias = null)
    {
        Guard.NotNull(input, nameof(input));
        Guard.NotNull(weight, nameof(weight));
        Guard.Floating(input, nameof(input));
        Guard.SameDType(input, weight, "linear");
        using var trace = TraceScope.Begin();
        if (weight.Dim != 2) throw new ArgumentException($"linear: weight must be 2-D (out_features, in_features), but got shape {Guard.ShapeText(weight.ShapeRef)}", nameof(weight));
        if (input.Dim == 0) throw new ArgumentException("linear: input must have at least 1 dimension, but got a 0-D tensor", nameof(input));
        int k = weight.Size(1), n = weight.Size(0);
        int kIn = input.Size(-1);
        // Rows of the product: the leading dimensions (not numel / K, which is undefined when K = 0).
        int rows = 1;
        for (int d = 0; d < input.Dim - 1; d++) rows *= input.Size(d);
        if (kIn != k)
        {
            throw new ArgumentException($"mat1 and mat2 shapes cannot be multiplied ({rows}x{kIn} and {k}x{n})", nameof(input));
        }
        if (bias is not null)
        {
            Guard.SameDType(input, bias, "linear");
            if (bias.Dim != 1 || bias.Size(0) != n)
                throw new ArgumentException($"linear: bias must have shape [{n}] (out_features), but got {Guard.ShapeText(bias.ShapeRef)}", nameof(bias));
        }

        var x2 = input.Dim == 2 ? input : input.Reshape(rows, k);             // (M, K)
        var y = Tensor.MmRaw(x2, weight, transposeB: true);                  // (M, N) = x Wᵀ
        if (bias is not null) AddRowVector(y, bias);
        y = Tensor.Record(y, bias is null ? "MmBackward0" : "AddmmBackward0", g => new Tensor?[]
        {
            // y = x Wᵀ + b  =>  dx = g W,  dW = gᵀ x,  db = Σ_rows g
            x2.RequiresGrad ? Tensor.MmRaw(g, weight) : null,
            weight.RequiresGrad ? Tensor.MmRaw(g, x2, transposeA: true) : null,
            bias is not null && bias.RequiresGrad ? g.Sum(0) : null,
        }, true, x2, weight, bias);

        if (input.Dim != 2)
        {
            var outShape = input.Shape.ToArray(); outShape[^1] = n;
            y = y.Reshape(outShape);
        }
        trace.End()?.Op("Linear", y, [input, weight, bias]);
        return y;
    }

    /// <summary>y[i, :] += b for a contiguous (M, N) result (no autograd).</summary>
    private static void AddRowVector(Tensor y, Tensor bias)
    {
        int m = y.Size(0), n = y.Size(1);
        var b = bias.Contiguous();
        if (y.DType == DType.Float32)
        {
            var ys = y.AsSpan<float>(); var bs = b.AsSpan<float>();
            for (int i = 0; i < m; i++) System.Numerics.Tensors.TensorPrimitives.Add(ys.Slice(i * n, n), bs, ys.Slice(i * n, n));
        }
        else
        {
            var ys = y.AsSpan<double>(); var bs = b.AsSpan<double>();
            for (int i = 0; i < m; i++) System.Numerics.Tensors.TensorPrimitives.Add(ys.Slice(i * n, n), bs, ys.Slice(i * n, n));
        }
    }

    // ------------------------------------------------------------------ embedding

    /// <summary>
    /// Looks up rows of <paramref name="weight"/> (num_embeddings, embedding_dim) for the int64 ids in
    /// <paramref name="input"/> (any shape), as <c>F.embedding</c>; returns (*input.shape, embedding_dim).
    /// The gradient of row <paramref name="paddingIdx"/> (negative counts from the end) is always zero.
    /// With <paramref name="maxNorm"/>, referenced rows whose <paramref name="normType"/>-norm exceeds it are
    /// rescaled in place first (as PyTorch, this modifies <paramref name="weight"/>). With
    /// <paramref name="scaleGradByFreq"/>, each row's gradient is divided by the number of times its id occurs.
    /// </summary>
    public static Tensor Embedding(Tensor input, Tensor weight, int? paddingIdx = null, double? maxNorm = null,
        double normType = 2.0, bool scaleGradByFreq = false, bool sparse = false)
    {
        Guard.NotNull(input, nameof(input));
        Guard.NotNull(weight, nameof(weight));
        if (input.DType != DType.Int64)
            throw new ArgumentException($"Expected tensor for argument #1 'indices' to have scalar type Long (torch.int64); but got {Tensor.DTypeName(input.DType)} instead (while checking arguments for embedding)", nameof(input));
        if (weight.Dim != 2) throw new ArgumentException($"'weight' must be 2-D, but got shape {Guard.ShapeText(weight.ShapeRef)}", nameof(weight));
        Guard.Floating(weight, nameof(weight));
        if (sparse) throw new NotSupportedException("embedding: sparse gradients are not supported (sparse=True); use dense gradients (sparse=False)");
        int num = weight.Size(0), dim = weight.Size(1);
        int pad = NormalizePaddingIdx(paddingIdx, num);
        using var trace = TraceScope.Begin();

        // The ids, copied (a caller may change its tensor before backward); pooled inside a dispose scope.
        var idsTensor = Tensor.Allocate(DType.Int64, [input.Numel], clear: false);
        input.Contiguous().AsSpan<long>().CopyTo(idsTensor.AsSpan<long>());
        ReadOnlySpan<long> ids = idsTensor.AsSpan<long>();
        foreach (var id in ids)
            if (id < 0 || id >= num)
                throw new ArgumentOutOfRangeException(nameof(input), $"index out of range in self: embedding index {id} is not in [0, {num}) (num_embeddings = {num})");

        var outShape = new int[input.Dim + 1];
        input.ShapeRef.CopyTo(outShape, 0); outShape[^1] = dim;
        var result = Tensor.NewZeroed(weight.DType, outShape);
        if (maxNorm is { } mn)
        {
            // max_norm rescales the weight's rows in place, as PyTorch's embedding_renorm_; the rescale and the read
            // run under one lock, so concurrent eval-mode forwards of one module each see whole rows (as one after
            // another would) instead of rows another thread is rewriting.
            lock (s_renormLock)
            {
                RenormRows(weight, ids, mn, normType);
                Gather(weight, ids, dim, result);
            }
        }
        else Gather(weight, ids, dim, result);

        var dtype = weight.DType;
        trace.End()?.Op("Embedding", result, [input, weight], maxNorm);
        // What a recurrent stack reading this output needs to work per id (Nn/Recurrent/InputGroups.cs).
        var lookup = new EmbeddingLookup(idsTensor, num, pad, scaleGradByFreq);
        result.Lookup = lookup;
        Tensor.Record(result, "EmbeddingBackward0", g =>
        {
            // out[i] = W[ids[i]]  =>  dW[r] = Σ_{i: ids[i] = r, r != padding_idx} g[i] (/ count[r] with scale_grad_by_freq)
            var gw = Tensor.NewZeroed(dtype, [num, dim]);
            var gc = g.Contiguous();
            ReadOnlySpan<long> ids = idsTensor.AsSpan<long>();
            if (dtype == DType.Float32) ScatterRows(gc.AsSpan<float>(), ids, dim, pad, scaleGradByFreq, num, gw.AsSpan<float>());
            else ScatterRows(gc.AsSpan<double>(), ids, dim, pad, scaleGradByFreq, num, gw.AsSpan<double>());
            return new Tensor?[] { gw };
        }, false, weight);
        lookup.Node = result.GradFn;
        return result;
    }

    /// <summary>PyTorch's padding_idx rule: negative counts from the end; returns -1 for none.</summary>
    internal static int NormalizePaddingIdx(int? paddingIdx, int numEmbeddings)
    {
        if (paddingIdx is not { } p) return -1;
        if (p >= 0)
        {
            if (p >= numEmbeddings) throw new ArgumentOutOfRangeException(nameof(paddingIdx), p, $"Padding_idx must be within num_embeddings (got padding_idx={p}, num_embeddings={numEmbeddings})");
            return p;
        }
        if (p < -numEmbeddings) throw new ArgumentOutOfRangeException(nameof(paddingIdx), p, $"Padding_idx must be within num_embeddings (got padding_idx={p}, num_embeddings={numEmbeddings})");
        return numEmbeddings + p;
    }

    private static void GatherRows<T>(ReadOnlySpan<T> w, ReadOnlySpan<long> ids, int dim, Span<T> dst)
    {
        for (int i = 0; i < ids.Length; i++) w.Slice((int)ids[i] * dim, dim).CopyTo(dst.Slice(i * dim, dim));
    }

    private static void ScatterRows<T>(ReadOnlySpan<T> g, ReadOnlySpan<long> ids, int dim, int pad, bool scaleByFreq, int num, Span<T> gw)
        where T : System.Numerics.IFloatingPointIeee754<T>
    {
        int[]? counts = null;
        if (scaleByFreq) { counts = new int[num]; foreach (var id in ids) counts[id]++; }
        for (int i = 0; i < ids.Length; i++)
        {
            int r = (int)ids[i];
            if (r == pad) continue;
            var src = g.Slice(i * dim, dim); var dst = gw.Slice(r * dim, dim);
            if (counts is null) System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);   // dst[j] += src[j], one rounding each
            else { T c = T.CreateTruncating(counts[r]); for (int j = 0; j < dim; j++) dst[j] += src[j] / c; }
        }
    }

    // One lock for every max_norm embedding of the process (a rare option; a per-weight lock would need a place to live).
    private static readonly object s_renormLock = new();

    private static void Gather(Tensor weight, ReadOnlySpan<long> ids, int dim, Tensor result)
    {
        var w = weight.Contiguous().Detach();
        if (weight.DType == DType.Float32) GatherRows(w.AsSpan<float>(), ids, dim, result.AsSpan<float>());
        else GatherRows(w.AsSpan<double>(), ids, dim, result.AsSpan<double>());
    }

    /// <summary>embedding_renorm_: rows referenced by ids with norm &gt; maxNorm are scaled by maxNorm / (norm + 1e-7).</summary>
    private static void RenormRows(Tensor weight, ReadOnlySpan<long> ids, double maxNorm, double normType)
    {
        using var _ = new NoGrad();
        foreach (var id in ids.ToArray().Distinct().Order())
        {
            var row = weight.Select(0, (int)id);
            double norm = VectorNorm(row, normType);
            if (norm > maxNorm) row.Mul_(maxNorm / (norm + 1e-7));
        }
    }

    /// <summary>The p-norm of all elements (inf: max |x|, -inf: min |x|, 0: count of non-zeros), accumulated in float64.</summary>
    internal static double VectorNorm(Tensor t, double p)
    {
        var c = t.IsContiguous ? t : t.Detach().Contiguous();   // reads the elements only: no view needed (clipping runs this per parameter every step)
        return c.DType switch
        {
            DType.Float32 => VectorNorm<float>(c.AsSpan<float>(), p),
            DType.Float64 => VectorNorm<double>(c.AsSpan<double>(), p),
            _ => throw new ArgumentException($"norm: expected a floating point tensor, but got {Tensor.DTypeName(c.DType)}", nameof(t)),
        };
    }

    /// <summary>The p-norm of <paramref name="a"/>, as <see cref="VectorNorm(Tensor, double)"/> of a float64 tensor of these values.</summary>
    internal static double VectorNorm(ReadOnlySpan<double> a, double p) => VectorNorm<double>(a, p);

    private static double VectorNorm<T>(ReadOnlySpan<T> a, double p) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (a.Length == 0) return p == double.NegativeInfinity ? double.PositiveInfinity : 0;
        if (double.IsInfinity(p))
        {
            bool max = p > 0;
            double m = max ? 0 : double.PositiveInfinity;
            foreach (var v in a)
            {
                double x = Math.Abs(double.CreateTruncating(v));
                if (double.IsNaN(x)) return x;
                if (max ? x > m : x < m) m = x;
            }
            return m;
        }
        double s = 0;
        if (p == 0) { foreach (var v in a) if (v != T.Zero) s++; return s; }
        if (p == 1) { foreach (var v in a) s += Math.Abs(double.CreateTruncating(v)); return s; }
        if (p == 2)
        {
            if (typeof(T) == typeof(float)) return Math.Sqrt(Kernels.Reductions.SumOfSquares(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(a)));
            if (typeof(T) == typeof(double)) return Math.Sqrt(Kernels.Reductions.SumOfSquares(System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(a)));
        }
        foreach (var v in a) s += Math.Pow(Math.Abs(double.CreateTruncating(v)), p);
        return Math.Pow(s, 1 / p);
    }

    // ------------------------------------------------------------------ one-hot

    /// <summary>
    /// One-hot encoding of int64 class indices, as <c>F.one_hot(tensor, num_classes)</c>: an int64 tensor of shape
    /// (*tensor.shape, numClasses) with 1 at each index; <paramref name="numClasses"/> -1 takes the largest index plus
    /// one. Convert with <c>.To(DType.Float32)</c> to feed a recurrent layer.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="tensor"/> is not int64, or empty with numClasses -1.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is negative or not below <paramref name="numClasses"/>.</exception>
    public static Tensor OneHot(Tensor tensor, int numClasses = -1)
    {
        Guard.NotNull(tensor, nameof(tensor));
        if (tensor.DType != DType.Int64)
            throw new ArgumentException($"one_hot is only applicable to index tensor of type LongTensor: tensor must be Int64, but got {tensor.DType}", nameof(tensor));
        int[] shape = [.. tensor.ShapeRef, 0];
        if (tensor.Numel == 0)
        {
            if (numClasses <= 0)
                throw new ArgumentException($"Can not infer total number of classes from empty tensor: give numClasses (got {numClasses}) for a tensor of shape {Guard.ShapeText(tensor.ShapeRef)}", nameof(numClasses));
            shape[^1] = numClasses;
            return TraceRecorder.MarkConstant(Tensor.NewZeroed(DType.Int64, shape));
        }
        var ids = tensor.Contiguous().ToArray<long>();
        long min = ids.Min(), max = ids.Max();
        if (min < 0)
            throw new ArgumentOutOfRangeException(nameof(tensor), $"Class values must be non-negative: tensor holds {min} at index {Array.IndexOf(ids, min)}");
        if (numClasses == -1)
        {
            if (max >= int.MaxValue) throw new ArgumentOutOfRangeException(nameof(tensor), $"tensor holds class {max}: too many classes for one tensor");
            numClasses = (int)max + 1;
        }
        else if (max >= numClasses)
            throw new ArgumentOutOfRangeException(nameof(tensor), $"Class values must be smaller than num_classes: numClasses is {numClasses}, but tensor holds {max} at index {Array.IndexOf(ids, max)}");
        shape[^1] = numClasses;
        if ((long)ids.Length * numClasses > Array.MaxLength)
            throw new ArgumentException($"one_hot of {ids.Length} indices with {numClasses} classes has more elements than a tensor can hold ({Array.MaxLength})", nameof(numClasses));
        var result = Tensor.NewZeroed(DType.Int64, shape);
        var r = result.AsSpan<long>();
        for (int i = 0; i < ids.Length; i++) r[i * numClasses + (int)ids[i]] = 1;
        // Built from the values (read, so a traced graph input is refused there): a constant of the trace.
        return TraceRecorder.MarkConstant(result);
    }

    // ------------------------------------------------------------------ dropout

    /// <summary>
    /// Zeroes each element with probability <paramref name="p"/> and scales the rest by 1/(1-p), only when
    /// <paramref name="training"/>; otherwise returns <paramref name="input"/> itself, as <c>F.dropout</c>.
    /// The mask comes from <paramref name="generator"/> (default: <see cref="Generator.Default"/>).
    /// </summary>
    public static Tensor Dropout(Tensor input, double p = 0.5, bool training = true, Generator? generator = null)
    {
        Guard.NotNull(input, nameof(input));
        CheckDropoutP(p);
        if (!training || p == 0 || input.Numel == 0) return input;
        TraceRecorder.Current?.Op("DropoutTraining", input, [input], p);
        Guard.Floating(input, nameof(input));
        if (p == 1) return input.Mul(0.0);
        var gen = generator ?? Generator.Default;
        var x = input.Contiguous().Detach();
        var mask = Tensor.Allocate(input.DType, input.ShapeRef, clear: false);   // 0 or 1/(1-p)
        var y = Tensor.Allocate(input.DType, input.ShapeRef, clear: false);
        if (input.DType == DType.Float32)
        {
            DropoutMask.Fill(mask.AsSpan<float>(), p, gen);
            System.Numerics.Tensors.TensorPrimitives.Multiply(x.AsSpan<float>(), mask.AsSpan<float>(), y.AsSpan<float>());
        }
        else
        {
            DropoutMask.Fill(mask.AsSpan<double>(), p, gen);
            System.Numerics.Tensors.TensorPrimitives.Multiply(x.AsSpan<double>(), mask.AsSpan<double>(), y.AsSpan<double>());
        }
        // y = x * mask  =>  dx = g * mask
        return Tensor.Record(y, "MulBackward0", g => new Tensor?[] { g.Mul(mask) }, true, input);
    }

    internal static void CheckDropoutP(double p, string paramName = "p")
    {
        if (!(p >= 0 && p <= 1))
            throw new ArgumentOutOfRangeException(paramName, p, $"dropout probability has to be between 0 and 1, but got {PyFormat.Float(p)}");
    }

    // ------------------------------------------------------------------ activations

    /// <summary>max(x, 0), as <c>F.relu</c>.</summary>
    public static Tensor Relu(Tensor input) => input.Relu();
    /// <summary>tanh(x), as <c>torch.tanh</c>.</summary>
    public static Tensor Tanh(Tensor input) => input.Tanh();
    /// <summary>1 / (1 + e^-x), as <c>torch.sigmoid</c>.</summary>
    public static Tensor Sigmoid(Tensor input) => input.Sigmoid();
    /// <summary>Softmax over <paramref name="dim"/>, as <c>F.softmax</c>.</summary>
    public static Tensor Softmax(Tensor input, int dim) => input.Softmax(dim);
    /// <summary>log(softmax(x)) over <paramref name="dim"/>, as <c>F.log_softmax</c>.</summary>
    public static Tensor LogSoftmax(Tensor input, int dim) => input.LogSoftmax(dim);
}
