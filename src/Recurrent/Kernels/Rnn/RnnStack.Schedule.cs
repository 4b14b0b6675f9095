// The stack level's schedule for stacks of more than one chain (layers x directions): a task graph
// over chunks of ChunkSteps (small steps: SmallStepChunkSteps) time steps, run by every thread the kernels may use.
//
// Forward tasks, per chain k = (layer l, direction d) and chunk c:
//   P(k, c)  input projection of chunk c        needs M(l-1, c) (layer 0: nothing)
//   R(k, c)  the recurrence over chunk c        needs P(k, c) and the chain's previous chunk
//   M(l, c)  layer l's output rows of chunk c    needs R(l, every d, c); applies the dropout mask
//            (in place, so then also each direction's next chunk, which reads the edge rows as h_{t-1};
//            the same wait when layer l + 2 reuses the buffer: inference with 4 or more layers)
//   PackIh(k), PackHh(k)  W_ih^T and W_hh^T packed  needs nothing; every P(k, .) waits on PackIh(k), R(k, first) on PackHh(k)
// Backward tasks (each chain walks its chunks in the reverse of the forward's order):
//   BR(k, c) the backward steps of chunk c      needs the chain's previous chunk and BX(l+1, c)
//   BX(l, c) gradient of layer l's input rows    needs BR(l, every d, c); directions added in order,
//            (layer l-1's output), masked          then the dropout mask of layer l-1
//   XH(k)    chain k's [x | h_prev] side by side  needs nothing (the forward's rows); the copy both BWs read
//   BW(k, p) half p of chain k's weight grads    needs every BR of chain k and XH(k)
//   PackHh(k), PackIh(k)  W_hh and W_ih packed  needs nothing; BR(k, first) waits on PackHh(k), BX(l, .) on PackIh(l, every d)
// With input groups (an embedding's lookups, DECISIONS 33) layer 0's PackIh(k) also projects each group's row once,
// P(0·, c) has nothing to do (the steps read each row's projection from its group's), the steps sum each group's dG
// rows, and BX(0, 0) alone (after every chunk of every direction of layer 0) gives each group's input gradient; the
// other BX(0, c) have nothing to do.
// So with two threads a 2-layer stack runs as a wavefront (layer 1 steps through chunk c while
// layer 0 steps through chunk c+1), the two directions of a bidirectional layer run side by side,
// and the weight gradients of a finished chain overlap the rest. A free thread takes, in order: the
// task a chain's next chunk waits on (its projection, or the input gradient of the layer above);
// in the forward, projections for the chain above its own when its own chain runs two chunks ahead
// of that one; its own chain; layer outputs and projections ahead; another thread's chain; and only
// then the backward's copies and long weight-gradient tasks, costliest chain first. The chains'
// steps are the critical path, so no thread starts a long task while a chain could step, and the
// threads finish their last weight-gradient halves together (charlm_lstm training at threads 2: the
// two threads' idle time per step 20-24 -> 6-10 ms in the backward, 7-8 -> 3-5 ms in the forward;
// DECISIONS 29). Every task is one fixed computation on one thread (kernels inside run
// single-threaded) whoever runs it, so the results are the same bits for any thread count; tasks of
// a chain run in order, and a task starts only once the tasks it reads from are done. An inference
// forward of a one-direction LSTM stack whose steps split by hidden units runs layer by layer
// instead, each layer on the whole team (see LayerByLayer).
using System.Numerics;

namespace Recurrent.Kernels;

/// <summary>Runs a stack's forward or backward as a task graph (see the file header).</summary>
internal static unsafe class RnnStackSchedule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Time steps per chunk when several threads share the graph and a step's recurrent product is large (at least
    /// <see cref="ShortChunkMinFlops"/>): the pipeline fills and drains in one chunk, so shorter chunks leave a thread idle
    /// less (the char-LM's 2-layer LSTM, training at threads 2: 3-4% faster than with 8 steps; bidir_lstm 21%).
    /// </summary>
    public const int ChunkSteps = 4;

    /// <summary>Time steps per chunk for small steps, where each task's fixed cost outweighs the shorter fill (seed4_lstm inference: 18% slower with 4).</summary>
    public const int SmallStepChunkSteps = 8;

    /// <summary>Flops of one step's recurrent product (2 B Gh Hout) from which chunks are <see cref="ChunkSteps"/> long.</summary>
    public const long ShortChunkMinFlops = 1L << 22;

    /// <summary>
    /// Parts each chain's weight gradients split into (the same for every team, so the same bits). Two measured
    /// faster than three or four at threads 2: each part packs all of [x | h_prev] again and runs a shorter product.
    /// </summary>
    public const int WeightGradParts = 2;

    /// <summary>The most bytes of [x | h_prev] copies one backward keeps for its chains' weight gradients (see Backward).</summary>
    private const long SharedCopyMaxBytes = 64L << 20;

    /// <summary>How many chunks a chain runs ahead of the chain above it before it projects for that chain first.</summary>
    private const int LeadChunks = 2;

    // One thread has no pipeline to fill: the whole sequence is one chunk, so each chain projects all its rows in one
    // product and the per-task overhead is paid once. The bits do not change with the chunk size: a product's rows are
    // computed independently of how many rows it has (the same k order per element), which RnnThreadingTests check.
    internal static int StepsPerChunk(in RnnStackSizes s, int steps, int batch)
    {
        if (Math.Min(Parallelism.Threads, s.NumLayers * s.Directions) <= 1) return steps;
        return 2L * batch * s.GateRows * s.OutSize >= ShortChunkMinFlops ? ChunkSteps : SmallStepChunkSteps;
    }

    /// <summary>Whether the stack runs on this schedule (more than one chain) or one layer at a time.</summary>
    public static bool Applies(in RnnStackSizes s) => s.NumLayers > 1 || s.Directions > 1;

    /// <summary>
    /// Whether an inference forward runs its layers one after another, each on the whole team, instead of on the task
    /// graph: one direction, two or more threads, and steps that split by hidden units (RnnLayerCore.SplitsStepsByUnits).
    /// Then each step of a layer splits evenly over the cores and each projection is one product split over them,
    /// where the graph runs the layers' steps side by side at one core each and leaves cores idle as they wait on each
    /// other (charlm_lstm at threads 2: 38.1 vs 42.3 ms, DECISIONS 26). Training keeps the graph: there the layer-by-layer
    /// order measured no faster (its forward slower, its backward the same; DECISIONS 26).
    /// </summary>
    internal static bool LayerByLayer(in RnnStackSizes s, int bMax, bool training, bool quantized) =>
        !training && s.Directions == 1 && RnnLayerCore<T>.SplitsStepsByUnits(s.Layer(0, 0), bMax, quantized, Parallelism.Threads);

    // ------------------------------------------------------------------------------------------
    // Forward
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// The stack's forward. Arguments as <see cref="RecurrentKernels.StackForward{T}"/>, pinned: y (N, D*Hout),
    /// hN/cN or null, cache or null (inference), x (N, I), h0/c0 or null, w flat weights, mask ((L-1), N, D*Hout) or null.
    /// </summary>
    public static void Forward(in RnnStackSizes s, ReadOnlySpan<int> batchSizes, int n, T* y, T* hN, T* cN, T* cache,
        T* x, T* h0, T* c0, T* w, T* mask, QuantizedLayerWeights* quantized = null, int* groups = null, T* xu = null, int u = 0)
    {
        int steps = batchSizes.Length;
        if (steps == 0) return;
        nuint mark = RnnArena.Mark();
        fixed (int* bs = batchSizes)
        {
            int L = s.NumLayers, D = s.Directions, K = L * D, b = bs[0], h = s.HiddenSize, hOut = s.OutSize, width = D * hOut;
            int per = StepsPerChunk(in s, steps, b), chunks = (steps + per - 1) / per;
            var layout = new RnnStackLayout(in s, n);
            bool training = cache != null;
            int* offs = RnnArena.Rent<int>(steps + 1);
            RnnLayerCore<T>.RowOffsets(batchSizes, offs);

            // Layer outputs: the last layer's into y; the others' into the cache (training: the next layer's
            // saved input) or two alternating buffers (inference: layer l + 2 overwrites chunk c of layer l's
            // output only after layer l + 1 has projected it and layer l's neighbouring chunks have read its edge
            // rows as h_{t-1}; see TryLayerOutput).
            T* bufA = !training && L > 1 ? RnnArena.Rent<T>((long)n * width) : null;
            T* bufB = !training && L > 2 ? RnnArena.Rent<T>((long)n * width) : null;
            T** outs = (T**)RnnArena.Rent<nint>(L);
            for (int l = 0; l < L; l++)
                outs[l] = l == L - 1 ? y : training ? cache + layout.LayerInput(l + 1) : (l % 2 == 0 ? bufA : bufB);

            if (LayerByLayer(in s, b, training, quantized != null))
            {
                // Layer l + 2 overwrites layer l's output buffer only after layer l + 1 has read all of it.
                for (int l = 0; l < L; l++)
                {
                    RnnLayerCore<T>.Forward(s.Layer(l, 0), batchSizes, n, outs[l], width, hN == null ? null : hN + (nint)l * b * hOut,
                        cN == null ? null : cN + (nint)l * b * h, cache: null, l == 0 ? x : outs[l - 1], l == 0 ? s.InputSize : width,
                        h0 == null ? null : h0 + (nint)l * b * hOut, c0 == null ? null : c0 + (nint)l * b * h, w, s.Slots(l, 0),
                        groups: l == 0 ? groups : null, xu: xu, u: u);
                    if (mask != null && l < L - 1) RnnBlas<T>.Mul_(outs[l], mask + (long)l * n * width, n * width);
                }
                RnnArena.Release(mark);
                return;
            }
            var states = (LayerForwardState<T>*)RnnArena.Rent<byte>((long)K * sizeof(LayerForwardState<T>));
            for (int l = 0; l < L; l++)
                for (int d = 0; d < D; d++)
                {
                    int k = l * D + d;
                    var ls = s.Layer(l, d);
                    RnnLayerCore<T>.ForwardSetup(states + k, in ls, bs, steps, offs, n, outs[l] + d * hOut, width,
                        hN == null ? null : hN + (nint)k * b * hOut, cN == null ? null : cN + (nint)k * b * h,
                        training ? cache + layout.LayerCache(k) : null, l == 0 ? x : outs[l - 1], l == 0 ? s.InputSize : width,
                        h0 == null ? null : h0 + (nint)k * b * hOut, c0 == null ? null : c0 + (nint)k * b * h, w, s.Slots(l, d), packWih: true,
                        quantized == null ? null : quantized + k, stepsOnTeam: false, deferPacks: true);   // the graph runs chains side by side
                    if (l == 0 && groups != null) RnnLayerCore<T>.UseInputGroups(states + k, groups, xu, u);   // projected with PackIh(k)
                }

            var graph = new Graph
            {
                Backward = false, L = L, D = D, Chunks = chunks, Per = per, Steps = steps, Width = width, N = n, Offs = offs,
                Forward = states, Outs = outs, Mask = mask,
            };
            Run(ref graph, 2 * K * chunks + L * chunks + 2 * K);
        }
        RnnArena.Release(mark);
    }

    // ------------------------------------------------------------------------------------------
    // Backward
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// The stack's backward. Arguments as <see cref="RecurrentKernels.StackBackward{T}"/>, pinned; null for
    /// empty. dX, dH0, dC0 are added to; dw (flat) added to or written.
    /// </summary>
    public static void Backward(in RnnStackSizes s, ReadOnlySpan<int> batchSizes, int n, T* dX, T* dH0, T* dC0, T* dw, bool accumulate,
        T* dY, T* dHN, T* dCN, T* cache, T* x, T* c0, T* w, T* mask, int* groups = null, T* xu = null, int u = 0)
    {
        int steps = batchSizes.Length;
        if (steps == 0) return;
        nuint mark = RnnArena.Mark();
        fixed (int* bs = batchSizes)
        {
            int L = s.NumLayers, D = s.Directions, K = L * D, b = bs[0], h = s.HiddenSize, hOut = s.OutSize, width = D * hOut;
            int per = StepsPerChunk(in s, steps, b), chunks = (steps + per - 1) / per;
            var layout = new RnnStackLayout(in s, n);
            int* offs = RnnArena.Rent<int>(steps + 1);
            RnnLayerCore<T>.RowOffsets(batchSizes, offs);

            // dIns[l] (l >= 1): the gradient of layer l's input rows, i.e. of layer l-1's output (written by BX(l, c),
            // read by layer l-1's BR). Two alternating buffers: BX(l-2, c) overwrites chunk c only after layer l-1 read it.
            T* bufA = L > 1 ? RnnArena.Rent<T>((long)n * width) : null;
            T* bufB = L > 2 ? RnnArena.Rent<T>((long)n * width) : null;
            T** dIns = (T**)RnnArena.Rent<nint>(L);
            dIns[0] = dX;
            for (int l = 1; l < L; l++) dIns[l] = l % 2 == 1 ? bufA : bufB;

            var states = (LayerBackwardState<T>*)RnnArena.Rent<byte>((long)K * sizeof(LayerBackwardState<T>));
            for (int l = 0; l < L; l++)
                for (int d = 0; d < D; d++)
                {
                    int k = l * D + d;
                    var ls = s.Layer(l, d);
                    T* dYl = l == L - 1 ? (dY == null ? null : dY + d * hOut) : dIns[l + 1] + d * hOut;
                    RnnLayerCore<T>.BackwardSetup(states + k, in ls, bs, steps, offs, n,
                        dH0 == null ? null : dH0 + (nint)k * b * hOut, dC0 == null ? null : dC0 + (nint)k * b * h, dYl, width,
                        dHN == null ? null : dHN + (nint)k * b * hOut, dCN == null ? null : dCN + (nint)k * b * h,
                        cache + layout.LayerCache(k), l == 0 ? x : cache + layout.LayerInput(l), l == 0 ? s.InputSize : width,
                        c0 == null ? null : c0 + (nint)k * b * h, w, s.Slots(l, d), packWih: dIns[l] != null, deferPacks: true);
                    if (l == 0 && groups != null) RnnLayerCore<T>.UseInputGroups(states + k, groups, xu, u);   // dX is then the groups' (U, I)
                }

            // Each chain's [x | h_prev] for its weight-gradient parts, copied once (task XH) instead of once per part,
            // while the copies together stay under SharedCopyMaxBytes (they live until the pass ends; a chain past it
            // copies per part, as a single layer does); and the order in which threads take the chains' weight
            // gradients: the costliest first, so the last tasks to start are the short ones and the threads finish together.
            T** xh = (T**)RnnArena.RentZeroed<nint>(K);
            int* bwOrder = RnnArena.Rent<int>(K);
            long shared = 0;
            for (int k = 0; k < K; k++)
            {
                long e = dw == null ? 0 : RnnLayerCore<T>.MergedInputElements(states + k);
                if (e > 0 && (shared + e) * sizeof(T) <= SharedCopyMaxBytes)
                {
                    xh[k] = RnnArena.Rent<T>(e);
                    shared += e;
                }
                // Insertion by cost, ties in chain order: a fixed order.
                long cost = WeightGradCost(states + k);
                int at = k;
                while (at > 0 && WeightGradCost(states + bwOrder[at - 1]) < cost)
                {
                    bwOrder[at] = bwOrder[at - 1];
                    at--;
                }
                bwOrder[at] = k;
            }
            var graph = new Graph
            {
                Backward = true, L = L, D = D, Chunks = chunks, Per = per, Steps = steps, Width = width, N = n, Offs = offs,
                BackwardStates = states, DIns = dIns, Mask = mask, DW = dw, Accumulate = accumulate, Sizes = s, XH = xh, WeightGradOrder = bwOrder,
            };
            Run(ref graph, K * chunks + L * chunks + (WeightGradParts + 3) * K);
        }
        RnnArena.Release(mark);
    }

    // ------------------------------------------------------------------------------------------
    // The graph and its runner
    // ------------------------------------------------------------------------------------------

    // A chain's weight-gradient work: gate rows x (input + hidden) columns.
    private static long WeightGradCost(LayerBackwardState<T>* st) => (long)st->Gh * (st->I + st->HOut);

    /// <summary>One pass's tasks: what they work on, and per task a claim flag and a done flag.</summary>
    private struct Graph
    {
        public bool Backward, Accumulate;
        public int L, D, Chunks, Per, Steps, Width, N;
        public int* Offs, Claimed, Done, Next;             // Next: per chain, the next position in its walk
        public int* WeightGradOrder;                       // chains by weight-gradient cost, costliest first
        public LayerForwardState<T>* Forward;
        public LayerBackwardState<T>* BackwardStates;
        public T** Outs, DIns, XH;
        public T* Mask, DW;
        public RnnStackSizes Sizes;
        public int Remaining, Failed;

        public readonly int Chains => L * D;
        /// <summary>Backward with layer 0's input rows in groups: BX(0, 0) is the groups' gradient.</summary>
        public readonly bool Grouped => Backward && BackwardStates[0].Groups != null;
        public readonly int ChunkStart(int c) => c * Per;
        public readonly int ChunkEnd(int c) => Math.Min(Steps, (c + 1) * Per);

        // Forward ids: P(k, c) = k*C + c;  R(k, c) = KC + k*C + c;  M(l, c) = 2KC + l*C + c (l = L-1: placeholders);
        //              PackIh(k) = 2KC + L*C + k;  PackHh(k) = 2KC + L*C + K + k.
        // Backward ids: BR(k, c) = k*C + c;  BX(l, c) = KC + l*C + c;  BW(k, p) = KC + L*C + Parts*k + p;
        //               XH(k) = KC + L*C + Parts*K + k;  PackHh(k) = KC + L*C + (Parts+1)*K + k;  PackIh(k) = ... + K + k.
        public readonly int P(int k, int c) => k * Chunks + c;
        public readonly int R(int k, int c) => (Chains + k) * Chunks + c;
        public readonly int M(int l, int c) => 2 * Chains * Chunks + l * Chunks + c;
        public readonly int BR(int k, int c) => k * Chunks + c;
        public readonly int BX(int l, int c) => Chains * Chunks + l * Chunks + c;
        public readonly int BW(int k, int p) => (Chains + L) * Chunks + WeightGradParts * k + p;
        public readonly int XHTask(int k) => (Chains + L) * Chunks + WeightGradParts * Chains + k;
        public readonly int PackIh(int k) => Backward ? (Chains + L) * Chunks + (WeightGradParts + 2) * Chains + k : (2 * Chains + L) * Chunks + k;
        public readonly int PackHh(int k) => Backward ? (Chains + L) * Chunks + (WeightGradParts + 1) * Chains + k : (2 * Chains + L) * Chunks + Chains + k;

        /// <summary>The chunk at position <paramref name="pos"/> of chain k's walk (forward: time order, or reversed for direction 1; backward: the opposite).</summary>
        public readonly int ChunkAt(int k, int pos) => (k % D == 1) != Backward ? Chunks - 1 - pos : pos;

        public readonly bool IsDone(int task) => Volatile.Read(ref Done[task]) != 0;

        /// <summary>
        /// Whether layer l's output rows change after M(l, c) (the dropout mask multiplies them in place, or in
        /// inference with 4 or more layers layer l + 2 writes the same buffer), so M(l, c) must also wait for the
        /// neighbouring chunks that read chunk c's edge rows as h_{t-1}.
        /// </summary>
        public readonly bool EdgeRowsChange(int l) => Mask != null || (l + 2 < L && Outs[l + 2] == Outs[l]);
    }

    private static void Run(ref Graph g, int tasks)
    {
        g.Claimed = RnnArena.RentZeroed<int>(tasks);
        g.Done = RnnArena.RentZeroed<int>(tasks);
        g.Next = RnnArena.RentZeroed<int>(g.Chains);
        g.Remaining = tasks;
        // Tasks with nothing to do are done from the start.
        if (!g.Backward)
        {
            for (int l = g.L - 1; l < g.L; l++)
                for (int c = 0; c < g.Chunks; c++) Finish(ref g, g.M(l, c));   // no M for the last layer
            for (int k = 0; k < g.Chains; k++)
            {
                if (g.Forward[k].WihP == null && g.Forward[k].Groups == null) Finish(ref g, g.PackIh(k));
                if (g.Forward[k].WhhP == null) Finish(ref g, g.PackHh(k));
            }
        }
        else
        {
            if (g.DIns[0] == null)
                for (int c = 0; c < g.Chunks; c++) Finish(ref g, g.BX(0, c));
            else if (g.Grouped)
                for (int c = 1; c < g.Chunks; c++) Finish(ref g, g.BX(0, c));   // BX(0, 0): the groups' gradient, once layer 0 is done
            for (int k = 0; k < g.Chains; k++)
            {
                if (g.DW == null)
                    for (int p = 0; p < WeightGradParts; p++) Finish(ref g, g.BW(k, p));
                if (g.XH[k] == null) Finish(ref g, g.XHTask(k));
                if (g.BackwardStates[k].WihP == null) Finish(ref g, g.PackIh(k));
                if (g.BackwardStates[k].WhhP == null) Finish(ref g, g.PackHh(k));
            }
        }

        // One chunk of one direction is a chain of tasks each waiting for the one before: a second thread could only
        // spin (a stream's step, a short call). The graph gives the same bits for any team.
        int team = g.Chunks == 1 && g.D == 1 ? 1 : Math.Max(1, Math.Min(Parallelism.Threads, g.Chains));
        fixed (Graph* pg = &g)
        {
            if (team == 1) Work(pg, 0, 1);
            else
            {
                var job = t_job ??= new Job();
                job.Graph = pg;
                try { WorkerTeam.Run(job, team); }
                finally { job.Graph = null; }
            }
        }
        if (g.Remaining != 0) throw new InvalidOperationException("RnnStackSchedule: the task graph stopped with unfinished tasks.");
    }

    [ThreadStatic] private static Job? t_job;

    private sealed class Job : ParallelJob
    {
        public Graph* Graph;

        public override void Execute(int part, int parts) => Work(Graph, part, parts);
    }

    // One participant: run runnable tasks until none is left. Kernels inside run on this thread alone.
    private static void Work(Graph* g, int me, int team)
    {
        using var single = Parallelism.SingleThreaded();
        var spin = new SpinWait();
        try
        {
            while (Volatile.Read(ref g->Remaining) > 0 && Volatile.Read(ref g->Failed) == 0)
            {
                if (g->Backward ? TryBackward(ref *g, me, team) : TryForward(ref *g, me, team))
                {
                    spin = default;
                    continue;
                }
                if (team == 1) throw new InvalidOperationException("RnnStackSchedule: no runnable task on a single thread.");
                spin.SpinOnce(sleep1Threshold: -1);
            }
        }
        catch
        {
            Volatile.Write(ref g->Failed, 1);
            throw;
        }
    }

    private static bool Claim(ref Graph g, int task) => Interlocked.CompareExchange(ref g.Claimed[task], 1, 0) == 0;

    private static void Finish(ref Graph g, int task)
    {
        g.Claimed[task] = 1;
        Volatile.Write(ref g.Done[task], 1);
        Interlocked.Decrement(ref g.Remaining);
    }

    // A packing task (PackIh / PackHh of the pass), if no one has claimed it: it needs nothing but the weights.
    private static bool TryPack(ref Graph g, int task)
    {
        if (Volatile.Read(ref g.Claimed[task]) != 0 || !Claim(ref g, task)) return false;
        int k = (task - Math.Min(g.PackIh(0), g.PackHh(0))) % g.Chains;
        bool ih = task == g.PackIh(k);
        if (g.Backward)
        {
            if (ih) RnnLayerCore<T>.PackInputWeights(g.BackwardStates + k);
            else RnnLayerCore<T>.PackRecurrentWeights(g.BackwardStates + k);
        }
        else if (ih)
        {
            RnnLayerCore<T>.PackInputWeights(g.Forward + k);
            RnnLayerCore<T>.ProjectGroups(g.Forward + k);   // layer 0 with input groups: the steps read these
        }
        else RnnLayerCore<T>.PackRecurrentWeights(g.Forward + k);
        Finish(ref g, task);
        return true;
    }

    // The next step range of chain k, if its inputs are ready: claimed through the chain's position.
    private static bool TryChain(ref Graph g, int k)
    {
        int pos = Volatile.Read(ref g.Next[k]);
        if (pos >= g.Chunks) return false;
        int c = g.ChunkAt(k, pos), l = k / g.D;
        if (pos == 0 && !g.IsDone(g.PackHh(k))) return TryPack(ref g, g.PackHh(k));   // the chain's first step waits on W_hh's packing
        if (pos > 0 && !g.IsDone(g.Backward ? g.BR(k, g.ChunkAt(k, pos - 1)) : g.R(k, g.ChunkAt(k, pos - 1)))) return false;
        if (!g.Backward && !g.IsDone(g.P(k, c))) return false;
        if (g.Backward && l < g.L - 1 && !g.IsDone(g.BX(l + 1, c))) return false;
        if (Interlocked.CompareExchange(ref g.Next[k], pos + 1, pos) != pos) return false;
        int task = g.Backward ? g.BR(k, c) : g.R(k, c);
        g.Claimed[task] = 1;
        int count = g.ChunkEnd(c) - g.ChunkStart(c);
        if (g.Backward) RnnLayerCore<T>.BackwardSteps(g.BackwardStates + k, count);
        else RnnLayerCore<T>.ForwardSteps(g.Forward + k, count);
        Finish(ref g, task);
        // The layer output this chunk completes (and, when edge rows must be read first, the neighbours whose edge rows
        // it read) feeds the next layer at once, without waiting for a thread to come by the layer-output tasks.
        if (!g.Backward && l < g.L - 1)
        {
            TryLayerOutput(ref g, l, c);
            if (g.EdgeRowsChange(l))
            {
                if (c > 0) TryLayerOutput(ref g, l, c - 1);
                if (c + 1 < g.Chunks) TryLayerOutput(ref g, l, c + 1);
            }
        }
        return true;
    }

    private static bool TryForward(ref Graph g, int me, int team)
    {
        int K = g.Chains;
        // The first layer's weights, packed before anything can run (the other layers' packs wait for their chains'
        // first tasks below, and fill the time the first chunks take).
        for (int k = 0; k < g.D; k++)
            if (TryPack(ref g, g.PackIh(k)) || TryPack(ref g, g.PackHh(k))) return true;
        // A chain's next chunk waiting on its projection, upper layers first (the last layer's steps end the pass).
        for (int i = 0; i < K; i++)
        {
            int k = K - 1 - i, pos = Volatile.Read(ref g.Next[k]);
            if (pos < g.Chunks && TryProject(ref g, k, g.ChunkAt(k, pos))) return true;
        }
        // A chain running LeadChunks ahead of the chain above it projects for that chain first (the projections read
        // this layer's output), so both layers' steps progress together instead of the upper one projecting and
        // stepping alone while this one runs out of steps to take.
        for (int k = me; k < K; k += team)
        {
            int l = k / g.D, up = k + g.D;
            if (l < g.L - 1 && Volatile.Read(ref g.Next[k]) - Volatile.Read(ref g.Next[up]) >= LeadChunks && TryProjectAhead(ref g, up))
                return true;
        }
        for (int k = me; k < K; k += team)
            if (TryChain(ref g, k)) return true;
        // Layer outputs whose directions are all done: dropout mask, then they feed the next layer.
        for (int l = 0; l < g.L - 1; l++)
            for (int c = 0; c < g.Chunks; c++)
                if (TryLayerOutput(ref g, l, c)) return true;
        // Projections ahead, in the order the chains will need them, own chains first.
        for (int i = 0; i < K; i++)
            if (TryProjectAhead(ref g, (me + i) % K)) return true;
        // Another participant's chain, when nothing else is left to do here.
        for (int k = 0; k < K; k++)
            if (k % team != me && TryChain(ref g, k)) return true;
        return false;
    }

    // M(l, c) if every direction of layer l is done with chunk c (and, when the rows change after it, with the chunks
    // that read its edge rows) and no one has claimed it.
    private static bool TryLayerOutput(ref Graph g, int l, int c)
    {
        int task = g.M(l, c);
        if (Volatile.Read(ref g.Claimed[task]) != 0) return false;
        for (int d = 0; d < g.D; d++)
            if (!g.IsDone(g.R(l * g.D + d, c))) return false;
        if (g.EdgeRowsChange(l))
        {
            // Each direction still reads its chunk-edge rows as h_{t-1} of its next chunk (forward: c + 1; reverse:
            // c - 1), and the rows change once M(l, c) is done: wait for those reads too.
            if (c + 1 < g.Chunks && !g.IsDone(g.R(l * g.D, c + 1))) return false;
            if (g.D == 2 && c > 0 && !g.IsDone(g.R(l * g.D + 1, c - 1))) return false;
        }
        if (!Claim(ref g, task)) return false;
        if (g.Mask != null)
        {
            int r0 = g.Offs[g.ChunkStart(c)], rows = g.Offs[g.ChunkEnd(c)] - r0;
            long at = (long)r0 * g.Width;
            RnnBlas<T>.Mul_(g.Outs[l] + at, g.Mask + (long)l * g.N * g.Width + at, rows * g.Width);
        }
        Finish(ref g, task);
        return true;
    }

    // The first unclaimed projection along chain k's walk from its next position, up to the first whose input rows
    // are not ready.
    private static bool TryProjectAhead(ref Graph g, int k)
    {
        int l = k / g.D;
        if (!g.IsDone(g.PackIh(k))) return TryPack(ref g, g.PackIh(k));
        for (int pos = Volatile.Read(ref g.Next[k]); pos < g.Chunks; pos++)
        {
            int c = g.ChunkAt(k, pos);
            if (l > 0 && !g.IsDone(g.M(l - 1, c))) break;
            if (TryProject(ref g, k, c)) return true;
        }
        return false;
    }

    // P(k, c) if its input rows are ready and no one has claimed it.
    private static bool TryProject(ref Graph g, int k, int c)
    {
        int task = g.P(k, c), l = k / g.D;
        if (Volatile.Read(ref g.Claimed[task]) != 0) return false;
        if (l > 0 && !g.IsDone(g.M(l - 1, c))) return false;
        if (!g.IsDone(g.PackIh(k))) return TryPack(ref g, g.PackIh(k));
        if (!Claim(ref g, task)) return false;
        RnnLayerCore<T>.Project(g.Forward + k, g.ChunkStart(c), g.ChunkEnd(c));
        Finish(ref g, task);
        return true;
    }

    // BX(l, c) if every direction of layer l has stepped through chunk c and no one has claimed it.
    private static bool TryInputGrad(ref Graph g, int l, int c)
    {
        int task = g.BX(l, c), D = g.D;
        if (Volatile.Read(ref g.Claimed[task]) != 0) return false;
        if (l == 0 && g.Grouped) return TryGroupInputGrad(ref g, task);
        for (int d = 0; d < D; d++)
            if (!g.IsDone(g.BR(l * D + d, c))) return false;
        for (int d = 0; d < D; d++)
            if (!g.IsDone(g.PackIh(l * D + d))) return TryPack(ref g, g.PackIh(l * D + d));
        if (!Claim(ref g, task)) return false;
        int t0 = g.ChunkStart(c), t1 = g.ChunkEnd(c);
        int ld = l == 0 ? g.Sizes.InputSize : g.Width;
        for (int d = 0; d < D; d++)
            RnnLayerCore<T>.InputGrad(g.BackwardStates + l * D + d, t0, t1, g.DIns[l], ld, overwrite: l > 0 && d == 0);
        if (l > 0 && g.Mask != null)
        {
            // x_l = y_{l-1} * mask_{l-1}:  dy_{l-1} = dx_l * mask_{l-1}
            int r0 = g.Offs[t0], rows = g.Offs[t1] - r0;
            long at = (long)r0 * g.Width;
            RnnBlas<T>.Mul_(g.DIns[l] + at, g.Mask + (long)(l - 1) * g.N * g.Width + at, rows * g.Width);
        }
        Finish(ref g, task);
        return true;
    }

    // BX(0, 0) with input groups: each group's input gradient (dX (U, I)), from every direction of layer 0 once
    // all its steps are done (their summed dG rows).
    private static bool TryGroupInputGrad(ref Graph g, int task)
    {
        for (int d = 0; d < g.D; d++)
            for (int c = 0; c < g.Chunks; c++)
                if (!g.IsDone(g.BR(d, c))) return false;
        for (int d = 0; d < g.D; d++)
            if (!g.IsDone(g.PackIh(d))) return TryPack(ref g, g.PackIh(d));
        if (!Claim(ref g, task)) return false;
        for (int d = 0; d < g.D; d++)
            RnnLayerCore<T>.GroupInputGrad(g.BackwardStates + d, g.DIns[0], g.Sizes.InputSize, overwrite: false);
        Finish(ref g, task);
        return true;
    }

    private static bool TryBackward(ref Graph g, int me, int team)
    {
        int K = g.Chains, D = g.D;
        // The last layer's W_hh, packed before its first steps (the only tasks that can run at the start).
        for (int k = K - D; k < K; k++)
            if (TryPack(ref g, g.PackHh(k))) return true;
        // A chain's next chunk waiting on the input gradient of the layer above (as the forward's projections).
        for (int i = 0; i < K; i++)
        {
            int k = (me + i) % K, l = k / D, pos = Volatile.Read(ref g.Next[k]);
            if (l < g.L - 1 && pos < g.Chunks && TryInputGrad(ref g, l + 1, g.ChunkAt(k, pos))) return true;
        }
        for (int k = me; k < K; k += team)
            if (TryChain(ref g, k)) return true;
        // Input gradients, upper layers first (the layer below waits on them), each layer's chunks in the order its
        // consumers (the layer below, or dX) walk them.
        for (int l = g.L - 1; l >= 0; l--)
            for (int pos = 0; pos < g.Chunks; pos++)
                for (int d = 0; d < D; d++)
                    if (TryInputGrad(ref g, l, g.ChunkAt(l * D + d, pos))) return true;
        // Another participant's chain before the long weight-gradient tasks: the steps are the critical path.
        for (int k = 0; k < K; k++)
            if (k % team != me && TryChain(ref g, k)) return true;
        // The other packs, in the order the chains need them (upper layers first), then the [x | h_prev] copies the
        // weight gradients read: they need only the forward's rows, so they fill the wait at the start, while only the
        // last layer's first chunks can run.
        for (int k = K - 1; k >= 0; k--)
            if (TryPack(ref g, g.PackHh(k)) || TryPack(ref g, g.PackIh(k))) return true;
        for (int i = 0; i < K; i++)
        {
            int k = (me + i) % K, task = g.XHTask(k);
            if (Volatile.Read(ref g.Claimed[task]) != 0 || !Claim(ref g, task)) continue;
            RnnLayerCore<T>.PrepareMergedInput(g.BackwardStates + k, g.XH[k]);
            Finish(ref g, task);
            return true;
        }
        // Weight gradients of finished chains, in parts.
        for (int i = 0; i < K; i++)
        {
            int k = g.WeightGradOrder[i];
            if (Volatile.Read(ref g.Next[k]) < g.Chunks || !g.IsDone(g.BR(k, g.ChunkAt(k, g.Chunks - 1))) || !g.IsDone(g.XHTask(k))) continue;
            for (int p = 0; p < WeightGradParts; p++)
            {
                int task = g.BW(k, p);
                if (Volatile.Read(ref g.Claimed[task]) != 0 || !Claim(ref g, task)) continue;
                RnnLayerCore<T>.WeightGrads(g.BackwardStates + k, g.DW, g.Sizes.Slots(k / D, k % D), g.Accumulate, p, WeightGradParts);
                Finish(ref g, task);
                return true;
            }
        }
        return false;
    }
}
