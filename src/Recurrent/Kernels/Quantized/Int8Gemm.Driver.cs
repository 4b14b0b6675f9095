// The driver shared by every instruction set of Int8Gemm: tile scheduling, the thread split and the
// float epilogue.
//
//   for ic in M step MC:                     an A block [MC, Kp] of uint8 rows (L2)
//     for each panel of 16 output columns:   the panel [Kp/4][16][4] int8 stays in L1
//       for ir in MC step MR:                tile: acc[MR, 16] = A rows . panel, full K, int32
//     the last MC block's remaining rows (fewer than MR) run as tiles of r rows x Slots/r panels,
//     so M = 1 streams several panels at once (enough independent accumulators to hide latency)
//
// There is no K blocking: a panel is 16 * Kp bytes (16 KB at K = 1024), and int32 accumulation of
// a whole row pair in registers is exact, so every output is one accumulator from k = 0 to K.
// Integer results are exact and the epilogue is one fixed sequence of single-rounding float
// operations per element, so every instruction set, tiling and thread split gives the same bits.
//
// Epilogue, per element (m, n), in this order (no fused multiply-add anywhere):
//   v = acc - zeroA[m] * rowSumW[n]           int32, wrapping (exact: the true value fits, see MaxK)
//   r = (float)v * (scaleW[n] * scaleA[m])    two roundings (float(v) is exact below 2^24)
//   r = r + bias[n]                           if bias
//   out = out + r                             if accumulate, else out = r
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Recurrent.Kernels;

/// <summary>One quantized product's operands (pointers pinned by the caller for the whole call).</summary>
internal unsafe struct Int8Problem
{
    public int M, N, KGroups;
    /// <summary>Quantized activations: (M, Lda) bytes, 4 * KGroups columns read.</summary>
    public byte* A;
    public nint Lda;
    /// <summary>Per-row activation scale and zero point: (M).</summary>
    public float* ScaleA;
    public int* ZeroA;
    /// <summary>Packed weights, per-row weight scales (N) and row sums (Panels * 16).</summary>
    public sbyte* W;
    public float* ScaleW;
    public int* RowSumW;
    /// <summary>Bias (N) or null.</summary>
    public float* Bias;
    /// <summary>Add to C instead of overwriting it.</summary>
    public bool Accumulate;
    /// <summary>Output (M, Ldc) floats; or, when <see cref="CInt"/> is set, raw accumulators there instead.</summary>
    public float* C;
    public int* CInt;
    public nint Ldc;
}

/// <summary>An int8 micro-kernel family for one instruction set.</summary>
internal unsafe interface IInt8Kernel
{
    /// <summary>Rows of a full tile (full tiles are one panel wide).</summary>
    static abstract int MR { get; }

    /// <summary>Row x panel pairs one tile can hold: a tile of r rows spans up to Slots / r panels.</summary>
    static abstract int Slots { get; }

    /// <summary>
    /// acc[r, p * 16 + c] = sum_k a[r, k] * W[panel p, column c, k] for r &lt; TR, p &lt; TP, c &lt; 16, over all
    /// kg groups of 4 k. a: (TR, lda) uint8; w: TP panels of kg * 64 bytes, panel stride pb;
    /// acc: (TR, TP * 16) int32, row-major (slot s = r * TP + p at acc + 16 s). TR * TP &lt;= Slots.
    /// </summary>
    static abstract void Tile<TR, TP>(int kg, byte* a, nint lda, sbyte* w, nint pb, int* acc)
        where TR : IRowCount where TP : IRowCount;

    /// <summary>The epilogue of row <paramref name="m"/>, columns [n0, n0 + cols), from acc (cols int32).</summary>
    static abstract void Epilogue(in Int8Problem p, int m, int n0, int cols, int* acc);
}

/// <summary>The tile scheduler and thread split for kernel family <typeparamref name="TK"/>.</summary>
internal static unsafe class Int8Driver<TK> where TK : IInt8Kernel
{
    // Below this many operations (2 M N K) a product stays on the calling thread (~10 us of work)...
    private const long ParallelMinOps = 1L << 22;
    // ...and below this many also when the workers are asleep, unless the same product is repeated
    // back to back (docs/DECISIONS.md 10; int8 runs about twice as many operations per second as the
    // float GEMM, so both limits are the float driver's doubled).
    private const long WakeMinOps = 1L << 28;
    // Products with at most this many rows split over panels (columns) only.
    private const int SkinnyMaxM = 64;
    // Bytes of A kept hot across a sweep of the panels.
    private const int ABlockBytes = 256 * 1024;

    [ThreadStatic] private static Int8Job? t_job;

    public static void Run(in Int8Problem p, int threads)
    {
        int panels = (p.N + 15) / 16;
        long ops = 2L * p.M * p.N * (4L * p.KGroups);
        int parts = threads;
        long deferredKey = 0;
        if (ops < ParallelMinOps) parts = 1;
        else if (ops < WakeMinOps && threads > 1 && WorkerTeam.Asleep)
        {
            // Kept on this thread, unless the same product is being repeated back to back. The top bit
            // keeps these keys apart from the float GEMM's.
            deferredKey = long.MinValue ^ ((long)p.M << 42) ^ ((long)p.N << 21) ^ p.KGroups;
            if (!WorkerTeam.DeferAgain(deferredKey)) parts = 1;
            else deferredKey = 0;
        }

        int rowTiles = (p.M + TK.MR - 1) / TK.MR;
        bool splitN = p.M <= SkinnyMaxM || panels >= rowTiles;
        int units = splitN ? panels : rowTiles;
        parts = Math.Min(parts, units);
        if (parts <= 1)
        {
            Block(in p, 0, p.M, 0, panels);
            if (deferredKey != 0) WorkerTeam.Deferred(deferredKey);
            return;
        }

        var job = t_job ??= new Int8Job();
        job.Problem = p;
        job.SplitN = splitN;
        job.Units = units;
        WorkerTeam.Run(job, parts);
        job.Problem = default;
    }

    private sealed class Int8Job : ParallelJob
    {
        public Int8Problem Problem;
        public bool SplitN;
        public int Units;

        public override void Execute(int part, int parts)
        {
            int u0 = (int)((long)Units * part / parts), u1 = (int)((long)Units * (part + 1) / parts);
            if (u0 >= u1) return;
            if (SplitN) Block(in Problem, 0, Problem.M, u0, u1);
            else Block(in Problem, u0 * TK.MR, Math.Min(Problem.M, u1 * TK.MR), 0, (Problem.N + 15) / 16);
        }
    }

    /// <summary>Rows [i0, i1) x panels [pan0, pan1) of the product, on the calling thread.</summary>
    [SkipLocalsInit]
    public static void Block(in Int8Problem p, int i0, int i1, int pan0, int pan1)
    {
        int mr = TK.MR, slots = TK.Slots, kg = p.KGroups;
        nint pb = (nint)kg * QuantizedMatrix.LineBytes, lda = p.Lda;
        int* acc = stackalloc int[slots * 16];
        int mcMax = Math.Max(mr, ABlockBytes / Math.Max(1, 4 * kg) / mr * mr);
        for (int ic = i0; ic < i1; ic += mcMax)
        {
            int mc = Math.Min(mcMax, i1 - ic);
            int full = mc - mc % mr;
            if (full > 0)
            {
                for (int pan = pan0; pan < pan1; pan++)
                {
                    sbyte* wp = p.W + pan * pb;
                    int n0 = pan * 16, cols = Math.Min(16, p.N - n0);
                    for (int ir = 0; ir < full; ir += mr)
                    {
                        int row = ic + ir;
                        Tile(mr, 1, kg, p.A + row * lda, lda, wp, pb, acc);
                        for (int r = 0; r < mr; r++) TK.Epilogue(in p, row + r, n0, cols, acc + r * 16);
                    }
                }
            }
            int rem = mc - full;
            if (rem > 0)
            {
                int row = ic + full, width = slots / rem;
                for (int pan = pan0; pan < pan1; pan += width)
                {
                    int np = Math.Min(width, pan1 - pan);
                    int n0 = pan * 16, cols = Math.Min(np * 16, p.N - n0);
                    Tile(rem, np, kg, p.A + row * lda, lda, p.W + pan * pb, pb, acc);
                    for (int r = 0; r < rem; r++) TK.Epilogue(in p, row + r, n0, cols, acc + r * np * 16);
                }
            }
        }
    }

    // The tile of r rows x np panels (r * np <= Slots <= 8).
    private static void Tile(int r, int np, int kg, byte* a, nint lda, sbyte* w, nint pb, int* acc)
    {
        switch (r)
        {
            case 1:
                switch (np)
                {
                    case 1: TK.Tile<TileExtent1, TileExtent1>(kg, a, lda, w, pb, acc); return;
                    case 2: TK.Tile<TileExtent1, TileExtent2>(kg, a, lda, w, pb, acc); return;
                    case 3: TK.Tile<TileExtent1, TileExtent3>(kg, a, lda, w, pb, acc); return;
                    case 4: TK.Tile<TileExtent1, TileExtent4>(kg, a, lda, w, pb, acc); return;
                    case 5: TK.Tile<TileExtent1, TileExtent5>(kg, a, lda, w, pb, acc); return;
                    case 6: TK.Tile<TileExtent1, TileExtent6>(kg, a, lda, w, pb, acc); return;
                    case 7: TK.Tile<TileExtent1, TileExtent7>(kg, a, lda, w, pb, acc); return;
                    case 8: TK.Tile<TileExtent1, TileExtent8>(kg, a, lda, w, pb, acc); return;
                }
                break;
            case 2:
                switch (np)
                {
                    case 1: TK.Tile<TileExtent2, TileExtent1>(kg, a, lda, w, pb, acc); return;
                    case 2: TK.Tile<TileExtent2, TileExtent2>(kg, a, lda, w, pb, acc); return;
                    case 3: TK.Tile<TileExtent2, TileExtent3>(kg, a, lda, w, pb, acc); return;
                    case 4: TK.Tile<TileExtent2, TileExtent4>(kg, a, lda, w, pb, acc); return;
                }
                break;
            case 3:
                if (np == 1) { TK.Tile<TileExtent3, TileExtent1>(kg, a, lda, w, pb, acc); return; }
                if (np == 2) { TK.Tile<TileExtent3, TileExtent2>(kg, a, lda, w, pb, acc); return; }
                break;
            case 4:
                if (np == 1) { TK.Tile<TileExtent4, TileExtent1>(kg, a, lda, w, pb, acc); return; }
                if (np == 2) { TK.Tile<TileExtent4, TileExtent2>(kg, a, lda, w, pb, acc); return; }
                break;
            case 5: if (np == 1) { TK.Tile<TileExtent5, TileExtent1>(kg, a, lda, w, pb, acc); return; } break;
            case 6: if (np == 1) { TK.Tile<TileExtent6, TileExtent1>(kg, a, lda, w, pb, acc); return; } break;
            case 7: if (np == 1) { TK.Tile<TileExtent7, TileExtent1>(kg, a, lda, w, pb, acc); return; } break;
            case 8: if (np == 1) { TK.Tile<TileExtent8, TileExtent1>(kg, a, lda, w, pb, acc); return; } break;
        }
        throw new InvalidOperationException($"Int8Gemm: no {r} x {np} tile. Expected r * np <= 8, got {r * np}.");
    }
}

// Tile extents known to the JIT (it specialises each kernel for every shape it is called with).
internal struct TileExtent1 : IRowCount { public static int Value => 1; }
internal struct TileExtent2 : IRowCount { public static int Value => 2; }
internal struct TileExtent3 : IRowCount { public static int Value => 3; }
internal struct TileExtent4 : IRowCount { public static int Value => 4; }
internal struct TileExtent5 : IRowCount { public static int Value => 5; }
internal struct TileExtent6 : IRowCount { public static int Value => 6; }
internal struct TileExtent7 : IRowCount { public static int Value => 7; }
internal struct TileExtent8 : IRowCount { public static int Value => 8; }

/// <summary>
/// The float epilogue (see the file header) in scalar, 256-bit and 512-bit form. Each vector lane
/// runs the scalar sequence exactly (IEEE single-rounding operations), so the forms agree bit for bit.
/// </summary>
internal static unsafe class Int8Epilogue
{
    /// <summary>Scalar epilogue of row m, columns [n0, n0 + cols), accumulators acc (cols).</summary>
    public static void Scalar(in Int8Problem p, int m, int n0, int cols, int* acc)
    {
        if (p.CInt != null)
        {
            new ReadOnlySpan<int>(acc, cols).CopyTo(new Span<int>(p.CInt + m * p.Ldc + n0, cols));
            return;
        }
        Tail(in p, m, n0, 0, cols, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tail(in Int8Problem p, int m, int n0, int j0, int cols, int* acc)
    {
        float sa = p.ScaleA[m];
        int za = p.ZeroA[m];
        float* c = p.C + m * p.Ldc + n0;
        float* sw = p.ScaleW + n0, bias = p.Bias != null ? p.Bias + n0 : null;
        int* rs = p.RowSumW + n0;
        for (int j = j0; j < cols; j++)
        {
            int v = acc[j] - za * rs[j];
            float r = (float)v * (sw[j] * sa);
            if (bias != null) r += bias[j];
            c[j] = p.Accumulate ? c[j] + r : r;
        }
    }

    /// <summary>256-bit epilogue (8 columns per step, the rest scalar).</summary>
    public static void V256(in Int8Problem p, int m, int n0, int cols, int* acc)
    {
        if (p.CInt != null)
        {
            new ReadOnlySpan<int>(acc, cols).CopyTo(new Span<int>(p.CInt + m * p.Ldc + n0, cols));
            return;
        }
        var sa = Vector256.Create(p.ScaleA[m]);
        var za = Vector256.Create(p.ZeroA[m]);
        float* c = p.C + m * p.Ldc + n0;
        float* sw = p.ScaleW + n0, bias = p.Bias != null ? p.Bias + n0 : null;
        int* rs = p.RowSumW + n0;
        int j = 0;
        for (; j + 8 <= cols; j += 8)
        {
            var v = Vector256.Load(acc + j) - za * Vector256.Load(rs + j);
            var r = Vector256.ConvertToSingle(v) * (Vector256.Load(sw + j) * sa);
            if (bias != null) r += Vector256.Load(bias + j);
            if (p.Accumulate) r = Vector256.Load(c + j) + r;
            r.Store(c + j);
        }
        Tail(in p, m, n0, j, cols, acc);
    }

    /// <summary>512-bit epilogue (16 columns per step, the rest scalar).</summary>
    public static void V512(in Int8Problem p, int m, int n0, int cols, int* acc)
    {
        if (p.CInt != null)
        {
            new ReadOnlySpan<int>(acc, cols).CopyTo(new Span<int>(p.CInt + m * p.Ldc + n0, cols));
            return;
        }
        var sa = Vector512.Create(p.ScaleA[m]);
        var za = Vector512.Create(p.ZeroA[m]);
        float* c = p.C + m * p.Ldc + n0;
        float* sw = p.ScaleW + n0, bias = p.Bias != null ? p.Bias + n0 : null;
        int* rs = p.RowSumW + n0;
        int j = 0;
        for (; j + 16 <= cols; j += 16)
        {
            var v = Vector512.Load(acc + j) - za * Vector512.Load(rs + j);
            var r = Vector512.ConvertToSingle(v) * (Vector512.Load(sw + j) * sa);
            if (bias != null) r += Vector512.Load(bias + j);
            if (p.Accumulate) r = Vector512.Load(c + j) + r;
            r.Store(c + j);
        }
        Tail(in p, m, n0, j, cols, acc);
    }
}
