// Portable micro-kernel of Int8Gemm: plain scalar integer loops over the packed layout, and the
// scalar epilogue. The path for DOTNET_EnableHWIntrinsic=0 and CPUs without AVX2; the vector
// kernels must match it bit for bit. Correctness first.
namespace Recurrent.Kernels;

/// <summary>Scalar micro-kernel: tiles of up to 4 rows x 16 columns.</summary>
internal unsafe struct PortableInt8Kernel : IInt8Kernel
{
    public static int MR => 4;

    /// <inheritdoc/>
    public static void Tile<TR>(int kg, byte* a, nint lda, sbyte* w, nint pb, int panels, int* acc, int accStride)
        where TR : IRowCount
    {
        int rows = TR.Value;
        for (int p = 0; p < panels; p++)
        {
            sbyte* wp = w + p * pb;
            for (int r = 0; r < rows; r++)
            {
                byte* ar = a + r * lda;
                int* out16 = acc + r * accStride + p * 16;
                for (int c = 0; c < 16; c++)
                {
                    int s = 0;
                    for (int g = 0; g < kg; g++)
                    {
                        sbyte* line = wp + (nint)g * QuantizedMatrix.LineBytes + c * 4;
                        byte* ak = ar + 4 * g;
                        s += ak[0] * line[0] + ak[1] * line[1] + ak[2] * line[2] + ak[3] * line[3];
                    }
                    out16[c] = s;
                }
            }
        }
    }

    /// <inheritdoc/>
    public static void Epilogue(in Int8Problem p, int m0, int rows, int n0, int cols, int* acc, int accStride) =>
        Int8Epilogue.Scalar(in p, m0, rows, n0, cols, acc, accStride);
}
