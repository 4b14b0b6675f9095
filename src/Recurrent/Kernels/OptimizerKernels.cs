// The update rules of Adam/AdamW, SGD and RMSprop on spans: one pass over a parameter, its gradient
// and its state, written once over the lane type and run by the gate-row driver (GateRows<T>) at the
// widest vector width with masked tails; large parameters are split over the worker team on
// 1024-element boundaries. Every lane does torch/optim's _single_tensor_* operations in the same
// order, with the same fused multiply-adds as libtorch's CPU kernels (add with alpha, addcmul and lerp
// contract to FMA), so the results are bit-identical to a scalar loop and do not depend on the
// vector width or the thread count.
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Recurrent.Kernels;

/// <summary>A gate row that can be cut into sub-ranges, for splitting over threads.</summary>
internal interface ISplittableRow<TSelf, T> : IGateRow<T> where TSelf : struct, ISplittableRow<TSelf, T> where T : unmanaged
{
    /// <summary>The same operation on elements [start, start + length).</summary>
    TSelf Slice(int start, int length);
}

/// <summary>Runs splittable rows, over the worker team when they are long.</summary>
internal static class RowRunner<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int ParallelElements = 1 << 18;

    public static void Run<TRow>(in TRow row) where TRow : struct, ISplittableRow<TRow, T>
    {
        int n = row.Length, threads = Parallelism.Threads;
        if (n == 0) return;
        if (threads <= 1 || n < ParallelElements)
        {
            GateRows<T>.Run(row);
            return;
        }
        var job = Job<TRow>.Rent(row);
        WorkerTeam.Run(job, Math.Min(threads, n / 1024));
        job.Return();
    }

    private sealed class Job<TRow> : ParallelJob where TRow : struct, ISplittableRow<TRow, T>
    {
        [ThreadStatic] private static Job<TRow>? t_cached;
        private TRow _row;

        public static Job<TRow> Rent(in TRow row)
        {
            var job = t_cached ?? new Job<TRow>();
            t_cached = null;
            job._row = row;
            return job;
        }

        public void Return()
        {
            _row = default;
            t_cached = this;
        }

        public override void Execute(int part, int parts)
        {
            var (s, e) = Elementwise.PartRange(_row.Length, part, parts);
            GateRows<T>.Run(_row.Slice(s, e - s));
        }
    }
}

/// <summary>Span entry points of the optimizer updates (all spans the parameter's length).</summary>
internal static unsafe class OptimizerKernels
{
    /// <summary>One Adam/AdamW step (see <see cref="AdamRow{T}"/>); <paramref name="maxSq"/> empty without amsgrad.</summary>
    public static void Adam<T>(Span<T> param, ReadOnlySpan<T> grad, Span<T> expAvg, Span<T> expAvgSq, Span<T> maxSq, in AdamRow<T> coefficients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* p = param, g = grad, m = expAvg, v = expAvgSq, vm = maxSq)
        {
            var row = coefficients with { Length = param.Length, P = p, G = g, M = m, V = v, VMax = maxSq.IsEmpty ? null : vm };
            RowRunner<T>.Run(row);
        }
    }

    /// <summary>One SGD step (see <see cref="SgdRow{T}"/>); <paramref name="momentumBuffer"/> empty without momentum.</summary>
    public static void Sgd<T>(Span<T> param, ReadOnlySpan<T> grad, Span<T> momentumBuffer, in SgdRow<T> coefficients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* p = param, g = grad, b = momentumBuffer)
        {
            var row = coefficients with { Length = param.Length, P = p, G = g, Buf = momentumBuffer.IsEmpty ? null : b };
            RowRunner<T>.Run(row);
        }
    }

    /// <summary>One RMSprop step (see <see cref="RmsPropRow{T}"/>); momentum buffer and grad average empty when unused.</summary>
    public static void RmsProp<T>(Span<T> param, ReadOnlySpan<T> grad, Span<T> squareAvg, Span<T> momentumBuffer, Span<T> gradAvg,
        in RmsPropRow<T> coefficients) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* p = param, g = grad, sq = squareAvg, b = momentumBuffer, ga = gradAvg)
        {
            var row = coefficients with
            {
                Length = param.Length, P = p, G = g, Sq = sq, Buf = momentumBuffer.IsEmpty ? null : b, GAvg = gradAvg.IsEmpty ? null : ga,
            };
            RowRunner<T>.Run(row);
        }
    }

    /// <summary>ATen's lerp(self, end, w): self + w·(end - self) for |w| &lt; 0.5, else end - (end - self)·(1 - w), fused.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV Lerp<TV, T>(TV self, TV end, TV w, TV oneMinusW, bool small)
        where TV : unmanaged, IRnnVec<TV, T> where T : unmanaged, IFloatingPointIeee754<T> =>
        small ? TV.Fma(w, TV.Sub(end, self), self) : TV.Fma(TV.Mul(TV.Sub(end, self), TV.Splat(-T.One)), oneMinusW, end);
}

/// <summary>
/// Adam / AdamW, per element (torch/optim/adam.py _single_tensor_adam):
/// <code>
/// g = -g if maximize;  p = p·decay (AdamW) or g = fma(wd, p, g) (Adam)
/// m = lerp(m, g, 1-β1);  v = fma((1-β2)·g, g, v·β2);  vmax = max(vmax, v) and v = vmax with amsgrad
/// p = p + (-lr/bc1 · m) / (sqrt(v)/sqrt(bc2) + eps)
/// </code>
/// </summary>
internal unsafe struct AdamRow<T> : ISplittableRow<AdamRow<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public T* P, G, M, V, VMax;
    public bool Maximize, UseWeightDecay, Decoupled, LerpSmall;
    public T Decay, WeightDecay, W1, OneMinusW1, Beta2, OneMinusBeta2, Bc2Sqrt, Eps, NegStepSize;

    public readonly AdamRow<T> Slice(int start, int length) => this with
    {
        Length = length, P = P + start, G = G + start, M = M + start, V = V + start, VMax = VMax == null ? null : VMax + start,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        T* pp = P, pg = G, pm = M, pv = V, pvm = VMax;
        bool maximize = Maximize, useWd = UseWeightDecay, decoupled = Decoupled, small = LerpSmall;
        TV decay = TV.Splat(Decay), wd = TV.Splat(WeightDecay), w1 = TV.Splat(W1), oneMinusW1 = TV.Splat(OneMinusW1);
        TV beta2 = TV.Splat(Beta2), oneMinusBeta2 = TV.Splat(OneMinusBeta2), bc2 = TV.Splat(Bc2Sqrt), eps = TV.Splat(Eps);
        TV negStep = TV.Splat(NegStepSize), minusOne = TV.Splat(-T.One);
        for (; j < end; j += TV.Count)
        {
            TV g = lanes.Load(pg + j);
            if (maximize) g = TV.Mul(g, minusOne);
            TV p = lanes.Load(pp + j);
            if (useWd)
            {
                if (decoupled) p = TV.Mul(p, decay);                                          // param.mul_(1 - lr * weight_decay)
                else g = TV.Fma(wd, p, g);                                                     // grad.add(param, alpha=weight_decay)
            }
            TV m = OptimizerKernels.Lerp<TV, T>(lanes.Load(pm + j), g, w1, oneMinusW1, small); // exp_avg.lerp_(grad, 1 - beta1)
            lanes.Store(pm + j, m);
            TV v = TV.Fma(TV.Mul(oneMinusBeta2, g), g, TV.Mul(lanes.Load(pv + j), beta2));   // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            lanes.Store(pv + j, v);
            if (pvm != null)
            {
                v = TV.MaxOrNaN(v, lanes.Load(pvm + j));                                       // torch.maximum(max_exp_avg_sq, exp_avg_sq, out=...)
                lanes.Store(pvm + j, v);
            }
            TV denom = TV.Add(TV.Div(TV.Sqrt(v), bc2), eps);                                   // (v.sqrt() / bias_correction2_sqrt).add_(eps)
            lanes.Store(pp + j, TV.Add(p, TV.Div(TV.Mul(negStep, m), denom)));                 // param.addcdiv_(exp_avg, denom, value=-step_size)
        }
    }
}

/// <summary>
/// SGD, per element (torch/optim/sgd.py _single_tensor_sgd):
/// <code>
/// g = -g if maximize;  g = fma(wd, p, g)
/// buf = g (first step) or fma(1-dampening, g, buf·momentum);  g = fma(momentum, buf, g) if nesterov else buf
/// p = fma(-lr, g, p)
/// </code>
/// </summary>
internal unsafe struct SgdRow<T> : ISplittableRow<SgdRow<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public T* P, G, Buf;
    public bool Maximize, UseWeightDecay, FirstStep, Nesterov;
    public T WeightDecay, Momentum, OneMinusDampening, NegLr;

    public readonly SgdRow<T> Slice(int start, int length) => this with
    {
        Length = length, P = P + start, G = G + start, Buf = Buf == null ? null : Buf + start,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        T* pp = P, pg = G, pb = Buf;
        bool maximize = Maximize, useWd = UseWeightDecay, first = FirstStep, nesterov = Nesterov;
        TV wd = TV.Splat(WeightDecay), mom = TV.Splat(Momentum), oneMinusDamp = TV.Splat(OneMinusDampening);
        TV negLr = TV.Splat(NegLr), minusOne = TV.Splat(-T.One);
        for (; j < end; j += TV.Count)
        {
            TV g = lanes.Load(pg + j);
            if (maximize) g = TV.Mul(g, minusOne);
            TV p = lanes.Load(pp + j);
            if (useWd) g = TV.Fma(wd, p, g);                                                   // grad.add(param, alpha=weight_decay)
            if (pb != null)
            {
                TV buf = first ? g : TV.Fma(oneMinusDamp, g, TV.Mul(lanes.Load(pb + j), mom)); // clone(grad) | buf.mul_(momentum).add_(grad, alpha=1-dampening)
                lanes.Store(pb + j, buf);
                g = nesterov ? TV.Fma(mom, buf, g) : buf;                                      // grad.add(buf, alpha=momentum) | buf
            }
            lanes.Store(pp + j, TV.Fma(negLr, g, p));                                          // param.add_(grad, alpha=-lr)
        }
    }
}

/// <summary>
/// RMSprop, per element (torch/optim/rmsprop.py _single_tensor_rmsprop):
/// <code>
/// g = -g if maximize;  g = fma(wd, p, g);  sq = fma((1-α)·g, g, sq·α)
/// avg = sqrt(fma(-ḡ, ḡ, sq)) with ḡ = lerp(ḡ, g, 1-α) if centered, else sqrt(sq);  avg = avg + eps
/// buf = buf·momentum + g/avg and p = fma(-lr, buf, p) with momentum, else p = p + (-lr·g)/avg
/// </code>
/// </summary>
internal unsafe struct RmsPropRow<T> : ISplittableRow<RmsPropRow<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public T* P, G, Sq, Buf, GAvg;
    public bool Maximize, UseWeightDecay, LerpSmall;
    public T WeightDecay, Alpha, OneMinusAlpha, Eps, Momentum, NegLr;

    public readonly RmsPropRow<T> Slice(int start, int length) => this with
    {
        Length = length, P = P + start, G = G + start, Sq = Sq + start, Buf = Buf == null ? null : Buf + start,
        GAvg = GAvg == null ? null : GAvg + start,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        T* pp = P, pg = G, psq = Sq, pb = Buf, pga = GAvg;
        bool maximize = Maximize, useWd = UseWeightDecay, small = LerpSmall;
        TV wd = TV.Splat(WeightDecay), alpha = TV.Splat(Alpha), oneMinusAlpha = TV.Splat(OneMinusAlpha), alphaW = TV.Splat(T.One - OneMinusAlpha);
        TV eps = TV.Splat(Eps), mom = TV.Splat(Momentum), negLr = TV.Splat(NegLr), minusOne = TV.Splat(-T.One), one = TV.Splat(T.One);
        for (; j < end; j += TV.Count)
        {
            TV g = lanes.Load(pg + j);
            if (maximize) g = TV.Mul(g, minusOne);
            TV p = lanes.Load(pp + j);
            if (useWd) g = TV.Fma(wd, p, g);                                                   // grad.add(param, alpha=weight_decay)
            TV sq = TV.Fma(TV.Mul(oneMinusAlpha, g), g, TV.Mul(lanes.Load(psq + j), alpha));  // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            lanes.Store(psq + j, sq);
            TV avg;
            if (pga != null)
            {
                TV ga = OptimizerKernels.Lerp<TV, T>(lanes.Load(pga + j), g, oneMinusAlpha, alphaW, small); // grad_avg.lerp_(grad, 1 - alpha)
                lanes.Store(pga + j, ga);
                avg = TV.Sqrt(TV.Fma(TV.Mul(minusOne, ga), ga, sq));                          // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
            }
            else avg = TV.Sqrt(sq);                                                            // square_avg.sqrt()
            avg = TV.Add(avg, eps);                                                            // avg.add_(eps)
            if (pb != null)
            {
                TV buf = TV.Add(TV.Mul(lanes.Load(pb + j), mom), TV.Div(TV.Mul(one, g), avg));  // buf.mul_(momentum).addcdiv_(grad, avg)
                lanes.Store(pb + j, buf);
                lanes.Store(pp + j, TV.Fma(negLr, buf, p));                                    // param.add_(buf, alpha=-lr)
            }
            else lanes.Store(pp + j, TV.Add(p, TV.Div(TV.Mul(negLr, g), avg)));               // param.addcdiv_(grad, avg, value=-lr)
        }
    }
}
