// The vectorised optimizer updates (Kernels/OptimizerKernels.cs) against plain scalar loops of
// torch/optim's _single_tensor_* operations, bit for bit, for every length 0..70 (full vectors and
// masked tails), every option, float and double, every SIMD path (CI re-runs this namespace with
// each ISA disabled), and a parameter long enough to be split over two threads.
using System.Numerics;
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

public class OptimizerKernelTests
{
    private static T[] Data<T>(int n, Random r, double scale) where T : IFloatingPointIeee754<T> =>
        Enumerable.Range(0, n).Select(_ => T.CreateChecked((r.NextDouble() * 2 - 1) * scale)).ToArray();

    private static T Lerp<T>(T self, T end, T w) where T : IFloatingPointIeee754<T> =>
        T.Abs(w) < T.CreateTruncating(0.5) ? T.FusedMultiplyAdd(w, end - self, self) : T.FusedMultiplyAdd(-(end - self), T.One - w, end);

    private static void AdamReference<T>(T[] p, T[] grad, T[] m, T[] v, T[]? vmax, bool maximize, double lr, double wd, bool decoupled, long step)
        where T : IFloatingPointIeee754<T>
    {
        double b1 = 0.9, b2 = 0.999, bc1 = 1 - Math.Pow(b1, step), bc2 = 1 - Math.Pow(b2, step);
        T decay = T.CreateTruncating(1 - lr * wd), wdT = T.CreateTruncating(wd), w1 = T.CreateTruncating(1 - b1);
        T beta2 = T.CreateTruncating(b2), omb2 = T.CreateTruncating(1 - b2), bc2s = T.CreateTruncating(Math.Pow(bc2, 0.5));
        T eps = T.CreateTruncating(1e-8), neg = T.CreateTruncating(-lr / bc1);
        for (int i = 0; i < p.Length; i++)
        {
            T g = maximize ? -grad[i] : grad[i];
            if (wd != 0) { if (decoupled) p[i] = p[i] * decay; else g = T.FusedMultiplyAdd(wdT, p[i], g); }
            m[i] = Lerp(m[i], g, w1);
            v[i] = T.FusedMultiplyAdd(omb2 * g, g, v[i] * beta2);
            T vv = v[i];
            if (vmax is not null) { if (vv > vmax[i] || T.IsNaN(vv)) vmax[i] = vv; vv = vmax[i]; }
            T denom = T.Sqrt(vv) / bc2s + eps;
            p[i] = p[i] + neg * m[i] / denom;
        }
    }

    private static void AdamCase<T>(int n, bool amsgrad, bool maximize, double wd, bool decoupled, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new Random(seed);
        var p = Data<T>(n, r, 1); var g = Data<T>(n, r, 1); var m = Data<T>(n, r, 0.1);
        var v = Data<T>(n, r, 0.01).Select(T.Abs).ToArray(); var vmax = amsgrad ? v.Select(x => x * T.CreateTruncating(1.5)).ToArray() : null;
        if (n > 3) g[3] = T.NaN;   // NaN flows through as in PyTorch
        var (p2, m2, v2, vmax2) = ((T[])p.Clone(), (T[])m.Clone(), (T[])v.Clone(), (T[]?)vmax?.Clone());
        const long step = 7;
        AdamReference(p, g, m, v, vmax, maximize, 1e-3, wd, decoupled, step);
        double bc1 = 1 - Math.Pow(0.9, step), bc2 = 1 - Math.Pow(0.999, step);
        T w1 = T.CreateTruncating(1 - 0.9);
        OptimizerKernels.Adam<T>(p2, g, m2, v2, vmax2 ?? [], new AdamRow<T>
        {
            Maximize = maximize, UseWeightDecay = wd != 0, Decoupled = decoupled, LerpSmall = true,
            Decay = T.CreateTruncating(1 - 1e-3 * wd), WeightDecay = T.CreateTruncating(wd), W1 = w1, OneMinusW1 = T.One - w1,
            Beta2 = T.CreateTruncating(0.999), OneMinusBeta2 = T.CreateTruncating(1 - 0.999), Bc2Sqrt = T.CreateTruncating(Math.Pow(bc2, 0.5)),
            Eps = T.CreateTruncating(1e-8), NegStepSize = T.CreateTruncating(-1e-3 / bc1),
        });
        Assert.Equal(p, p2);
        Assert.Equal(m, m2);
        Assert.Equal(v, v2);
        if (vmax is not null) Assert.Equal(vmax, vmax2!);
    }

    [Fact]
    public void Adam_MatchesTheScalarLoopBitForBit()
    {
        for (int n = 0; n <= 70; n++)
        {
            AdamCase<float>(n, false, false, 0, false, n);
            AdamCase<float>(n, true, true, 0.01, false, n + 1000);
            AdamCase<float>(n, true, false, 0.01, true, n + 2000);
            AdamCase<double>(n, n % 2 == 0, n % 3 == 0, n % 5 == 0 ? 0.1 : 0, n % 7 == 0, n + 3000);
        }
        AdamCase<float>(600_000, true, false, 0.01, true, 5);   // long: split over the team when it has two threads
    }

    private static void SgdCase<T>(int n, double momentum, double dampening, bool nesterov, bool first, double wd, bool maximize, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new Random(seed);
        var p = Data<T>(n, r, 1); var g = Data<T>(n, r, 1); var buf = momentum != 0 ? Data<T>(n, r, 0.1) : [];
        var (p2, buf2) = ((T[])p.Clone(), (T[])buf.Clone());
        T wdT = T.CreateTruncating(wd), mom = T.CreateTruncating(momentum), omd = T.CreateTruncating(1 - dampening), negLr = T.CreateTruncating(-0.05);
        for (int i = 0; i < n; i++)
        {
            T gi = maximize ? -g[i] : g[i];
            if (wd != 0) gi = T.FusedMultiplyAdd(wdT, p[i], gi);
            if (momentum != 0)
            {
                buf[i] = first ? gi : T.FusedMultiplyAdd(omd, gi, buf[i] * mom);
                gi = nesterov ? T.FusedMultiplyAdd(mom, buf[i], gi) : buf[i];
            }
            p[i] = T.FusedMultiplyAdd(negLr, gi, p[i]);
        }
        OptimizerKernels.Sgd<T>(p2, g, buf2, new SgdRow<T>
        {
            Maximize = maximize, UseWeightDecay = wd != 0, FirstStep = first, Nesterov = nesterov,
            WeightDecay = wdT, Momentum = mom, OneMinusDampening = omd, NegLr = negLr,
        });
        Assert.Equal(p, p2);
        Assert.Equal(buf, buf2);
    }

    [Fact]
    public void Sgd_MatchesTheScalarLoopBitForBit()
    {
        for (int n = 0; n <= 70; n++)
        {
            SgdCase<float>(n, 0, 0, false, false, 0, false, n);
            SgdCase<float>(n, 0.9, 0.1, true, false, 0.01, true, n + 1);
            SgdCase<float>(n, 0.9, 0, false, true, 0, false, n + 2);
            SgdCase<double>(n, 0.5, 0.2, n % 2 == 0, false, 0.1, n % 3 == 0, n + 3);
        }
    }

    private static void RmsPropCase<T>(int n, double momentum, bool centered, double wd, bool maximize, double alpha, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = new Random(seed);
        var p = Data<T>(n, r, 1); var g = Data<T>(n, r, 1); var sq = Data<T>(n, r, 0.1).Select(T.Abs).ToArray();
        var buf = momentum > 0 ? Data<T>(n, r, 0.1) : []; var ga = centered ? Data<T>(n, r, 0.01) : [];
        var (p2, sq2, buf2, ga2) = ((T[])p.Clone(), (T[])sq.Clone(), (T[])buf.Clone(), (T[])ga.Clone());
        T wdT = T.CreateTruncating(wd), a = T.CreateTruncating(alpha), oma = T.CreateTruncating(1 - alpha), eps = T.CreateTruncating(1e-8);
        T mom = T.CreateTruncating(momentum), negLr = T.CreateTruncating(-0.01);
        for (int i = 0; i < n; i++)
        {
            T gi = maximize ? -g[i] : g[i];
            if (wd != 0) gi = T.FusedMultiplyAdd(wdT, p[i], gi);
            sq[i] = T.FusedMultiplyAdd(oma * gi, gi, sq[i] * a);
            T avg;
            if (centered) { ga[i] = Lerp(ga[i], gi, oma); avg = T.Sqrt(T.FusedMultiplyAdd(-T.One * ga[i], ga[i], sq[i])); }
            else avg = T.Sqrt(sq[i]);
            avg = avg + eps;
            if (momentum > 0) { buf[i] = buf[i] * mom + T.One * gi / avg; p[i] = T.FusedMultiplyAdd(negLr, buf[i], p[i]); }
            else p[i] = p[i] + negLr * gi / avg;
        }
        OptimizerKernels.RmsProp<T>(p2, g, sq2, buf2, ga2, new RmsPropRow<T>
        {
            Maximize = maximize, UseWeightDecay = wd != 0, LerpSmall = T.Abs(oma) < T.CreateTruncating(0.5),
            WeightDecay = wdT, Alpha = a, OneMinusAlpha = oma, Eps = eps, Momentum = mom, NegLr = negLr,
        });
        Assert.Equal(p, p2);
        Assert.Equal(sq, sq2);
        Assert.Equal(buf, buf2);
        Assert.Equal(ga, ga2);
    }

    [Fact]
    public void RmsProp_MatchesTheScalarLoopBitForBit()
    {
        for (int n = 0; n <= 70; n++)
        {
            RmsPropCase<float>(n, 0, false, 0, false, 0.99, n);
            RmsPropCase<float>(n, 0.9, true, 0.01, true, 0.99, n + 1);
            RmsPropCase<float>(n, 0, true, 0, false, 0.3, n + 2);   // 1 - alpha >= 0.5: lerp's other branch
            RmsPropCase<double>(n, 0.5, n % 2 == 0, 0.1, n % 3 == 0, 0.9, n + 3);
        }
    }
}
