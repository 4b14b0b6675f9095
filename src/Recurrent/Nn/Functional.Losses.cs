// The losses of torch.nn.functional: cross_entropy (log_softmax + nll_loss as one autograd node
// with a fused backward; class indices or class probabilities; weights, ignore_index,
// label_smoothing), nll_loss, mse_loss, and the point-wise l1_loss, huber_loss,
// binary_cross_entropy and binary_cross_entropy_with_logits (one generic node each), with
// PyTorch's reduction rules and error wording.
// Sums accumulate in float64 and are rounded once, so float32 results sit within an ulp or two
// of PyTorch's.
using System.Numerics;

namespace Recurrent.Nn;

/// <summary>How a loss reduces its per-element values, as PyTorch's <c>reduction=</c> argument.</summary>
public enum Reduction
{
    /// <summary>No reduction: one loss per element (<c>'none'</c>).</summary>
    None,
    /// <summary>The (weighted) mean (<c>'mean'</c>, the default).</summary>
    Mean,
    /// <summary>The sum (<c>'sum'</c>).</summary>
    Sum,
}

/// <summary>PyTorch spellings of <see cref="Reduction"/>.</summary>
internal static class ReductionNames
{
    /// <summary>Parses <c>"none"</c>, <c>"mean"</c> or <c>"sum"</c>, as PyTorch's <c>_Reduction.get_enum</c>.</summary>
    public static Reduction Parse(string reduction) => reduction switch
    {
        "none" => Reduction.None,
        "mean" => Reduction.Mean,
        "sum" => Reduction.Sum,
        _ => throw new ArgumentException($"{reduction} is not a valid value for reduction (expected 'none', 'mean' or 'sum')", nameof(reduction)),
    };

    /// <summary>PyTorch's spelling: <c>"none"</c>, <c>"mean"</c> or <c>"sum"</c>.</summary>
    public static string ToPyTorch(this Reduction reduction) => reduction switch
    {
        Reduction.None => "none",
        Reduction.Mean => "mean",
        Reduction.Sum => "sum",
        _ => throw new ArgumentOutOfRangeException(nameof(reduction), reduction, $"{(int)reduction} is not a valid value for reduction"),
    };
}

public static partial class Functional
{
    /// <summary>
    /// Cross entropy between logits and targets, as <c>F.cross_entropy</c>.
    /// <para><paramref name="input"/>: (N, C), (N, C, d1, ...) or (C). <paramref name="target"/>: int64 class indices
    /// (N), (N, d1, ...) or () — or floating class probabilities of the input's shape.</para>
    /// <para>Per element: (1-ε)·(-w[t]·logp[t]) + ε/C·(-Σ_c w[c]·logp[c]); targets equal to
    /// <paramref name="ignoreIndex"/> contribute 0. <see cref="Reduction.Mean"/> divides by the sum of w[t] over
    /// non-ignored targets (their count without weights); all ignored gives NaN, with zero gradient.</para>
    /// </summary>
    public static Tensor CrossEntropy(Tensor input, Tensor target, Tensor? weight = null, long ignoreIndex = -100,
        Reduction reduction = Reduction.Mean, double labelSmoothing = 0.0)
    {
        Guard.NotNull(input, nameof(input));
        Guard.NotNull(target, nameof(target));
        CheckReduction(reduction);
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, $"label_smoothing must be between 0.0 and 1.0. Got: {PyFormat.Float(labelSmoothing)}");
        Guard.Floating(input, nameof(input));
        if (target.IsFloatingPoint && target.SameShape(input))
        {
            // PyTorch refuses it rather than ignore nothing: a probability target has no class index to skip.
            if (ignoreIndex >= 0)
                throw new ArgumentException($"ignore_index is not supported for floating point target (got ignoreIndex {ignoreIndex} with a probability target of shape {Guard.ShapeText(target.ShapeRef)})", nameof(ignoreIndex));
            return CrossEntropyProbabilities(input, target, weight, reduction, labelSmoothing);
        }
        if (target.IsFloatingPoint)
            throw new ArgumentException($"cross_entropy: expected target of dtype torch.int64 (class indices) or a floating point target of the input's shape {Guard.ShapeText(input.ShapeRef)} (class probabilities), but got {Tensor.DTypeName(target.DType)} of shape {Guard.ShapeText(target.ShapeRef)}", nameof(target));
        var (n, c, s) = CheckClassTarget(input, target, weight, "cross_entropy");
        return ClassLoss(input, target, weight, ignoreIndex, reduction, labelSmoothing, n, c, s, logSoftmax: true);
    }

    /// <summary>
    /// Negative log likelihood of log-probabilities (any scores) at the target classes, as <c>F.nll_loss</c>:
    /// per element -w[t]·input[t] (0 where t = <paramref name="ignoreIndex"/>). Shapes as <see cref="CrossEntropy"/>
    /// with class-index targets; the same reduction rules.
    /// </summary>
    public static Tensor NllLoss(Tensor input, Tensor target, Tensor? weight = null, long ignoreIndex = -100, Reduction reduction = Reduction.Mean)
    {
        Guard.NotNull(input, nameof(input));
        Guard.NotNull(target, nameof(target));
        CheckReduction(reduction);
        Guard.Floating(input, nameof(input));
        var (n, c, s) = CheckClassTarget(input, target, weight, "nll_loss");
        return ClassLoss(input, target, weight, ignoreIndex, reduction, 0.0, n, c, s, logSoftmax: false);
    }

    /// <summary>
    /// Squared error (x - y)², as <c>F.mse_loss</c>, reduced by <paramref name="reduction"/>. Shapes that differ
    /// are broadcast (a warning on <see cref="Warnings.Raised"/>, as PyTorch's).
    /// </summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        Guard.NotNull(input, nameof(input));
        Guard.NotNull(target, nameof(target));
        CheckReduction(reduction);
        Guard.Floating(input, nameof(input));
        CheckTargetDType(input, target, "mse_loss");
        if (!input.SameShape(target))
        {
            var shape = ShapeUtil.Broadcast(input.ShapeRef, target.ShapeRef);
            WarnBroadcast(input, target);
            input = input.Expand(shape); target = target.Expand(shape);
        }
        var x = input.Contiguous().Detach(); var y = target.Contiguous().Detach();
        int numel = x.Numel;
        var loss = reduction == Reduction.None ? Tensor.NewZeroed(x.DType, x.Shape) : Tensor.NewZeroed(x.DType, []);
        if (x.DType == DType.Float32) MseForward(x.AsSpan<float>(), y.AsSpan<float>(), reduction, loss.AsSpan<float>());
        else MseForward(x.AsSpan<double>(), y.AsSpan<double>(), reduction, loss.AsSpan<double>());
        var inShape = x.Shape;
        return Tensor.Record(loss, "MseLossBackward0", g =>
        {
            // l = (x - y)²  =>  dx = 2 (x - y) g (/ numel for mean),  dy = -dx
            var gx = Tensor.NewZeroed(x.DType, inShape);
            var gc = g.Contiguous();
            if (x.DType == DType.Float32) MseBackward(x.AsSpan<float>(), y.AsSpan<float>(), gc.AsSpan<float>(), reduction, gx.AsSpan<float>());
            else MseBackward(x.AsSpan<double>(), y.AsSpan<double>(), gc.AsSpan<double>(), reduction, gx.AsSpan<double>());
            return new Tensor?[] { input.RequiresGrad ? gx : null, target.RequiresGrad ? gx.Neg() : null };
        }, true, input, target);
    }

    /// <summary>
    /// Absolute error |x - y|, as <c>F.l1_loss</c>, reduced by <paramref name="reduction"/> (mean over every element by
    /// default). Shapes that differ are broadcast (a warning on <see cref="Warnings.Raised"/>, as PyTorch's). The gradient at x = y is 0.
    /// </summary>
    public static Tensor L1Loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        var (x, y) = CheckRegressionPair(input, target, reduction, "l1_loss");
        return PointwiseLoss<L1Op>("L1LossBackward0", x, y, null, null, 0, reduction);
    }

    /// <summary>
    /// Huber loss, as <c>F.huber_loss</c>: per element 0.5·(x - y)² where |x - y| &lt; <paramref name="delta"/>, else
    /// delta·(|x - y| - 0.5·delta); reduced by <paramref name="reduction"/>. Shapes that differ are broadcast (a
    /// warning on <see cref="Warnings.Raised"/>, as PyTorch's).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delta"/> is not positive.</exception>
    public static Tensor HuberLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean, double delta = 1.0)
    {
        CheckDelta(delta);
        var (x, y) = CheckRegressionPair(input, target, reduction, "huber_loss");
        return PointwiseLoss<HuberOp>("HuberLossBackward0", x, y, null, null, delta, reduction);
    }

    /// <summary>
    /// Binary cross entropy between probabilities and targets, as <c>F.binary_cross_entropy</c>: per element
    /// -w·(y·log(x) + (1 - y)·log(1 - x)), each log clamped to be at least -100 (so x = 0 or 1 gives a finite loss), then
    /// reduced by <paramref name="reduction"/>.
    /// <para><paramref name="input"/>: probabilities in [0, 1] of any shape. <paramref name="target"/>: the same shape and
    /// dtype, values in [0, 1]. <paramref name="weight"/>: rescales each element; it must broadcast to the input's
    /// shape, and receives no gradient.</para>
    /// <para>The input gradient is w·(x - y) / max(x·(1 - x), 1e-12); the target's, -w·logit(x) (as PyTorch).</para>
    /// </summary>
    public static Tensor BinaryCrossEntropy(Tensor input, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean)
    {
        const string op = "binary_cross_entropy";
        CheckBinaryPair(input, target, reduction, op);
        if (!target.SameShape(input))
            throw new ArgumentException($"Using a target size (torch.Size({Guard.ShapeText(target.ShapeRef)})) that is different to the input size (torch.Size({Guard.ShapeText(input.ShapeRef)})) is deprecated. Please ensure they have the same size.", nameof(target));
        var w = ElementWeight(weight, input, op, nameof(weight));
        var x = input.Contiguous().Detach();
        var y = target.Contiguous().Detach();
        if (x.DType == DType.Float32) CheckProbabilities(x.AsSpan<float>(), y.AsSpan<float>());
        else CheckProbabilities(x.AsSpan<double>(), y.AsSpan<double>());
        return PointwiseLoss<BceOp>("BinaryCrossEntropyBackward0", input, target, w, null, 0, reduction, x, y);
    }

    /// <summary>
    /// Binary cross entropy of logits, sigmoid and <see cref="BinaryCrossEntropy"/> in one numerically stable step, as
    /// <c>F.binary_cross_entropy_with_logits</c>: per element
    /// w·((1 - y)·x - (1 + (p - 1)·y)·logσ(x)), with logσ(x) = min(x, 0) - log(1 + exp(-|x|)), so large logits of
    /// either sign never overflow. Reduced by <paramref name="reduction"/>.
    /// <para><paramref name="input"/>: logits of any shape. <paramref name="target"/>: the same shape and dtype (values
    /// are usually in [0, 1]; they are not checked). <paramref name="weight"/>: rescales each element.
    /// <paramref name="posWeight"/> (p): weighs the positive term, one value per class along the last dimension
    /// (shape (C)) or any shape that broadcasts to the input's; p &gt; 1 raises recall, p &lt; 1 precision. The
    /// weights receive no gradient.</para>
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor input, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean,
        Tensor? posWeight = null)
    {
        const string op = "binary_cross_entropy_with_logits";
        CheckBinaryPair(input, target, reduction, op);
        if (!target.SameShape(input))
            throw new ArgumentException($"Target size (torch.Size({Guard.ShapeText(target.ShapeRef)})) must be the same as input size (torch.Size({Guard.ShapeText(input.ShapeRef)}))", nameof(target));
        var w = ElementWeight(weight, input, op, nameof(weight));
        var p = ElementWeight(posWeight, input, op, "pos_weight");
        return PointwiseLoss<BceWithLogitsOp>("BinaryCrossEntropyWithLogitsBackward0", input, target, w, p, 0, reduction);
    }

    internal static void CheckDelta(double delta)
    {
        if (!(delta > 0))
            throw new ArgumentOutOfRangeException(nameof(delta), delta, $"huber_loss does not support non-positive values for delta. Expected delta > 0, got {PyFormat.Float(delta)}");
    }

    /// <summary>The checks of l1_loss / huber_loss (and their broadcast of differing shapes).</summary>
    private static (Tensor Input, Tensor Target) CheckRegressionPair(Tensor input, Tensor target, Reduction reduction, string op)
    {
        CheckBinaryPair(input, target, reduction, op);
        if (input.SameShape(target)) return (input, target);
        var shape = ShapeUtil.Broadcast(input.ShapeRef, target.ShapeRef);
        WarnBroadcast(input, target);
        return (input.Expand(shape), target.Expand(shape));
    }

    // PyTorch's UserWarning for a regression loss whose shapes differ (after the shapes are known to broadcast).
    private static void WarnBroadcast(Tensor input, Tensor target) =>
        Warnings.Warn($"Using a target size (torch.Size({Guard.ShapeText(target.ShapeRef)})) that is different to the input size (torch.Size({Guard.ShapeText(input.ShapeRef)})). This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.");

    /// <summary>The checks every element-wise loss makes: both given, a known reduction, a floating input, the target's dtype.</summary>
    private static void CheckBinaryPair(Tensor input, Tensor target, Reduction reduction, string op)
    {
        Guard.NotNull(input, nameof(input));
        Guard.NotNull(target, nameof(target));
        CheckReduction(reduction);
        Guard.Floating(input, nameof(input));
        CheckTargetDType(input, target, op);
    }

    /// <summary>Element-wise losses compare tensors of one floating dtype; say how to convert the target otherwise.</summary>
    private static void CheckTargetDType(Tensor input, Tensor target, string op)
    {
        if (target.DType != input.DType)
            throw new ArgumentException($"{op}: expected target of dtype {Tensor.DTypeName(input.DType)} (the input's), but got {Tensor.DTypeName(target.DType)}. Convert it with target.To(DType.{input.DType})", nameof(target));
    }

    /// <summary>
    /// A per-element weight (weight, pos_weight) as a contiguous tensor of the input's shape and dtype, or null. It must
    /// broadcast to the input's shape; it is a constant of the loss (PyTorch has no derivative for it).
    /// </summary>
    private static Tensor? ElementWeight(Tensor? weight, Tensor input, string op, string name)
    {
        if (weight is null) return null;
        if (weight.RequiresGrad && GradMode.IsEnabled)
            throw new ArgumentException($"{op}: the derivative for '{name}' is not implemented. Pass {name}.Detach(), or compute the loss inside a NoGrad scope", name);
        bool fits = weight.Dim <= input.Dim;
        for (int i = 1; fits && i <= weight.Dim; i++)
        {
            int have = weight.Size(weight.Dim - i), want = input.Size(input.Dim - i);
            fits = have == want || have == 1;
        }
        if (!fits)
            throw new ArgumentException($"{op}: {name} of shape {Guard.ShapeText(weight.ShapeRef)} cannot be broadcast to the input's shape {Guard.ShapeText(input.ShapeRef)}. Expected a shape that broadcasts to {Guard.ShapeText(input.ShapeRef)}, got {Guard.ShapeText(weight.ShapeRef)}", name);
        using (new NoGrad())
            return weight.Detach().To(input.DType).Expand(input.ShapeRef).Contiguous();
    }

    private static void CheckProbabilities<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y) where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++)
        {
            if (!(x[i] >= T.Zero && x[i] <= T.One))
                throw new ArgumentException($"all elements of input should be between 0 and 1 (found {x[i]} at flat index {i}). Apply Sigmoid() to logits first, or use BCEWithLogitsLoss", "input");
            if (!(y[i] >= T.Zero && y[i] <= T.One))
                throw new ArgumentException($"all elements of target should be between 0 and 1 (found {y[i]} at flat index {i})", "target");
        }
    }

    /// <summary>
    /// One element of a point-wise loss: l(x, y) and its partial derivatives, with p the element's pos_weight (1 when
    /// there is none) and k the loss's constant (Huber's delta).
    /// </summary>
    private interface IPointwiseLoss
    {
        static abstract double Value(double x, double y, double p, double k);
        static abstract double DInput(double x, double y, double p, double k);
        static abstract double DTarget(double x, double y, double p, double k);
    }

    private readonly struct L1Op : IPointwiseLoss
    {
        public static double Value(double x, double y, double p, double k) => Math.Abs(x - y);
        public static double DInput(double x, double y, double p, double k) => x > y ? 1 : x < y ? -1 : x - y; // NaN stays NaN
        public static double DTarget(double x, double y, double p, double k) => -DInput(x, y, p, k);
    }

    private readonly struct HuberOp : IPointwiseLoss
    {
        public static double Value(double x, double y, double p, double k)
        {
            double z = Math.Abs(x - y);
            return z < k ? 0.5 * z * z : k * (z - 0.5 * k);
        }

        // d/dx: x - y inside (-δ, δ), ±δ outside.
        public static double DInput(double x, double y, double p, double k)
        {
            double d = x - y;
            return d <= -k ? -k : d >= k ? k : d;
        }

        public static double DTarget(double x, double y, double p, double k) => -DInput(x, y, p, k);
    }

    private readonly struct BceOp : IPointwiseLoss
    {
        // l = (y - 1)·max(log(1 - x), -100) - y·max(log x, -100)
        public static double Value(double x, double y, double p, double k) =>
            (y - 1) * Math.Max(Math.Log(1 - x), -100) - y * Math.Max(Math.Log(x), -100);

        // dl/dx = (x - y) / max(x(1 - x), ε), ε = 1e-12, as ATen's binary_cross_entropy_backward.
        public static double DInput(double x, double y, double p, double k) => (x - y) / Math.Max((1 - x) * x, 1e-12);

        // dl/dy = -logit(x) = log(1 - x) - log(x) (unclamped, as PyTorch's binary_cross_entropy_target_backward).
        public static double DTarget(double x, double y, double p, double k) => Math.Log(1 - x) - Math.Log(x);
    }

    private readonly struct BceWithLogitsOp : IPointwiseLoss
    {
        // logσ(x) = min(x, 0) - log1p(exp(-|x|)), exact for logits of any size.
        private static double LogSigmoid(double x) => Math.Min(x, 0) - Math.Log(1 + Math.Exp(-Math.Abs(x)));

        private static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

        // l = (1 - y)·x - (1 + (p - 1)·y)·logσ(x)
        public static double Value(double x, double y, double p, double k) => (1 - y) * x - (1 + (p - 1) * y) * LogSigmoid(x);

        // dl/dx = (p·y + 1 - y)·σ(x) - p·y
        public static double DInput(double x, double y, double p, double k) => (p * y + 1 - y) * Sigmoid(x) - p * y;

        // dl/dy = -x - (p - 1)·logσ(x) = logσ(-x) - p·logσ(x)
        public static double DTarget(double x, double y, double p, double k) => LogSigmoid(-x) - p * LogSigmoid(x);
    }

    /// <summary>
    /// A point-wise loss as one autograd node: per element w·l(x, y) in float64 (w the element's weight, 1 without one),
    /// rounded once to the input's dtype; the mean and the sum accumulate in float64 (the mean of no elements is NaN,
    /// as PyTorch's). <paramref name="input"/> and <paramref name="target"/> have one shape; weights are contiguous and
    /// of that shape.
    /// </summary>
    private static Tensor PointwiseLoss<TOp>(string name, Tensor input, Tensor target, Tensor? weight, Tensor? posWeight, double k,
        Reduction reduction, Tensor? xData = null, Tensor? yData = null) where TOp : IPointwiseLoss
    {
        var x = xData ?? input.Contiguous().Detach();
        var y = yData ?? target.Contiguous().Detach();
        var shape = input.Shape.ToArray();
        var loss = Tensor.NewZeroed(x.DType, reduction == Reduction.None ? shape : []);
        if (x.DType == DType.Float32)
            PointwiseForward<float, TOp>(x.AsSpan<float>(), y.AsSpan<float>(), Span(weight, 0f), Span(posWeight, 0f), k, reduction, loss.AsSpan<float>());
        else
            PointwiseForward<double, TOp>(x.AsSpan<double>(), y.AsSpan<double>(), Span(weight, 0d), Span(posWeight, 0d), k, reduction, loss.AsSpan<double>());
        return Tensor.Record(loss, name, g =>
        {
            var gc = g.Contiguous();
            Tensor? gx = input.RequiresGrad ? Tensor.NewZeroed(x.DType, shape) : null;
            Tensor? gy = target.RequiresGrad ? Tensor.NewZeroed(x.DType, shape) : null;
            if (x.DType == DType.Float32)
                PointwiseBackward<float, TOp>(x.AsSpan<float>(), y.AsSpan<float>(), Span(weight, 0f), Span(posWeight, 0f), k, reduction,
                    gc.AsSpan<float>(), gx is null ? default : gx.AsSpan<float>(), gy is null ? default : gy.AsSpan<float>());
            else
                PointwiseBackward<double, TOp>(x.AsSpan<double>(), y.AsSpan<double>(), Span(weight, 0d), Span(posWeight, 0d), k, reduction,
                    gc.AsSpan<double>(), gx is null ? default : gx.AsSpan<double>(), gy is null ? default : gy.AsSpan<double>());
            return new Tensor?[] { gx, gy };
        }, true, input, target);

        static ReadOnlySpan<T> Span<T>(Tensor? t, T _) where T : unmanaged => t is null ? default : t.AsSpan<T>();
    }

    private static void PointwiseForward<T, TOp>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> w, ReadOnlySpan<T> p, double k,
        Reduction r, Span<T> loss) where T : unmanaged, IFloatingPointIeee754<T> where TOp : IPointwiseLoss
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double l = TOp.Value(double.CreateTruncating(x[i]), double.CreateTruncating(y[i]), p.IsEmpty ? 1 : double.CreateTruncating(p[i]), k);
            if (!w.IsEmpty) l *= double.CreateTruncating(w[i]);
            if (r == Reduction.None) loss[i] = T.CreateTruncating(l);
            else sum += l;
        }
        if (r != Reduction.None) loss[0] = T.CreateTruncating(r == Reduction.Mean ? sum / x.Length : sum);
    }

    // d(loss)/dx_i = w_i·∂l/∂x(x_i, y_i)·σ_i with σ_i = g_i (none), g (sum) or g / numel (mean); the same for y.
    private static void PointwiseBackward<T, TOp>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> w, ReadOnlySpan<T> p, double k,
        Reduction r, ReadOnlySpan<T> g, Span<T> gx, Span<T> gy) where T : unmanaged, IFloatingPointIeee754<T> where TOp : IPointwiseLoss
    {
        double shared = r == Reduction.None ? 0 : double.CreateTruncating(g[0]) / (r == Reduction.Mean ? x.Length : 1);
        for (int i = 0; i < x.Length; i++)
        {
            double sigma = r == Reduction.None ? double.CreateTruncating(g[i]) : shared;
            if (!w.IsEmpty) sigma *= double.CreateTruncating(w[i]);
            double xi = double.CreateTruncating(x[i]), yi = double.CreateTruncating(y[i]), pi = p.IsEmpty ? 1 : double.CreateTruncating(p[i]);
            if (!gx.IsEmpty) gx[i] = T.CreateTruncating(TOp.DInput(xi, yi, pi, k) * sigma);
            if (!gy.IsEmpty) gy[i] = T.CreateTruncating(TOp.DTarget(xi, yi, pi, k) * sigma);
        }
    }

    private static void CheckReduction(Reduction r)
    {
        if (r is not (Reduction.None or Reduction.Mean or Reduction.Sum))
            throw new ArgumentOutOfRangeException(nameof(r), r, $"{(int)r} is not a valid value for reduction");
    }

    private static void MseForward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Reduction r, Span<T> loss) where T : IFloatingPointIeee754<T>
    {
        if (r == Reduction.None) { for (int i = 0; i < x.Length; i++) { T d = x[i] - y[i]; loss[i] = d * d; } return; }
        double s = 0;
        for (int i = 0; i < x.Length; i++) { double d = double.CreateTruncating(x[i]) - double.CreateTruncating(y[i]); s += d * d; }
        loss[0] = T.CreateTruncating(r == Reduction.Mean ? s / x.Length : s);
    }

    private static void MseBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Reduction r, Span<T> gx) where T : IFloatingPointIeee754<T>
    {
        if (r == Reduction.None)
        {
            for (int i = 0; i < x.Length; i++) gx[i] = T.CreateTruncating(2.0 * (double.CreateTruncating(x[i]) - double.CreateTruncating(y[i])) * double.CreateTruncating(g[i]));
            return;
        }
        double c = (r == Reduction.Mean ? 2.0 / x.Length : 2.0) * double.CreateTruncating(g[0]);
        for (int i = 0; i < x.Length; i++) gx[i] = T.CreateTruncating(c * (double.CreateTruncating(x[i]) - double.CreateTruncating(y[i])));
    }

    /// <summary>Validates class-index targets against the input; returns (N, C, S) with S the product of d1, d2, ....</summary>
    private static (int N, int C, int S) CheckClassTarget(Tensor input, Tensor target, Tensor? weight, string op)
    {
        if (target.DType != DType.Int64)
            throw new ArgumentException($"{op}: expected target of dtype torch.int64 (class indices), but got {Tensor.DTypeName(target.DType)}", nameof(target));
        if (input.Dim < 1) throw new ArgumentException($"Expected 1 or more dimensions (got {input.Dim})", nameof(input));
        int c, n, s = 1;
        if (input.Dim == 1)
        {
            if (target.Dim != 0)
                throw new ArgumentException($"{op}: for an input of shape [C] = {Guard.ShapeText(input.ShapeRef)} (no batch dim) the target must be 0-D, but got shape {Guard.ShapeText(target.ShapeRef)}", nameof(target));
            c = input.Size(0); n = 1;
        }
        else
        {
            if (target.Dim == 0 || input.Size(0) != target.Size(0))
                throw new ArgumentException($"Expected input batch_size ({input.Size(0)}) to match target batch_size ({(target.Dim == 0 ? 0 : target.Size(0))}).", nameof(target));
            n = input.Size(0); c = input.Size(1);
            if (input.Dim == 2 && target.Dim != 1)
                throw new ArgumentException($"0D or 1D target tensor expected, multi-target not supported (input {Guard.ShapeText(input.ShapeRef)}, target {Guard.ShapeText(target.ShapeRef)})", nameof(target));
            if (input.Dim > 2)
            {
                var expected = new int[input.Dim - 1];
                expected[0] = n;
                for (int i = 2; i < input.Dim; i++) { expected[i - 1] = input.Size(i); s *= input.Size(i); }
                if (!target.ShapeRef.AsSpan().SequenceEqual(expected))
                    throw new ArgumentException($"Expected target size {Guard.ShapeText(expected)}, got {Guard.ShapeText(target.ShapeRef)}", nameof(target));
            }
        }
        if (weight is not null)
        {
            if (weight.Dim != 1 || weight.Numel != c)
                throw new ArgumentException($"weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {Guard.ShapeText(weight.ShapeRef)}", nameof(weight));
            Guard.SameDType(input, weight, op);
        }
        return (n, c, s);
    }

    /// <summary>nll_loss (logSoftmax = false) or log_softmax + nll_loss with label smoothing (true) as one node.</summary>
    private static Tensor ClassLoss(Tensor input, Tensor target, Tensor? weight, long ignoreIndex, Reduction reduction,
        double eps, int n, int c, int s, bool logSoftmax)
    {
        var x = input.Contiguous().Detach();                                 // (N, C, S)
        // (N*S) targets, copied (a caller may change its tensor before backward); pooled inside a dispose scope.
        var targets = Tensor.Allocate(DType.Int64, [target.Numel], clear: false);
        target.Contiguous().AsSpan<long>().CopyTo(targets.AsSpan<long>());
        var t = targets.AsSpan<long>();
        for (int i = 0; i < t.Length; i++)
            if (t[i] != ignoreIndex && (t[i] < 0 || t[i] >= c))
                throw new ArgumentOutOfRangeException(nameof(target), $"Target {t[i]} is out of bounds. (expected a class index in [0, {c - 1}] for {c} classes{(ignoreIndex < 0 || ignoreIndex >= c ? $", or ignore_index {ignoreIndex}" : "")})");
        double[]? w = weight?.Detach().Double().Contiguous().AsSpan<double>().ToArray();
        var st = new ClassLossState(n, c, s, targets, w, ignoreIndex, eps, reduction, logSoftmax);
        var lossShape = reduction == Reduction.None ? target.Shape : [];
        var loss = Tensor.NewZeroed(x.DType, lossShape);
        if (x.DType == DType.Float32) st.Forward(x.AsSpan<float>(), loss.AsSpan<float>());
        else st.Forward(x.AsSpan<double>(), loss.AsSpan<double>());
        var inShape = input.Shape;
        return Tensor.Record(loss, "NllLossBackward0", g =>
        {
            var gx = Tensor.NewZeroed(x.DType, inShape);
            var gc = g.Contiguous();
            if (x.DType == DType.Float32) st.Backward(x.AsSpan<float>(), gc.AsSpan<float>(), gx.AsSpan<float>());
            else st.Backward(x.AsSpan<double>(), gc.AsSpan<double>(), gx.AsSpan<double>());
            return new Tensor?[] { gx };
        }, true, input);
    }

    /// <summary>
    /// The per-element arithmetic of nll_loss / cross_entropy on a contiguous (N, C, S) input. Element i = (n, s)
    /// has target t_i, weight w_t = weight[t_i] (1 without weights) and, for cross entropy,
    /// logp_c = x_c - logsumexp(x). Ignored elements contribute 0 and receive a zero gradient.
    /// </summary>
    private sealed class ClassLossState(int n, int c, int s, Tensor targets, double[]? w, long ignoreIndex, double eps, Reduction reduction, bool logSoftmax)
    {
        private Tensor? _lse;        // (N*S) float64 logsumexp per element, for cross entropy (pooled inside a dispose scope)
        private double _denominator; // Σ w_t over non-ignored elements (mean)

        private double W(long cls) => w is null ? 1.0 : w[cls];
        private double WSum() { if (w is null) return c; double a = 0; foreach (var v in w) a += v; return a; }

        // The common case, as the recurrent language models use it: (N, C) logits, no class weights, no label
        // smoothing. Row by row with vector kernels: max, exp(x - max) in T, the sum in double.
        private bool Plain => s == 1 && w is null && eps == 0 && logSoftmax;

        public void Forward<T>(ReadOnlySpan<T> x, Span<T> loss) where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (Plain && typeof(T) == typeof(float))
            {
                ForwardRows(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(loss));
                return;
            }
            int m = n * s;
            ReadOnlySpan<long> t = targets.AsSpan<long>();
            if (logSoftmax) _lse = Tensor.Allocate(DType.Float64, [m], clear: false);
            var lseAll = logSoftmax ? _lse!.AsSpan<double>() : default;
            double total = 0, smoothTotal = 0, denom = 0;
            for (int i = 0; i < m; i++)
            {
                int b = (i / s) * c * s + i % s;                              // offset of x[n, 0, s]
                double lse = 0;
                if (logSoftmax)
                {
                    double mx = double.NegativeInfinity;
                    for (int k = 0; k < c; k++) { double v = double.CreateTruncating(x[b + k * s]); if (v > mx || double.IsNaN(v)) mx = v; }
                    if (double.IsNegativeInfinity(mx)) mx = 0;
                    double se = 0;
                    for (int k = 0; k < c; k++) se += Math.Exp(double.CreateTruncating(x[b + k * s]) - mx);
                    lse = mx + Math.Log(se);
                    lseAll[i] = lse;
                }
                double nll = 0, smooth = 0;
                if (t[i] != ignoreIndex)
                {
                    double wt = W(t[i]);
                    denom += wt;
                    nll = -wt * (double.CreateTruncating(x[b + (int)t[i] * s]) - lse);
                    if (eps > 0)
                        for (int k = 0; k < c; k++) smooth -= W(k) * (double.CreateTruncating(x[b + k * s]) - lse);
                }
                if (reduction == Reduction.None) loss[i] = T.CreateTruncating((1 - eps) * nll + eps / c * smooth);
                else { total += nll; smoothTotal += smooth; }
            }
            _denominator = denom;
            if (reduction == Reduction.Sum) loss[0] = T.CreateTruncating((1 - eps) * total + eps / c * smoothTotal);
            else if (reduction == Reduction.Mean) loss[0] = T.CreateTruncating((1 - eps) * (total / denom) + eps / c * (smoothTotal / denom));
        }

        private void ForwardRows(ReadOnlySpan<float> x, Span<float> loss)
        {
            ReadOnlySpan<long> t = targets.AsSpan<long>();
            _lse = Tensor.Allocate(DType.Float64, [n], clear: false);
            var lseAll = _lse.AsSpan<double>();
            var row = c <= 1024 ? stackalloc float[c] : new float[c];
            double total = 0, denom = 0;
            for (int i = 0; i < n; i++)
            {
                var xi = x.Slice(i * c, c);
                float mx = System.Numerics.Tensors.TensorPrimitives.Max(xi);
                if (float.IsNegativeInfinity(mx)) mx = 0;
                System.Numerics.Tensors.TensorPrimitives.Subtract(xi, mx, row);
                System.Numerics.Tensors.TensorPrimitives.Exp(row, row);
                double lse = mx + Math.Log(Kernels.Reductions.Sum(row));
                lseAll[i] = lse;
                double nll = 0;
                if (t[i] != ignoreIndex)
                {
                    denom += 1;
                    nll = -(xi[(int)t[i]] - lse);
                }
                if (reduction == Reduction.None) loss[i] = (float)nll;
                else total += nll;
            }
            _denominator = denom;
            if (reduction == Reduction.Sum) loss[0] = (float)total;
            else if (reduction == Reduction.Mean) loss[0] = (float)(total / denom);
        }

        // dx_k = softmax_k · σ - σ·[k = t] per non-ignored row (σ = g_i, g, or g / count).
        private void BackwardRows(ReadOnlySpan<float> x, ReadOnlySpan<float> g, Span<float> gx)
        {
            double shared = reduction switch { Reduction.Sum => g[0], Reduction.Mean => g[0] / _denominator, _ => 0 };
            ReadOnlySpan<long> t = targets.AsSpan<long>();
            ReadOnlySpan<double> lseAll = _lse!.AsSpan<double>();
            for (int i = 0; i < n; i++)
            {
                if (t[i] == ignoreIndex) continue;                              // gx is zero-filled
                double sigma = reduction == Reduction.None ? g[i] : shared;
                var gi = gx.Slice(i * c, c);
                System.Numerics.Tensors.TensorPrimitives.Subtract(x.Slice(i * c, c), (float)lseAll[i], gi);
                System.Numerics.Tensors.TensorPrimitives.Exp(gi, gi);
                System.Numerics.Tensors.TensorPrimitives.Multiply(gi, (float)sigma, gi);
                int tk = (int)t[i];
                gi[tk] = (float)(gi[tk] - sigma);
            }
        }

        public void Backward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> g, Span<T> gx) where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (Plain && typeof(T) == typeof(float))
            {
                BackwardRows(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(g),
                    System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(gx));
                return;
            }
            // Per element, with scale σ (g_i, g, or g / Σw_t), a = (1-ε)·w_t·σ and b = ε/C·σ:
            //   nll:           dx_k = -a·[k = t]
            //   cross entropy: dlogp_k = -(a·[k = t] + b·w_k);  dx_k = dlogp_k - softmax_k · Σ_j dlogp_j
            //                  = softmax_k·(a + b·Σw) - a·[k = t] - b·w_k
            int m = n * s;
            ReadOnlySpan<long> t = targets.AsSpan<long>();
            ReadOnlySpan<double> lseAll = logSoftmax ? _lse!.AsSpan<double>() : default;
            double wsum = eps > 0 ? WSum() : 0;
            double shared = reduction switch
            {
                Reduction.Sum => double.CreateTruncating(g[0]),
                Reduction.Mean => double.CreateTruncating(g[0]) / _denominator,
                _ => 0,
            };
            for (int i = 0; i < m; i++)
            {
                if (t[i] == ignoreIndex) continue;                            // gx is zero-filled
                int b = (i / s) * c * s + i % s;
                double sigma = reduction == Reduction.None ? double.CreateTruncating(g[i]) : shared;
                double a = (1 - eps) * W(t[i]) * sigma, bb = eps / c * sigma;
                int tk = (int)t[i];
                if (!logSoftmax) { gx[b + tk * s] = T.CreateTruncating(-a); continue; }
                double lse = lseAll[i];
                double coef = a + bb * wsum;
                for (int k = 0; k < c; k++)
                {
                    double p = Math.Exp(double.CreateTruncating(x[b + k * s]) - lse);
                    double d = p * coef - (k == tk ? a : 0) - (eps > 0 ? bb * W(k) : 0);
                    gx[b + k * s] = T.CreateTruncating(d);
                }
            }
        }
    }

    /// <summary>Cross entropy with class-probability targets, composed of differentiable ops (PyTorch's cross_entropy_loss_prob_target).</summary>
    private static Tensor CrossEntropyProbabilities(Tensor input, Tensor target, Tensor? weight, Reduction reduction, double eps)
    {
        Guard.SameDType(input, target, "cross_entropy");
        int classDim = input.Dim == 1 ? 0 : 1;
        int c = input.Size(classDim);
        var logp = input.LogSoftmax(classDim);
        var tgt = eps > 0 ? target.Mul(1 - eps).Add(eps / c) : target;
        var prod = logp.Mul(tgt);
        if (weight is not null)
        {
            if (weight.Dim != 1 || weight.Numel != c)
                throw new ArgumentException($"weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {Guard.ShapeText(weight.ShapeRef)}", nameof(weight));
            Guard.SameDType(input, weight, "cross_entropy");
            var wshape = Enumerable.Repeat(1, input.Dim).ToArray(); wshape[classDim] = c;
            prod = prod.Mul(weight.Reshape(wshape));
        }
        return reduction switch
        {
            Reduction.None => prod.Sum(classDim).Neg(),
            Reduction.Sum => prod.Sum().Neg(),
            _ => prod.Sum().Neg().Div(input.Numel == 0 ? double.NaN : (double)input.Numel / c),
        };
    }
}
