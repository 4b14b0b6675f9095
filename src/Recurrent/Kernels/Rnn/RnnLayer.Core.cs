// The layer level of the fused recurrent kernels (ATen's "layer" banner): one layer and one
// direction scanned over a packed, time-major sequence, forward and backward through time.
//
// Layout. Rows of x, y and every per-row buffer are in time-major packed order: step t holds
// batchSizes[t] rows (non-increasing in t), starting at row offset(t) = sum of earlier batch sizes.
// A dense (T, B) sequence is batchSizes = [B] * T. Row b of step t belongs to sequence b.
// Forward direction: a sequence whose last step is t (b >= batchSizes[t+1]) finishes there, its h
// goes to h_n. Reverse direction (t from T-1 down to 0): a sequence joins at its last step,
// starting from h0 (c0), and every sequence finishes at t = 0.
//
// Forward:  G_x[N, G*H] = x[N, I] W_ih^T (one GEMM); per step G_h[b_t, G*H] = h_{t-1} W_hh^T
//           (one GEMM) and the fused gate arithmetic of RnnGates; LSTM projection: one more GEMM
//           per step, h_t = (o * tanh(c_t)) W_hr^T.
// Backward: per step the fused gate backward and dh_{t-1} = dG_t W_hh (one GEMM); after the loop
//           dW_ih += dG^T x, dW_hh += dG^T H_prev, dx += dG W_ih, dW_hr += dH^T (o*tanh c) as one
//           GEMM each (GRU: the n gate splits in two, see below), db = column sums of dG.
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Recurrent.Kernels;

/// <summary>Where each saved quantity lives in a layer's training cache (element offsets).</summary>
internal readonly struct RnnLayerCacheLayout
{
    /// <summary>Activated gates (N, G*H): LSTM i,f,g,o; GRU r,z,n; RNN h.</summary>
    public readonly long Gates;
    /// <summary>h_{t-1} of every row (N, OutSize): the left operand of dW_hh.</summary>
    public readonly long HPrev;
    /// <summary>LSTM c_t (N, H).</summary>
    public readonly long C;
    /// <summary>LSTM tanh(c_t) (N, H).</summary>
    public readonly long TanhC;
    /// <summary>LSTM with projection: o * tanh(c_t) (N, H), the left operand of dW_hr.</summary>
    public readonly long HPre;
    /// <summary>GRU: W_hn h_{t-1} + b_hn (N, H).</summary>
    public readonly long Hn;
    /// <summary>Total elements.</summary>
    public readonly long Size;

    public RnnLayerCacheLayout(in RnnLayerSizes s, long n)
    {
        long at = 0;
        long Take(long count)
        {
            long o = at;
            at += (count + 15) & ~15L; // keep every region 64-byte aligned for float
            return o;
        }
        int h = s.HiddenSize;
        Gates = Take(n * s.Gates * h);
        HPrev = Take(n * s.OutSize);
        C = s.Mode == RnnMode.Lstm ? Take(n * h) : -1;
        TanhC = s.Mode == RnnMode.Lstm ? Take(n * h) : -1;
        HPre = s.ProjSize > 0 ? Take(n * h) : -1;
        Hn = s.Mode == RnnMode.Gru ? Take(n * h) : -1;
        Size = at;
    }
}

/// <summary>
/// The pointer-level layer kernels. Callers pin and validate. Parameters are read from a flat
/// buffer <c>w</c> at the offsets of <see cref="RnnLayerSlots"/> (gradients likewise from <c>dw</c>).
/// Scratch comes from <see cref="RnnArena"/>; nothing here allocates managed memory.
/// </summary>
internal static unsafe class RnnLayerCore<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary><paramref name="flat"/> + <paramref name="offset"/>, or null when the buffer or the slot is absent.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T* At(T* flat, int offset) => flat == null || offset < 0 ? null : flat + offset;

    /// <summary>
    /// One layer and direction, forward.
    /// y: (N, ldy) output rows, h_t written to columns [0, OutSize);
    /// hN: (B, OutSize) or null; cN: (B, H) (LSTM) or null;
    /// cache: training cache (<see cref="RnnLayerCacheLayout"/>) or null for inference;
    /// x: (N, ldx) input rows, columns [0, I); h0: (B, OutSize) or null (zeros); c0: (B, H) or null;
    /// w: the flat weight buffer, this layer's parameters at <paramref name="slots"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward(in RnnLayerSizes s, ReadOnlySpan<int> batchSizes, int n,
        T* y, int ldy, T* hN, T* cN, T* cache, T* x, int ldx, T* h0, T* c0, T* w, in RnnLayerSlots slots)
    {
        T* wIh = w + slots.WeightIh, wHh = w + slots.WeightHh, bIh = At(w, slots.BiasIh), bHh = At(w, slots.BiasHh), wHr = At(w, slots.WeightHr);
        int steps = batchSizes.Length;
        if (steps == 0) return;
        int bMax = batchSizes[0], h = s.HiddenSize, hOut = s.OutSize, gh = s.Gates * h;
        bool training = cache != null, lstm = s.Mode == RnnMode.Lstm, gru = s.Mode == RnnMode.Gru, proj = s.ProjSize > 0;
        var layout = new RnnLayerCacheLayout(in s, n);
        nuint mark = RnnArena.Mark();
        using var burst = BurstFor(bMax, gh, hOut);

        if (h0 == null) h0 = RnnArena.RentZeroed<T>((long)bMax * hOut);
        if (lstm && c0 == null) c0 = RnnArena.RentZeroed<T>((long)bMax * h);

        // Biases are added in PyTorch's order, (x W_ih^T + b_ih) + (h W_hh^T + b_hh), so results round
        // as ATen's do (it matters in ill-conditioned cells, e.g. c_t = f*c + i*g cancelling). The gate
        // step adds both (a separate pass adding b_ih to the whole (N, G*H) projection would stream it
        // through memory once more): `bih` is b_ih (or zeros), `bias` b_hh. GRU's b_hn sits inside
        // r * (W_hn h + b_hn) and is kept apart (bhn); the n part of `bias` stays zero.
        T* bih = bIh != null ? bIh : RnnArena.RentZeroed<T>(gh);
        T* bias = RnnArena.RentZeroed<T>(gh);
        T* bhn = gru ? RnnArena.RentZeroed<T>(h) : null;
        if (bHh != null)
        {
            RnnBlas<T>.AddTo(bias, bHh, gru ? 2 * h : gh);
            if (gru) RnnBlas<T>.AddTo(bhn, bHh + 2 * h, h);
        }

        // gx: (N, G*H) input projection of every step (b_ih is added in the gate step); in training it
        // becomes the saved gates in place.
        T* gx = training ? cache + layout.Gates : RnnArena.Rent<T>((long)n * gh);
        RnnBlas<T>.Gemm(false, true, n, gh, s.InputSize, T.One, x, ldx, wIh, s.InputSize, T.Zero, gx, gh);

        // Per-step products h_{t-1} W_hh^T: with 4 or more rows, against W_hh^T (OutSize, G*H) packed
        // once per call into the GEMM's panels (every step then reads it contiguously; "nt" on W_hh
        // itself runs at half the speed: 32 x 2048 x 512 at 192 vs 82 GFLOP/s); with fewer rows "nt".
        T* whhP = bMax >= NnMinRows ? RnnArena.Rent<T>(Gemm.PackedBElements<T>(hOut, gh)) : null;
        if (whhP != null) Gemm.PackB(transB: true, hOut, gh, wHh, hOut, whhP);
        T* ghBuf = RnnArena.Rent<T>((long)bMax * gh);                                   // (B, G*H) h_{t-1} W_hh^T
        T* cState = lstm && !training ? RnnArena.Rent<T>((long)bMax * h) : null;        // (B, H) c in inference
        T* hPreBuf = proj && !training ? RnnArena.Rent<T>((long)bMax * h) : null;       // (B, H) o*tanh(c) in inference
        T* hpGather = !training ? RnnArena.Rent<T>((long)bMax * hOut) : null;          // (B, OutSize) h_{t-1} rows in inference

        int off = s.Reverse ? n : 0, offPrev = 0, prevCount = 0;
        for (int step = 0; step < steps; step++)
        {
            int t = s.Reverse ? steps - 1 - step : step;
            int bt = batchSizes[t];
            if (s.Reverse) off -= bt;
            int carried = Math.Min(prevCount, bt);           // rows continuing from the previous step
            int nextCount = step + 1 < steps ? batchSizes[s.Reverse ? t - 1 : t + 1] : 0;
            T* yPrev = y + (nint)offPrev * ldy;

            // h_{t-1} W_hh^T. Rows < carried continue from the previous step's outputs, the rest start from h0.
            T* hpBase;
            int hpLd, hpCarried;
            if (training)
            {
                hpBase = cache + layout.HPrev + (nint)off * hOut;
                hpLd = hOut;
                hpCarried = bt;
                RnnBlas<T>.CopyRows(hpBase, hOut, yPrev, ldy, carried, hOut);
                RnnBlas<T>.CopyRows(hpBase + (nint)carried * hOut, hOut, h0 + (nint)carried * hOut, hOut, bt - carried, hOut);
                HiddenProduct(bt, gh, hOut, hpBase, hOut, wHh, whhP, ghBuf);
            }
            else if (carried == bt || carried == 0)
            {
                // All rows continue (or all start from h0): one product straight from them.
                hpBase = carried == 0 ? h0 : yPrev;
                hpLd = carried == 0 ? hOut : ldy;
                hpCarried = bt;
                HiddenProduct(bt, gh, hOut, hpBase, hpLd, wHh, whhP, ghBuf);
            }
            else
            {
                // Some rows join from h0 (the reverse direction of a packed batch): gather them so the
                // product has the same rows as in training, and so the same bits with and without NoGrad.
                hpBase = hpGather;
                hpLd = hOut;
                hpCarried = bt;
                RnnBlas<T>.CopyRows(hpBase, hOut, yPrev, ldy, carried, hOut);
                RnnBlas<T>.CopyRows(hpBase + (nint)carried * hOut, hOut, h0 + (nint)carried * hOut, hOut, bt - carried, hOut);
                HiddenProduct(bt, gh, hOut, hpBase, hOut, wHh, whhP, ghBuf);
            }

            // The gate arithmetic of this step: rows are independent, so large steps split them over
            // the worker team (same partition for a given thread count, so the same bits).
            var rows = new ForwardRowsContext
            {
                Mode = s.Mode, H = h, HOut = hOut, Gh = gh, Training = training, Proj = proj,
                Off = off, OffPrev = offPrev, Carried = carried, HpCarried = hpCarried, HpLd = hpLd, NextCount = nextCount,
                HpBase = hpBase, Gx = gx, Bih = bih, GhBuf = ghBuf, Bias = bias, Bhn = bhn, Cache = cache,
                LayoutC = layout.C, LayoutHPre = layout.HPre, LayoutTanhC = layout.TanhC, LayoutHn = layout.Hn,
                CState = cState, C0 = c0, HPreBuf = hPreBuf, Y = y, Ldy = ldy, H0 = h0, CN = cN,
            };
            int parts = RowParts(bt, gh);
            if (parts > 1)
            {
                var job = t_forwardRowsJob ??= new ForwardRowsJob();
                job.Context = rows;
                job.Rows = bt;
                WorkerTeam.Run(job, parts);
                job.Context = default;
            }
            else ForwardRows(in rows, 0, bt);

            // LSTM projection: h_t = (o * tanh(c_t)) W_hr^T.
            if (proj)
            {
                T* hPre = training ? cache + layout.HPre + (nint)off * h : hPreBuf;
                RnnBlas<T>.Gemm(false, true, bt, hOut, h, T.One, hPre, h, wHr, h, T.Zero, y + (nint)off * ldy, ldy);
            }

            // Sequences that end here hand their h to h_n.
            if (hN != null && nextCount < bt)
                RnnBlas<T>.CopyRows(hN + (nint)nextCount * hOut, hOut, y + (nint)(off + nextCount) * ldy, ldy, bt - nextCount, hOut);

            offPrev = off;
            prevCount = bt;
            if (!s.Reverse) off += bt;
        }
        RnnArena.Release(mark);
    }

    // Splitting a step's gate rows over the team pays off above about this many gate elements
    // (the hand-off costs a few microseconds; workers spin between the per-step products anyway).
    private const int ParallelGateElements = 16_384;

    // Per-step products of at least this many flops split over the team when it is awake (the
    // GEMM driver's threshold for workers that are spinning).
    private const long ParallelStepFlops = 1L << 21;

    // The per-step jobs of a layer are each too small to pay for waking a sleeping worker, but
    // there are many of them back to back: when they will split, wake the team once, up front, and
    // run the layer as a burst (its jobs split without asking whether the workers are awake).
    private static WorkerTeam.BurstScope BurstFor(int bMax, int gh, int hOut)
    {
        int threads = Parallelism.MaxThreads;
        bool splits = 2L * bMax * gh * hOut >= ParallelStepFlops || (long)bMax * gh >= ParallelGateElements;
        return splits ? WorkerTeam.Burst(threads) : default;
    }

    private static int RowParts(int rows, int gh)
    {
        int threads = Parallelism.MaxThreads;
        long elements = (long)rows * gh;
        if (threads <= 1 || elements < ParallelGateElements || (elements < 4 * ParallelGateElements && WorkerTeam.Asleep)) return 1;
        return Math.Min(threads, rows);
    }

    /// <summary>Everything one step's forward gate rows read and write.</summary>
    private struct ForwardRowsContext
    {
        public RnnMode Mode;
        public int H, HOut, Gh, Off, OffPrev, Carried, HpCarried, HpLd, NextCount, Ldy;
        public bool Training, Proj;
        public long LayoutC, LayoutHPre, LayoutTanhC, LayoutHn;
        public T* HpBase, Gx, Bih, GhBuf, Bias, Bhn, Cache, CState, C0, HPreBuf, Y, H0, CN;
    }

    private sealed class ForwardRowsJob : ParallelJob
    {
        public ForwardRowsContext Context;
        public int Rows;

        public override void Execute(int part, int parts)
        {
            int b0 = (int)((long)Rows * part / parts), b1 = (int)((long)Rows * (part + 1) / parts);
            ForwardRows(in Context, b0, b1);
        }
    }

    [ThreadStatic] private static ForwardRowsJob? t_forwardRowsJob;

    // Forward gate arithmetic of rows b0 .. b1-1 of one step (see Forward for the buffers).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardRows(in ForwardRowsContext k, int b0, int b1)
    {
        int h = k.H, hOut = k.HOut, gh = k.Gh;
        bool training = k.Training, proj = k.Proj;
        T* cache = k.Cache;
        for (int b = b0; b < b1; b++)
        {
            nint row = k.Off + b;
            T* gxr = k.Gx + row * gh, ghr = k.GhBuf + (nint)b * gh;
            switch (k.Mode)
            {
                case RnnMode.Lstm:
                {
                    T* cPrev = b < k.Carried ? (training ? cache + k.LayoutC + (nint)(k.OffPrev + b) * h : k.CState + (nint)b * h) : k.C0 + (nint)b * h;
                    T* cOut = training ? cache + k.LayoutC + row * h : k.CState + (nint)b * h;
                    T* hOutRow = proj ? (training ? cache + k.LayoutHPre + row * h : k.HPreBuf + (nint)b * h) : k.Y + row * k.Ldy;
                    RnnGates<T>.LstmForwardRow(h, gxr, k.Bih, ghr, k.Bias, cPrev, cOut, hOutRow, training ? gxr : null,
                        training ? cache + k.LayoutTanhC + row * h : null);
                    if (k.CN != null && b >= k.NextCount) new ReadOnlySpan<T>(cOut, h).CopyTo(new Span<T>(k.CN + (nint)b * h, h));
                    break;
                }
                case RnnMode.Gru:
                {
                    T* hPrev = b < k.HpCarried ? k.HpBase + (nint)b * k.HpLd : k.H0 + (nint)b * hOut;
                    RnnGates<T>.GruForwardRow(h, gxr, k.Bih, ghr, k.Bias, k.Bhn, hPrev, k.Y + row * k.Ldy, training ? gxr : null,
                        training ? cache + k.LayoutHn + row * h : null);
                    break;
                }
                default:
                    RnnGates<T>.RnnForwardRow(k.Mode == RnnMode.RnnRelu, h, gxr, k.Bih, ghr, k.Bias, k.Y + row * k.Ldy, training ? gxr : null);
                    break;
            }
        }
    }

    /// <summary>Everything one step's backward gate rows read and write.</summary>
    private struct BackwardRowsContext
    {
        public RnnMode Mode;
        public int H, HOut, Gh, Gb, Ldy, Off, OffPrev, Carried;
        public bool Proj;
        public long LayoutGates, LayoutC, LayoutTanhC, LayoutHn, LayoutHPrev;
        public T* DY, ZeroRow, Cache, DG, C0, DHPre, DH, DC;
    }

    private sealed class BackwardRowsJob : ParallelJob
    {
        public BackwardRowsContext Context;
        public int Rows;

        public override void Execute(int part, int parts)
        {
            int b0 = (int)((long)Rows * part / parts), b1 = (int)((long)Rows * (part + 1) / parts);
            BackwardRows(in Context, b0, b1);
        }
    }

    [ThreadStatic] private static BackwardRowsJob? t_backwardRowsJob;

    // Backward gate arithmetic of rows b0 .. b1-1 of one step (see Backward for the buffers).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRows(in BackwardRowsContext k, int b0, int b1)
    {
        int h = k.H, hOut = k.HOut, gh = k.Gh;
        T* cache = k.Cache;
        for (int b = b0; b < b1; b++)
        {
            nint row = k.Off + b;
            T* dy = k.DY != null ? k.DY + row * k.Ldy : k.ZeroRow;
            T* gates = cache + k.LayoutGates + row * gh;
            T* dGr = k.DG + row * k.Gb;
            switch (k.Mode)
            {
                case RnnMode.Lstm:
                {
                    T* cPrev = b < k.Carried ? cache + k.LayoutC + (nint)(k.OffPrev + b) * h : k.C0 + (nint)b * h;
                    RnnGates<T>.LstmBackwardRow(h, k.Proj ? k.DHPre + (nint)b * h : k.DH + (nint)b * hOut, k.Proj ? null : dy,
                        gates, cache + k.LayoutTanhC + row * h, cPrev, k.DC + (nint)b * h, dGr);
                    break;
                }
                case RnnMode.Gru:
                    RnnGates<T>.GruBackwardRow(h, k.DH + (nint)b * hOut, dy, gates, cache + k.LayoutHn + row * h,
                        cache + k.LayoutHPrev + row * hOut, dGr);
                    break;
                default:
                    RnnGates<T>.RnnBackwardRow(k.Mode == RnnMode.RnnRelu, h, gates, k.DH + (nint)b * hOut, dy, dGr);
                    break;
            }
        }
    }

    // Up to this input + hidden width the LSTM/RNN weight gradients are one product (copying x and
    // h_prev side by side costs less than packing dG^T a second time; beyond it, about the same).
    private const int MergedWeightGradMaxWidth = 1024;

    // Below this many rows the per-step products use the "nt" layout (dot products), above the
    // weights packed once per call; see HiddenProduct and the backward's dh product.
    private const int NnMinRows = 4;

    // c (m, gh) = a (m, hOut; row stride lda) W_hh^T, W_hh (gh, hOut); whhP = W_hh^T packed (Gemm.PackB) or null.
    private static void HiddenProduct(int m, int gh, int hOut, T* a, int lda, T* whh, T* whhP, T* c)
    {
        if (m == 0) return;
        if (whhP != null && m >= NnMinRows) Gemm.GemmPackedB(m, gh, hOut, T.One, a, lda, whhP, T.Zero, c, gh);
        else RnnBlas<T>.Gemm(false, true, m, gh, hOut, T.One, a, lda, whh, hOut, T.Zero, c, gh);
    }

    /// <summary>
    /// One layer and direction, backward through time. dX, dH0 and dC0 are accumulated (+=); the
    /// parameter gradients are accumulated when <paramref name="accumulate"/>, else overwritten.
    /// A null output is skipped.
    /// dX: (N, ldx) or null; dH0: (B, OutSize) or null; dC0: (B, H) or null;
    /// dw: the flat gradient buffer (this layer's gradients at <paramref name="slots"/>), or null for none;
    /// dY: (N, ldy) gradient of the output rows or null (zero); dHN: (B, OutSize) or null; dCN: (B, H) or null;
    /// cache: what <see cref="Forward"/> saved; x: (N, ldx) the forward input; c0: (B, H) or null (zeros);
    /// w: the flat weight buffer of the forward.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward(in RnnLayerSizes s, ReadOnlySpan<int> batchSizes, int n,
        T* dX, T* dH0, T* dC0, T* dw, bool accumulate, T* dY, int ldy, T* dHN, T* dCN,
        T* cache, T* x, int ldx, T* c0, T* w, in RnnLayerSlots slots)
    {
        int steps = batchSizes.Length;
        if (steps == 0) return;
        int bMax = batchSizes[0], h = s.HiddenSize, hOut = s.OutSize, gh = s.Gates * h, I = s.InputSize;
        bool lstm = s.Mode == RnnMode.Lstm, gru = s.Mode == RnnMode.Gru, proj = s.ProjSize > 0;
        var layout = new RnnLayerCacheLayout(in s, n);
        nuint mark = RnnArena.Mark();
        using var burst = BurstFor(bMax, gh, hOut);

        // dG: (N, GB) pre-activation gate gradients. GRU keeps four blocks (n input part, r, z,
        // n hidden part): [r, z, n_h] is the hidden-side gradient in W_hh's row order.
        int gb = gru ? 4 * h : gh;
        T* dG = RnnArena.Rent<T>((long)n * gb);
        T* dH = RnnArena.Rent<T>((long)bMax * hOut);    // (B, OutSize) gradient reaching h_t from later steps
        T* dC = lstm ? RnnArena.Rent<T>((long)bMax * h) : null;
        T* dHAll = proj ? RnnArena.Rent<T>((long)n * hOut) : null;   // (N, P) total gradient of each h_t
        T* dHPre = proj ? RnnArena.Rent<T>((long)bMax * h) : null;   // (B, H) gradient of o*tanh(c_t)
        T* zeroRow = RnnArena.RentZeroed<T>(hOut);
        if (lstm && c0 == null) c0 = RnnArena.RentZeroed<T>((long)bMax * h);
        if (dHN != null) new ReadOnlySpan<T>(dHN, bMax * hOut).CopyTo(new Span<T>(dH, bMax * hOut));
        else new Span<T>(dH, bMax * hOut).Clear();
        if (lstm)
        {
            if (dCN != null) new ReadOnlySpan<T>(dCN, bMax * h).CopyTo(new Span<T>(dC, bMax * h));
            else new Span<T>(dC, bMax * h).Clear();
        }

        // dh_{t-1} = dG_h W_hh: against W_hh packed once per call, or with few rows "nt" on a transposed copy.
        T* whhT = bMax < NnMinRows ? RnnArena.Rent<T>((long)gh * hOut) : null;
        T* wIh = w + slots.WeightIh, wHh = w + slots.WeightHh, wHr = At(w, slots.WeightHr);
        if (whhT != null) RnnBlas<T>.Transpose(whhT, wHh, gh, hOut);
        T* whhP = whhT == null ? RnnArena.Rent<T>(Gemm.PackedBElements<T>(gh, hOut)) : null;
        if (whhP != null) Gemm.PackB(transB: false, gh, hOut, wHh, hOut, whhP);

        // Row offsets of every time index.
        int* offs = RnnArena.Rent<int>(steps);
        for (int t = 0, o = 0; t < steps; o += batchSizes[t], t++) offs[t] = o;

        // Walk the steps in the reverse of the forward processing order.
        for (int step = steps - 1; step >= 0; step--)
        {
            int t = s.Reverse ? steps - 1 - step : step;
            int bt = batchSizes[t], off = offs[t];
            int tPrev = s.Reverse ? t + 1 : t - 1;
            int carried = step > 0 ? Math.Min(batchSizes[tPrev], bt) : 0;
            int offPrev = step > 0 ? offs[tPrev] : 0;

            if (proj)
            {
                // h_t = hpre W_hr^T:  dh_t (total) = dH + dY;  dhpre = dh_t W_hr
                for (int b = 0; b < bt; b++)
                    RnnBlas<T>.Sum(dHAll + (nint)(off + b) * hOut, dH + (nint)b * hOut, dY != null ? dY + (nint)(off + b) * ldy : zeroRow, hOut);
                RnnBlas<T>.Gemm(false, false, bt, h, hOut, T.One, dHAll + (nint)off * hOut, hOut, wHr, h, T.Zero, dHPre, h);
            }

            // The gate backward of this step, split over the team like the forward (rows are independent).
            var rows = new BackwardRowsContext
            {
                Mode = s.Mode, H = h, HOut = hOut, Gh = gh, Gb = gb, Ldy = ldy, Off = off, OffPrev = offPrev, Carried = carried,
                Proj = proj, DY = dY, ZeroRow = zeroRow, Cache = cache, LayoutGates = layout.Gates, LayoutC = layout.C,
                LayoutTanhC = layout.TanhC, LayoutHn = layout.Hn, LayoutHPrev = layout.HPrev, DG = dG, C0 = c0, DHPre = dHPre,
                DH = dH, DC = dC,
            };
            int parts = RowParts(bt, gh);
            if (parts > 1)
            {
                var job = t_backwardRowsJob ??= new BackwardRowsJob();
                job.Context = rows;
                job.Rows = bt;
                WorkerTeam.Run(job, parts);
                job.Context = default;
            }
            else BackwardRows(in rows, 0, bt);

            // G_h = h_{t-1} W_hh^T:  dh_{t-1} = dG_h W_hh  (GRU: added to the direct part dh * z)
            T* dGh = dG + (nint)off * gb + (gru ? h : 0);
            T dhBeta = gru ? T.One : T.Zero;
            if (whhT != null) RnnBlas<T>.Gemm(false, true, bt, hOut, gh, T.One, dGh, gb, whhT, gh, dhBeta, dH, hOut);
            else Gemm.GemmPackedB(bt, hOut, gh, T.One, dGh, gb, whhP, dhBeta, dH, hOut);

            // Rows that started this step (from h0, c0) hand their gradient to dh0, dc0.
            for (int b = carried; b < bt; b++)
            {
                if (dH0 != null) RnnBlas<T>.AddTo(dH0 + (nint)b * hOut, dH + (nint)b * hOut, hOut);
                if (lstm && dC0 != null) RnnBlas<T>.AddTo(dC0 + (nint)b * h, dC + (nint)b * h, h);
            }
        }

        // Weight gradients and dx as whole-sequence GEMMs. dG_x (input side) is dG for LSTM/RNN;
        // for GRU its r,z rows are dG[:, H:3H] and its n rows dG[:, 0:H]. Weight gradients are
        // added (beta = 1) or written (beta = 0); every element of this layer's slots is written once.
        T* hPrevAll = cache + layout.HPrev;
        T* gWih = At(dw, slots.WeightIh), gWhh = At(dw, slots.WeightHh), gBih = At(dw, slots.BiasIh), gBhh = At(dw, slots.BiasHh);
        T wBeta = accumulate ? T.One : T.Zero;
        if (!accumulate)
        {
            if (gBih != null) new Span<T>(gBih, gh).Clear();
            if (gBhh != null) new Span<T>(gBhh, gh).Clear();
        }
        if (gru)
        {
            // G_x = x W_ih^T + b_ih
            if (gWih != null)
            {
                RnnBlas<T>.Gemm(true, false, 2 * h, I, n, T.One, dG + h, gb, x, ldx, wBeta, gWih, I);
                RnnBlas<T>.Gemm(true, false, h, I, n, T.One, dG, gb, x, ldx, wBeta, gWih + 2 * h * I, I);
            }
            if (gBih != null)
            {
                RnnBlas<T>.AddColumnSums(gBih, dG + h, gb, n, 2 * h);
                RnnBlas<T>.AddColumnSums(gBih + 2 * h, dG, gb, n, h);
            }
            if (dX != null)
            {
                RnnBlas<T>.Gemm(false, false, n, I, 2 * h, T.One, dG + h, gb, wIh, I, T.One, dX, ldx);
                RnnBlas<T>.Gemm(false, false, n, I, h, T.One, dG, gb, wIh + 2 * h * I, I, T.One, dX, ldx);
            }
            // G_h = h_{t-1} W_hh^T + b_hh
            if (gWhh != null) RnnBlas<T>.Gemm(true, false, gh, hOut, n, T.One, dG + h, gb, hPrevAll, hOut, wBeta, gWhh, hOut);
            if (gBhh != null) RnnBlas<T>.AddColumnSums(gBhh, dG + h, gb, n, gh);
        }
        else
        {
            if (gWih != null && I + hOut <= MergedWeightGradMaxWidth)
            {
                // [dW_ih | dW_hh] = dG^T [x | h_prev] as one product: dG^T is packed once instead of
                // twice, which is most of the cost when I and H are small (seed4: 200 x 50 x 3200 runs
                // at 73 GFLOP/s alone, 200 x 100 x 3200 at 105).
                int w2 = I + hOut;
                T* xh = RnnArena.Rent<T>((long)n * w2);
                RnnBlas<T>.CopyRows(xh, w2, x, ldx, n, I);
                RnnBlas<T>.CopyRows(xh + I, w2, hPrevAll, hOut, n, hOut);
                T* dW = RnnArena.Rent<T>((long)gh * w2);
                RnnBlas<T>.Gemm(true, false, gh, w2, n, T.One, dG, gb, xh, w2, T.Zero, dW, w2);
                if (accumulate)
                {
                    for (int r = 0; r < gh; r++)
                    {
                        RnnBlas<T>.AddTo(gWih + (nint)r * I, dW + (nint)r * w2, I);
                        RnnBlas<T>.AddTo(gWhh + (nint)r * hOut, dW + (nint)r * w2 + I, hOut);
                    }
                }
                else
                {
                    RnnBlas<T>.CopyRows(gWih, I, dW, w2, gh, I);
                    RnnBlas<T>.CopyRows(gWhh, hOut, dW + I, w2, gh, hOut);
                }
            }
            else if (gWih != null)
            {
                RnnBlas<T>.Gemm(true, false, gh, I, n, T.One, dG, gb, x, ldx, wBeta, gWih, I);
                RnnBlas<T>.Gemm(true, false, gh, hOut, n, T.One, dG, gb, hPrevAll, hOut, wBeta, gWhh, hOut);
            }
            // G = x W_ih^T + b_ih + h W_hh^T + b_hh: both biases get the column sums of dG.
            if (gBih != null)
            {
                T* db = RnnArena.RentZeroed<T>(gh);
                RnnBlas<T>.AddColumnSums(db, dG, gb, n, gh);
                RnnBlas<T>.AddTo(gBih, db, gh);
                RnnBlas<T>.AddTo(gBhh, db, gh);
            }
            if (dX != null) RnnBlas<T>.Gemm(false, false, n, I, gh, T.One, dG, gb, wIh, I, T.One, dX, ldx);
        }
        // h_t = hpre_t W_hr^T:  dW_hr += dH^T hpre
        if (proj && dw != null)
            RnnBlas<T>.Gemm(true, false, hOut, h, n, T.One, dHAll, hOut, cache + layout.HPre, h, wBeta, dw + slots.WeightHr, h);

        RnnArena.Release(mark);
    }
}
