// The blocking driver shared by every instruction set: the loop nest of Goto/BLIS around an
// MR x NR register-tile micro-kernel, panel packing (every transpose combination is handled while
// packing, never by transposing a whole matrix), the thread split, and the reused packing buffers.
//
//   for jc in N step NC:                      B block  [KC, NC]  (L3)
//     for pc in K step KC:                    pack B[pc.., jc..] into NR-wide panels
//       for ic in M step MC:                  A block  [MC, KC]  (L2), packed into MR-high panels
//         for jr in NC step NR:               B micro-panel [KC, NR] stays in L1
//           for ir in MC step MR:             micro-kernel: C[MR, NR] (+)= A panel * B panel
//
// A B packed once (PackFullB) can be reused by many products: the recurrent layers pack W_hh once
// per call and every time step reads its panels contiguously (Gemm.Packed.cs).
// Two shortcuts for the per-time-step products of recurrent layers, where packing a weight matrix
// per call would cost as much as the product: with at most 64 rows and op(B) = B (layout "nn"),
// B's rows are read in place by the micro-kernel (no B packing); with op(B) = B^T (layout "nt",
// x W^T) and at most 8 rows, or at most 64 rows and B over 1 MB, each ISA's dot-product kernel
// computes C[i, j] = A row i . B row j along k (no panel packing; see DotNT).
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>One product's operands (pointers are pinned by the caller for the whole call).</summary>
internal unsafe struct GemmProblem<T> where T : unmanaged
{
    public bool TransA, TransB;
    public int M, N, K;
    public T Alpha, Beta;
    public T* A, B, C;
    public nint Lda, Ldb, Ldc;
    /// <summary>op(B) already packed by <see cref="GemmDriver{T, TKernel}.PackFullB"/> (then B, Ldb and TransB are unused), or null.</summary>
    public T* PackedB;
}

/// <summary>A micro-kernel family for one instruction set and element type, with its blocking.</summary>
internal unsafe interface IGemmKernel<T> where T : unmanaged
{
    /// <summary>Rows of the register tile.</summary>
    static abstract int MR { get; }
    /// <summary>Columns of the register tile.</summary>
    static abstract int NR { get; }
    /// <summary>Depth of a packed block (the B micro-panel [KC, NR] should sit in L1).</summary>
    static abstract int KC { get; }
    /// <summary>Rows of a packed A block [MC, KC] (should sit in L2). Multiple of MR.</summary>
    static abstract int MC { get; }
    /// <summary>Columns of a packed B block [KC, NC]. Multiple of NR.</summary>
    static abstract int NC { get; }
    /// <summary>"nt" products with at most this many rows run on <see cref="DotNT"/>.</summary>
    static abstract int SkinnyMaxM { get; }

    /// <summary>
    /// c[MR, NR] = alpha * a * b + beta * c (beta == 0: c is not read).
    /// a: packed [kc, MR] (MR values per step); b: [kc, NR] with row stride ldbk (NR when packed);
    /// c: row stride ldc. The first <paramref name="prefetchLines"/> steps of k each also ask for one
    /// 64-byte line from <paramref name="prefetch"/> onwards into L2 (the next B panel; 0: none). A
    /// prefetch changes no result.
    /// </summary>
    static abstract void Tile(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, byte* prefetch, int prefetchLines);

    /// <summary>
    /// <see cref="Tile"/> for an edge: only c[mr, nr] is read and written (a and b are padded
    /// panels). Must give each element the same arithmetic as <see cref="Tile"/>.
    /// </summary>
    static abstract void EdgeTile(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, int mr, int nr);

    /// <summary>
    /// Layout "nt" without packing, columns [n0, n1) of C, all rows:
    /// C[i, j] = alpha * dot(A[i, 0..k), B[j, 0..k)) + beta * C[i, j].
    /// </summary>
    static abstract void DotNT(in GemmProblem<T> p, int n0, int n1);
}

/// <summary>A row count known to the JIT (specialises a kernel for 1, 2 or 3 rows).</summary>
internal interface IRowCount
{
    static abstract int Value { get; }
}

internal struct Rows1 : IRowCount { public static int Value => 1; }
internal struct Rows2 : IRowCount { public static int Value => 2; }
internal struct Rows3 : IRowCount { public static int Value => 3; }

/// <summary>The blocked driver for element type <typeparamref name="T"/> and kernel family <typeparamref name="TKernel"/>.</summary>
internal static unsafe class GemmDriver<T, TKernel>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TKernel : IGemmKernel<T>
{
    // Below this many flops a product stays on the calling thread (about 10 us of work)...
    private const long ParallelMinFlops = 1L << 21;
    // ...and below this many (about 0.7 ms of work) also when the workers are asleep, unless the same
    // product is repeated back to back: waking one costs more on the reference VM than splitting an
    // isolated product saves (measured at 2 threads vs 1: seed4_gru training 6.8 vs 5.6 ms with a
    // 2^25 limit, 5.4 vs 5.4 with 2^26; seed4_lstm's merged weight gradient, 2^26.4 - 2^27, likewise).
    // Products inside a time-step loop run as a burst (WorkerTeam.Burst) and split as before.
    private const long WakeMinFlops = 1L << 27;
    // "nn" products with at most this many rows read B in place instead of packing it.
    private const int DirectBMaxM = 64;

    [ThreadStatic] private static GemmJob? t_job;

    public static void Run(in GemmProblem<T> p, int threads)
    {
        // Layout "nt" with few rows: the dot-product kernels, unless B is small enough (<= 1 MB,
        // L2) that packing it once is cheaper than their per-output reductions (measured on Zen 5:
        // 32x256x1024 and 64x20x200 are faster packed, 16x512x2048 and 64x1024x4096 with dots).
        bool skinny = p.TransB && !p.TransA && p.M <= TKernel.SkinnyMaxM
            && (p.M <= 8 || (long)p.N * p.K * sizeof(T) > (1 << 20));
        long flops = 2L * p.M * p.N * p.K;
        int parts = threads;
        long deferredKey = 0;
        if (flops < ParallelMinFlops) parts = 1;
        else if (flops < WakeMinFlops && threads > 1 && WorkerTeam.Asleep)
        {
            // Kept on this thread, unless the same product is being repeated back to back.
            deferredKey = ((long)p.M << 42) ^ ((long)p.N << 21) ^ p.K;
            if (!WorkerTeam.DeferAgain(deferredKey)) parts = 1;
            else deferredKey = 0;
        }

        // Split C on output blocks only: whole columns panels (or row panels), never K.
        bool splitN;
        int unit, tiles;
        if (skinny)
        {
            splitN = true;
            unit = 8;
            tiles = (p.N + unit - 1) / unit;
        }
        else
        {
            int tilesM = (p.M + TKernel.MR - 1) / TKernel.MR, tilesN = (p.N + TKernel.NR - 1) / TKernel.NR;
            splitN = tilesN > tilesM;
            unit = splitN ? TKernel.NR : TKernel.MR;
            tiles = splitN ? tilesN : tilesM;
        }
        parts = Math.Min(parts, tiles);

        if (parts <= 1)
        {
            if (skinny) TKernel.DotNT(in p, 0, p.N);
            else RunBlock(in p, 0, p.M, 0, p.N);
            if (deferredKey != 0) WorkerTeam.Deferred(deferredKey);
            return;
        }

        var job = t_job ??= new GemmJob();
        job.Problem = p;
        job.Skinny = skinny;
        job.SplitN = splitN;
        job.Unit = unit;
        job.Tiles = tiles;
        WorkerTeam.Run(job, parts);
        job.Problem = default;
    }

    private sealed class GemmJob : ParallelJob
    {
        public GemmProblem<T> Problem;
        public bool Skinny, SplitN;
        public int Unit, Tiles;

        public override void Execute(int part, int parts)
        {
            int t0 = (int)((long)Tiles * part / parts), t1 = (int)((long)Tiles * (part + 1) / parts);
            int extent = SplitN ? Problem.N : Problem.M;
            int lo = Math.Min(t0 * Unit, extent), hi = Math.Min(t1 * Unit, extent);
            if (lo >= hi) return;
            if (Skinny) TKernel.DotNT(in Problem, lo, hi);
            else if (SplitN) RunBlock(in Problem, 0, Problem.M, lo, hi);
            else RunBlock(in Problem, lo, hi, 0, Problem.N);
        }
    }

    /// <summary>C[i0..i1, j0..j1] on the calling thread.</summary>
    public static void RunBlock(in GemmProblem<T> p, int i0, int i1, int j0, int j1)
    {
        int MR = TKernel.MR, NR = TKernel.NR, KC = TKernel.KC, MC = TKernel.MC, NC = TKernel.NC;
        int m = i1 - i0, n = j1 - j0, k = p.K;
        bool prepacked = p.PackedB != null;
        bool directB = !prepacked && !p.TransB && m <= DirectBMaxM;
        // A C block over 1 MB does not stay in L2 between blocks of k: its tiles are fetched ahead, where a tile's
        // k loop is long enough to hide it (k = 128 products ran about 3% slower with it; DECISIONS 37).
        bool prefetchC = k >= 256 && (long)m * n * sizeof(T) > (1 << 20);

        int kcMax = Math.Min(KC, k);
        int mcMax = Math.Min(MC, RoundUp(m, MR));
        int ncMax = directB ? NR : Math.Min(NC, RoundUp(n, NR));
        T* bufA = (T*)PackBuffers.A((nuint)(mcMax * kcMax * sizeof(T)));
        T* bufB = (T*)PackBuffers.B((nuint)(ncMax * kcMax * sizeof(T)));

        T alpha = p.Alpha;
        nint ldc = p.Ldc;
        for (int jc = j0; jc < j1; jc += NC)
        {
            int nc = Math.Min(NC, j1 - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                T beta = pc == 0 ? p.Beta : T.One;
                if (!directB && !prepacked) PackB(in p, pc, kc, jc, nc, bufB);
                for (int ic = i0; ic < i1; ic += MC)
                {
                    int mc = Math.Min(MC, i1 - ic);
                    PackA(in p, ic, mc, pc, kc, bufA);
                    for (int jr = 0; jr < nc; jr += NR)
                    {
                        int nr = Math.Min(NR, nc - jr);
                        T* bp;
                        nint ldbk;
                        if (prepacked)
                        {
                            // Panel (jc + jr) / NR holds all k rows; this block starts at row pc.
                            bp = p.PackedB + (nint)(jc + jr) * k + (nint)pc * NR;
                            ldbk = NR;
                        }
                        else if (!directB)
                        {
                            bp = bufB + (nint)jr * kc;
                            ldbk = NR;
                        }
                        else if (nr == NR)
                        {
                            bp = p.B + pc * p.Ldb + jc + jr;
                            ldbk = p.Ldb;
                        }
                        else
                        {
                            PackB(in p, pc, kc, jc + jr, nr, bufB);
                            bp = bufB;
                            ldbk = NR;
                        }
                        // The next packed B panel (still in L3 or memory) is prefetched into L2 while this
                        // one, already there, serves the row tiles: its lines are shared out over the
                        // tiles, one line per step of k. Without it the first row tile of every panel
                        // waited on L3 (the per-step products of a recurrent layer stream a 4 MB W_hh).
                        T* nb = null;
                        int nkc = kc;
                        if (prepacked)
                        {
                            if (jr + NR < nc) nb = p.PackedB + (nint)(jc + jr + NR) * k + (nint)pc * NR;
                            else if (ic + MC < i1) nb = p.PackedB + (nint)jc * k + (nint)pc * NR;
                            else if (pc + KC < k)
                            {
                                nb = p.PackedB + (nint)jc * k + (nint)(pc + KC) * NR;
                                nkc = Math.Min(KC, k - pc - KC);
                            }
                        }
                        else if (!directB)
                        {
                            if (jr + NR < nc) nb = bufB + (nint)(jr + NR) * kc;
                            else if (ic + MC < i1) nb = bufB;
                        }
                        byte* next = (byte*)nb;
                        int nextLines = nb == null ? 0 : (int)((long)nkc * NR * sizeof(T) / 64);
                        int tiles = (mc + MR - 1) / MR;
                        int linesPerTile = Math.Min(kc, (nextLines + tiles - 1) / tiles);
                        for (int ir = 0; ir < mc; ir += MR)
                        {
                            int mr = Math.Min(MR, mc - ir);
                            T* ap = bufA + (nint)ir * kc;
                            T* cp = p.C + (ic + ir) * ldc + jc + jr;
                            int lines = Math.Min(linesPerTile, nextLines);
                            // The next tile's C into L2 while this tile computes: a large C goes to memory
                            // and back once per block of k, and a tile's 8 rows lie ldc apart, a pattern
                            // the hardware prefetchers do not follow; the epilogue's loads and stores then
                            // waited on memory (1-5% on the grid's large products).
                            if (!prefetchC) { }
                            else if (ir + MR < mc) PrefetchTile(cp + MR * ldc, ldc, Math.Min(MR, mc - ir - MR), nr);
                            else if (jr + NR < nc) PrefetchTile(p.C + ic * ldc + jc + jr + NR, ldc, Math.Min(MR, mc), Math.Min(NR, nc - jr - NR));
                            if (mr == MR && nr == NR)
                            {
                                TKernel.Tile(kc, ap, bp, ldbk, cp, ldc, alpha, beta, next, lines);
                            }
                            else
                            {
                                TKernel.EdgeTile(kc, ap, bp, ldbk, cp, ldc, alpha, beta, mr, nr);
                            }
                            next += (nint)lines * 64;
                            nextLines -= lines;
                        }
                    }
                }
            }
        }
    }

    /// <summary>Asks for the lines of c[rows, cols] (row stride ldc) in L2; changes no result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchTile(T* c, nint ldc, int rows, int cols)
    {
        if (!Sse.IsSupported) return;
        nint bytes = (nint)cols * sizeof(T);
        for (int r = 0; r < rows; r++)
        {
            byte* row = (byte*)(c + r * ldc);
            for (nint off = 0; off < bytes; off += 64) Sse.Prefetch1(row + off);
            Sse.Prefetch1(row + bytes - 1);
        }
    }

    /// <summary>Elements of op(B) ([k, n]) packed whole by <see cref="PackFullB"/>.</summary>
    public static long PackedBElements(int k, int n) => (long)RoundUp(n, TKernel.NR) * k;

    /// <summary>
    /// Packs all of op(B) ([k, n]; B stored [n, ldb] with transB, else [k, ldb]) into NR-wide
    /// panels of full depth: panel j (columns j*NR ..) at dst + j*NR*k, k steps of NR values,
    /// columns past n zero. <see cref="RunBlock"/> reads any (pc, jc) block of it in place.
    /// </summary>
    public static void PackFullB(bool transB, int k, int n, T* b, nint ldb, T* dst)
    {
        var p = new GemmProblem<T> { TransB = transB, K = k, N = n, B = b, Ldb = ldb };
        for (int jp = 0; jp < n; jp += TKernel.NR) PackB(in p, 0, k, jp, Math.Min(TKernel.NR, n - jp), dst + (nint)jp * k);
    }

    /// <summary>
    /// Packs op(A)[ic.., pc..] ([mc, kc]) into MR-high panels: panel r holds rows ir..ir+MR,
    /// as kc steps of MR values; rows past mc are zero.
    /// </summary>
    private static void PackA(in GemmProblem<T> p, int ic, int mc, int pc, int kc, T* dst)
    {
        int MR = TKernel.MR;
        nint lda = p.Lda;
        int first = 0;
        if (p.TransA && mc >= 2 * MR)
        {
            // op(A)[i, q] = A[q, i] at A + q * lda + i: row q of A holds the block's mc values of step q.
            // Every full panel is written from one pass down A's rows, each row's values read in order,
            // instead of one pass per panel reading MR values (32 bytes) per row: lda apart, the rows lie on
            // other pages, where the hardware prefetchers follow a long run within a row but not a column of
            // short reads (the weight gradients' dG^T, rows 8 KB apart in the recipe, packed so that the
            // product ran 25-30% slower than with A untransposed; now within 2-3%). A partial last panel
            // takes the loop below.
            first = mc / MR * MR;
            T* src = p.A + pc * lda + ic;
            for (int q = 0; q < kc; q++)
            {
                T* s = src + q * lda;
                T* d = dst + (nint)q * MR;
                for (int r = 0; r < first; r += MR)
                    new ReadOnlySpan<T>(s + r, MR).CopyTo(new Span<T>(d + (nint)r * kc, MR));
            }
        }
        for (int ir = first; ir < mc; ir += MR)
        {
            int rows = Math.Min(MR, mc - ir);
            T* panel = dst + (nint)ir * kc;
            if (!p.TransA)
            {
                // A[i, q] at A + i * lda + q: read each row contiguously, write with stride MR.
                T* src = p.A + (ic + ir) * lda + pc;
                if (rows == MR && PackTranspose.TryPack(src, lda, MR, kc, panel)) continue;
                for (int r = 0; r < rows; r++)
                {
                    T* s = src + r * lda;
                    for (int q = 0; q < kc; q++) panel[q * MR + r] = s[q];
                }
                for (int r = rows; r < MR; r++)
                    for (int q = 0; q < kc; q++) panel[q * MR + r] = T.Zero;
            }
            else
            {
                // op(A)[i, q] = A[q, i] at A + q * lda + i: MR contiguous values per step.
                T* src = p.A + pc * lda + ic + ir;
                for (int q = 0; q < kc; q++)
                {
                    T* s = src + q * lda;
                    T* d = panel + q * MR;
                    if (rows == MR) new ReadOnlySpan<T>(s, MR).CopyTo(new Span<T>(d, MR));
                    else
                    {
                        int r = 0;
                        for (; r < rows; r++) d[r] = s[r];
                        for (; r < MR; r++) d[r] = T.Zero;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Packs op(B)[pc.., jc..] ([kc, nc]) into NR-wide panels: panel holds columns jr..jr+NR as
    /// kc steps of NR values; columns past nc are zero.
    /// </summary>
    private static void PackB(in GemmProblem<T> p, int pc, int kc, int jc, int nc, T* dst)
    {
        int NR = TKernel.NR;
        nint ldb = p.Ldb;
        for (int jr = 0; jr < nc; jr += NR)
        {
            int cols = Math.Min(NR, nc - jr);
            T* panel = dst + (nint)jr * kc;
            if (!p.TransB)
            {
                // B[q, j] at B + q * ldb + j: NR contiguous values per step.
                T* src = p.B + pc * ldb + jc + jr;
                for (int q = 0; q < kc; q++)
                {
                    T* s = src + q * ldb;
                    T* d = panel + q * NR;
                    if (cols == NR) new ReadOnlySpan<T>(s, NR).CopyTo(new Span<T>(d, NR));
                    else
                    {
                        int c = 0;
                        for (; c < cols; c++) d[c] = s[c];
                        for (; c < NR; c++) d[c] = T.Zero;
                    }
                }
            }
            else
            {
                // op(B)[q, j] = B[j, q] at B + j * ldb + q: read rows of B, write with stride NR.
                T* src = p.B + (jc + jr) * ldb + pc;
                if (cols == NR && PackTranspose.TryPack(src, ldb, NR, kc, panel)) continue;
                for (int c = 0; c < cols; c++)
                {
                    T* s = src + c * ldb;
                    for (int q = 0; q < kc; q++) panel[q * NR + c] = s[q];
                }
                for (int c = cols; c < NR; c++)
                    for (int q = 0; q < kc; q++) panel[q * NR + c] = T.Zero;
            }
        }
    }

    private static int RoundUp(int x, int unit) => (x + unit - 1) / unit * unit;
}

/// <summary>Edge tiles through a padded copy of C, for kernels without masked stores.</summary>
internal static unsafe class GemmEdge<T, TKernel>
    where T : unmanaged
    where TKernel : IGemmKernel<T>
{
    /// <summary>
    /// Runs the full <see cref="IGemmKernel{T}.Tile"/> on a padded copy of c[mr, nr], so every
    /// element gets the same arithmetic wherever the tile boundaries fall.
    /// </summary>
    [SkipLocalsInit]
    public static void ViaCopy(int kc, T* a, T* b, nint ldbk, T* c, nint ldc, T alpha, T beta, int mr, int nr, bool betaIsZero)
    {
        int NR = TKernel.NR;
        T* tmp = stackalloc T[TKernel.MR * NR + 64 / sizeof(T)];
        tmp = (T*)(((nint)tmp + 63) & ~(nint)63);
        if (!betaIsZero) CopyTile(mr, nr, c, ldc, tmp, NR);
        TKernel.Tile(kc, a, b, ldbk, tmp, NR, alpha, beta, null, 0);
        CopyTile(mr, nr, tmp, NR, c, ldc);
    }

    private static void CopyTile(int rows, int cols, T* src, nint lds, T* dst, nint ldd)
    {
        for (int i = 0; i < rows; i++)
            new ReadOnlySpan<T>(src + i * lds, cols).CopyTo(new Span<T>(dst + i * ldd, cols));
    }
}

/// <summary>
/// Per-thread packing buffers, 64-byte aligned native memory that grows and is then reused
/// (page faults are expensive; nothing is allocated per call once warm). Freed with the thread.
/// </summary>
internal static unsafe class PackBuffers
{
    [ThreadStatic] private static NativeBuffer? t_a;
    [ThreadStatic] private static NativeBuffer? t_b;

    public static void* A(nuint bytes) => (t_a ??= new NativeBuffer()).Get(bytes);
    public static void* B(nuint bytes) => (t_b ??= new NativeBuffer()).Get(bytes);

    private sealed class NativeBuffer
    {
        private void* _ptr;
        private nuint _bytes;

        public void* Get(nuint bytes)
        {
            if (bytes > _bytes)
            {
                if (_ptr != null) NativeMemory.AlignedFree(_ptr);
                _ptr = null;
                nuint size = Math.Max(bytes, 64 * 1024);
                _ptr = NativeMemory.AlignedAlloc(size, 64);
                _bytes = size;
            }
            return _ptr;
        }

        ~NativeBuffer()
        {
            if (_ptr != null) NativeMemory.AlignedFree(_ptr);
        }
    }
}
