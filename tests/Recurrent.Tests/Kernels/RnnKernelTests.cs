// Fused recurrent kernels (RecurrentKernels) against the naive double reference (RnnReference):
// every mode, dense and packed batch sizes, one and two layers, both directions, with and without
// bias, LSTM projection, dropout masks between layers. Double kernels: outputs against the
// reference and every gradient against central finite differences of the reference (a random
// subset of entries per tensor). Float kernels: against the double kernels. Plus inference ==
// training outputs, += accumulation and overwriting of the flat weight gradient, argument checks and
// steady-state allocation.
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

public class RnnKernelTests
{
    private const int InputSize = 3, Hidden = 19, Proj = 5;
    // Dense: 3 rows per step (per-step products in the "few rows" layouts); packed: 5, 4, 2, 1 rows
    // (steps on both sides of the kernels' 4-row switch between "nt" and "nn" products).
    private static readonly int[] Dense = [3, 3, 3, 3];
    private static readonly int[] Packed = [5, 4, 2, 1];

    public static TheoryData<string, int, bool, bool, bool, bool> Configs()
    {
        var data = new TheoryData<string, int, bool, bool, bool, bool>();
        foreach (var mode in new[] { "RnnTanh", "RnnRelu", "Lstm", "Gru" })
            foreach (int layers in new[] { 1, 2 })
                foreach (bool bidir in new[] { false, true })
                    foreach (bool packed in new[] { false, true })
                    {
                        data.Add(mode, layers, bidir, packed, true, false);
                        if (layers == 1 && !packed) data.Add(mode, layers, bidir, packed, false, false);
                        if (mode == "Lstm") data.Add(mode, layers, bidir, packed, packed, true);
                    }
        return data;
    }

    // One random problem: sizes, data, loss weights.
    private sealed class Problem
    {
        public RnnStackSizes S;
        public int[] BatchSizes = [];
        public int N, B;
        public double[] X = [], H0 = [], C0 = [], GY = [], GHN = [], GCN = [];
        public double[][] W = [];
        public double[]? Mask;

        public static Problem Make(string mode, int layers, bool bidir, bool packed, bool bias, bool proj, int seed, int[]? batchSizes = null)
        {
            var rng = new Random(seed);
            var p = new Problem
            {
                S = new RnnStackSizes(Enum.Parse<RnnMode>(mode), InputSize, proj ? Hidden - 2 : Hidden, layers, bidir, proj ? Proj : 0, bias),
                BatchSizes = batchSizes ?? (packed ? Packed : Dense),
            };
            var s = p.S;
            p.N = p.BatchSizes.Sum();
            p.B = p.BatchSizes[0];
            int dirs = s.Directions, k = layers * dirs, width = dirs * s.OutSize;
            double[] Rand(int count, double scale) => Enumerable.Range(0, count).Select(_ => (rng.NextDouble() * 2 - 1) * scale).ToArray();
            p.X = Rand(p.N * InputSize, 1);
            p.H0 = Rand(k * p.B * s.OutSize, 0.5);
            p.C0 = s.Mode == RnnMode.Lstm ? Rand(k * p.B * s.HiddenSize, 0.5) : [];
            p.GY = Rand(p.N * width, 1);
            p.GHN = Rand(k * p.B * s.OutSize, 1);
            p.GCN = s.Mode == RnnMode.Lstm ? Rand(k * p.B * s.HiddenSize, 1) : [];
            var weights = new List<double[]>();
            double scale = 1 / Math.Sqrt(s.HiddenSize) * 1.5;
            for (int l = 0; l < layers; l++)
                for (int d = 0; d < dirs; d++)
                {
                    var ls = s.Layer(l, d);
                    int gh = ls.Gates * s.HiddenSize;
                    weights.Add(Rand(gh * ls.InputSize, scale));
                    weights.Add(Rand(gh * s.OutSize, scale));
                    if (bias) { weights.Add(Rand(gh, scale)); weights.Add(Rand(gh, scale)); }
                    if (proj) weights.Add(Rand(s.ProjSize * s.HiddenSize, scale));
                }
            p.W = weights.ToArray();
            if (layers > 1 && packed) p.Mask = Enumerable.Range(0, (layers - 1) * p.N * width).Select(_ => rng.NextDouble() < 0.3 ? 0.0 : 1 / 0.7).ToArray();
            return p;
        }

        public double Loss(RnnReference.Result r) => Dot(r.Y, GY) + Dot(r.HN, GHN) + Dot(r.CN, GCN);

        private static double Dot(double[] a, double[] b)
        {
            double s = 0;
            for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
            return s;
        }

        public RnnReference.Result Reference() => RnnReference.Forward(S, BatchSizes, X, H0, C0, W, Mask);
    }

    private sealed class KernelRun<T>
    {
        public T[] Y = [], HN = [], CN = [], DX = [], DH0 = [], DC0 = [];
        public T[][] DW = [];
    }

    private static T[] Cast<T>(double[] a) where T : System.Numerics.IFloatingPointIeee754<T> => a.Select(T.CreateChecked).ToArray();
    private static double[] ToDouble<T>(T[] a) where T : System.Numerics.IFloatingPointIeee754<T> => a.Select(double.CreateChecked).ToArray();

    private static KernelRun<T> Run<T>(Problem p, bool training, bool backward = true) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var s = p.S;
        int width = s.Directions * s.OutSize;
        var r = new KernelRun<T>
        {
            Y = new T[p.N * width], HN = new T[p.H0.Length], CN = new T[p.C0.Length],
        };
        var cache = training ? new T[RecurrentKernels.StackCacheSize(s, p.BatchSizes)] : [];
        var weights = Cast<T>(Flat(p.W));
        T[] x = Cast<T>(p.X), h0 = Cast<T>(p.H0), c0 = Cast<T>(p.C0);
        T[] mask = p.Mask is null ? [] : Cast<T>(p.Mask);
        RecurrentKernels.StackForward<T>(r.Y, r.HN, r.CN, cache, x, h0, c0, weights, s, p.BatchSizes, mask);
        if (!training || !backward) return r;
        r.DX = new T[x.Length];
        r.DH0 = new T[h0.Length];
        r.DC0 = new T[c0.Length];
        var dW = new T[weights.Length];
        RecurrentKernels.StackBackward<T>(r.DX, r.DH0, r.DC0, dW, accumulateWeights: true, Cast<T>(p.GY), Cast<T>(p.GHN), Cast<T>(p.GCN), cache,
            x, c0, weights, s, p.BatchSizes, mask);
        r.DW = Unflat(dW, p.W);
        return r;
    }

    // The per-parameter arrays (in the flat order) as one flat buffer, and back.
    private static double[] Flat(double[][] w) => w.SelectMany(a => a).ToArray();

    private static T[][] Unflat<T>(T[] flat, double[][] like)
    {
        var r = new T[like.Length][];
        for (int i = 0, at = 0; i < like.Length; at += like[i].Length, i++) r[i] = flat.AsSpan(at, like[i].Length).ToArray();
        return r;
    }

    private static void AssertClose(double[] expected, double[] actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (!(Math.Abs(a - e) <= atol + rtol * Math.Abs(e)))
                Assert.Fail($"{what}[{i}]: expected {e:R}, got {a:R} (diff {Math.Abs(a - e):E3})");
        }
    }

    // Central differences of the reference loss for up to `samples` random entries of `param`.
    private static void CheckGradient(Problem p, double[] param, double[] grad, string what, Random rng, int samples = 12)
    {
        const double eps = 1e-5;
        if (param.Length == 0) return;
        var idx = Enumerable.Range(0, param.Length).OrderBy(_ => rng.Next()).Take(samples);
        foreach (int i in idx)
        {
            double keep = param[i];
            param[i] = keep + eps;
            double up = p.Loss(p.Reference());
            param[i] = keep - eps;
            double down = p.Loss(p.Reference());
            param[i] = keep;
            double fd = (up - down) / (2 * eps);
            if (!(Math.Abs(grad[i] - fd) <= 1e-6 + 1e-5 * Math.Abs(fd)))
                Assert.Fail($"{what}[{i}]: finite differences {fd:R}, kernel {grad[i]:R}");
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Double_MatchesReferenceAndFiniteDifferences(string mode, int layers, bool bidir, bool packed, bool bias, bool proj)
    {
        var p = Problem.Make(mode, layers, bidir, packed, bias, proj, seed: 1234 + layers * 7 + (bidir ? 3 : 0) + (packed ? 11 : 0));
        var refResult = p.Reference();
        var k = Run<double>(p, training: true);
        AssertClose(refResult.Y, k.Y, 1e-12, 1e-10, "y");
        AssertClose(refResult.HN, k.HN, 1e-12, 1e-10, "h_n");
        AssertClose(refResult.CN, k.CN, 1e-12, 1e-10, "c_n");

        var rng = new Random(99);
        CheckGradient(p, p.X, k.DX, "dx", rng);
        CheckGradient(p, p.H0, k.DH0, "dh0", rng);
        CheckGradient(p, p.C0, k.DC0, "dc0", rng);
        for (int i = 0; i < p.W.Length; i++) CheckGradient(p, p.W[i], k.DW[i], $"dweights[{i}]", rng);

        // Inference (no cache) computes the same outputs.
        var inf = Run<double>(p, training: false);
        AssertClose(k.Y, inf.Y, 1e-14, 1e-14, "inference y");
        AssertClose(k.HN, inf.HN, 1e-14, 1e-14, "inference h_n");
        AssertClose(k.CN, inf.CN, 1e-14, 1e-14, "inference c_n");
    }

    // Steps of 8 or more rows: the backward then sums each step's gate-gradient rows for the biases as it goes
    // (RnnLayerCore.StepSumsMinRows); 9, 9, 8, 3 rows also mix such steps with a short one.
    public static TheoryData<string, int, bool> WideConfigs()
    {
        var data = new TheoryData<string, int, bool>();
        foreach (var mode in new[] { "RnnTanh", "Lstm", "Gru" })
            foreach (int layers in new[] { 1, 2 })
                foreach (bool bidir in new[] { false, true }) data.Add(mode, layers, bidir);
        return data;
    }

    [Theory]
    [MemberData(nameof(WideConfigs))]
    public void Double_WideSteps_MatchFiniteDifferences(string mode, int layers, bool bidir)
    {
        var p = Problem.Make(mode, layers, bidir, packed: true, bias: true, proj: false, seed: 4321 + layers + (bidir ? 2 : 0), batchSizes: [9, 9, 8, 3]);
        var k = Run<double>(p, training: true);
        var refResult = p.Reference();
        AssertClose(refResult.Y, k.Y, 1e-12, 1e-10, "y");
        var rng = new Random(17);
        CheckGradient(p, p.X, k.DX, "dx", rng);
        for (int i = 0; i < p.W.Length; i++) CheckGradient(p, p.W[i], k.DW[i], $"dweights[{i}]", rng);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Float_MatchesDoubleKernels(string mode, int layers, bool bidir, bool packed, bool bias, bool proj)
    {
        var p = Problem.Make(mode, layers, bidir, packed, bias, proj, seed: 77 + layers + (bidir ? 5 : 0) + (packed ? 13 : 0));
        var d = Run<double>(p, training: true);
        var f = Run<float>(p, training: true);
        AssertClose(d.Y, ToDouble(f.Y), 1e-5, 1e-5, "y");
        AssertClose(d.HN, ToDouble(f.HN), 1e-5, 1e-5, "h_n");
        AssertClose(d.CN, ToDouble(f.CN), 1e-5, 1e-5, "c_n");
        AssertClose(d.DX, ToDouble(f.DX), 1e-4, 1e-4, "dx");
        AssertClose(d.DH0, ToDouble(f.DH0), 1e-4, 1e-4, "dh0");
        AssertClose(d.DC0, ToDouble(f.DC0), 1e-4, 1e-4, "dc0");
        for (int i = 0; i < d.DW.Length; i++) AssertClose(d.DW[i], ToDouble(f.DW[i]), 1e-4, 1e-4, $"dweights[{i}]");
        var inf = Run<float>(p, training: false);
        AssertClose(ToDouble(f.Y), ToDouble(inf.Y), 1e-6, 1e-6, "inference y");
    }

    [Fact]
    public void Backward_AccumulatesOrOverwritesTheFlatWeightGradient()
    {
        var p = Problem.Make("Gru", 2, true, true, true, false, seed: 5);
        var once = Run<double>(p, training: true);
        var s = p.S;
        var cache = new double[RecurrentKernels.StackCacheSize(s, p.BatchSizes)];
        var weights = Flat(p.W);
        Assert.Equal(s.WeightCount, weights.Length);
        var y = new double[once.Y.Length];
        RecurrentKernels.StackForward<double>(y, [], [], cache, p.X, p.H0, [], weights, s, p.BatchSizes, p.Mask);
        var dX = new double[p.X.Length];
        var dW = new double[weights.Length];
        for (int rep = 0; rep < 2; rep++)
            RecurrentKernels.StackBackward<double>(dX, [], [], dW, accumulateWeights: true, p.GY, p.GHN, [], cache,
                p.X, [], weights, s, p.BatchSizes, p.Mask);
        AssertClose(once.DX.Select(v => 2 * v).ToArray(), dX, 1e-12, 1e-12, "2 x dx");
        var twice = Unflat(dW, p.W);
        for (int i = 0; i < twice.Length; i++) AssertClose(once.DW[i].Select(v => 2 * v).ToArray(), twice[i], 1e-12, 1e-12, $"2 x dweights[{i}]");

        // Overwrite mode never reads the old contents (NaN does not propagate) and writes every element.
        Array.Fill(dW, double.NaN);
        RecurrentKernels.StackBackward<double>([], [], [], dW, accumulateWeights: false, p.GY, p.GHN, [], cache,
            p.X, [], weights, s, p.BatchSizes, p.Mask);
        var written = Unflat(dW, p.W);
        for (int i = 0; i < written.Length; i++) AssertClose(once.DW[i], written[i], 1e-12, 1e-12, $"overwritten dweights[{i}]");
    }

    [Theory]
    [InlineData(RnnMode.Lstm, true)]
    [InlineData(RnnMode.Lstm, false)]
    [InlineData(RnnMode.Gru, false)]
    [InlineData(RnnMode.RnnTanh, false)]
    public void Slots_FollowPyTorchFlatOrder(RnnMode mode, bool proj)
    {
        var s = new RnnStackSizes(mode, 3, 6, NumLayers: 2, Bidirectional: true, ProjSize: proj ? 2 : 0);
        int gh = mode.GateCount() * 6, hOut = proj ? 2 : 6;
        int at = 0;
        for (int l = 0; l < 2; l++)
            for (int d = 0; d < 2; d++)
            {
                int input = l == 0 ? 3 : 2 * hOut;
                var slots = s.Slots(l, d);
                Assert.Equal(at, slots.WeightIh); at += gh * input;
                Assert.Equal(at, slots.WeightHh); at += gh * hOut;
                Assert.Equal(at, slots.BiasIh); at += gh;
                Assert.Equal(at, slots.BiasHh); at += gh;
                Assert.Equal(proj ? at : -1, slots.WeightHr); at += proj ? 2 * 6 : 0;
            }
        Assert.Equal(at, s.WeightCount);
        var noBias = s with { HasBias = false };
        Assert.Equal(-1, noBias.Slots(1, 1).BiasIh);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Slots(2, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Slots(0, 2));
    }

    [Fact]
    public void StackForwardAndBackward_AllocateNothingInSteadyState()
    {
        var s = new RnnStackSizes(RnnMode.Lstm, 8, 32, HasBias: false);
        int[] bs = [4, 4, 3, 2, 2];
        int n = bs.Sum();
        var x = new float[n * 8];
        var y = new float[n * 32];
        var cache = new float[RecurrentKernels.StackCacheSize(s, bs)];
        var w = new float[s.WeightCount];
        var dW = new float[w.Length];
        var dX = new float[x.Length];
        void Step()
        {
            RecurrentKernels.StackForward<float>(y, [], [], cache, x, [], [], w, s, bs);
            RecurrentKernels.StackBackward<float>(dX, [], [], dW, true, y, [], [], cache, x, [], w, s, bs);
        }
        // Warm up past tiered compilation (re-JIT bookkeeping can allocate a few bytes on the calling
        // thread once, e.g. when another test already ran these methods under a different ISA), then
        // require a window of steps that allocates nothing: a kernel that allocates per call never gets one.
        for (int i = 0; i < 40; i++) Step();
        long best = long.MaxValue;
        for (int window = 0; window < 3 && best != 0; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 3; i++) Step();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, best);
    }

    [Fact]
    public void ArgumentChecks_NameTheArgument()
    {
        var s = new RnnStackSizes(RnnMode.Gru, 2, 3, HasBias: false);
        var w = new double[s.WeightCount];
        var ex = Assert.Throws<ArgumentException>(() => RecurrentKernels.StackForward<double>(new double[9], [], [], [], new double[6],
            [], [], w, s, [1, 2]));
        Assert.Contains("non-increasing", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => RecurrentKernels.StackForward<double>(new double[9], [], [], [], new double[4],
            [], [], w, s, [2, 1]));
        Assert.Contains("x is too short", ex.Message);
        Assert.Contains("Expected at least 6 elements, got 4", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => RecurrentKernels.StackForward<double>(new double[9], [], [], [], new double[6],
            [], [], new double[5], s, [2, 1]));
        Assert.Contains("weights must have 45 elements, but got 5", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => RecurrentKernels.StackBackward<double>([], [], [], new double[3], true, [], [], [],
            new double[RecurrentKernels.StackCacheSize(s, [2, 1])], new double[6], [], w, s, [2, 1]));
        Assert.Contains("dWeights must be empty or have 45 elements, but got 3", ex.Message);
        var proj = Assert.Throws<ArgumentException>(() => new RnnStackSizes(RnnMode.Gru, 2, 3, ProjSize: 2).Validate());
        Assert.Equal("projSize", proj.ParamName);
        var hidden = Assert.Throws<ArgumentOutOfRangeException>(() => new RnnStackSizes(RnnMode.Lstm, 2, 0).Validate());
        Assert.Contains("hidden_size must be greater than zero, but got 0", hidden.Message);
        var huge = Assert.Throws<ArgumentException>(() => new RnnStackSizes(RnnMode.Lstm, 100_000, 100_000, NumLayers: 3).Validate());
        Assert.Contains("too many parameters", huge.Message);
    }
}
