// The int8 GEMM of dynamic quantization (PyTorch's quantize_dynamic, ONNX Runtime's
// DynamicQuantizeLSTM): uint8 activations x int8 weights -> int32, with a fused float epilogue.
//
//   out[m, n] = (accumulate ? out[m, n] : 0)
//             + ((float)(acc[m, n] - zeroA[m] * rowSumW[n]) * (scaleW[n] * scaleA[m]) + bias[n])
//   acc[m, n] = sum_k qa[m, k] * qw[n, k]            (int32, exact)
//
// i.e. out ≈ A W^T + bias with A (M, K) float activations quantized per row (ActivationQuantizer)
// and W (N, K) quantized once per output row (QuantizedMatrix; PyTorch's layout, x W^T).
// The exact order of the float operations is in Int8Gemm.Driver.cs.
//
// Instruction sets (Int8Isa), chosen at run time; all give bit-identical results:
//   AvxVnni   vpdpbusd on 256 bits                  Int8Gemm.AvxVnni.cs
//   Avx512    AVX-512BW, int16 widening + vpmaddwd   Int8Gemm.Avx512.cs   (AVX-512 without VNNI)
//   Avx2      AVX2, int16 widening + vpmaddwd        Int8Gemm.Avx2.cs
//   Portable  scalar                                 Int8Gemm.Portable.cs
// DOTNET_EnableAVXVNNI=0 selects Avx512 on an AVX-512 machine (else Avx2); DOTNET_EnableAVX512=0
// (not ...AVX512F, which .NET 10 ignores) with DOTNET_EnableAVXVNNI=0 selects Avx2; DOTNET_EnableAVX2=0
// or DOTNET_EnableHWIntrinsic=0 selects Portable. Tests call every path explicitly.
//
// Error bound of one output against the float product (derived in Int8GemmTests, asserted there):
//   |out - (a . w + b)| <= sum_k (|a_k| ew + |w_k| ea + ea ew) + float rounding of the epilogue,
//   ea = scaleA (0.5 + 2^-14), ew = scaleW (0.5 + 2^-17).
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Recurrent.Kernels;

/// <summary>Which int8 micro-kernel family a product runs on (tests and benchmarks pick one).</summary>
internal enum Int8Isa
{
    /// <summary>The best supported: AvxVnni, else Avx512 (BW), else Avx2, else Portable.</summary>
    Auto,
    AvxVnni,
    Avx512,
    Avx2,
    Portable,
}

/// <summary>
/// int8 GEMM for dynamic quantization: <c>out = A W^T + bias</c> with A quantized to uint8 per row
/// on the fly and W quantized to int8 per row ahead of time. See the file header for the exact formula.
/// </summary>
internal static unsafe class Int8Gemm
{
    /// <summary>The instruction set <see cref="Int8Isa.Auto"/> resolves to in this process.</summary>
    public static Int8Isa BestIsa { get; } =
        AvxVnni.IsSupported ? Int8Isa.AvxVnni :
        Avx512BW.IsSupported ? Int8Isa.Avx512 :
        Avx2.IsSupported ? Int8Isa.Avx2 :
        Int8Isa.Portable;

    /// <summary>Whether <paramref name="isa"/> can run in this process.</summary>
    public static bool IsSupported(Int8Isa isa) => isa switch
    {
        Int8Isa.Auto or Int8Isa.Portable => true,
        Int8Isa.AvxVnni => AvxVnni.IsSupported,
        Int8Isa.Avx512 => Avx512BW.IsSupported,
        Int8Isa.Avx2 => Avx2.IsSupported,
        _ => false,
    };

    /// <summary>K rounded up to a multiple of 4: the least row stride of quantized activations.</summary>
    public static int PaddedK(int k) => (k + 3) & ~3;

    /// <summary>
    /// Quantizes activation rows to uint8, one scale and zero point per row (rounding: see
    /// <see cref="ActivationQuantizer"/>). A row holding NaN or Inf gets scale NaN (its outputs become NaN).
    /// </summary>
    /// <param name="m">Rows.</param>
    /// <param name="k">Columns used.</param>
    /// <param name="a">A: (m, lda) floats.</param>
    /// <param name="lda">Row stride of a, at least k.</param>
    /// <param name="q">Quantized rows: (m, ldq) bytes; columns [k, PaddedK(k)) are written as 0.</param>
    /// <param name="ldq">Row stride of q, at least PaddedK(k).</param>
    /// <param name="scale">Per-row scales: (m).</param>
    /// <param name="zeroPoint">Per-row zero points in [0, 255]: (m).</param>
    /// <param name="isa">Vector width to use (Auto: the widest).</param>
    public static void QuantizeRows(int m, int k, float* a, nint lda, byte* q, nint ldq, float* scale, int* zeroPoint, Int8Isa isa = Int8Isa.Auto)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, $"Int8Gemm: m must be non-negative. Expected >= 0, got {m}.");
        if (k < 0 || k > QuantizedMatrix.MaxK)
            throw new ArgumentOutOfRangeException(nameof(k), k, $"Int8Gemm: k must be in [0, {QuantizedMatrix.MaxK}]. Expected 0 <= k <= {QuantizedMatrix.MaxK}, got {k}.");
        CheckStride(nameof(lda), lda, k);
        CheckStride(nameof(ldq), ldq, PaddedK(k));
        isa = Resolve(isa);
        ActivationQuantizer.QuantizeRows(m, k, a, lda, q, ldq, scale, zeroPoint, isa);
    }

    /// <summary>
    /// <c>c[m, n] = (accumulate ? c : 0) + A W^T + bias</c> from activations already quantized by
    /// <see cref="QuantizeRows"/>; see the file header for the exact operation order.
    /// </summary>
    /// <param name="m">Rows of A and c.</param>
    /// <param name="w">Quantized weights (N, K).</param>
    /// <param name="q">Quantized activations: (m, ldq) bytes, PaddedK(K) columns read.</param>
    /// <param name="ldq">Row stride of q, at least w.PaddedK.</param>
    /// <param name="scaleA">Activation scales: (m).</param>
    /// <param name="zeroA">Activation zero points: (m).</param>
    /// <param name="bias">Bias: (N), or null.</param>
    /// <param name="accumulate">Add to c instead of overwriting it (false: c is not read).</param>
    /// <param name="c">Output: (m, ldc) floats.</param>
    /// <param name="ldc">Row stride of c, at least N.</param>
    /// <param name="isa">Micro-kernel family.</param>
    /// <param name="threads">Most threads to use (the caller included).</param>
    public static void Multiply(int m, QuantizedMatrix w, byte* q, nint ldq, float* scaleA, int* zeroA, float* bias, bool accumulate,
        float* c, nint ldc, Int8Isa isa, int threads)
    {
        ArgumentNullException.ThrowIfNull(w);
        CheckProduct(m, w, ldq, ldc);
        var p = Problem(m, w, q, ldq, ldc);
        p.ScaleA = scaleA;
        p.ZeroA = zeroA;
        p.Bias = bias;
        p.Accumulate = accumulate;
        p.C = c;
        Run(in p, isa, threads);
    }

    /// <summary>
    /// The raw int32 accumulators <c>c[m, n] = sum_k q[m, k] * qw[n, k]</c> (no zero-point correction,
    /// no scaling): what every micro-kernel must compute exactly (tests).
    /// </summary>
    public static void MultiplyInt32(int m, QuantizedMatrix w, byte* q, nint ldq, int* c, nint ldc, Int8Isa isa, int threads)
    {
        ArgumentNullException.ThrowIfNull(w);
        CheckProduct(m, w, ldq, ldc);
        var p = Problem(m, w, q, ldq, ldc);
        p.CInt = c;
        Run(in p, isa, threads);
    }

    /// <summary>
    /// The quantized linear map <c>c = (accumulate ? c : 0) + A W^T + bias</c> on float activations:
    /// quantizes A's rows into a per-thread buffer (<see cref="QuantizeRows"/>), then
    /// <see cref="Multiply"/>. What a quantized layer calls per product; nothing is allocated once warm.
    /// </summary>
    /// <param name="m">Rows of A and c.</param>
    /// <param name="a">A: (m, lda) floats, K columns used.</param>
    /// <param name="lda">Row stride of a, at least K.</param>
    /// <param name="w">Quantized weights (N, K).</param>
    /// <param name="bias">Bias: (N), or null.</param>
    /// <param name="accumulate">Add to c instead of overwriting it (false: c is not read).</param>
    /// <param name="c">Output: (m, ldc) floats.</param>
    /// <param name="ldc">Row stride of c, at least N.</param>
    public static void Linear(int m, float* a, nint lda, QuantizedMatrix w, float* bias, bool accumulate, float* c, nint ldc) =>
        Linear(m, a, lda, w, bias, accumulate, c, ldc, Int8Isa.Auto, Parallelism.Threads);

    /// <summary><see cref="Linear(int, float*, nint, QuantizedMatrix, float*, bool, float*, nint)"/> with an explicit instruction set and thread count.</summary>
    public static void Linear(int m, float* a, nint lda, QuantizedMatrix w, float* bias, bool accumulate, float* c, nint ldc, Int8Isa isa, int threads)
    {
        ArgumentNullException.ThrowIfNull(w);
        CheckStride(nameof(lda), lda, w.K);
        nint ldq = Math.Max(4, w.PaddedK);
        CheckProduct(m, w, ldq, ldc);
        LinearCore(m, a, lda, w.View, bias, accumulate, c, ldc, isa, threads);
        GC.KeepAlive(w);
    }

    /// <summary>
    /// Span form of <see cref="Linear(int, float*, nint, QuantizedMatrix, float*, bool, float*, nint)"/>
    /// with extent checks: a (m, lda), bias (N) or empty, c (m, ldc).
    /// </summary>
    public static void Linear(int m, ReadOnlySpan<float> a, int lda, QuantizedMatrix w, ReadOnlySpan<float> bias, bool accumulate,
        Span<float> c, int ldc, Int8Isa isa = Int8Isa.Auto, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(w);
        CheckStride(nameof(lda), lda, w.K);
        CheckProduct(m, w, Math.Max(4, w.PaddedK), ldc);
        CheckLength(nameof(a), a.Length, m, w.K, lda);
        CheckLength(nameof(c), c.Length, m, w.N, ldc);
        if (!bias.IsEmpty && bias.Length != w.N)
            throw new ArgumentException($"Int8Gemm: bias must hold one value per output (or be empty). Expected {w.N}, got {bias.Length}.", nameof(bias));
        fixed (float* pa = a, pbias = bias, pc = c)
            Linear(m, pa, lda, w, bias.IsEmpty ? null : pbias, accumulate, pc, ldc, isa, threads > 0 ? threads : Parallelism.Threads);
    }

    private static Int8Problem Problem(int m, QuantizedMatrix w, byte* q, nint ldq, nint ldc) => Problem(m, w.View, q, ldq, ldc);

    private static Int8Problem Problem(int m, in QuantizedMatrixView w, byte* q, nint ldq, nint ldc) => new()
    {
        M = m, N = w.N, KGroups = w.KGroups, A = q, Lda = ldq, W = w.Packed, ScaleW = w.Scales, RowSumW = w.RowSums, Ldc = ldc,
    };

    /// <summary>
    /// <see cref="Linear(int, float*, nint, QuantizedMatrix, float*, bool, float*, nint)"/> on a matrix view (the caller
    /// keeps the matrix alive), with the threads the kernels may use now (<see cref="Parallelism.Threads"/>).
    /// </summary>
    public static void Linear(int m, float* a, nint lda, in QuantizedMatrixView w, float* bias, bool accumulate, float* c, nint ldc) =>
        LinearCore(m, a, lda, w, bias, accumulate, c, ldc, Int8Isa.Auto, Parallelism.Threads);

    // Quantizes the m rows of a into the thread's scratch and runs the product (arguments already checked).
    private static void LinearCore(int m, float* a, nint lda, in QuantizedMatrixView w, float* bias, bool accumulate, float* c, nint ldc,
        Int8Isa isa, int threads)
    {
        if (m == 0) return;
        nint ldq = Math.Max(4, w.PaddedK);
        isa = Resolve(isa);
        var buf = t_scratch ??= new Scratch();
        byte* q = buf.Get(m, ldq, out float* scaleA, out int* zeroA);
        ActivationQuantizer.QuantizeRows(m, w.K, a, lda, q, ldq, scaleA, zeroA, isa);
        var p = Problem(m, w, q, ldq, ldc);
        p.ScaleA = scaleA;
        p.ZeroA = zeroA;
        p.Bias = bias;
        p.Accumulate = accumulate;
        p.C = c;
        Run(in p, isa, threads);
    }

    private static void Run(in Int8Problem p, Int8Isa isa, int threads)
    {
        if (p.M == 0 || p.N == 0) return;
        isa = Resolve(isa);
        threads = Math.Max(1, threads);
        switch (isa)
        {
            case Int8Isa.AvxVnni: Int8Driver<AvxVnniInt8Kernel>.Run(in p, threads); break;
            case Int8Isa.Avx512: Int8Driver<Avx512Int8Kernel>.Run(in p, threads); break;
            case Int8Isa.Avx2: Int8Driver<Avx2Int8Kernel>.Run(in p, threads); break;
            default: Int8Driver<PortableInt8Kernel>.Run(in p, threads); break;
        }
    }

    private static Int8Isa Resolve(Int8Isa isa)
    {
        if (isa == Int8Isa.Auto) return BestIsa;
        if (!IsSupported(isa)) throw new PlatformNotSupportedException($"Int8Gemm: instruction set {isa} is not supported on this machine.");
        return isa;
    }

    private static void CheckProduct(int m, QuantizedMatrix w, nint ldq, nint ldc)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, $"Int8Gemm: m must be non-negative. Expected >= 0, got {m}.");
        CheckStride(nameof(ldq), ldq, w.PaddedK);
        CheckStride(nameof(ldc), ldc, w.N);
    }

    private static void CheckStride(string name, nint ld, int columns)
    {
        if (ld < Math.Max(1, columns))
            throw new ArgumentOutOfRangeException(name, ld, $"Int8Gemm: {name} must be at least the number of columns. Expected >= {Math.Max(1, columns)}, got {ld}.");
    }

    private static void CheckLength(string name, int length, int rows, int cols, int ld)
    {
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException($"Int8Gemm: {name} is too short for {rows} x {cols} with row stride {ld}. Expected at least {needed} elements, got {length}.", name);
    }

    [ThreadStatic] private static Scratch? t_scratch;

    /// <summary>A thread's buffer for quantized activations (64-byte aligned native memory, grown and reused).</summary>
    private sealed class Scratch
    {
        private byte* _ptr;
        private nuint _bytes;

        public byte* Get(int m, nint ldq, out float* scale, out int* zeroPoint)
        {
            nuint qBytes = ((nuint)m * (nuint)ldq + 63) & ~(nuint)63;
            nuint need = qBytes + (nuint)m * 8;
            if (need > _bytes)
            {
                if (_ptr != null) NativeMemory.AlignedFree(_ptr);
                _ptr = null;
                nuint size = Math.Max(need, 16 * 1024);
                _ptr = (byte*)NativeMemory.AlignedAlloc(size, 64);
                _bytes = size;
            }
            scale = (float*)(_ptr + qBytes);
            zeroPoint = (int*)(_ptr + qBytes + (nuint)m * 4);
            return _ptr;
        }

        ~Scratch()
        {
            if (_ptr != null) NativeMemory.AlignedFree(_ptr);
        }
    }
}
