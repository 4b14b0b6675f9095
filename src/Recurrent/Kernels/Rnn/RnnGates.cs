// The fused per-row gate arithmetic of every mode: the forward step after the recurrent GEMM
// (bias add, activations, state update, saving what backward needs) and the backward step
// (pre-activation gate gradients and the elementwise parts of dh_{t-1}, dc_{t-1}).
//
// TensorPrimitives' shape: one operator struct per (mode, direction) holds a row's pointers and a
// generic body Run<TV, TL> written once over the lane type; one driver (GateRows<T>.Run) picks the
// widest vector width and runs the body over full vectors, then once more over the remainder with
// masked loads and stores (MaskedLanes512/256), so a row of 50 costs four vector chunks, not three
// plus two scalar elements. Every pointer is one row; shapes in the comments are per row. In-place
// use is allowed where noted: each chunk of lanes is read completely before it is written.
//
// Code generation: the driver has one NoInlining method per (width, full/tail) — the JIT specialises
// each per operator struct and inlines that one body completely (two bodies in one method left
// vector ops as calls, 2.5x slower at H = 50); bodies copy the struct's pointers to locals first (the
// JIT reloads fields after every store through a pointer otherwise); the drivers are compiled fully
// optimised at once (AggressiveOptimization), since tier-0 code makes every vector op a call.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Recurrent.Kernels;

/// <summary>One row of gate arithmetic: a body written once over the lane type.</summary>
internal interface IGateRow<T> where T : unmanaged
{
    /// <summary>Row length H (the body runs lanes [0, H)).</summary>
    int Length { get; }

    /// <summary>Runs lanes [j, end): whole vectors with <see cref="FullLanes{TV, T}"/>, or the first lanes of one with a masked lane type.</summary>
    void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>;
}

/// <summary>The driver: runs an <see cref="IGateRow{T}"/> over its row with the widest supported vectors.</summary>
internal static class GateRows<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly bool s_v512 = Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported;
    private static readonly bool s_v256 = Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TOp>(in TOp op) where TOp : struct, IGateRow<T>
    {
        if (s_v512) Run512(op);
        else if (s_v256) Run256(op);
        else op.Run<ScalarVec<T>, FullLanes<ScalarVec<T>, T>>(default, 0, op.Length);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Run512<TOp>(in TOp op) where TOp : struct, IGateRow<T>
    {
        int h = op.Length, full = h - h % Vec512<T>.Count;
        op.Run<Vec512<T>, FullLanes<Vec512<T>, T>>(default, 0, full);
        if (full < h) Run512Tail(op);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Run512Tail<TOp>(in TOp op) where TOp : struct, IGateRow<T>
    {
        int h = op.Length, full = h - h % Vec512<T>.Count;
        op.Run<Vec512<T>, MaskedLanes512<T>>(new(h - full), full, h);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Run256<TOp>(in TOp op) where TOp : struct, IGateRow<T>
    {
        int h = op.Length, full = h - h % Vec256<T>.Count;
        op.Run<Vec256<T>, FullLanes<Vec256<T>, T>>(default, 0, full);
        if (full < h) Run256Tail(op);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Run256Tail<TOp>(in TOp op) where TOp : struct, IGateRow<T>
    {
        int h = op.Length, full = h - h % Vec256<T>.Count;
        op.Run<Vec256<T>, MaskedLanes256<T>>(new(h - full), full, h);
    }
}

/// <summary>The gate rows of every mode, forward and backward (wrappers that build the operator and run it).</summary>
internal static unsafe class RnnGates<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// RNN: h = act((gx + bih) + (gh + bias)), PyTorch's rounding order.
    /// gx: (H) x W_ih^T; bih: (H) b_ih (zeros without bias); gh: (H) h W_hh^T; bias: (H) b_hh; hOut: (H);
    /// actOut: (H) copy of h for backward, or null (may be gx).
    /// </summary>
    public static void RnnForwardRow(bool relu, int h, T* gx, T* bih, T* gh, T* bias, T* hOut, T* actOut) =>
        GateRows<T>.Run(new RnnForward<T> { Length = h, Relu = relu, Gx = gx, Bih = bih, Gh = gh, Bias = bias, HOut = hOut, ActOut = actOut });

    /// <summary>
    /// Backward of h = act(pre): dPre = (dh + dy) * act'(pre), from the saved h.
    /// act: (H) saved h; dh: (H) gradient from later steps; dy: (H) output gradient; dG: (H) out.
    /// </summary>
    public static void RnnBackwardRow(bool relu, int h, T* act, T* dh, T* dy, T* dG) =>
        GateRows<T>.Run(new RnnBackward<T> { Length = h, Relu = relu, Act = act, DH = dh, DY = dy, DG = dG });

    /// <summary>
    /// LSTM: i,f,o = sigmoid, g = tanh of (gx + bih) + (gh + bias) (PyTorch's rounding order); c = f*cPrev + i*g; hOut = o*tanh(c).
    /// gx: (4H) x W_ih^T, order i,f,g,o; bih: (4H) b_ih (zeros without bias); gh: (4H) h W_hh^T; bias: (4H) b_hh;
    /// cPrev: (H); cOut: (H), may equal cPrev; hOut: (H);
    /// gatesOut: (4H) activated gates or null (may equal gx); tanhCOut: (H) tanh(c) or null.
    /// </summary>
    public static void LstmForwardRow(int h, T* gx, T* bih, T* gh, T* bias, T* cPrev, T* cOut, T* hOut, T* gatesOut, T* tanhCOut) =>
        GateRows<T>.Run(new LstmForward<T>
        {
            Length = h, GateStride = h, GhGateStride = h,
            Gx = gx, Bih = bih, Gh = gh, Bias = bias, CPrev = cPrev, COut = cOut, HOut = hOut, GatesOut = gatesOut, TanhCOut = tanhCOut,
        });

    /// <summary>
    /// <see cref="LstmForwardRow"/> over a slice of a row's hidden units: h units, the gate blocks of gx, bih, bias and
    /// gatesOut <paramref name="gateStride"/> apart (the full row's H; pointers at the slice's first unit), those of gh
    /// <paramref name="ghGateStride"/> apart (the slice's own product). The same operations as the whole row, unit by unit.
    /// </summary>
    public static void LstmForwardSlice(int h, int gateStride, int ghGateStride, T* gx, T* bih, T* gh, T* bias, T* cPrev, T* cOut, T* hOut,
        T* gatesOut, T* tanhCOut) =>
        GateRows<T>.Run(new LstmForward<T>
        {
            Length = h, GateStride = gateStride, GhGateStride = ghGateStride,
            Gx = gx, Bih = bih, Gh = gh, Bias = bias, CPrev = cPrev, COut = cOut, HOut = hOut, GatesOut = gatesOut, TanhCOut = tanhCOut,
        });

    /// <summary>
    /// Backward of one LSTM row. dhA (+ dhB when not null): (H) gradient into o*tanh(c_t);
    /// gates: (4H) saved i,f,g,o; tanhC: (H) saved tanh(c_t); cPrev: (H) c_{t-1};
    /// dc: (H) in: dc_t from later steps, out: dc_{t-1}; dG: (4H) out: pre-activation gradients.
    /// </summary>
    public static void LstmBackwardRow(int h, T* dhA, T* dhB, T* gates, T* tanhC, T* cPrev, T* dc, T* dG) =>
        GateRows<T>.Run(new LstmBackward<T> { Length = h, DHA = dhA, DHB = dhB, Gates = gates, TanhC = tanhC, CPrev = cPrev, DC = dc, DG = dG });

    /// <summary>
    /// GRU: r = sigmoid((gx_r + b_ir) + (gh_r + b_hr)), z likewise, hn = gh_n + b_hn,
    /// n = tanh((gx_n + b_in) + r * hn), h = (1 - z) * n + z * hPrev.
    /// gx: (3H) x W_ih^T, order r,z,n; bih: (3H) b_ih (zeros without bias); gh: (3H) h W_hh^T;
    /// bias: (3H) = (b_hr, b_hz, 0); bhn: (H) b_hn;
    /// hPrev: (H); hOut: (H); gatesOut: (3H) r,z,n or null (may equal gx); hnOut: (H) hn or null.
    /// </summary>
    public static void GruForwardRow(int h, T* gx, T* bih, T* gh, T* bias, T* bhn, T* hPrev, T* hOut, T* gatesOut, T* hnOut) =>
        GateRows<T>.Run(new GruForward<T>
        {
            Length = h, Gx = gx, Bih = bih, Gh = gh, Bias = bias, Bhn = bhn, HPrev = hPrev, HOut = hOut, GatesOut = gatesOut, HnOut = hnOut,
        });

    /// <summary>
    /// Backward of one GRU row. dh: (H) in: gradient from later steps, out: dh_total * z (the
    /// direct path to h_{t-1}); dy: (H) output gradient; gates: (3H) saved r,z,n; hn: (H) saved
    /// W_hn h + b_hn; hPrev: (H); dG: (4H) out, order (n input part, r, z, n hidden part).
    /// </summary>
    public static void GruBackwardRow(int h, T* dh, T* dy, T* gates, T* hn, T* hPrev, T* dG) =>
        GateRows<T>.Run(new GruBackward<T> { Length = h, DH = dh, DY = dy, Gates = gates, Hn = hn, HPrev = hPrev, DG = dG });
}

/// <summary>RNN forward row (see <see cref="RnnGates{T}.RnnForwardRow"/>).</summary>
internal unsafe struct RnnForward<T> : IGateRow<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public bool Relu;
    public T* Gx, Bih, Gh, Bias, HOut, ActOut;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        bool relu = Relu;
        T* gx = Gx, bih = Bih, gh = Gh, bias = Bias, hOut = HOut, actOut = ActOut;
        for (; j < end; j += TV.Count)
        {
            TV pre = TV.Add(TV.Add(lanes.Load(gx + j), lanes.Load(bih + j)), TV.Add(lanes.Load(gh + j), lanes.Load(bias + j)));
            TV y = relu ? TV.Relu(pre) : RnnAct.Tanh<TV, T>(pre);
            lanes.Store(hOut + j, y);
            if (actOut != null) lanes.Store(actOut + j, y);
        }
    }
}

/// <summary>RNN backward row (see <see cref="RnnGates{T}.RnnBackwardRow"/>).</summary>
internal unsafe struct RnnBackward<T> : IGateRow<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public bool Relu;
    public T* Act, DH, DY, DG;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        bool relu = Relu;
        T* act = Act, dh = DH, dy = DY, dG = DG;
        TV one = TV.Splat(T.One);
        for (; j < end; j += TV.Count)
        {
            TV y = lanes.Load(act + j);
            TV d = TV.Add(lanes.Load(dh + j), lanes.Load(dy + j));
            // h = tanh(pre): dpre = dh * (1 - h^2);  h = relu(pre): dpre = h > 0 ? dh : 0
            lanes.Store(dG + j, relu ? TV.PositiveMask(y, d) : TV.Mul(d, TV.Sub(one, TV.Mul(y, y))));
        }
    }
}

/// <summary>LSTM forward row (see <see cref="RnnGates{T}.LstmForwardRow"/>).</summary>
internal unsafe struct LstmForward<T> : IGateRow<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public int GateStride, GhGateStride;   // distance between the i, f, g, o blocks: of gx, bih, bias, gatesOut; of gh
    public T* Gx, Bih, Gh, Bias, CPrev, COut, HOut, GatesOut, TanhCOut;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        int h = GateStride, hg = GhGateStride;
        T* gx = Gx, bih = Bih, gh = Gh, bias = Bias, cPrev = CPrev, cOut = COut, hOut = HOut, gatesOut = GatesOut, tanhCOut = TanhCOut;
        for (; j < end; j += TV.Count)
        {
            TV i = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Add(lanes.Load(gx + j), lanes.Load(bih + j)), TV.Add(lanes.Load(gh + j), lanes.Load(bias + j))));
            TV f = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Add(lanes.Load(gx + h + j), lanes.Load(bih + h + j)), TV.Add(lanes.Load(gh + hg + j), lanes.Load(bias + h + j))));
            TV g = RnnAct.Tanh<TV, T>(TV.Add(TV.Add(lanes.Load(gx + 2 * h + j), lanes.Load(bih + 2 * h + j)), TV.Add(lanes.Load(gh + 2 * hg + j), lanes.Load(bias + 2 * h + j))));
            TV o = RnnAct.Sigmoid<TV, T>(TV.Add(TV.Add(lanes.Load(gx + 3 * h + j), lanes.Load(bih + 3 * h + j)), TV.Add(lanes.Load(gh + 3 * hg + j), lanes.Load(bias + 3 * h + j))));
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
}

/// <summary>LSTM backward row (see <see cref="RnnGates{T}.LstmBackwardRow"/>).</summary>
internal unsafe struct LstmBackward<T> : IGateRow<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public T* DHA, DHB, Gates, TanhC, CPrev, DC, DG;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        int h = Length;
        T* dhA = DHA, dhB = DHB, gates = Gates, tanhC = TanhC, cPrev = CPrev, dc = DC, dG = DG;
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
}

/// <summary>GRU forward row (see <see cref="RnnGates{T}.GruForwardRow"/>).</summary>
internal unsafe struct GruForward<T> : IGateRow<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public T* Gx, Bih, Gh, Bias, Bhn, HPrev, HOut, GatesOut, HnOut;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        int h = Length;
        T* gx = Gx, bih = Bih, gh = Gh, bias = Bias, bhn = Bhn, hPrev = HPrev, hOut = HOut, gatesOut = GatesOut, hnOut = HnOut;
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
}

/// <summary>GRU backward row (see <see cref="RnnGates{T}.GruBackwardRow"/>).</summary>
internal unsafe struct GruBackward<T> : IGateRow<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Length { get; init; }
    public T* DH, DY, Gates, Hn, HPrev, DG;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Run<TV, TL>(TL lanes, int j, int end) where TV : unmanaged, IRnnVec<TV, T> where TL : struct, IRnnLanes<TV, T>
    {
        int h = Length;
        T* dh = DH, dy = DY, gates = Gates, hn = Hn, hPrev = HPrev, dG = DG;
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
