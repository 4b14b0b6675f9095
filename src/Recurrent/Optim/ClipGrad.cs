// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_: the total norm is the
// norm of the per-parameter norms, and every gradient is multiplied by
// min(max_norm / (total + 1e-6), 1) (always, as PyTorch, so a coefficient of 1 is a no-op).
namespace Recurrent.Optim;

/// <summary>Gradient clipping utilities, as <c>torch.nn.utils.clip_grad_*</c>.</summary>
public static class ClipGrad
{
    /// <summary>
    /// Rescales the gradients of <paramref name="parameters"/> in place so that their joint
    /// <paramref name="normType"/>-norm is at most <paramref name="maxNorm"/>, as <c>clip_grad_norm_</c>.
    /// Parameters without a gradient are skipped. Returns the total norm before clipping as a 0-dim tensor in the
    /// gradients' dtype (0.0 float32 when there are no gradients). <paramref name="normType"/> may be any p, or
    /// <see cref="double.PositiveInfinity"/> for the max-norm.
    /// </summary>
    /// <exception cref="InvalidOperationException">The total norm is NaN or infinite and <paramref name="errorIfNonfinite"/> is set.</exception>
    public static Tensor ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm, double normType = 2.0, bool errorIfNonfinite = false)
    {
        Guard.NotNull(parameters, nameof(parameters));
        // The thread's list of the last call, emptied (a training step clips once: no list per step).
        var grads = t_grads ?? new List<Tensor>();
        t_grads = null;
        try
        {
            foreach (var p in parameters)
                if (p?.GradUnseen is { } g) grads.Add(g);
            if (grads.Count == 0) return Tensor.Scalar(0.0);
            var total = GetTotalNorm(grads, normType, errorIfNonfinite);
            ClipGradsWithNorm(grads, maxNorm, total);
            return total;
        }
        finally
        {
            grads.Clear();
            t_grads = grads;
        }
    }

    [ThreadStatic] private static List<Tensor>? t_grads;

    /// <summary>
    /// The <paramref name="normType"/>-norm of the per-tensor norms of <paramref name="tensors"/>, as
    /// <c>torch.nn.utils.get_total_norm</c>; a 0-dim tensor in the first tensor's dtype.
    /// </summary>
    public static Tensor GetTotalNorm(IReadOnlyList<Tensor> tensors, double normType = 2.0, bool errorIfNonfinite = false)
    {
        Guard.NotNull(tensors, nameof(tensors));
        if (tensors.Count == 0) return Tensor.Scalar(0.0);
        var dtype = tensors[0].DType;
        // The per-tensor norms on the stack (a model's parameter count), so a training step allocates no array for them.
        Span<double> norms = tensors.Count <= 256 ? stackalloc double[tensors.Count] : new double[tensors.Count];
        for (int i = 0; i < norms.Length; i++)
        {
            if (tensors[i] is null) throw new ArgumentNullException(nameof(tensors), $"tensors[{i}] is null; pass only the gradients that exist");
            Guard.Floating(tensors[i], "gradient");
            // Each per-tensor norm is a tensor of the gradient's dtype in PyTorch: round it.
            norms[i] = Round(Nn.Functional.VectorNorm(tensors[i], normType), tensors[i].DType);
        }
        // The norm of the norms, as PyTorch's norm of their stacked tensor (here float64 values of the same roundings).
        double total = Round(Nn.Functional.VectorNorm(norms, normType), dtype);
        if (errorIfNonfinite && !double.IsFinite(total))
            throw new InvalidOperationException($"The total norm of order {Nn.PyFormat.Float(normType)} for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, pass errorIfNonfinite: false");
        return Tensor.Scalar(total, dtype);
    }

    /// <summary>Multiplies every gradient by min(maxNorm / (totalNorm + 1e-6), 1), as <c>torch.nn.utils.clip_grads_with_norm_</c>.</summary>
    public static void ClipGradsWithNorm(IReadOnlyList<Tensor> grads, double maxNorm, Tensor totalNorm)
    {
        Guard.NotNull(grads, nameof(grads));
        Guard.NotNull(totalNorm, nameof(totalNorm));
        if (grads.Count == 0) return;
        // Every entry before any is scaled, so a null or integer one leaves all of them as they were.
        for (int i = 0; i < grads.Count; i++)
        {
            if (grads[i] is null) throw new ArgumentNullException(nameof(grads), $"grads[{i}] is null; pass only the gradients that exist");
            if (!grads[i].IsFloatingPoint) Guard.Floating(grads[i], $"grads[{i}]");   // the name built only to throw (this runs every step)
        }
        // clip_coef = max_norm / (total_norm + 1e-6); clamp(max=1): tensor arithmetic in total_norm's dtype.
        double coef;
        if (totalNorm.DType == DType.Float32)
        {
            float c = (float)maxNorm / ((float)totalNorm.ToDouble() + 1e-6f);
            coef = c > 1f ? 1f : c;
        }
        else
        {
            double c = maxNorm / (totalNorm.ToDouble() + 1e-6);
            coef = c > 1 ? 1 : c;
        }
        // x * 1 == x for every value (a quiet NaN stays itself): the multiply PyTorch runs here would change nothing.
        if (coef == 1) return;
        using (new NoGrad())
            foreach (var g in grads) g.Mul_(coef);
    }

    /// <summary>Clamps every gradient into [-clipValue, clipValue] in place, as <c>clip_grad_value_</c>.</summary>
    public static void ClipGradValue(IEnumerable<Tensor> parameters, double clipValue)
    {
        Guard.NotNull(parameters, nameof(parameters));
        double c = Math.Abs(clipValue);
        using (new NoGrad())
            foreach (var p in parameters)
                p?.GradUnseen?.Clamp_(-c, c);
    }

    private static double Round(double v, DType dtype) => dtype == DType.Float32 ? (float)v : v;
}
