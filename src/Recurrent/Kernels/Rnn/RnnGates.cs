// The fused per-row gate arithmetic of every mode: the forward step after the recurrent GEMM
// (bias add, activations, state update, saving what backward needs) and the backward step
// (pre-activation gate gradients and the elementwise parts of dh_{t-1}, dc_{t-1}). One body per
// mode, instantiated for Vector512, Vector256 and scalar lanes; the remainder of a row shorter than
// a vector runs the same body once more with masked loads and stores (MaskedLanes512/256), so a
// row of 50 costs four vector chunks, not three plus two scalar elements. Every pointer is one
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
    /// h = act((gx + bih) + (gh + bias)), PyTorch's rounding order.
    /// gx: (H) x W_ih^T; bih: (H) b_ih (zeros without bias); gh: (H) h W_hh^T; bias: (H) b_hh; hOut: (H);
    /// actOut: (H) copy of h for backward, or null (may be gx).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RnnForwardRow(bool relu, int h, T* gx, T* bih, T* gh, T* bias, T* hOut, T* actOut)
    {
        if (s_v512) RnnForwardRow512(relu, h, gx, bih, gh, bias, hOut, actOut);
        else if (s_v256) RnnForwardRow256(relu, h, gx, bih, gh, bias, hOut, actOut);
        else RnnF<ScalarVec<T>, FullLanes<ScalarVec<T>, T>>(relu, default, 0, h, h, gx, bih, gh, bias, hOut, actOut);
    }

    // One instantiation of the body per method (full vectors; masked tail): each inlines completely
    // within the JIT's inlining budget (several in one method left vector ops as calls).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnForwardRow512(bool relu, int h, T* gx, T* bih, T* gh, T* bias, T* hOut, T* actOut)
    {
        int full = h - h % Vec512<T>.Count;
        RnnF<Vec512<T>, FullLanes<Vec512<T>, T>>(relu, default, 0, full, h, gx, bih, gh, bias, hOut, actOut);
        if (full < h) RnnForwardRow512Tail(relu, h, gx, bih, gh, bias, hOut, actOut);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnForwardRow512Tail(bool relu, int h, T* gx, T* bih, T* gh, T* bias, T* hOut, T* actOut)
    {
        int full = h - h % Vec512<T>.Count;
        RnnF<Vec512<T>, MaskedLanes512<T>>(relu, new(h - full), full, h, h, gx, bih, gh, bias, hOut, actOut);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnForwardRow256(bool relu, int h, T* gx, T* bih, T* gh, T* bias, T* hOut, T* actOut)
    {
        int full = h - h % Vec256<T>.Count;
        RnnF<Vec256<T>, FullLanes<Vec256<T>, T>>(relu, default, 0, full, h, gx, bih, gh, bias, hOut, actOut);
        if (full < h) RnnForwardRow256Tail(relu, h, gx, bih, gh, bias, hOut, actOut);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnForwardRow256Tail(bool relu, int h, T* gx, T* bih, T* gh, T* bias, T* hOut, T* actOut)
    {
        int full = h - h % Vec256<T>.Count;
        RnnF<Vec256<T>, MaskedLanes256<T>>(relu, new(h - full), full, h, h, gx, bih, gh, bias, hOut, actOut);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RnnF<TV, TL>(bool relu, TL lanes, int j, int end, int h, T* gx, T* bih, T* gh, T* bias, T* hOut, T* actOut)
        where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        for (; j < end; j += TV.Count)
        {
            TV pre = TV.Add(TV.Add(lanes.Load(gx + j), lanes.Load(bih + j)), TV.Add(lanes.Load(gh + j), lanes.Load(bias + j)));
            TV y = relu ? TV.Relu(pre) : RnnAct.Tanh<TV, T>(pre);
            lanes.Store(hOut + j, y);
            if (actOut != null) lanes.Store(actOut + j, y);
        }
    }

    /// <summary>
    /// Backward of h = act(pre): dPre = (dh + dy) * act'(pre), from the saved h.
    /// act: (H) saved h; dh: (H) gradient from later steps; dy: (H) output gradient; dG: (H) out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RnnBackwardRow(bool relu, int h, T* act, T* dh, T* dy, T* dG)
    {
        if (s_v512) RnnBackwardRow512(relu, h, act, dh, dy, dG);
        else if (s_v256) RnnBackwardRow256(relu, h, act, dh, dy, dG);
        else RnnB<ScalarVec<T>, FullLanes<ScalarVec<T>, T>>(relu, default, 0, h, h, act, dh, dy, dG);
    }

    // One instantiation of the body per method (full vectors; masked tail): each inlines completely
    // within the JIT's inlining budget (several in one method left vector ops as calls).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnBackwardRow512(bool relu, int h, T* act, T* dh, T* dy, T* dG)
    {
        int full = h - h % Vec512<T>.Count;
        RnnB<Vec512<T>, FullLanes<Vec512<T>, T>>(relu, default, 0, full, h, act, dh, dy, dG);
        if (full < h) RnnBackwardRow512Tail(relu, h, act, dh, dy, dG);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnBackwardRow512Tail(bool relu, int h, T* act, T* dh, T* dy, T* dG)
    {
        int full = h - h % Vec512<T>.Count;
        RnnB<Vec512<T>, MaskedLanes512<T>>(relu, new(h - full), full, h, h, act, dh, dy, dG);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnBackwardRow256(bool relu, int h, T* act, T* dh, T* dy, T* dG)
    {
        int full = h - h % Vec256<T>.Count;
        RnnB<Vec256<T>, FullLanes<Vec256<T>, T>>(relu, default, 0, full, h, act, dh, dy, dG);
        if (full < h) RnnBackwardRow256Tail(relu, h, act, dh, dy, dG);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnBackwardRow256Tail(bool relu, int h, T* act, T* dh, T* dy, T* dG)
    {
        int full = h - h % Vec256<T>.Count;
        RnnB<Vec256<T>, MaskedLanes256<T>>(relu, new(h - full), full, h, h, act, dh, dy, dG);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RnnB<TV, TL>(bool relu, TL lanes, int j, int end, int h, T* act, T* dh, T* dy, T* dG)
        where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        TV one = TV.Splat(T.One);
        for (; j < end; j += TV.Count)
        {
            TV y = lanes.Load(act + j);
            TV d = TV.Add(lanes.Load(dh + j), lanes.Load(dy + j));
            // h = tanh(pre): dpre = dh * (1 - h^2);  h = relu(pre): dpre = h > 0 ? dh : 0
            lanes.Store(dG + j, relu ? TV.PositiveMask(y, d) : TV.Mul(d, TV.Sub(one, TV.Mul(y, y))));
        }
    }

    // ------------------------------------------------------------------------------------------
    // LSTM
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// i,f,o = sigmoid, g = tanh of (gx + bih) + (gh + bias) (PyTorch's rounding order); c = f*cPrev + i*g; hOut = o*tanh(c).
    /// gx: (4H) x W_ih^T, order i,f,g,o; bih: (4H) b_ih (zeros without bias); gh: (4H) h W_hh^T; bias: (4H) b_hh;
    /// cPrev: (H); cOut: (H), may equal cPrev; hOut: (H);
    /// gatesOut: (4H) activated gates or null (may equal gx); tanhCOut: (H) tanh(c) or null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmForwardRow(int h, T* gx, T* bih, T* gh, T* bias, T* cPrev, T* cOut, T* hOut, T* gatesOut, T* tanhCOut)
    {
        if (s_v512) LstmForwardRow512(h, gx, bih, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
        else if (s_v256) LstmForwardRow256(h, gx, bih, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
        else LstmF<ScalarVec<T>, FullLanes<ScalarVec<T>, T>>(default, 0, h, h, gx, bih, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
    }

    // One instantiation of the body per method (full vectors; masked tail): each inlines completely
    // within the JIT's inlining budget (several in one method left vector ops as calls).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmForwardRow512(int h, T* gx, T* bih, T* gh, T* bias, T* cPrev, T* cOut, T* hOut, T* gatesOut, T* tanhCOut)
    {
        int full = h - h % Vec512<T>.Count;
        LstmF<Vec512<T>, FullLanes<Vec512<T>, T>>(default, 0, full, h, gx, bih, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
        if (full < h) LstmForwardRow512Tail(h, gx, bih, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmForwardRow512Tail(int h, T* gx, T* bih, T* gh, T* bias, T* cPrev, T* cOut, T* hOut, T* gatesOut, T* tanhCOut)
    {
        int full = h - h % Vec512<T>.Count;
        LstmF<Vec512<T>, MaskedLanes512<T>>(new(h - full), full, h, h, gx, bih, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmForwardRow256(int h, T* gx, T* bih, T* gh, T* bias, T* cPrev, T* cOut, T* hOut, T* gatesOut, T* tanhCOut)
    {
        int full = h - h % Vec256<T>.Count;
        LstmF<Vec256<T>, FullLanes<Vec256<T>, T>>(default, 0, full, h, gx, bih, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
        if (full < h) LstmForwardRow256Tail(h, gx, bih, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmForwardRow256Tail(int h, T* gx, T* bih, T* gh, T* bias, T* cPrev, T* cOut, T* hOut, T* gatesOut, T* tanhCOut)
    {
        int full = h - h % Vec256<T>.Count;
        LstmF<Vec256<T>, MaskedLanes256<T>>(new(h - full), full, h, h, gx, bih, gh, bias, cPrev, cOut, hOut, gatesOut, tanhCOut);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LstmF<TV, TL>(TL lanes, int j, int end, int h, T* gx, T* bih, T* gh, T* bias, T* cPrev, T* cOut, T* hOut, T* gatesOut, T* tanhCOut)
        where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        for (; j < end; j += TV.Count)
        {
            TV i = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Add(lanes.Load(gx + j), lanes.Load(bih + j)), TV.Add(lanes.Load(gh + j), lanes.Load(bias + j))));
            TV f = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Add(lanes.Load(gx + h + j), lanes.Load(bih + h + j)), TV.Add(lanes.Load(gh + h + j), lanes.Load(bias + h + j))));
            TV g = RnnAct.Tanh<TV, T>(TV.Add(TV.Add(lanes.Load(gx + 2 * h + j), lanes.Load(bih + 2 * h + j)), TV.Add(lanes.Load(gh + 2 * h + j), lanes.Load(bias + 2 * h + j))));
            TV o = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Add(lanes.Load(gx + 3 * h + j), lanes.Load(bih + 3 * h + j)), TV.Add(lanes.Load(gh + 3 * h + j), lanes.Load(bias + 3 * h + j))));
            TV c = TV.Add(TV.Mul(f, lanes.Load(cPrev + j)), TV.Mul(i, g));   // unfused: PyTorch's rounding (it matters when c cancels)
            TV tc = RnnAct.Tanh<TV, T>(c);
            lanes.Store(cOut + j, c);
            lanes.Store(hOut + j, TV.Mul(o, tc));
            if (gatesOut != null)
            {
                lanes.Store(gatesOut + j, i);
                lanes.Store(gatesOut + h + j, f);
                lanes.Store(gatesOut + 2 * h + j, g);
                lanes.Store(gatesOut + 3 * h + j, o);
            }
            if (tanhCOut != null) lanes.Store(tanhCOut + j, tc);
        }
    }

    /// <summary>
    /// Backward of one LSTM row. dhA (+ dhB when not null): (H) gradient into o*tanh(c_t);
    /// gates: (4H) saved i,f,g,o; tanhC: (H) saved tanh(c_t); cPrev: (H) c_{t-1};
    /// dc: (H) in: dc_t from later steps, out: dc_{t-1}; dG: (4H) out: pre-activation gradients.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LstmBackwardRow(int h, T* dhA, T* dhB, T* gates, T* tanhC, T* cPrev, T* dc, T* dG)
    {
        if (s_v512) LstmBackwardRow512(h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
        else if (s_v256) LstmBackwardRow256(h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
        else LstmB<ScalarVec<T>, FullLanes<ScalarVec<T>, T>>(default, 0, h, h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
    }

    // One instantiation of the body per method (full vectors; masked tail): each inlines completely
    // within the JIT's inlining budget (several in one method left vector ops as calls).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmBackwardRow512(int h, T* dhA, T* dhB, T* gates, T* tanhC, T* cPrev, T* dc, T* dG)
    {
        int full = h - h % Vec512<T>.Count;
        LstmB<Vec512<T>, FullLanes<Vec512<T>, T>>(default, 0, full, h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
        if (full < h) LstmBackwardRow512Tail(h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmBackwardRow512Tail(int h, T* dhA, T* dhB, T* gates, T* tanhC, T* cPrev, T* dc, T* dG)
    {
        int full = h - h % Vec512<T>.Count;
        LstmB<Vec512<T>, MaskedLanes512<T>>(new(h - full), full, h, h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmBackwardRow256(int h, T* dhA, T* dhB, T* gates, T* tanhC, T* cPrev, T* dc, T* dG)
    {
        int full = h - h % Vec256<T>.Count;
        LstmB<Vec256<T>, FullLanes<Vec256<T>, T>>(default, 0, full, h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
        if (full < h) LstmBackwardRow256Tail(h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmBackwardRow256Tail(int h, T* dhA, T* dhB, T* gates, T* tanhC, T* cPrev, T* dc, T* dG)
    {
        int full = h - h % Vec256<T>.Count;
        LstmB<Vec256<T>, MaskedLanes256<T>>(new(h - full), full, h, h, dhA, dhB, gates, tanhC, cPrev, dc, dG);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LstmB<TV, TL>(TL lanes, int j, int end, int h, T* dhA, T* dhB, T* gates, T* tanhC, T* cPrev, T* dc, T* dG)
        where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        TV one = TV.Splat(T.One);
        for (; j < end; j += TV.Count)
        {
            TV dh = lanes.Load(dhA + j);
            if (dhB != null) dh = TV.Add(dh, lanes.Load(dhB + j));
            TV i = lanes.Load(gates + j), f = lanes.Load(gates + h + j), g = lanes.Load(gates + 2 * h + j), o = lanes.Load(gates + 3 * h + j);
            TV tc = lanes.Load(tanhC + j);
            // h = o * tanh(c):  do = dh * tanh(c);  dc += dh * o * (1 - tanh(c)^2)
            TV dO = TV.Mul(dh, tc);
            TV dC = TV.Add(lanes.Load(dc + j), TV.Mul(TV.Mul(dh, o), TV.Sub(one, TV.Mul(tc, tc))));
            // c = f * c_prev + i * g:  di = dc * g;  dg = dc * i;  df = dc * c_prev;  dc_prev = dc * f
            TV dI = TV.Mul(dC, g), dGg = TV.Mul(dC, i), dF = TV.Mul(dC, lanes.Load(cPrev + j));
            lanes.Store(dc + j, TV.Mul(dC, f));
            // i,f,o = sigmoid(.): d = d_act * s * (1 - s);  g = tanh(.): d = d_act * (1 - g^2)
            lanes.Store(dG + j, TV.Mul(dI, TV.Mul(i, TV.Sub(one, i))));
            lanes.Store(dG + h + j, TV.Mul(dF, TV.Mul(f, TV.Sub(one, f))));
            lanes.Store(dG + 2 * h + j, TV.Mul(dGg, TV.Sub(one, TV.Mul(g, g))));
            lanes.Store(dG + 3 * h + j, TV.Mul(dO, TV.Mul(o, TV.Sub(one, o))));
        }
    }

    // ------------------------------------------------------------------------------------------
    // GRU
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// r = sigmoid((gx_r + b_ir) + (gh_r + b_hr)), z likewise, hn = gh_n + b_hn,
    /// n = tanh((gx_n + b_in) + r * hn), h = (1 - z) * n + z * hPrev.
    /// gx: (3H) x W_ih^T, order r,z,n; bih: (3H) b_ih (zeros without bias); gh: (3H) h W_hh^T;
    /// bias: (3H) = (b_hr, b_hz, 0); bhn: (H) b_hn;
    /// hPrev: (H); hOut: (H); gatesOut: (3H) r,z,n or null (may equal gx); hnOut: (H) hn or null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GruForwardRow(int h, T* gx, T* bih, T* gh, T* bias, T* bhn, T* hPrev, T* hOut, T* gatesOut, T* hnOut)
    {
        if (s_v512) GruForwardRow512(h, gx, bih, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
        else if (s_v256) GruForwardRow256(h, gx, bih, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
        else GruF<ScalarVec<T>, FullLanes<ScalarVec<T>, T>>(default, 0, h, h, gx, bih, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
    }

    // One instantiation of the body per method (full vectors; masked tail): each inlines completely
    // within the JIT's inlining budget (several in one method left vector ops as calls).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruForwardRow512(int h, T* gx, T* bih, T* gh, T* bias, T* bhn, T* hPrev, T* hOut, T* gatesOut, T* hnOut)
    {
        int full = h - h % Vec512<T>.Count;
        GruF<Vec512<T>, FullLanes<Vec512<T>, T>>(default, 0, full, h, gx, bih, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
        if (full < h) GruForwardRow512Tail(h, gx, bih, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruForwardRow512Tail(int h, T* gx, T* bih, T* gh, T* bias, T* bhn, T* hPrev, T* hOut, T* gatesOut, T* hnOut)
    {
        int full = h - h % Vec512<T>.Count;
        GruF<Vec512<T>, MaskedLanes512<T>>(new(h - full), full, h, h, gx, bih, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruForwardRow256(int h, T* gx, T* bih, T* gh, T* bias, T* bhn, T* hPrev, T* hOut, T* gatesOut, T* hnOut)
    {
        int full = h - h % Vec256<T>.Count;
        GruF<Vec256<T>, FullLanes<Vec256<T>, T>>(default, 0, full, h, gx, bih, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
        if (full < h) GruForwardRow256Tail(h, gx, bih, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruForwardRow256Tail(int h, T* gx, T* bih, T* gh, T* bias, T* bhn, T* hPrev, T* hOut, T* gatesOut, T* hnOut)
    {
        int full = h - h % Vec256<T>.Count;
        GruF<Vec256<T>, MaskedLanes256<T>>(new(h - full), full, h, h, gx, bih, gh, bias, bhn, hPrev, hOut, gatesOut, hnOut);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GruF<TV, TL>(TL lanes, int j, int end, int h, T* gx, T* bih, T* gh, T* bias, T* bhn, T* hPrev, T* hOut, T* gatesOut, T* hnOut)
        where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        for (; j < end; j += TV.Count)
        {
            TV r = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Add(lanes.Load(gx + j), lanes.Load(bih + j)), TV.Add(lanes.Load(gh + j), lanes.Load(bias + j))));
            TV z = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Add(lanes.Load(gx + h + j), lanes.Load(bih + h + j)), TV.Add(lanes.Load(gh + h + j), lanes.Load(bias + h + j))));
            TV hn = TV.Add(lanes.Load(gh + 2 * h + j), lanes.Load(bhn + j));
            TV n = RnnAct.Tanh<TV, T>(TV.Add(TV.Add(lanes.Load(gx + 2 * h + j), lanes.Load(bih + 2 * h + j)), TV.Mul(r, hn)));
            TV hp = lanes.Load(hPrev + j);
            lanes.Store(hOut + j, TV.Add(n, TV.Mul(z, TV.Sub(hp, n))));
            if (gatesOut != null)
            {
                lanes.Store(gatesOut + j, r);
                lanes.Store(gatesOut + h + j, z);
                lanes.Store(gatesOut + 2 * h + j, n);
            }
            if (hnOut != null) lanes.Store(hnOut + j, hn);
        }
    }

    /// <summary>
    /// Backward of one GRU row. dh: (H) in: gradient from later steps, out: dh_total * z (the
    /// direct path to h_{t-1}); dy: (H) output gradient; gates: (3H) saved r,z,n; hn: (H) saved
    /// W_hn h + b_hn; hPrev: (H); dG: (4H) out, order (n input part, r, z, n hidden part).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GruBackwardRow(int h, T* dh, T* dy, T* gates, T* hn, T* hPrev, T* dG)
    {
        if (s_v512) GruBackwardRow512(h, dh, dy, gates, hn, hPrev, dG);
        else if (s_v256) GruBackwardRow256(h, dh, dy, gates, hn, hPrev, dG);
        else GruB<ScalarVec<T>, FullLanes<ScalarVec<T>, T>>(default, 0, h, h, dh, dy, gates, hn, hPrev, dG);
    }

    // One instantiation of the body per method (full vectors; masked tail): each inlines completely
    // within the JIT's inlining budget (several in one method left vector ops as calls).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruBackwardRow512(int h, T* dh, T* dy, T* gates, T* hn, T* hPrev, T* dG)
    {
        int full = h - h % Vec512<T>.Count;
        GruB<Vec512<T>, FullLanes<Vec512<T>, T>>(default, 0, full, h, dh, dy, gates, hn, hPrev, dG);
        if (full < h) GruBackwardRow512Tail(h, dh, dy, gates, hn, hPrev, dG);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruBackwardRow512Tail(int h, T* dh, T* dy, T* gates, T* hn, T* hPrev, T* dG)
    {
        int full = h - h % Vec512<T>.Count;
        GruB<Vec512<T>, MaskedLanes512<T>>(new(h - full), full, h, h, dh, dy, gates, hn, hPrev, dG);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruBackwardRow256(int h, T* dh, T* dy, T* gates, T* hn, T* hPrev, T* dG)
    {
        int full = h - h % Vec256<T>.Count;
        GruB<Vec256<T>, FullLanes<Vec256<T>, T>>(default, 0, full, h, dh, dy, gates, hn, hPrev, dG);
        if (full < h) GruBackwardRow256Tail(h, dh, dy, gates, hn, hPrev, dG);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruBackwardRow256Tail(int h, T* dh, T* dy, T* gates, T* hn, T* hPrev, T* dG)
    {
        int full = h - h % Vec256<T>.Count;
        GruB<Vec256<T>, MaskedLanes256<T>>(new(h - full), full, h, h, dh, dy, gates, hn, hPrev, dG);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GruB<TV, TL>(TL lanes, int j, int end, int h, T* dh, T* dy, T* gates, T* hn, T* hPrev, T* dG)
        where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        TV one = TV.Splat(T.One);
        for (; j < end; j += TV.Count)
        {
            TV d = TV.Add(lanes.Load(dh + j), lanes.Load(dy + j));
            TV r = lanes.Load(gates + j), z = lanes.Load(gates + h + j), n = lanes.Load(gates + 2 * h + j);
            TV hnv = lanes.Load(hn + j);
            // h = (1 - z) * n + z * h_prev:  dn = dh * (1 - z);  dz = dh * (h_prev - n);  dh_prev = dh * z
            TV dn = TV.Mul(d, TV.Sub(one, z));
            TV dz = TV.Mul(d, TV.Sub(lanes.Load(hPrev + j), n));
            lanes.Store(dh + j, TV.Mul(d, z));
            // n = tanh(xn + r * hn):  dxn = dn * (1 - n^2);  dr = dxn * hn;  dhn = dxn * r
            TV dnp = TV.Mul(dn, TV.Sub(one, TV.Mul(n, n)));
            TV dr = TV.Mul(dnp, hnv);
            lanes.Store(dG + j, dnp);
            lanes.Store(dG + h + j, TV.Mul(dr, TV.Mul(r, TV.Sub(one, r))));
            lanes.Store(dG + 2 * h + j, TV.Mul(dz, TV.Mul(z, TV.Sub(one, z))));
            lanes.Store(dG + 3 * h + j, TV.Mul(dnp, r));
        }
    }
}
