// The whole-matrix transpose the recurrent kernels use for their per-call W_hh^T copy (RnnBlas.Transpose):
// the AVX 8 x 8 block path for float against the definition, on shapes with and without remainders.
using Recurrent.Kernels;
using Xunit;

namespace Recurrent.Tests.Kernels;

public class RnnTransposeTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 3)]
    [InlineData(8, 8)]
    [InlineData(37, 45)]
    [InlineData(64, 16)]
    [InlineData(200, 50)]
    [InlineData(2048, 512)]
    public unsafe void TransposeMatchesDefinition(int rows, int cols)
    {
        var src = new float[rows * cols];
        for (int i = 0; i < src.Length; i++) src[i] = i * 0.5f - 7f;
        var dstF = new float[rows * cols + 1];
        dstF[^1] = 123f; // guard: nothing is written past the matrix
        var srcD = Array.ConvertAll(src, v => (double)v);
        var dstD = new double[rows * cols];
        fixed (float* s = src, d = dstF)
            RnnBlas<float>.Transpose(d, s, rows, cols);
        fixed (double* s = srcD, d = dstD)
            RnnBlas<double>.Transpose(d, s, rows, cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                Assert.Equal(src[r * cols + c], dstF[c * rows + r]);
                Assert.Equal(srcD[r * cols + c], dstD[c * rows + r]);
            }
        Assert.Equal(123f, dstF[^1]);
    }
}
