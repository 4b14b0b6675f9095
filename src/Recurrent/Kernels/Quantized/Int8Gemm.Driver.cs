// The driver shared by every instruction set of Int8Gemm: tile scheduling, the thread split and the
// float epilogue.
//
//   for ic in M step MC:                       an A block [MC, Kp] of uint8 rows (L2)
//     for each chunk of PC panels:              PC * 16 output columns, [PC][Kp/4][16][4] int8 (L1/L2)
//       for ir in MC step MR:                   one kernel call: MR rows x the chunk's panels, panel
//                                               after panel, each an MR x 16 register tile over full K
//     the block's last rows (fewer than MR) run as one call per up to 2048 / rows columns, with the k loop
//     unrolled inside the kernel so that even one row keeps enough accumulators in flight (M = 1 is a
//     single sequential stream through the packed weights)
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
    /// <summary>Rows of a full tile (at most 8).</summary>
    static abstract int MR { get; }

    /// <summary>
    /// acc[r, p * 16 + c] = sum_k a[r, k] * W[panel p, column c, k] for r &lt; TR, p &lt; panels, c &lt; 16,
    /// over all kg groups of 4 k. a: (TR, lda) uint8; w: `panels` panels of kg * 64 bytes, panel
    /// stride pb; acc: (TR, accStride) int32, accStride &gt;= 16 * panels. TR &lt;= MR.
    /// </summary>
    static abstract void Tile<TR>(int kg, byte* a, nint lda, sbyte* w, nint pb, int panels, int* acc, int accStride)
        where TR : IRowCount;

    /// <summary>The epilogue of rows [m0, m0 + rows) x columns [n0, n0 + cols), from acc (rows, accStride) int32.</summary>
    static abstract void Epilogue(in Int8Problem p, int m0, int rows, int n0, int cols, int* acc, int accStride);
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
        // Created on the thread's first call, split or not: whether a later call splits depends on the
        // team's timing, and a steady-state loop must not allocate the first time it does.
        var job = t_job ??= new Int8Job();
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

    // int32 accumulators one kernel call may produce (8 KB on the stack): rows x 16 x panels.
    private const int AccInts = 2048;
    // Bytes of weights (a chunk of panels) that full row tiles sweep repeatedly: about half of L1.
    private const int ChunkBytes = 24 * 1024;

    /// <summary>Rows [i0, i1) x panels [pan0, pan1) of the product, on the calling thread.</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block(in Int8Problem p, int i0, int i1, int pan0, int pan1)
    {
        int mr = TK.MR, kg = p.KGroups;
        nint pb = (nint)kg * QuantizedMatrix.LineBytes, lda = p.Lda;
        int* acc = stackalloc int[AccInts];
        int mcMax = Math.Max(mr, ABlockBytes / Math.Max(1, 4 * kg) / mr * mr);
        int chunk = (int)Math.Clamp(ChunkBytes / Math.Max(1, pb), 1, AccInts / (16 * mr));
        for (int ic = i0; ic < i1; ic += mcMax)
        {
            int mc = Math.Min(mcMax, i1 - ic);
            int full = mc - mc % mr;
            for (int pan = pan0; full > 0 && pan < pan1; pan += chunk)
            {
                int np = Math.Min(chunk, pan1 - pan);
                int n0 = pan * 16, cols = Math.Min(np * 16, p.N - n0);
                for (int ir = 0; ir < full; ir += mr)
                {
                    int row = ic + ir;
                    Tile(mr, kg, p.A + row * lda, lda, p.W + pan * pb, pb, np, acc, np * 16);
                    TK.Epilogue(in p, row, mr, n0, cols, acc, np * 16);
                }
            }
            int rem = mc - full, remChunk = rem > 0 ? AccInts / (16 * rem) : 0;
            for (int pan = pan0; rem > 0 && pan < pan1; pan += remChunk)
            {
                int row = ic + full;
                int np = Math.Min(remChunk, pan1 - pan);
                int n0 = pan * 16, cols = Math.Min(np * 16, p.N - n0);
                Tile(rem, kg, p.A + row * lda, lda, p.W + pan * pb, pb, np, acc, np * 16);
                TK.Epilogue(in p, row, rem, n0, cols, acc, np * 16);
            }
        }
    }

    // The kernel for r rows (1 <= r <= MR <= 8), specialised per row count.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(int r, int kg, byte* a, nint lda, sbyte* w, nint pb, int panels, int* acc, int accStride)
    {
        switch (r)
        {
            case 1: TK.Tile<TileExtent1>(kg, a, lda, w, pb, panels, acc, accStride); return;
            case 2: TK.Tile<TileExtent2>(kg, a, lda, w, pb, panels, acc, accStride); return;
            case 3: TK.Tile<TileExtent3>(kg, a, lda, w, pb, panels, acc, accStride); return;
            case 4: TK.Tile<TileExtent4>(kg, a, lda, w, pb, panels, acc, accStride); return;
            case 5: TK.Tile<TileExtent5>(kg, a, lda, w, pb, panels, acc, accStride); return;
            case 6: TK.Tile<TileExtent6>(kg, a, lda, w, pb, panels, acc, accStride); return;
            case 7: TK.Tile<TileExtent7>(kg, a, lda, w, pb, panels, acc, accStride); return;
            case 8: TK.Tile<TileExtent8>(kg, a, lda, w, pb, panels, acc, accStride); return;
        }
        throw new InvalidOperationException($"Int8Gemm: no tile of {r} rows. Expected 1 <= r <= 8, got {r}.");
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
/// The float epilogue (see the file header) in scalar, 256-bit and 512-bit form, for a whole tile:
/// rows [m0, m0 + rows) x columns [n0, n0 + cols), accumulators acc (rows, accStride). Each vector
/// lane runs the scalar sequence exactly (IEEE single-rounding operations), so the forms agree bit for
/// bit. Column chunks are the outer loop so a chunk's weight scales, row sums and bias load once.
/// </summary>
internal static unsafe class Int8Epilogue
{
    /// <summary>Scalar epilogue of a tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scalar(in Int8Problem p, int m0, int rows, int n0, int cols, int* acc, int accStride)
    {
        if (p.CInt != null) CopyInt32(in p, m0, rows, n0, cols, acc, accStride);
        else Tail(in p, m0, rows, n0, 0, cols, acc, accStride);
    }

    private static void CopyInt32(in Int8Problem p, int m0, int rows, int n0, int cols, int* acc, int accStride)
    {
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<int>(acc + r * accStride, cols).CopyTo(new Span<int>(p.CInt + (m0 + r) * p.Ldc + n0, cols));
    }

    // Columns [j0, cols) of the tile, one element at a time.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tail(in Int8Problem p, int m0, int rows, int n0, int j0, int cols, int* acc, int accStride)
    {
        float* sw = p.ScaleW + n0, bias = p.Bias != null ? p.Bias + n0 : null;
        int* rs = p.RowSumW + n0;
        for (int r = 0; r < rows; r++)
        {
            int m = m0 + r;
            float sa = p.ScaleA[m];
            int za = p.ZeroA[m];
            float* c = p.C + m * p.Ldc + n0;
            int* ar = acc + r * accStride;
            for (int j = j0; j < cols; j++)
            {
                int v = ar[j] - za * rs[j];
                float x = (float)v * (sw[j] * sa);
                if (bias != null) x += bias[j];
                c[j] = p.Accumulate ? c[j] + x : x;
            }
        }
    }

    /// <summary>256-bit epilogue of a tile (8 columns per step, the rest scalar).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void V256(in Int8Problem p, int m0, int rows, int n0, int cols, int* acc, int accStride)
    {
        if (p.CInt != null)
        {
            CopyInt32(in p, m0, rows, n0, cols, acc, accStride);
            return;
        }
        float* sa = p.ScaleA + m0, bias = p.Bias != null ? p.Bias + n0 : null;
        int* za = p.ZeroA + m0;
        float* c0 = p.C + m0 * p.Ldc + n0;
        nint ldc = p.Ldc;
        bool add = p.Accumulate;
        int j = 0;
        for (; j + 8 <= cols; j += 8)
        {
            var sw = Vector256.Load(p.ScaleW + n0 + j);
            var rs = Vector256.Load(p.RowSumW + n0 + j);
            var b = bias != null ? Vector256.Load(bias + j) : default;
            for (int r = 0; r < rows; r++)
            {
                float* c = c0 + r * ldc + j;
                var v = Vector256.Load(acc + r * accStride + j) - Vector256.Create(za[r]) * rs;
                var x = Vector256.ConvertToSingle(v) * (sw * Vector256.Create(sa[r]));
                if (bias != null) x += b;
                if (add) x = Vector256.Load(c) + x;
                x.Store(c);
            }
        }
        if (j < cols) Tail(in p, m0, rows, n0, j, cols, acc, accStride);
    }

    /// <summary>512-bit epilogue of a tile (16 columns per step, the rest scalar).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void V512(in Int8Problem p, int m0, int rows, int n0, int cols, int* acc, int accStride)
    {
        if (p.CInt != null)
        {
            CopyInt32(in p, m0, rows, n0, cols, acc, accStride);
            return;
        }
        float* sa = p.ScaleA + m0, bias = p.Bias != null ? p.Bias + n0 : null;
        int* za = p.ZeroA + m0;
        float* c0 = p.C + m0 * p.Ldc + n0;
        nint ldc = p.Ldc;
        bool add = p.Accumulate;
        int j = 0;
        for (; j + 16 <= cols; j += 16)
        {
            var sw = Vector512.Load(p.ScaleW + n0 + j);
            var rs = Vector512.Load(p.RowSumW + n0 + j);
            var b = bias != null ? Vector512.Load(bias + j) : default;
            for (int r = 0; r < rows; r++)
            {
                float* c = c0 + r * ldc + j;
                var v = Vector512.Load(acc + r * accStride + j) - Vector512.Create(za[r]) * rs;
                var x = Vector512.ConvertToSingle(v) * (sw * Vector512.Create(sa[r]));
                if (bias != null) x += b;
                if (add) x = Vector512.Load(c) + x;
                x.Store(c);
            }
        }
        if (j < cols) Tail(in p, m0, rows, n0, j, cols, acc, accStride);
    }
}
