// The fused per-row gate arithmetic of every mode: the forward step after the recurrent GEMM
// (bias add, activations, state update, saving what backward needs) and the backward step
// (pre-activation gate gradients and the elementwise parts of dh_{t-1}, dc_{t-1}). One body per
// mode, instantiated for Vector512, Vector256 and scalar lanes (remainder). Every pointer is one
// row; shapes in the comments are per row. In-place use is allowed where noted: each chunk of
// lanes is read completely before it is written. The row functions are compiled fully optimised
// at once (AggressiveOptimization): their tier-0 code makes every vector op a call (seen in the
// JIT's disassembly) and short runs, such as a few test or warm-up calls, never leave it.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Recurrent.Kernels;

/// <summary>Per-row fused gate kernels for element type <typeparamref name="T"/>.</summary>
internal static unsafe class RnnGates<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly bool s_v512 = Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported;
    private static readonly bool s_v256 = Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported;

    // ------------------------------------------------------------------------------------------
    // RNN (tanh / relu)
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// h = act(gx + (gh + bias)), PyTorch's rounding order.
    /// gx: (H) x W_ih^T + b_ih; gh: (H) h W_hh^T; bias: (H) b_hh; hOut: (H); actOut: (H) copy of h for backward, or null (may be gx).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RnnForwardRow(bool relu, int h, T* gx, T* gh, T* bias, T* hOut, T* actOut)
    {
        int j = 0;
        if (s_v512) j = RnnF<Vec512<T>>(relu, j, h, gx, gh, bias, hOut, actOut);
        else if (s_v256) j = RnnF<Vec256<T>>(relu, j, h, gx, gh, bias, hOut, actOut);
        RnnF<ScalarVec<T>>(relu, j, h, gx, gh, bias, hOut, actOut);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RnnF<TV>(bool relu, int j, int h, T* gx, T* gh, T* bias, T* hOut, T* actOut)
        where TV : unmanaged, IRnnVec<TV, T>
    {
        for (; j + TV.Count <= h; j += TV.Count)
        {
            TV pre = TV.Add(TV.Load(gx + j), TV.Add(TV.Load(gh + j), TV.Load(bias + j)));
            TV y = relu ? TV.Relu(pre) : RnnAct.Tanh<TV, T>(pre);
            TV.Store(hOut + j, y);
            if (actOut != null) TV.Store(actOut + j, y);
        }
        return j;
    }

    /// <summary>
    /// Backward of h = act(pre): dPre = (dh + dy) * act'(pre), from the saved h.
    /// act: (H) saved h; dh: (H) gradient from later steps; dy: (H) output gradient; dG: (H) out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RnnBackwardRow(bool relu, int h, T* act, T* dh, T* dy, T* dG)
    {
        int j = 0;
        if (s_v512) j = RnnB<Vec512<T>>(relu, j, h, act, dh, dy, dG);
        else if (s_v256) j = RnnB<Vec256<T>>(relu, j, h, act, dh, dy, dG);
        RnnB<ScalarVec<T>>(relu, j, h, act, dh, dy, dG);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RnnB<TV>(bool relu, int j, int h, T* act, T* dh, T* dy, T* dG) where TV : unmanaged, IRnnVec<TV, T>
    {
        TV one = TV.Splat(T.One);
        for (; j + TV.Count <= h; j += TV.Count)
        {
            TV y = TV.Load(act + j);
            TV d = TV.Add(TV.Load(dh + j), TV.Load(dy + j));
            // h = tanh(pre): dpre = dh * (1 - h^2);  h = relu(pre): dpre = h > 0 ? dh : 0
            TV.Store(dG + j, relu ? TV.PositiveMask(y, d) : TV.Mul(d, TV.Sub(one, TV.Mul(y, y))));
        }
        return j;
    }

    // ------------------------------------------------------------------------------------------
    // LSTM
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// i,f,o = sigmoid, g = tanh of gx + (gh + bias) (gx includes b_ih, bias is b_hh: PyTorch's rounding order); c = f*cPrev + i*g; hOut = o*tanh(c).
    /// gx, gh, bias: (4H) order i,f,g,o; cPrev: (H); cOut: (H), may equal cPrev; hOut: (H);
    /// gatesOut: (4H) activated gates or null (may equal gx); tanhCOut: (H) tanh(c) or null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmForwardRow(int h, T* gx, T* gh, T* bias, T* cPrev, T* cOut, T* hOut, T* gatesOut, T* tanhCOut)
    {
        int j = 0;
        if (s_v512) j = LstmF<Vec512<T>>(j, h, gx, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
        else if (s_v256) j = LstmF<Vec256<T>>(j, h, gx, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
        LstmF<ScalarVec<T>>(j, h, gx, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LstmF<TV>(int j, int h, T* gx, T* gh, T* bias, T* cPrev, T* cOut, T* hOut, T* gatesOut, T* tanhCOut)
        where TV : unmanaged, IRnnVec<TV, T>
    {
        for (; j + TV.Count <= h; j += TV.Count)
        {
            TV i = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Load(gx + j), TV.Add(TV.Load(gh + j), TV.Load(bias + j))));
            TV f = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Load(gx + h + j), TV.Add(TV.Load(gh + h + j), TV.Load(bias + h + j))));
            TV g = RnnAct.Tanh<TV, T>(TV.Add(TV.Load(gx + 2 * h + j), TV.Add(TV.Load(gh + 2 * h + j), TV.Load(bias + 2 * h + j))));
            TV o = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Load(gx + 3 * h + j), TV.Add(TV.Load(gh + 3 * h + j), TV.Load(bias + 3 * h + j))));
            TV c = TV.Add(TV.Mul(f, TV.Load(cPrev + j)), TV.Mul(i, g));
            TV tc = RnnAct.Tanh<TV, T>(c);
            TV.Store(cOut + j, c);
            TV.Store(hOut + j, TV.Mul(o, tc));
            if (gatesOut != null)
            {
                TV.Store(gatesOut + j, i);
                TV.Store(gatesOut + h + j, f);
                TV.Store(gatesOut + 2 * h + j, g);
                TV.Store(gatesOut + 3 * h + j, o);
            }
            if (tanhCOut != null) TV.Store(tanhCOut + j, tc);
        }
        return j;
    }

    /// <summary>
    /// Backward of one LSTM row. dhA (+ dhB when not null): (H) gradient into o*tanh(c_t);
    /// gates: (4H) saved i,f,g,o; tanhC: (H) saved tanh(c_t); cPrev: (H) c_{t-1};
    /// dc: (H) in: dc_t from later steps, out: dc_{t-1}; dG: (4H) out: pre-activation gradients.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmBackwardRow(int h, T* dhA, T* dhB, T* gates, T* tanhC, T* cPrev, T* dc, T* dG)
    {
        int j = 0;
        if (s_v512) j = LstmB<Vec512<T>>(j, h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
        else if (s_v256) j = LstmB<Vec256<T>>(j, h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
        LstmB<ScalarVec<T>>(j, h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LstmB<TV>(int j, int h, T* dhA, T* dhB, T* gates, T* tanhC, T* cPrev, T* dc, T* dG)
        where TV : unmanaged, IRnnVec<TV, T>
    {
        TV one = TV.Splat(T.One);
        for (; j + TV.Count <= h; j += TV.Count)
        {
            TV dh = TV.Load(dhA + j);
            if (dhB != null) dh = TV.Add(dh, TV.Load(dhB + j));
            TV i = TV.Load(gates + j), f = TV.Load(gates + h + j), g = TV.Load(gates + 2 * h + j), o = TV.Load(gates + 3 * h + j);
            TV tc = TV.Load(tanhC + j);
            // h = o * tanh(c):  do = dh * tanh(c);  dc += dh * o * (1 - tanh(c)^2)
            TV dO = TV.Mul(dh, tc);
            TV dC = TV.Add(TV.Load(dc + j), TV.Mul(TV.Mul(dh, o), TV.Sub(one, TV.Mul(tc, tc))));
            // c = f * c_prev + i * g:  di = dc * g;  dg = dc * i;  df = dc * c_prev;  dc_prev = dc * f
            TV dI = TV.Mul(dC, g), dGg = TV.Mul(dC, i), dF = TV.Mul(dC, TV.Load(cPrev + j));
            TV.Store(dc + j, TV.Mul(dC, f));
            // i,f,o = sigmoid(.): d = d_act * s * (1 - s);  g = tanh(.): d = d_act * (1 - g^2)
            TV.Store(dG + j, TV.Mul(dI, TV.Mul(i, TV.Sub(one, i))));
            TV.Store(dG + h + j, TV.Mul(dF, TV.Mul(f, TV.Sub(one, f))));
            TV.Store(dG + 2 * h + j, TV.Mul(dGg, TV.Sub(one, TV.Mul(g, g))));
            TV.Store(dG + 3 * h + j, TV.Mul(dO, TV.Mul(o, TV.Sub(one, o))));
        }
        return j;
    }

    // ------------------------------------------------------------------------------------------
    // GRU
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// r = sigmoid(gx_r + gh_r + b_r), z = sigmoid(gx_z + gh_z + b_z), hn = gh_n + b_hn,
    /// n = tanh(gx_n + b_in + r * hn), h = (1 - z) * n + z * hPrev.
    /// gx, gh: (3H) order r,z,n; bias: (3H) = (b_ir + b_hr, b_iz + b_hz, b_in); bhn: (H);
    /// hPrev: (H); hOut: (H); gatesOut: (3H) r,z,n or null (may equal gx); hnOut: (H) hn or null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GruForwardRow(int h, T* gx, T* gh, T* bias, T* bhn, T* hPrev, T* hOut, T* gatesOut, T* hnOut)
    {
        int j = 0;
        if (s_v512) j = GruF<Vec512<T>>(j, h, gx, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
        else if (s_v256) j = GruF<Vec256<T>>(j, h, gx, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
        GruF<ScalarVec<T>>(j, h, gx, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int GruF<TV>(int j, int h, T* gx, T* gh, T* bias, T* bhn, T* hPrev, T* hOut, T* gatesOut, T* hnOut)
        where TV : unmanaged, IRnnVec<TV, T>
    {
        for (; j + TV.Count <= h; j += TV.Count)
        {
            TV r = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Load(gx + j), TV.Add(TV.Load(gh + j), TV.Load(bias + j))));
            TV z = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Load(gx + h + j), TV.Add(TV.Load(gh + h + j), TV.Load(bias + h + j))));
            TV hn = TV.Add(TV.Load(gh + 2 * h + j), TV.Load(bhn + j));
            TV n = RnnAct.Tanh<TV, T>(TV.Add(TV.Load(gx + 2 * h + j), TV.Mul(r, hn)));
            TV hp = TV.Load(hPrev + j);
            TV.Store(hOut + j, TV.Add(n, TV.Mul(z, TV.Sub(hp, n))));
            if (gatesOut != null)
            {
                TV.Store(gatesOut + j, r);
                TV.Store(gatesOut + h + j, z);
                TV.Store(gatesOut + 2 * h + j, n);
            }
            if (hnOut != null) TV.Store(hnOut + j, hn);
        }
        return j;
    }

    /// <summary>
    /// Backward of one GRU row. dh: (H) in: gradient from later steps, out: dh_total * z (the
    /// direct path to h_{t-1}); dy: (H) output gradient; gates: (3H) saved r,z,n; hn: (H) saved
    /// W_hn h + b_hn; hPrev: (H); dG: (4H) out, order (n input part, r, z, n hidden part).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GruBackwardRow(int h, T* dh, T* dy, T* gates, T* hn, T* hPrev, T* dG)
    {
        int j = 0;
        if (s_v512) j = GruB<Vec512<T>>(j, h, dh, dy, gates, hn, hPrev, dG);
        else if (s_v256) j = GruB<Vec256<T>>(j, h, dh, dy, gates, hn, hPrev, dG);
        GruB<ScalarVec<T>>(j, h, dh, dy, gates, hn, hPrev, dG);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int GruB<TV>(int j, int h, T* dh, T* dy, T* gates, T* hn, T* hPrev, T* dG) where TV : unmanaged, IRnnVec<TV, T>
    {
        TV one = TV.Splat(T.One);
        for (; j + TV.Count <= h; j += TV.Count)
        {
            TV d = TV.Add(TV.Load(dh + j), TV.Load(dy + j));
            TV r = TV.Load(gates + j), z = TV.Load(gates + h + j), n = TV.Load(gates + 2 * h + j);
            TV hnv = TV.Load(hn + j);
            // h = (1 - z) * n + z * h_prev:  dn = dh * (1 - z);  dz = dh * (h_prev - n);  dh_prev = dh * z
            TV dn = TV.Mul(d, TV.Sub(one, z));
            TV dz = TV.Mul(d, TV.Sub(TV.Load(hPrev + j), n));
            TV.Store(dh + j, TV.Mul(d, z));
            // n = tanh(xn + r * hn):  dxn = dn * (1 - n^2);  dr = dxn * hn;  dhn = dxn * r
            TV dnp = TV.Mul(dn, TV.Sub(one, TV.Mul(n, n)));
            TV dr = TV.Mul(dnp, hnv);
            TV.Store(dG + j, dnp);
            TV.Store(dG + h + j, TV.Mul(dr, TV.Mul(r, TV.Sub(one, r))));
            TV.Store(dG + 2 * h + j, TV.Mul(dz, TV.Mul(z, TV.Sub(one, z))));
            TV.Store(dG + 3 * h + j, TV.Mul(dnp, r));
        }
        return j;
    }
}
