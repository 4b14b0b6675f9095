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
// Forward:  G_x[N, G*H] = x[N, I] W_ih^T (GEMMs over any ranges of time steps); per step
//           G_h[b_t, G*H] = h_{t-1} W_hh^T (one GEMM) and the fused gate arithmetic of RnnGates;
//           LSTM projection: one more GEMM per step, h_t = (o * tanh(c_t)) W_hr^T.
// Backward: per step the fused gate backward and dh_{t-1} = dG_t W_hh (one GEMM); then
//           dx += dG W_ih (over any ranges of time steps), dW_ih += dG^T x, dW_hh += dG^T H_prev,
//           dW_hr += dH^T (o*tanh c) as GEMMs over the whole sequence (GRU: the n gate splits in
//           two, see WeightGrads), db = column sums of dG.
//
// Each direction of a pass is a resumable state (LayerForwardState / LayerBackwardState): set up
// once (scratch rented from the calling thread's arena, weights packed), then advanced step range
// by step range in processing order, while its input projections (forward) and input gradients
// (backward) are computed for any range of time steps, by any thread, in any order once their
// inputs are ready. The simple path runs one layer at once; RnnStackSchedule runs the layers and
// directions of a stack as a task graph over chunks of time steps.
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

/// <summary>A layer and direction's forward pass in progress (see <see cref="RnnLayerCore{T}.ForwardSetup"/>).</summary>
internal unsafe struct LayerForwardState<T> where T : unmanaged
{
    public RnnLayerSizes S;
    public RnnLayerCacheLayout Layout;
    public int* BatchSizes, Offs;                      // (T) rows per step; (T + 1) row offset of each time index
    public int Steps, N, BMax, H, HOut, Gh, Ldy, Ldx;
    public bool Training, Lstm, Gru, Proj;
    public T* Y, HN, CN, Cache, X, H0, C0;             // see RnnLayerCore.ForwardSetup
    public T* WIh, WHh, WHr, Bih, Bias, Bhn;           // weights; b_ih (or zeros), b_hh (n part 0 for GRU), GRU b_hn
    public T* Gx, WihP, WhhP, GhBuf, CState, HPreBuf, HpGather;
    public int Done, Off, OffPrev, PrevCount;          // steps done in processing order; their row offsets
    public bool Quantized;                             // int8 weights (inference, T = float): the products use QIh, QHh, QHr
    public QuantizedMatrixView QIh, QHh, QHr;
    public int Slices;                                 // > 0: LSTM forward steps split by hidden units (see SliceSetup)
    public T** SliceWhhP;                              // (Slices) W_hh^T of each slice's units, gates i,f,g,o side by side, packed
    public T** SliceGh;                                // (Slices) (BMax, 4 * units) each slice's h_{t-1} W_hh^T
    public int* Groups;                                // (N) the group of each input row, or null (see UseInputGroups)
    public T* XU, GxTable;                             // (U, I) one input row per group; (U, G*H) their projections
    public int U;
}

/// <summary>
/// The int8 weights of one layer and direction for inference (dynamic quantization): W_ih, W_hh and, with a
/// projection, W_hr quantized per output row; the biases stay float32 (or null without bias).
/// </summary>
internal unsafe struct QuantizedLayerWeights
{
    public QuantizedMatrixView Ih, Hh, Hr;
    public float* BiasIh, BiasHh;
}

/// <summary>A layer and direction's backward pass in progress (see <see cref="RnnLayerCore{T}.BackwardSetup"/>).</summary>
internal unsafe struct LayerBackwardState<T> where T : unmanaged
{
    public RnnLayerSizes S;
    public RnnLayerCacheLayout Layout;
    public int* BatchSizes, Offs;
    public int Steps, N, BMax, H, HOut, Gh, Gb, I, Ldy, Ldx;
    public bool Lstm, Gru, Proj;
    public T* DH0, DC0, DY, Cache, X, C0;              // see RnnLayerCore.BackwardSetup
    public T* WIh, WHh, WHr;
    public T* DG, DH, DC, DHAll, DHPre, ZeroRow, WhhT, WhhP;
    public T* WihP, WihPn;                             // W_ih packed for the dx products (GRU: r,z rows; n rows), or null
    public T* StepSums;                                // (Steps, G*H) column sums of each step's dG rows, for the biases' gradients, or null
    public T* XH;                                      // [x | h_prev] side by side for the merged weight-gradient product, or null
    public int Done;                                   // steps done in backward processing order
    public int* Groups;                                // (N) the group of each input row, or null (see UseInputGroups)
    public T* XU, GroupSums;                           // (U, I) one input row per group; (U, G*H) each group's dG rows summed
    public int U;
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

    /// <summary>Row offsets of every time index, and the total, in <paramref name="offs"/> (T + 1 entries).</summary>
    public static void RowOffsets(ReadOnlySpan<int> batchSizes, int* offs)
    {
        int o = 0;
        for (int t = 0; t < batchSizes.Length; t++) { offs[t] = o; o += batchSizes[t]; }
        offs[batchSizes.Length] = o;
    }

    /// <summary>
    /// One layer and direction, forward, in one go (the single-layer path): setup, the input projection of
    /// every step, every step. Arguments as <see cref="ForwardSetup"/>.
    /// </summary>
    public static void Forward(in RnnLayerSizes s, ReadOnlySpan<int> batchSizes, int n,
        T* y, int ldy, T* hN, T* cN, T* cache, T* x, int ldx, T* h0, T* c0, T* w, in RnnLayerSlots slots,
        QuantizedLayerWeights* quantized = null, int* groups = null, T* xu = null, int u = 0)
    {
        if (batchSizes.Length == 0) return;
        nuint mark = RnnArena.Mark();
        fixed (int* bs = batchSizes)
        {
            int* offs = RnnArena.Rent<int>(batchSizes.Length + 1);
            RowOffsets(batchSizes, offs);
            LayerForwardState<T> st;
            // With input groups W_ih^T is packed, so that the groups' product runs on the blocked kernels whatever U is.
            // With up to Gemm.SkinnyMaxM rows the ordinary projection may take the GEMM's dot-product kernels, whose bits
            // differ: there the forward projects every row as usual (the backward may still use the groups).
            if (n <= Gemm.SkinnyMaxM<T>()) groups = null;
            ForwardSetup(&st, in s, bs, batchSizes.Length, offs, n, y, ldy, hN, cN, cache, x, ldx, h0, c0, w, in slots, packWih: groups != null, quantized);
            using var burst = BurstFor(st.BMax, st.Gh, st.HOut);
            if (groups != null)
            {
                UseInputGroups(&st, groups, xu, u);
                ProjectGroups(&st);
            }
            Project(&st, 0, batchSizes.Length);
            ForwardSteps(&st, batchSizes.Length);
        }
        RnnArena.Release(mark);
    }

    /// <summary>
    /// Prepares one layer and direction's forward pass; scratch is rented from the calling thread's arena and
    /// must stay rented until the pass ends.
    /// y: (N, ldy) output rows, h_t written to columns [0, OutSize);
    /// hN: (B, OutSize) or null; cN: (B, H) (LSTM) or null;
    /// cache: training cache (<see cref="RnnLayerCacheLayout"/>) or null for inference;
    /// x: (N, ldx) input rows, columns [0, I); h0: (B, OutSize) or null (zeros); c0: (B, H) or null;
    /// w: the flat weight buffer, this layer's parameters at <paramref name="slots"/>;
    /// packWih: pack W_ih^T once for many <see cref="Project"/> calls over small ranges;
    /// stepsOnTeam: the steps will run where the worker team is free to split them (false when other layers or
    /// directions run beside them on the team's threads): LSTM forward steps then split by hidden units;
    /// deferPacks: rent the packed W_ih^T and W_hh^T but leave the packing to <see cref="PackInputWeights(LayerForwardState{T}*)"/>
    /// and <see cref="PackRecurrentWeights(LayerForwardState{T}*)"/>, called before the first projection and the first step
    /// (the stack's task graph runs them as tasks, beside other layers' work).
    /// </summary>
    public static void ForwardSetup(LayerForwardState<T>* st, in RnnLayerSizes s, int* batchSizes, int steps, int* offs, int n,
        T* y, int ldy, T* hN, T* cN, T* cache, T* x, int ldx, T* h0, T* c0, T* w, in RnnLayerSlots slots, bool packWih,
        QuantizedLayerWeights* quantized = null, bool stepsOnTeam = true, bool deferPacks = false)
    {
        int bMax = batchSizes[0], h = s.HiddenSize, hOut = s.OutSize, gh = s.Gates * h;
        bool training = cache != null, lstm = s.Mode == RnnMode.Lstm, gru = s.Mode == RnnMode.Gru, proj = s.ProjSize > 0;
        *st = new LayerForwardState<T>
        {
            S = s, Layout = new RnnLayerCacheLayout(in s, n), BatchSizes = batchSizes, Offs = offs, Steps = steps, N = n, BMax = bMax,
            H = h, HOut = hOut, Gh = gh, Ldy = ldy, Ldx = ldx, Training = training, Lstm = lstm, Gru = gru, Proj = proj,
            Y = y, HN = hN, CN = cN, Cache = cache, X = x,
            H0 = h0 != null ? h0 : RnnArena.RentZeroed<T>((long)bMax * hOut),
            C0 = !lstm ? null : c0 != null ? c0 : RnnArena.RentZeroed<T>((long)bMax * h),
            WIh = At(w, slots.WeightIh), WHh = At(w, slots.WeightHh), WHr = At(w, slots.WeightHr),
            Off = s.Reverse ? n : 0,
            Quantized = quantized != null,
        };
        if (quantized != null)
        {
            // Inference on int8 weights: the products quantize their rows on the fly (Int8Gemm); biases stay float.
            st->QIh = quantized->Ih;
            st->QHh = quantized->Hh;
            st->QHr = quantized->Hr;
        }

        // Biases are added in PyTorch's order, (x W_ih^T + b_ih) + (h W_hh^T + b_hh), so results round
        // as ATen's do (it matters in ill-conditioned cells, e.g. c_t = f*c + i*g cancelling). The gate
        // step adds both (a separate pass adding b_ih to the whole (N, G*H) projection would stream it
        // through memory once more): Bih is b_ih (or zeros), Bias b_hh. GRU's b_hn sits inside
        // r * (W_hn h + b_hn) and is kept apart (Bhn); the n part of Bias stays zero.
        T* bIh = quantized != null ? (T*)quantized->BiasIh : At(w, slots.BiasIh), bHh = quantized != null ? (T*)quantized->BiasHh : At(w, slots.BiasHh);
        st->Bih = bIh != null ? bIh : RnnArena.RentZeroed<T>(gh);
        st->Bias = RnnArena.RentZeroed<T>(gh);
        st->Bhn = gru ? RnnArena.RentZeroed<T>(h) : null;
        if (bHh != null)
        {
            RnnBlas<T>.AddTo(st->Bias, bHh, gru ? 2 * h : gh);
            if (gru) RnnBlas<T>.AddTo(st->Bhn, bHh + 2 * h, h);
        }

        // Gx: (N, G*H) input projection of every step (b_ih is added in the gate step); in training it
        // becomes the saved gates in place.
        st->Gx = training ? cache + st->Layout.Gates : RnnArena.Rent<T>((long)n * gh);
        if (packWih && quantized == null)
        {
            st->WihP = RnnArena.Rent<T>(Gemm.PackedBElements<T>(s.InputSize, gh));
            if (!deferPacks) PackInputWeights(st);
        }

        // Per-step products h_{t-1} W_hh^T: with 4 or more rows, against W_hh^T (OutSize, G*H) packed
        // once per call into the GEMM's panels (every step then reads it contiguously; "nt" on W_hh
        // itself runs at half the speed: 32 x 2048 x 512 at 192 vs 82 GFLOP/s); with fewer rows "nt".
        if (stepsOnTeam) SliceSetup(st);
        st->WhhP = bMax >= NnMinRows && quantized == null && st->Slices == 0 ? RnnArena.Rent<T>(Gemm.PackedBElements<T>(hOut, gh)) : null;
        if (!deferPacks) PackRecurrentWeights(st);
        st->GhBuf = RnnArena.Rent<T>((long)bMax * gh);                                   // (B, G*H) h_{t-1} W_hh^T
        st->CState = lstm && !training ? RnnArena.Rent<T>((long)bMax * h) : null;        // (B, H) c in inference
        st->HPreBuf = proj && !training ? RnnArena.Rent<T>((long)bMax * h) : null;       // (B, H) o*tanh(c) in inference
        st->HpGather = !training ? RnnArena.Rent<T>((long)bMax * hOut) : null;          // (B, OutSize) h_{t-1} rows in inference
    }

    /// <summary>
    /// Declares that the input rows fall into <paramref name="u"/> groups of equal rows (an embedding's lookups: one
    /// group per id): <paramref name="groups"/> (N) the group of each row, <paramref name="xu"/> (U, I) one row of each.
    /// <see cref="ProjectGroups"/> then projects each group once, <see cref="Project"/> has nothing left to do, and the
    /// steps read each row's projection from its group's: U rows multiplied instead of N (the char-LM: 65 instead of
    /// 2048), the same bits per row, as a product's rows are computed independently of the other rows. Float weights
    /// only (not int8).
    /// </summary>
    public static void UseInputGroups(LayerForwardState<T>* st, int* groups, T* xu, int u)
    {
        if (st->Quantized) throw new InvalidOperationException("input groups are not supported on int8 weights");
        st->Groups = groups;
        st->XU = xu;
        st->U = u;
        st->GxTable = RnnArena.Rent<T>((long)u * st->Gh);
    }

    /// <summary>The projections of the groups' rows (<see cref="UseInputGroups(LayerForwardState{T}*, int*, T*, int)"/>), before the first <see cref="Project"/>; W_ih^T packed first, when it is.</summary>
    public static void ProjectGroups(LayerForwardState<T>* st)
    {
        if (st->Groups == null) return;
        int gh = st->Gh, I = st->S.InputSize, u = st->U;
        if (st->WihP != null) Gemm.GemmPackedB(u, gh, I, T.One, st->XU, I, st->WihP, T.Zero, st->GxTable, gh);
        else RnnBlas<T>.Gemm(false, true, u, gh, I, T.One, st->XU, I, st->WIh, I, T.Zero, st->GxTable, gh);
    }

    /// <summary>The input projection Gx = x W_ih^T of time steps [t0, t1) (any thread, once their x rows are final).</summary>
    public static void Project(LayerForwardState<T>* st, int t0, int t1)
    {
        int r0 = st->Offs[t0], rows = st->Offs[t1] - r0, gh = st->Gh, I = st->S.InputSize;
        if (rows == 0) return;
        T* x = st->X + (nint)r0 * st->Ldx, gx = st->Gx + (nint)r0 * gh;
        // Rows of one group are equal, and so are their projections: the steps read their group's (ProjectGroups).
        if (st->Groups != null) return;
        if (st->Quantized) Int8Gemm.Linear(rows, (float*)x, st->Ldx, st->QIh, null, false, (float*)gx, gh);
        else if (st->WihP != null) Gemm.GemmPackedB(rows, gh, I, T.One, x, st->Ldx, st->WihP, T.Zero, gx, gh);
        else RnnBlas<T>.Gemm(false, true, rows, gh, I, T.One, x, st->Ldx, st->WIh, I, T.Zero, gx, gh);
    }

    /// <summary>Runs the next <paramref name="count"/> steps in processing order (their projections must be done).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ForwardSteps(LayerForwardState<T>* st, int count)
    {
        ref var k = ref *st;
        var s = k.S;
        int steps = k.Steps, h = k.H, hOut = k.HOut, gh = k.Gh, ldy = k.Ldy;
        bool training = k.Training, proj = k.Proj;
        T* y = k.Y, cache = k.Cache, h0 = k.H0;
        int end = Math.Min(steps, k.Done + count);
        for (int step = k.Done; step < end; step++)
        {
            int t = s.Reverse ? steps - 1 - step : step;
            int bt = k.BatchSizes[t];
            if (s.Reverse) k.Off -= bt;
            int off = k.Off, offPrev = k.OffPrev;
            int carried = Math.Min(k.PrevCount, bt);         // rows continuing from the previous step
            int nextCount = step + 1 < steps ? k.BatchSizes[s.Reverse ? t - 1 : t + 1] : 0;
            T* yPrev = y + (nint)offPrev * ldy;

            // h_{t-1} W_hh^T. Rows < carried continue from the previous step's outputs, the rest start from h0.
            T* hpBase;
            int hpLd;
            if (training)
            {
                hpBase = cache + k.Layout.HPrev + (nint)off * hOut;
                hpLd = hOut;
                RnnBlas<T>.CopyRows(hpBase, hOut, yPrev, ldy, carried, hOut);
                RnnBlas<T>.CopyRows(hpBase + (nint)carried * hOut, hOut, h0 + (nint)carried * hOut, hOut, bt - carried, hOut);
            }
            else if (carried == bt || carried == 0)
            {
                // All rows continue (or all start from h0): one product straight from them.
                hpBase = carried == 0 ? h0 : yPrev;
                hpLd = carried == 0 ? hOut : ldy;
            }
            else
            {
                // Some rows join from h0 (the reverse direction of a packed batch): gather them so the
                // product has the same rows as in training, and so the same bits with and without NoGrad.
                hpBase = k.HpGather;
                hpLd = hOut;
                RnnBlas<T>.CopyRows(hpBase, hOut, yPrev, ldy, carried, hOut);
                RnnBlas<T>.CopyRows(hpBase + (nint)carried * hOut, hOut, h0 + (nint)carried * hOut, hOut, bt - carried, hOut);
            }
            if (k.Slices > 0 && bt >= NnMinRows)
            {
                // Product and gates of each slice of hidden units together: one hand-off per step (see SliceSetup).
                var sliced = new SliceStep
                {
                    State = st, Rows = bt, Off = off, Carried = carried, NextCount = nextCount, HpBase = hpBase, HpLd = hpLd,
                };
                int sliceParts = Math.Min(Parallelism.Threads, k.Slices);
                if (sliceParts > 1)
                {
                    var sliceJob = t_sliceJob ??= new SliceJob();
                    sliceJob.Step = sliced;
                    WorkerTeam.Run(sliceJob, sliceParts);
                    sliceJob.Step = default;
                }
                else for (int slice = 0; slice < k.Slices; slice++) SliceRows(in sliced, slice);
                FinishStep(st, y, off, nextCount, bt);
                continue;
            }
            if (k.Quantized) Int8Gemm.Linear(bt, (float*)hpBase, hpLd, k.QHh, null, false, (float*)k.GhBuf, gh);
            else HiddenProduct(bt, gh, hOut, hpBase, hpLd, k.WHh, k.WhhP, k.GhBuf);

            // The gate arithmetic of this step: rows are independent, so large steps split them over
            // the worker team (same partition for a given thread count, so the same bits).
            var rows = new ForwardRowsContext
            {
                Mode = s.Mode, H = h, HOut = hOut, Gh = gh, Training = training, Proj = proj,
                Off = off, OffPrev = offPrev, Carried = carried, HpCarried = bt, HpLd = hpLd, NextCount = nextCount,
                HpBase = hpBase, Gx = k.Gx, Bih = k.Bih, GhBuf = k.GhBuf, Bias = k.Bias, Bhn = k.Bhn, Cache = cache, Groups = k.Groups, GxTable = k.GxTable,
                LayoutC = k.Layout.C, LayoutHPre = k.Layout.HPre, LayoutTanhC = k.Layout.TanhC, LayoutHn = k.Layout.Hn,
                CState = k.CState, C0 = k.C0, HPreBuf = k.HPreBuf, Y = y, Ldy = ldy, H0 = h0, CN = k.CN,
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
                T* hPre = training ? cache + k.Layout.HPre + (nint)off * h : k.HPreBuf;
                if (k.Quantized) Int8Gemm.Linear(bt, (float*)hPre, h, k.QHr, null, false, (float*)(y + (nint)off * ldy), ldy);
                else RnnBlas<T>.Gemm(false, true, bt, hOut, h, T.One, hPre, h, k.WHr, h, T.Zero, y + (nint)off * ldy, ldy);
            }

            FinishStep(st, y, off, nextCount, bt);
        }
        k.Done = end;
    }

    // The end of a step: sequences that end here hand their h to h_n; the offsets move on.
    private static void FinishStep(LayerForwardState<T>* st, T* y, int off, int nextCount, int bt)
    {
        ref var k = ref *st;
        int hOut = k.HOut, ldy = k.Ldy;
        if (k.HN != null && nextCount < bt)
            RnnBlas<T>.CopyRows(k.HN + (nint)nextCount * hOut, hOut, y + (nint)(off + nextCount) * ldy, ldy, bt - nextCount, hOut);
        k.OffPrev = off;
        k.PrevCount = bt;
        if (!k.S.Reverse) k.Off += bt;
    }

    // LSTM forward steps with two or more threads split by hidden units instead of in two phases (the product
    // by columns, then the gate rows by rows): slice p owns units [u0, u1), packs the W_hh rows of its four gates
    // side by side once per call, and per step computes its columns of h_{t-1} W_hh^T and then the gates, c and h
    // of its units for every row. One hand-off per step instead of two, and no core reads gate columns the other
    // wrote. Every output is the same dot product (the same packed-panel kernel, k in the same order) and the same
    // gate arithmetic as the unsplit path, so the bits do not depend on the split (tests); steps with fewer than
    // NnMinRows rows take the unsplit path as before. In training the gates, c and tanh(c) go to the cache in its
    // usual layout (each slice writes its units' columns).
    private static void SliceSetup(LayerForwardState<T>* st)
    {
        ref var k = ref *st;
        int threads = Parallelism.Threads, h = k.H, hOut = k.HOut, bMax = k.BMax;
        if (!SplitsStepsByUnits(in k.S, bMax, k.Quantized, threads)) return;
        int slices = threads;
        k.SliceWhhP = (T**)RnnArena.Rent<nint>(slices);
        k.SliceGh = (T**)RnnArena.Rent<nint>(slices);
        T* rows = RnnArena.Rent<T>((long)4 * ((h + slices - 1) / slices) * hOut);   // a slice's W_hh rows side by side
        for (int p = 0; p < slices; p++)
        {
            int u0 = SliceStart(h, p, slices), units = SliceStart(h, p + 1, slices) - u0, n = 4 * units;
            for (int g = 0; g < 4; g++)
                RnnBlas<T>.CopyRows(rows + (nint)g * units * hOut, hOut, k.WHh + ((nint)g * h + u0) * hOut, hOut, units, hOut);
            k.SliceWhhP[p] = RnnArena.Rent<T>(Gemm.PackedBElements<T>(hOut, n));
            Gemm.PackB(transB: true, hOut, n, rows, hOut, k.SliceWhhP[p]);
            k.SliceGh[p] = RnnArena.Rent<T>((long)bMax * n);
        }
        k.Slices = slices;
    }

    /// <summary>
    /// Whether LSTM forward steps split by hidden units (SliceSetup): float weights, no projection, two or more
    /// threads, steps of at least NnMinRows rows whose product the unsplit path would split too, and at least 32 units
    /// per slice.
    /// </summary>
    internal static bool SplitsStepsByUnits(in RnnLayerSizes s, int bMax, bool quantized, int threads) =>
        !quantized && s.Mode == RnnMode.Lstm && s.ProjSize == 0 && threads >= 2 && bMax >= NnMinRows
        && 2L * bMax * s.Gates * s.HiddenSize * s.OutSize >= ParallelStepFlops && s.HiddenSize >= 32 * threads;

    private static int SliceStart(int h, int p, int slices) => (int)((long)h * p / slices);

    /// <summary>One sliced step (see SliceSetup).</summary>
    private struct SliceStep
    {
        public LayerForwardState<T>* State;
        public int Rows, Off, Carried, NextCount, HpLd;
        public T* HpBase;
    }

    private sealed class SliceJob : ParallelJob
    {
        public SliceStep Step;

        public override void Execute(int part, int parts)
        {
            int slices = Step.State->Slices;
            for (int p = slices * part / parts; p < slices * (part + 1) / parts; p++) SliceRows(in Step, p);
        }
    }

    [ThreadStatic] private static SliceJob? t_sliceJob;

    // Slice p of one step: its product columns, then its units of every row (see ForwardRows' LSTM inference case).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SliceRows(in SliceStep step, int p)
    {
        ref var k = ref *step.State;
        int h = k.H, hOut = k.HOut, bt = step.Rows, slices = k.Slices;
        int u0 = SliceStart(h, p, slices), units = SliceStart(h, p + 1, slices) - u0, n = 4 * units;
        T* gh = k.SliceGh[p];
        using (Parallelism.SingleThreaded()) Gemm.GemmPackedB(bt, n, hOut, T.One, step.HpBase, step.HpLd, k.SliceWhhP[p], T.Zero, gh, n);
        bool training = k.Training;
        T* cache = k.Cache;
        for (int b = 0; b < bt; b++)
        {
            nint row = step.Off + b;
            T* cPrev = b < step.Carried ? (training ? cache + k.Layout.C + (nint)(k.OffPrev + b) * h : k.CState + (nint)b * h) : k.C0 + (nint)b * h;
            T* cOut = training ? cache + k.Layout.C + row * h : k.CState + (nint)b * h;
            T* gxr = k.Gx + row * k.Gh + u0;
            T* gxIn = k.Groups != null ? k.GxTable + (nint)k.Groups[row] * k.Gh + u0 : gxr;
            RnnGates<T>.LstmForwardSlice(units, h, units, gxIn, k.Bih + u0, gh + (nint)b * n, k.Bias + u0,
                cPrev + u0, cOut + u0, k.Y + row * k.Ldy + u0, training ? gxr : null, training ? cache + k.Layout.TanhC + row * h + u0 : null);
            if (k.CN != null && b >= step.NextCount)
                new ReadOnlySpan<T>(cOut + u0, units).CopyTo(new Span<T>(k.CN + (nint)b * h + u0, units));
        }
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
        int threads = Parallelism.Threads;
        bool splits = 2L * bMax * gh * hOut >= ParallelStepFlops || (long)bMax * gh >= ParallelGateElements;
        return splits ? WorkerTeam.Burst(threads) : default;
    }

    private static int RowParts(int rows, int gh)
    {
        int threads = Parallelism.Threads;
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
        public int* Groups;                            // input groups: row r's projection is GxTable's row Groups[r] (else Gx's row r)
        public T* GxTable;
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
            T* gxIn = k.Groups != null ? k.GxTable + (nint)k.Groups[row] * gh : gxr;   // gates are saved at gxr either way
            switch (k.Mode)
            {
                case RnnMode.Lstm:
                {
                    T* cPrev = b < k.Carried ? (training ? cache + k.LayoutC + (nint)(k.OffPrev + b) * h : k.CState + (nint)b * h) : k.C0 + (nint)b * h;
                    T* cOut = training ? cache + k.LayoutC + row * h : k.CState + (nint)b * h;
                    T* hOutRow = proj ? (training ? cache + k.LayoutHPre + row * h : k.HPreBuf + (nint)b * h) : k.Y + row * k.Ldy;
                    RnnGates<T>.LstmForwardRow(h, gxIn, k.Bih, ghr, k.Bias, cPrev, cOut, hOutRow, training ? gxr : null,
                        training ? cache + k.LayoutTanhC + row * h : null);
                    if (k.CN != null && b >= k.NextCount) new ReadOnlySpan<T>(cOut, h).CopyTo(new Span<T>(k.CN + (nint)b * h, h));
                    break;
                }
                case RnnMode.Gru:
                {
                    T* hPrev = b < k.HpCarried ? k.HpBase + (nint)b * k.HpLd : k.H0 + (nint)b * hOut;
                    RnnGates<T>.GruForwardRow(h, gxIn, k.Bih, ghr, k.Bias, k.Bhn, hPrev, k.Y + row * k.Ldy, training ? gxr : null,
                        training ? cache + k.LayoutHn + row * h : null);
                    break;
                }
                default:
                    RnnGates<T>.RnnForwardRow(k.Mode == RnnMode.RnnRelu, h, gxIn, k.Bih, ghr, k.Bias, k.Y + row * k.Ldy, training ? gxr : null);
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
    /// One layer and direction, backward through time, in one go (the single-layer path): every step, the
    /// weight gradients, dx. Arguments as <see cref="BackwardSetup"/> and <see cref="WeightGrads"/>.
    /// </summary>
    public static void Backward(in RnnLayerSizes s, ReadOnlySpan<int> batchSizes, int n,
        T* dX, T* dH0, T* dC0, T* dw, bool accumulate, T* dY, int ldy, T* dHN, T* dCN,
        T* cache, T* x, int ldx, T* c0, T* w, in RnnLayerSlots slots, int* groups = null, T* xu = null, int u = 0)
    {
        if (batchSizes.Length == 0) return;
        nuint mark = RnnArena.Mark();
        fixed (int* bs = batchSizes)
        {
            int* offs = RnnArena.Rent<int>(batchSizes.Length + 1);
            RowOffsets(batchSizes, offs);
            LayerBackwardState<T> st;
            BackwardSetup(&st, in s, bs, batchSizes.Length, offs, n, dH0, dC0, dY, ldy, dHN, dCN, cache, x, ldx, c0, w, in slots);
            if (groups != null) UseInputGroups(&st, groups, xu, u);
            using var burst = BurstFor(st.BMax, st.Gh, st.HOut);
            BackwardSteps(&st, batchSizes.Length);
            if (dw != null) WeightGrads(&st, dw, in slots, accumulate, 0, 1);
            if (dX != null)
            {
                if (groups != null) GroupInputGrad(&st, dX, s.InputSize, overwrite: false);
                else InputGrad(&st, 0, batchSizes.Length, dX, ldx, overwrite: false);
            }
        }
        RnnArena.Release(mark);
    }

    /// <summary>
    /// Prepares one layer and direction's backward pass; scratch is rented from the calling thread's arena and
    /// must stay rented until the pass ends. dH0: (B, OutSize) += gradient of h0, or null; dC0: (B, H) or null;
    /// dY: (N, ldy) gradient of the output rows or null (zero); dHN: (B, OutSize) or null; dCN: (B, H) or null;
    /// cache: what the forward saved; x: (N, ldx) the forward input; c0: (B, H) or null (zeros); w: the flat weights;
    /// packWih: rent a packed W_ih for <see cref="InputGrad"/> (many dx products over small ranges);
    /// deferPacks: leave the packing of W_hh (and W_ih) to <see cref="PackRecurrentWeights(LayerBackwardState{T}*)"/> and
    /// <see cref="PackInputWeights(LayerBackwardState{T}*)"/>, called before the first step and the first dx product.
    /// </summary>
    public static void BackwardSetup(LayerBackwardState<T>* st, in RnnLayerSizes s, int* batchSizes, int steps, int* offs, int n,
        T* dH0, T* dC0, T* dY, int ldy, T* dHN, T* dCN, T* cache, T* x, int ldx, T* c0, T* w, in RnnLayerSlots slots,
        bool packWih = false, bool deferPacks = false)
    {
        int bMax = batchSizes[0], h = s.HiddenSize, hOut = s.OutSize, gh = s.Gates * h;
        bool lstm = s.Mode == RnnMode.Lstm, gru = s.Mode == RnnMode.Gru, proj = s.ProjSize > 0;
        // DG: (N, GB) pre-activation gate gradients. GRU keeps four blocks (n input part, r, z,
        // n hidden part): [r, z, n_h] is the hidden-side gradient in W_hh's row order.
        int gb = gru ? 4 * h : gh;
        *st = new LayerBackwardState<T>
        {
            S = s, Layout = new RnnLayerCacheLayout(in s, n), BatchSizes = batchSizes, Offs = offs, Steps = steps, N = n, BMax = bMax,
            H = h, HOut = hOut, Gh = gh, Gb = gb, I = s.InputSize, Ldy = ldy, Ldx = ldx, Lstm = lstm, Gru = gru, Proj = proj,
            DH0 = dH0, DC0 = dC0, DY = dY, Cache = cache, X = x,
            C0 = !lstm ? null : c0 != null ? c0 : RnnArena.RentZeroed<T>((long)bMax * h),
            WIh = w + slots.WeightIh, WHh = w + slots.WeightHh, WHr = At(w, slots.WeightHr),
            DG = RnnArena.Rent<T>((long)n * gb),
            DH = RnnArena.Rent<T>((long)bMax * hOut),                       // (B, OutSize) gradient reaching h_t from later steps
            DC = lstm ? RnnArena.Rent<T>((long)bMax * h) : null,
            DHAll = proj ? RnnArena.Rent<T>((long)n * hOut) : null,           // (N, P) total gradient of each h_t
            DHPre = proj ? RnnArena.Rent<T>((long)bMax * h) : null,           // (B, H) gradient of o*tanh(c_t)
            ZeroRow = RnnArena.RentZeroed<T>(hOut),
            // The biases' gradients sum dG over every row; each step sums its own rows while they are in cache (see
            // StepColumnSums). With few rows per step the sums would be as large as dG itself: then one pass at the end.
            StepSums = !gru && slots.BiasIh >= 0 && bMax >= StepSumsMinRows ? RnnArena.Rent<T>((long)steps * gh) : null,
        };
        if (dHN != null) new ReadOnlySpan<T>(dHN, bMax * hOut).CopyTo(new Span<T>(st->DH, bMax * hOut));
        else new Span<T>(st->DH, bMax * hOut).Clear();
        if (lstm)
        {
            if (dCN != null) new ReadOnlySpan<T>(dCN, bMax * h).CopyTo(new Span<T>(st->DC, bMax * h));
            else new Span<T>(st->DC, bMax * h).Clear();
        }
        // dh_{t-1} = dG_h W_hh: against W_hh packed once per call, or with few rows "nt" on a transposed copy.
        st->WhhT = bMax < NnMinRows ? RnnArena.Rent<T>((long)gh * hOut) : null;
        if (st->WhhT != null) RnnBlas<T>.Transpose(st->WhhT, st->WHh, gh, hOut);
        st->WhhP = st->WhhT == null ? RnnArena.Rent<T>(Gemm.PackedBElements<T>(gh, hOut)) : null;
        if (packWih)
        {
            st->WihP = RnnArena.Rent<T>(Gemm.PackedBElements<T>(gru ? 2 * h : gh, s.InputSize));
            st->WihPn = gru ? RnnArena.Rent<T>(Gemm.PackedBElements<T>(h, s.InputSize)) : null;
        }
        if (!deferPacks)
        {
            PackRecurrentWeights(st);
            PackInputWeights(st);
        }
    }

    /// <summary>Packs W_ih^T for the projections, when <see cref="ForwardSetup"/> deferred it (no-op without a packed W_ih).</summary>
    public static void PackInputWeights(LayerForwardState<T>* st)
    {
        if (st->WihP != null) Gemm.PackB(transB: true, st->S.InputSize, st->Gh, st->WIh, st->S.InputSize, st->WihP);
    }

    /// <summary>Packs W_hh^T for the steps, when <see cref="ForwardSetup"/> deferred it (no-op without a packed W_hh).</summary>
    public static void PackRecurrentWeights(LayerForwardState<T>* st)
    {
        if (st->WhhP != null) Gemm.PackB(transB: true, st->HOut, st->Gh, st->WHh, st->HOut, st->WhhP);
    }

    /// <summary>Packs W_hh for the steps' dh products, when <see cref="BackwardSetup"/> deferred it (no-op without one).</summary>
    public static void PackRecurrentWeights(LayerBackwardState<T>* st)
    {
        if (st->WhhP != null) Gemm.PackB(transB: false, st->Gh, st->HOut, st->WHh, st->HOut, st->WhhP);
    }

    /// <summary>
    /// Packs W_ih for the dx products of <see cref="InputGrad"/> (BackwardSetup with packWih; no-op without): one pack
    /// for the many chunks of a stack's backward, where each product would otherwise pack all of W_ih again.
    /// </summary>
    public static void PackInputWeights(LayerBackwardState<T>* st)
    {
        if (st->WihP == null) return;
        int h = st->H, I = st->I;
        if (st->Gru)
        {
            Gemm.PackB(transB: false, 2 * h, I, st->WIh, I, st->WihP);
            Gemm.PackB(transB: false, h, I, st->WIh + (nint)2 * h * I, I, st->WihPn);
        }
        else Gemm.PackB(transB: false, st->Gh, I, st->WIh, I, st->WihP);
    }

    /// <summary>Runs the next <paramref name="count"/> steps of the backward (the reverse of the forward's processing order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BackwardSteps(LayerBackwardState<T>* st, int count)
    {
        ref var k = ref *st;
        var s = k.S;
        int steps = k.Steps, h = k.H, hOut = k.HOut, gh = k.Gh, gb = k.Gb, ldy = k.Ldy;
        bool lstm = k.Lstm, gru = k.Gru, proj = k.Proj;
        T* dY = k.DY, dH = k.DH, dC = k.DC, dG = k.DG;
        int end = Math.Min(steps, k.Done + count);
        for (int i = k.Done; i < end; i++)
        {
            int step = steps - 1 - i;                      // the forward's processing position
            int t = s.Reverse ? steps - 1 - step : step;
            int bt = k.BatchSizes[t], off = k.Offs[t];
            int tPrev = s.Reverse ? t + 1 : t - 1;
            int carried = step > 0 ? Math.Min(k.BatchSizes[tPrev], bt) : 0;
            int offPrev = step > 0 ? k.Offs[tPrev] : 0;

            if (proj)
            {
                // h_t = hpre W_hr^T:  dh_t (total) = dH + dY;  dhpre = dh_t W_hr
                for (int b = 0; b < bt; b++)
                    RnnBlas<T>.Sum(k.DHAll + (nint)(off + b) * hOut, dH + (nint)b * hOut, dY != null ? dY + (nint)(off + b) * ldy : k.ZeroRow, hOut);
                RnnBlas<T>.Gemm(false, false, bt, h, hOut, T.One, k.DHAll + (nint)off * hOut, hOut, k.WHr, h, T.Zero, k.DHPre, h);
            }

            // The gate backward of this step, split over the team like the forward (rows are independent).
            var rows = new BackwardRowsContext
            {
                Mode = s.Mode, H = h, HOut = hOut, Gh = gh, Gb = gb, Ldy = ldy, Off = off, OffPrev = offPrev, Carried = carried,
                Proj = proj, DY = dY, ZeroRow = k.ZeroRow, Cache = k.Cache, LayoutGates = k.Layout.Gates, LayoutC = k.Layout.C,
                LayoutTanhC = k.Layout.TanhC, LayoutHn = k.Layout.Hn, LayoutHPrev = k.Layout.HPrev, DG = dG, C0 = k.C0, DHPre = k.DHPre,
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
            if (k.StepSums != null) StepColumnSums(k.StepSums + (nint)t * gh, dG + (nint)off * gb, gb, bt, gh);
            // Each group's dG rows summed while they are in cache, in the backward's order (the same for any team).
            if (k.Groups != null)
            {
                int cols = gru ? 3 * h : gb;   // GRU: the blocks that meet x (n input part, r, z), not the n hidden part
                for (int b = 0; b < bt; b++) RnnBlas<T>.AddTo(k.GroupSums + (nint)k.Groups[off + b] * gb, dG + (nint)(off + b) * gb, cols);
            }

            // G_h = h_{t-1} W_hh^T:  dh_{t-1} = dG_h W_hh  (GRU: added to the direct part dh * z)
            T* dGh = dG + (nint)off * gb + (gru ? h : 0);
            T dhBeta = gru ? T.One : T.Zero;
            if (k.WhhT != null) RnnBlas<T>.Gemm(false, true, bt, hOut, gh, T.One, dGh, gb, k.WhhT, gh, dhBeta, dH, hOut);
            else Gemm.GemmPackedB(bt, hOut, gh, T.One, dGh, gb, k.WhhP, dhBeta, dH, hOut);

            // Rows that started this step (from h0, c0) hand their gradient to dh0, dc0.
            for (int b = carried; b < bt; b++)
            {
                if (k.DH0 != null) RnnBlas<T>.AddTo(k.DH0 + (nint)b * hOut, dH + (nint)b * hOut, hOut);
                if (lstm && k.DC0 != null) RnnBlas<T>.AddTo(k.DC0 + (nint)b * h, dC + (nint)b * h, h);
            }
        }
        k.Done = end;
    }

    /// <summary>Rows per step from which the backward sums each step's dG rows as it goes (<see cref="LayerBackwardState{T}.StepSums"/>).</summary>
    internal const int StepSumsMinRows = 8;

    // dst (n) = a[0, :n] + a[1, :n] + ... + a[rows-1, :n] in row order (rows > 0; row stride lda).
    private static void StepColumnSums(T* dst, T* a, int lda, int rows, int n)
    {
        new ReadOnlySpan<T>(a, n).CopyTo(new Span<T>(dst, n));
        for (int r = 1; r < rows; r++) RnnBlas<T>.AddTo(dst, a + (nint)r * lda, n);
    }

    /// <summary>
    /// Declares the input rows' groups for the backward (see <see cref="UseInputGroups(LayerForwardState{T}*, int*, T*, int)"/>):
    /// the steps sum each group's dG rows, the weight gradients read dW_ih = sums^T xu (U rows instead of N), and
    /// <see cref="GroupInputGrad"/> gives each group's summed input gradient (an embedding row's gradient) instead
    /// of <see cref="InputGrad"/>'s per-row dx.
    /// </summary>
    public static void UseInputGroups(LayerBackwardState<T>* st, int* groups, T* xu, int u)
    {
        st->Groups = groups;
        st->XU = xu;
        st->U = u;
        st->GroupSums = RnnArena.RentZeroed<T>((long)u * st->Gb);
    }

    /// <summary>dU (U, ldu) (+)= the groups' summed dG W_ih, once every step is done (<see cref="UseInputGroups(LayerBackwardState{T}*, int*, T*, int)"/>).</summary>
    public static void GroupInputGrad(LayerBackwardState<T>* st, T* dU, int ldu, bool overwrite)
    {
        int h = st->H, gh = st->Gh, gb = st->Gb, I = st->I, u = st->U;
        T beta = overwrite ? T.Zero : T.One;
        T* sums = st->GroupSums;
        if (st->Gru)
        {
            // As InputGrad: W_ih's r,z rows meet the sums' [H, 3H), its n rows [0, H).
            if (st->WihP != null)
            {
                Gemm.GemmPackedB(u, I, 2 * h, T.One, sums + h, gb, st->WihP, beta, dU, ldu);
                Gemm.GemmPackedB(u, I, h, T.One, sums, gb, st->WihPn, T.One, dU, ldu);
            }
            else
            {
                RnnBlas<T>.Gemm(false, false, u, I, 2 * h, T.One, sums + h, gb, st->WIh, I, beta, dU, ldu);
                RnnBlas<T>.Gemm(false, false, u, I, h, T.One, sums, gb, st->WIh + (nint)2 * h * I, I, T.One, dU, ldu);
            }
        }
        else if (st->WihP != null) Gemm.GemmPackedB(u, I, gh, T.One, sums, gb, st->WihP, beta, dU, ldu);
        else RnnBlas<T>.Gemm(false, false, u, I, gh, T.One, sums, gb, st->WIh, I, beta, dU, ldu);
    }

    /// <summary>
    /// dx rows of time steps [t0, t1) (+)= dG_x W_ih (any thread, once those steps are done). dX: (N, ldx);
    /// <paramref name="overwrite"/>: write instead of add (the old contents are not read).
    /// </summary>
    public static void InputGrad(LayerBackwardState<T>* st, int t0, int t1, T* dX, int ldx, bool overwrite)
    {
        int r0 = st->Offs[t0], rows = st->Offs[t1] - r0, h = st->H, gh = st->Gh, gb = st->Gb, I = st->I;
        if (rows == 0) return;
        T beta = overwrite ? T.Zero : T.One;
        T* dG = st->DG + (nint)r0 * gb, dx = dX + (nint)r0 * ldx;
        if (st->WihP != null)
        {
            // The same products against W_ih packed once (PackInputWeights): the same blocks, so the same bits.
            if (st->Gru)
            {
                Gemm.GemmPackedB(rows, I, 2 * h, T.One, dG + h, gb, st->WihP, beta, dx, ldx);
                Gemm.GemmPackedB(rows, I, h, T.One, dG, gb, st->WihPn, T.One, dx, ldx);
            }
            else Gemm.GemmPackedB(rows, I, gh, T.One, dG, gb, st->WihP, beta, dx, ldx);
        }
        else if (st->Gru)
        {
            // G_x = x W_ih^T + b_ih: the r,z rows of W_ih meet dG[:, H:3H], the n rows dG[:, 0:H].
            RnnBlas<T>.Gemm(false, false, rows, I, 2 * h, T.One, dG + h, gb, st->WIh, I, beta, dx, ldx);
            RnnBlas<T>.Gemm(false, false, rows, I, h, T.One, dG, gb, st->WIh + 2 * h * I, I, T.One, dx, ldx);
        }
        else RnnBlas<T>.Gemm(false, false, rows, I, gh, T.One, dG, gb, st->WIh, I, beta, dx, ldx);
    }

    /// <summary>
    /// Elements of the [x | h_prev] copy the weight gradients of this layer read (<see cref="PrepareMergedInput"/>),
    /// or 0 when they read x and h_prev in place (GRU, or I + H_out above <see cref="MergedWeightGradMaxWidth"/>).
    /// </summary>
    public static long MergedInputElements(LayerBackwardState<T>* st) =>
        MergesWeightGrads(in *st) ? (long)st->N * (st->I + st->HOut) : 0;

    // Whether the LSTM/RNN weight gradients are one product over [x | h_prev] (GRU's gates meet x and h apart).
    private static bool MergesWeightGrads(in LayerBackwardState<T> k) => !k.Gru && k.Groups == null && k.I + k.HOut <= MergedWeightGradMaxWidth;

    /// <summary>
    /// Copies x and h_prev side by side into <paramref name="xh"/> (<see cref="MergedInputElements"/> elements), for
    /// every part of <see cref="WeightGrads"/> to read instead of each copying them itself. Reads only the forward's
    /// saved rows, so it may run any time before the weight gradients.
    /// </summary>
    public static void PrepareMergedInput(LayerBackwardState<T>* st, T* xh)
    {
        FillMergedInput(ref *st, xh);
        st->XH = xh;
    }

    private static void FillMergedInput(ref LayerBackwardState<T> k, T* xh)
    {
        int w2 = k.I + k.HOut;
        RnnBlas<T>.CopyRows(xh, w2, k.X, k.Ldx, k.N, k.I);
        RnnBlas<T>.CopyRows(xh + k.I, w2, k.Cache + k.Layout.HPrev, k.HOut, k.N, k.HOut);
    }

    /// <summary>
    /// Part <paramref name="part"/> of <paramref name="parts"/> of the weight gradients (once every step is done):
    /// gate rows [part*G*H/parts, (part+1)*G*H/parts) of dW_ih, dW_hh, db_ih, db_hh, and the same share of dW_hr's
    /// rows, added (<paramref name="accumulate"/>) or written. dw: the flat gradient buffer, this layer at
    /// <paramref name="slots"/>. [dW_ih | dW_hh] is one product when I + H_out is small.
    /// </summary>
    public static void WeightGrads(LayerBackwardState<T>* st, T* dw, in RnnLayerSlots slots, bool accumulate, int part, int parts)
    {
        ref var k = ref *st;
        int n = k.N, h = k.H, hOut = k.HOut, gh = k.Gh, gb = k.Gb, I = k.I;
        int r0 = (int)((long)gh * part / parts), r1 = (int)((long)gh * (part + 1) / parts);
        T* dG = k.DG, x = k.X, hPrevAll = k.Cache + k.Layout.HPrev;
        T* gWih = dw + slots.WeightIh, gWhh = dw + slots.WeightHh, gBih = At(dw, slots.BiasIh), gBhh = At(dw, slots.BiasHh);
        T wBeta = accumulate ? T.One : T.Zero;
        nuint mark = RnnArena.Mark();
        if (!accumulate)
        {
            if (gBih != null) new Span<T>(gBih + r0, r1 - r0).Clear();
            if (gBhh != null) new Span<T>(gBhh + r0, r1 - r0).Clear();
        }
        if (k.Gru)
        {
            // W_ih rows [0, 2H) (r, z) meet dG[:, H:3H]; rows [2H, 3H) (n) meet dG[:, 0:H]. W_hh rows r meet dG[:, H + r].
            int a0 = r0, a1 = Math.Min(r1, 2 * h), n0 = Math.Max(r0, 2 * h);
            // With input groups (UseInputGroups): the groups' summed dG against one row of each, U rows instead of N.
            T* gx = k.Groups != null ? k.GroupSums : dG, xRows = k.Groups != null ? k.XU : x;
            int nx = k.Groups != null ? k.U : n, ldx = k.Groups != null ? I : k.Ldx;
            if (a1 > a0)
            {
                RnnBlas<T>.Gemm(true, false, a1 - a0, I, nx, T.One, gx + h + a0, gb, xRows, ldx, wBeta, gWih + (nint)a0 * I, I);
                if (gBih != null) RnnBlas<T>.AddColumnSums(gBih + a0, dG + h + a0, gb, n, a1 - a0);
            }
            if (r1 > n0)
            {
                RnnBlas<T>.Gemm(true, false, r1 - n0, I, nx, T.One, gx + (n0 - 2 * h), gb, xRows, ldx, wBeta, gWih + (nint)n0 * I, I);
                if (gBih != null) RnnBlas<T>.AddColumnSums(gBih + n0, dG + (n0 - 2 * h), gb, n, r1 - n0);
            }
            RnnBlas<T>.Gemm(true, false, r1 - r0, hOut, n, T.One, dG + h + r0, gb, hPrevAll, hOut, wBeta, gWhh + (nint)r0 * hOut, hOut);
            if (gBhh != null) RnnBlas<T>.AddColumnSums(gBhh + r0, dG + h + r0, gb, n, r1 - r0);
        }
        else
        {
            if (MergesWeightGrads(in k))
            {
                // [dW_ih | dW_hh] = dG^T [x | h_prev] as one product: dG^T is packed once instead of
                // twice, which is most of the cost when I and H are small (seed4: 200 x 50 x 3200 runs
                // at 73 GFLOP/s alone, 200 x 100 x 3200 at 105). [x | h_prev] is the copy the caller made once
                // for every part (PrepareMergedInput), or this part's own.
                int w2 = I + hOut, m = r1 - r0;
                T* xh = k.XH;
                if (xh == null)
                {
                    xh = RnnArena.Rent<T>((long)n * w2);
                    FillMergedInput(ref k, xh);
                }
                T* dW = RnnArena.Rent<T>((long)m * w2);
                RnnBlas<T>.Gemm(true, false, m, w2, n, T.One, dG + r0, gb, xh, w2, T.Zero, dW, w2);
                if (accumulate)
                {
                    for (int r = 0; r < m; r++)
                    {
                        RnnBlas<T>.AddTo(gWih + (nint)(r0 + r) * I, dW + (nint)r * w2, I);
                        RnnBlas<T>.AddTo(gWhh + (nint)(r0 + r) * hOut, dW + (nint)r * w2 + I, hOut);
                    }
                }
                else
                {
                    RnnBlas<T>.CopyRows(gWih + (nint)r0 * I, I, dW, w2, m, I);
                    RnnBlas<T>.CopyRows(gWhh + (nint)r0 * hOut, hOut, dW + I, w2, m, hOut);
                }
            }
            else
            {
                // With input groups (UseInputGroups): dW_ih = dG^T x = (the groups' summed dG)^T xu.
                if (k.Groups != null) RnnBlas<T>.Gemm(true, false, r1 - r0, I, k.U, T.One, k.GroupSums + r0, gb, k.XU, I, wBeta, gWih + (nint)r0 * I, I);
                else RnnBlas<T>.Gemm(true, false, r1 - r0, I, n, T.One, dG + r0, gb, x, k.Ldx, wBeta, gWih + (nint)r0 * I, I);
                RnnBlas<T>.Gemm(true, false, r1 - r0, hOut, n, T.One, dG + r0, gb, hPrevAll, hOut, wBeta, gWhh + (nint)r0 * hOut, hOut);
            }
            // G = x W_ih^T + b_ih + h W_hh^T + b_hh: both biases get the column sums of dG, the steps' sums added in
            // time order (each step's rows summed in order: the same sums as AddColumnSums's 32-row blocks when every
            // step has 32 rows).
            if (gBih != null)
            {
                T* db = RnnArena.RentZeroed<T>(r1 - r0);
                if (k.StepSums != null)
                    for (int t = 0; t < k.Steps; t++) RnnBlas<T>.AddTo(db, k.StepSums + (nint)t * gh + r0, r1 - r0);
                else RnnBlas<T>.AddColumnSums(db, dG + r0, gb, n, r1 - r0);
                RnnBlas<T>.AddTo(gBih + r0, db, r1 - r0);
                RnnBlas<T>.AddTo(gBhh + r0, db, r1 - r0);
            }
        }
        // h_t = hpre_t W_hr^T:  dW_hr += dH^T hpre (rows of W_hr shared out like the gate rows)
        if (k.Proj)
        {
            int p0 = (int)((long)hOut * part / parts), p1 = (int)((long)hOut * (part + 1) / parts);
            if (p1 > p0)
                RnnBlas<T>.Gemm(true, false, p1 - p0, h, n, T.One, k.DHAll + p0, hOut, k.Cache + k.Layout.HPre, h, wBeta,
                    dw + slots.WeightHr + (nint)p0 * h, h);
        }
        RnnArena.Release(mark);
    }
}
