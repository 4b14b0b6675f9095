// The elementwise span kernels (Kernels/Elementwise.cs) and the reductions, TensorPrimitives-style:
// every length from 0 to 256 against a scalar reference (float and double), every SIMD path (CI
// re-runs this namespace with AVX-512, AVX2 and all intrinsics disabled); and the tensor driver:
// the same bits for a contiguous tensor, a strided view and a broadcast operand, and for one or two
// threads on a split run.
using System.Numerics;
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

[Collection(Serial.Name)]
public class ElementwiseKernelTests
{
    private static T[] Data<T>(int n, int seed, double lo, double hi) where T : IFloatingPointIeee754<T>
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => T.CreateChecked(lo + r.NextDouble() * (hi - lo))).ToArray();
    }

    private static void Close<T>(Func<double, double> f, T[] x, T[] y, double rtol, string what) where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++)
        {
            double e = f(double.CreateChecked(x[i])), a = double.CreateChecked(y[i]);
            Assert.True(Math.Abs(a - e) <= 1e-30 + rtol * Math.Abs(e), $"{what}[{i}] of {x.Length}: f({x[i]}) = {a:R}, expected {e:R}");
        }
    }

    private static void UnaryLengths<T, TOp>(TOp op, Func<double, double> f, double lo, double hi, double rtol)
        where T : unmanaged, IFloatingPointIeee754<T> where TOp : struct, IUnaryKernel<T>
    {
        for (int n = 0; n <= 256; n++)
        {
            var x = Data<T>(n, n, lo, hi);
            var y = new T[n];
            op.Run(x, y);
            Close(f, x, y, rtol, typeof(TOp).Name);
            // In place gives the same bits.
            var z = (T[])x.Clone();
            op.Run(z, z);
            Assert.Equal(y, z);
        }
    }

    [Fact]
    public void UnaryKernels_EveryLength_Float()
    {
        UnaryLengths<float, ExpKernel<float>>(default, Math.Exp, -20, 20, 4e-7);
        UnaryLengths<float, LogKernel<float>>(default, Math.Log, 1e-3, 100, 4e-7);
        UnaryLengths<float, TanhKernel<float>>(default, Math.Tanh, -6, 6, 4e-7);
        UnaryLengths<float, TanhKernel<float>>(default, Math.Tanh, -1e-3, 1e-3, 4e-7);   // relative precision near 0
        UnaryLengths<float, SigmoidKernel<float>>(default, v => 1 / (1 + Math.Exp(-v)), -20, 20, 4e-7);
        UnaryLengths<float, SqrtKernel<float>>(default, Math.Sqrt, 0, 100, 2e-7);
        UnaryLengths<float, NegKernel<float>>(default, v => -v, -5, 5, 0);
        UnaryLengths<float, AbsKernel<float>>(default, Math.Abs, -5, 5, 0);
        UnaryLengths<float, ReluKernel<float>>(default, v => Math.Max(v, 0), -5, 5, 0);
        UnaryLengths<float, ClampKernel<float>>(new(-1f, 2f), v => Math.Clamp(v, -1, 2), -5, 5, 0);
        UnaryLengths<float, PowScalarKernel<float>>(new(3f), v => Math.Pow(v, 3), -3, 3, 1e-6);
        UnaryLengths<float, SinKernel<float>>(default, Math.Sin, -6, 6, 2e-6);
        UnaryLengths<float, CosKernel<float>>(default, Math.Cos, -1.4, 1.4, 2e-6);
    }

    [Fact]
    public void UnaryKernels_EveryLength_Double()
    {
        UnaryLengths<double, ExpKernel<double>>(default, Math.Exp, -50, 50, 2e-15);
        UnaryLengths<double, LogKernel<double>>(default, Math.Log, 1e-3, 100, 2e-15);
        UnaryLengths<double, TanhKernel<double>>(default, Math.Tanh, -6, 6, 5e-15);   // the Taylor branch: < 4e-15 truncation
        UnaryLengths<double, TanhKernel<double>>(default, Math.Tanh, -1e-3, 1e-3, 2e-15);
        UnaryLengths<double, SigmoidKernel<double>>(default, v => 1 / (1 + Math.Exp(-v)), -30, 30, 2e-15);
        UnaryLengths<double, SqrtKernel<double>>(default, Math.Sqrt, 0, 100, 0);
        UnaryLengths<double, ReluKernel<double>>(default, v => Math.Max(v, 0), -5, 5, 0);
    }

    [Fact]
    public void SpecialValues_FollowPyTorch()
    {
        float[] x = [float.NaN, -0f, 0f, float.PositiveInfinity, float.NegativeInfinity, -2f, 3f];
        var y = new float[x.Length];
        new ReluKernel<float>().Run(x, y);
        Assert.True(float.IsNaN(y[0]));
        Assert.Equal(new[] { 0f, 0f, float.PositiveInfinity, 0f, 0f, 3f }, y[1..]);
        Assert.False(float.IsNegative(y[1]));
        new ClampKernel<float>(-1f, 1f).Run(x, y);
        Assert.True(float.IsNaN(y[0]));
        Assert.Equal(new[] { 1f, -1f, -1f, 1f }, y[3..]);
        new SignKernel<float>().Run(x, y);
        Assert.Equal(new[] { 0f, 0f, 0f, 1f, -1f, -1f, 1f }, y);
        var m = new float[x.Length];
        new MaximumKernel<float>().Run(x, 1f, m);
        Assert.True(float.IsNaN(m[0]));
        new CompareKernel<float>(CompareOp.Equal).Run(x, x, y);
        Assert.Equal(new[] { 0f, 1f, 1f, 1f, 1f, 1f, 1f }, y);
    }

    [Fact]
    public void BinaryKernels_EveryLength()
    {
        for (int n = 0; n <= 256; n++)
        {
            var a = Data<float>(n, 2 * n, -4, 4);
            var b = Data<float>(n, 2 * n + 1, 0.5, 4);
            var y = new float[n];
            void Check(Func<float, float, float> f, string what)
            {
                for (int i = 0; i < n; i++) Assert.True(y[i] == f(a[i], b[i]), $"{what}[{i}] of {n}: {y[i]:R} vs {f(a[i], b[i]):R}");
            }
            new AddKernel<float>().Run(a, b, y); Check((p, q) => p + q, "add");
            new SubKernel<float>().Run(a, b, y); Check((p, q) => p - q, "sub");
            new MulKernel<float>().Run(a, b, y); Check((p, q) => p * q, "mul");
            new DivKernel<float>().Run(a, b, y); Check((p, q) => p / q, "div");
            new AddScaledKernel<float>(0.3f).Run(a, b, y); Check((p, q) => p + 0.3f * q, "add alpha");
            new MaximumKernel<float>().Run(a, b, y); Check(Math.Max, "maximum");
            new CompareKernel<float>(CompareOp.Greater).Run(a, b, y); Check((p, q) => p > q ? 1 : 0, "gt");
            new SubKernel<float>().Run(2f, b, y); Check((_, q) => 2f - q, "scalar - b");
            new DivKernel<float>().Run(a, 2f, y); Check((p, _) => p / 2f, "a / scalar");
        }
    }

    [Fact]
    public void Reductions_AccumulateInDouble()
    {
        for (int n = 0; n <= 70; n++)
        {
            var x = Data<float>(n, n, -3, 3);
            var y = Data<float>(n, n + 100, -3, 3);
            double s = 0, p = 0, q = 0;
            for (int i = 0; i < n; i++) { s += x[i]; p += (double)(x[i] * y[i]); q += (double)x[i] * x[i]; }
            Assert.Equal(s, Reductions.Sum(x), 1e-12);
            Assert.Equal(p, Reductions.SumProduct(x, y), 1e-12);
            Assert.Equal(q, Reductions.SumOfSquares(x), 1e-12);
        }
        // No float overflow in the squares: 1e30^2 is beyond float but not double.
        double big = 1e30f;
        Assert.Equal(2 * big * big, Reductions.SumOfSquares([1e30f, 1e30f]));
    }

    [Fact]
    public void SumOfSquares_LongInputs_AreBlockSumsInOrder_WhateverTheThreadCount()
    {
        // Past 8 blocks the sum splits over the team by whole blocks: each block summed alone, the blocks added in
        // order, so one thread and two give the same bits, and the result is the double sum to rounding.
        int block = Reductions.SquaresBlock;
        foreach (int n in new[] { block - 1, 3 * block + 5, 8 * block, 13 * block + 31, 40 * block + 7 })
        {
            var x = Data<float>(n, n, -2, 2);
            double exact = 0;
            for (int i = 0; i < n; i++) exact += (double)x[i] * x[i];
            int keep = Parallelism.MaxThreads;
            double one, two;
            try
            {
                Parallelism.MaxThreads = 1;
                one = Reductions.SumOfSquares(x);
                Parallelism.MaxThreads = 2;
                two = Reductions.SumOfSquares(x);
            }
            finally { Parallelism.MaxThreads = keep; }
            Assert.Equal(BitConverter.DoubleToInt64Bits(one), BitConverter.DoubleToInt64Bits(two));
            Assert.Equal(exact, one, exact * 1e-11);   // the sequential reference itself drifts by ~n * 2^-53
        }
    }

    [Fact]
    public void Driver_GivesTheSameBitsForEveryLayout()
    {
        var g = new Generator(8);
        var a = Tensor.Randn([6, 40], generator: g);
        var b = Tensor.Randn([6, 40], generator: g);
        var dense = a.Mul(b).Tanh().ToArray<float>();
        // A transposed (strided) copy of the same values.
        var at = a.T().Contiguous().T();
        var bt = b.T().Contiguous().T();
        Assert.False(at.IsContiguous);
        Assert.Equal(dense, at.Mul(bt).Tanh().ToArray<float>());
        // A broadcast row against the row repeated.
        var row = Tensor.Randn([40], generator: g);
        Assert.Equal(a.Add(row.Expand([6, 40]).Contiguous()).ToArray<float>(), a.Add(row).ToArray<float>());
        Assert.Equal(at.Add(row).ToArray<float>(), a.Add(row).ToArray<float>());
        // A column broadcast (stride 0 along the last dimension).
        var col = Tensor.Randn([6, 1], generator: g);
        Assert.Equal(a.Sub(col.Expand([6, 40]).Contiguous()).ToArray<float>(), a.Sub(col).ToArray<float>());
        Assert.Equal(col.Expand([6, 40]).Contiguous().Sub(a).ToArray<float>(), col.Sub(a).ToArray<float>());
    }

    [Fact]
    public void Driver_SplitRuns_AreBitIdenticalForOneAndTwoThreads()
    {
        var g = new Generator(9);
        var a = Tensor.Randn([300_001], generator: g);
        var b = Tensor.Randn([300_001], generator: g);
        float[] Run(int threads)
        {
            int keep = Parallelism.MaxThreads;
            Parallelism.MaxThreads = threads;
            try { return a.Mul(b).Exp().Sigmoid().ToArray<float>(); }
            finally { Parallelism.MaxThreads = keep; }
        }
        Assert.Equal(Run(1), Run(2));
    }
}
