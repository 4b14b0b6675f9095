// Dynamic quantization of Linear, Rnn/Lstm/Gru and the cells: error bounds derived from the two
// quantization steps (one product, then through the gate activations of one step), every option of
// the float layers runs, training and conversion are refused, files round-trip bit for bit and are
// at least 3.5x smaller, and the memory of the weights shrinks as much.
using Recurrent.Kernels;
using Recurrent.Nn;
using Recurrent.Quantization;

namespace Recurrent.Tests.Quantization;

public class QuantizationTests
{
    // The quantization error of one product y_j = sum_k x_k w_jk (derived in Kernels/Quantized):
    //   |x_k - x^_k| <= ea = scale_a (1/2 + 2^-14),  scale_a = (max(x, 0) - min(x, 0)) / 255 per row of x
    //   |w_jk - w^_jk| <= ew_j = scale_w_j (1/2 + 2^-17)
    //   |y_j - y^_j| <= sum_k (|x_k| ew_j + |w_jk| ea + ea ew_j)
    // plus the float rounding of the rescale and of the float reference (a few ulps of sum_k |x_k w_jk|).
    private static double[] ProductBound(float[] x, float[,] w, ReadOnlySpan<float> scales)
    {
        int n = w.GetLength(0), k = w.GetLength(1);
        double ea = (Math.Max(x.Max(), 0) - Math.Min(x.Min(), 0)) / 255.0 * (0.5 + Math.Pow(2, -14));
        var bound = new double[n];
        for (int j = 0; j < n; j++)
        {
            double ew = scales[j] * (0.5 + Math.Pow(2, -17)), b = 0, mag = 0;
            for (int i = 0; i < k; i++)
            {
                b += Math.Abs(x[i]) * ew + Math.Abs(w[j, i]) * ea + ea * ew;
                mag += Math.Abs(x[i] * w[j, i]);
            }
            bound[j] = b + 1e-6 * mag + 1e-7;
        }
        return bound;
    }

    private static float[,] Matrix(Tensor t)
    {
        var a = t.Contiguous().ToArray<float>();
        int n = t.Size(0), k = t.Size(1);
        var m = new float[n, k];
        for (int i = 0; i < n; i++) for (int j = 0; j < k; j++) m[i, j] = a[i * k + j];
        return m;
    }

    private static ReadOnlySpan<float> Scales(Module m, string name) => ((IDynamicQuantizable)m).Quantized[name].Scales;

    [Fact]
    public void Linear_ErrorIsWithinTheDerivedBound()
    {
        var g = new Generator(3);
        var lin = new Linear(37, 11, generator: g);
        var w = Matrix(lin.Weight);
        var bias = lin.Bias!.ToArray<float>();
        var x = Tensor.Randn([5, 37], generator: g) * 2;
        var expected = lin.Forward(x).Detach();
        Quantizer.QuantizeDynamic(lin).Eval();
        Assert.True(lin.IsQuantized);
        var actual = lin.Forward(x);
        for (int r = 0; r < 5; r++)
        {
            var row = x[r].ToArray<float>();
            var bound = ProductBound(row, w, Scales(lin, "weight"));
            for (int j = 0; j < 11; j++)
            {
                double err = Math.Abs(actual.GetDouble(r, j) - expected.GetDouble(r, j));
                Assert.True(err <= bound[j], $"row {r} out {j}: error {err:E3} above the bound {bound[j]:E3}");
            }
        }
        Assert.Equal(bias, lin.Bias!.ToArray<float>());
    }

    // in_features = 0: the product is an empty sum, so PyTorch's Linear gives the bias on every row (zeros
    // without one) — the int8 form must write those values, not leave the output unwritten.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linear_WithNoInputFeatures_GivesTheBias(bool withBias)
    {
        var g = new Generator(5);
        var lin = new Linear(0, 6, bias: withBias, generator: g);
        if (withBias) using (new NoGrad()) lin.Bias!.Copy_(Tensor.Arange(1, 7, dtype: DType.Float32));
        var x = Tensor.Zeros(3, 2, 0).RequiresGrad_();
        var expected = lin.Forward(x);
        expected.Sum().Backward(); // the float layer's backward runs too: dx is (3, 2, 0), dW (6, 0)
        Assert.Equal([3, 2, 0], x.Grad!.Shape.ToArray());
        expected = expected.Detach();
        x = x.Detach();
        Quantizer.QuantizeDynamic(lin).Eval();
        var actual = lin.Forward(x);
        Assert.Equal([3, 2, 6], actual.Shape.ToArray());
        Assert.Equal(expected.ToArray<float>(), actual.ToArray<float>());
        float[] row = withBias ? [1, 2, 3, 4, 5, 6] : new float[6];
        Assert.Equal(Enumerable.Repeat(row, 6).SelectMany(r => r).ToArray(), actual.ToArray<float>());
    }

    // One step from zero state (h0 = c0 = 0: the hidden product is exactly zero), so the pre-activation error of
    // gate j is the input product's bound E_j; then through the activations (sigmoid is 1/4-Lipschitz, tanh 1-).
    [Theory]
    [InlineData("lstm")]
    [InlineData("gru")]
    [InlineData("tanh")]
    public void OneStep_ErrorIsWithinTheBoundCarriedThroughTheGates(string mode)
    {
        var g = new Generator(7);
        const int I = 24, H = 16;
        RecurrentBase m = mode switch
        {
            "lstm" => new Lstm(I, H, generator: g),
            "gru" => new Gru(I, H, generator: g),
            _ => new Rnn(I, H, generator: g),
        };
        var wih = Matrix(m.Weights(0).WeightIh);
        var bih = m.Weights(0).BiasIh!.ToArray<float>();
        var bhh = m.Weights(0).BiasHh!.ToArray<float>();
        var x = Tensor.Randn([1, 3, I], generator: g);
        var expected = m.Forward(x).Output.Detach();
        Quantizer.QuantizeDynamic(m).Eval();
        var actual = m.Forward(x).Output;
        var scales = Scales(m, "weight_ih_l0");
        for (int b = 0; b < 3; b++)
        {
            var row = x[0, b].ToArray<float>();
            var e = ProductBound(row, wih, scales);
            var pre = new double[wih.GetLength(0)];
            for (int j = 0; j < pre.Length; j++)
            {
                double s = bih[j];
                for (int k = 0; k < I; k++) s += (double)row[k] * wih[j, k];
                pre[j] = s + (mode == "gru" && j >= 2 * H ? 0 : bhh[j]);
            }
            static double Sig(double v) => 1 / (1 + Math.Exp(-v));
            for (int j = 0; j < H; j++)
            {
                double bound;
                if (mode == "lstm")
                {
                    double i = Sig(pre[j]), gg = Math.Tanh(pre[2 * H + j]), o = Sig(pre[3 * H + j]), c = i * gg;
                    double di = e[j] / 4, dg = e[2 * H + j], d_o = e[3 * H + j] / 4;
                    double dc = di * Math.Abs(gg) + i * dg + di * dg;
                    bound = d_o * Math.Abs(Math.Tanh(c)) + o * dc + d_o * dc;
                }
                else if (mode == "gru")
                {
                    double r = Sig(pre[j]), z = Sig(pre[H + j]), n = Math.Tanh(pre[2 * H + j] + r * bhh[2 * H + j]);
                    double dr = e[j] / 4, dz = e[H + j] / 4, dn = e[2 * H + j] + dr * Math.Abs(bhh[2 * H + j]);
                    bound = dz * Math.Abs(n) + (1 - z) * dn + dz * dn;
                }
                else bound = e[j];
                double err = Math.Abs(actual.GetDouble(0, b, j) - expected.GetDouble(0, b, j));
                Assert.True(err <= bound + 1e-6, $"{mode} batch {b} unit {j}: error {err:E3} above the bound {bound:E3}");
            }
        }
    }

    public static TheoryData<string, int, bool, bool, int, int> Options() => new()
    {
        // mode, layers, bidirectional, batchFirst, proj, input kind (0 dense, 1 packed, 2 padded + lengths, 3 unbatched)
        { "lstm", 2, true, false, 0, 0 }, { "lstm", 2, false, true, 3, 1 }, { "lstm", 1, true, true, 4, 2 }, { "lstm", 1, false, false, 0, 3 },
        { "gru", 3, false, false, 0, 1 }, { "gru", 1, true, true, 0, 2 }, { "relu", 2, true, false, 0, 0 }, { "tanh", 1, false, false, 0, 3 },
    };

    [Theory]
    [MemberData(nameof(Options))]
    public void EveryOptionRuns_CloseToFloat_WithTheSameShapes(string mode, int layers, bool bidir, bool batchFirst, int proj, int input)
    {
        var g = new Generator(11);
        RecurrentBase m = mode switch
        {
            "lstm" => new Lstm(10, 12, layers, batchFirst: batchFirst, bidirectional: bidir, projSize: proj, generator: g),
            "gru" => new Gru(10, 12, layers, batchFirst: batchFirst, bidirectional: bidir, generator: g),
            _ => new Rnn(10, 12, layers, mode, batchFirst: batchFirst, bidirectional: bidir, generator: g),
        };
        m.Eval();
        var x = Tensor.Randn(input == 3 ? [7, 10] : batchFirst ? [4, 7, 10] : [7, 4, 10], generator: g);
        long[] lengths = [7, 3, 5, 1];
        Tensor[] Run()
        {
            using var _ = new NoGrad();
            if (input == 1)
            {
                var (o, s) = m.Forward(RnnUtils.PackPaddedSequence(x, lengths, batchFirst, enforceSorted: false));
                return s.C is null ? [o.Data, s.H] : [o.Data, s.H, s.C];
            }
            var (y, st) = input == 2 ? m.ForwardPadded(x, Tensor.FromArray(lengths, 4)) : m.Forward(x);
            return st.C is null ? [y, st.H] : [y, st.H, st.C];
        }
        var expected = Run();
        Quantizer.QuantizeDynamic(m);
        var actual = Run();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Shape, actual[i].Shape);
            var e = expected[i].ToArray<float>();
            var a = actual[i].ToArray<float>();
            double max = e.Zip(a, (p, q) => Math.Abs(p - q)).Max();
            // Many steps and layers compound the per-product errors (a few 1e-3 each at this size); this only
            // checks the int8 path computes the same function, the derived bounds are the tests above.
            Assert.True(max < 0.05, $"{mode} output {i}: max abs error {max}");
            Assert.NotEqual(e, a);
        }
    }

    [Fact]
    public void Cells_AreQuantizedToo()
    {
        var g = new Generator(13);
        var lstm = new LstmCell(6, 9, generator: g);
        var gru = new GruCell(6, 9, generator: g);
        var rnn = new RnnCell(6, 9, nonlinearity: "relu", generator: g);
        var x = Tensor.Randn([3, 6], generator: g);
        var (h0, c0) = (Tensor.Randn([3, 9], generator: g) * 0.5, Tensor.Randn([3, 9], generator: g) * 0.5);
        var before = new[] { lstm.Forward(x, (h0, c0)).H, gru.Forward(x, h0), rnn.Forward(x, h0) }.Select(t => t.Detach().ToArray<float>()).ToArray();
        foreach (var m in new Module[] { lstm, gru, rnn }) Quantizer.QuantizeDynamic(m).Eval();
        var after = new[] { lstm.Forward(x, (h0, c0)).H, gru.Forward(x, h0), rnn.Forward(x, h0) }.Select(t => t.ToArray<float>()).ToArray();
        for (int i = 0; i < 3; i++)
        {
            double max = before[i].Zip(after[i], (p, q) => Math.Abs(p - q)).Max();
            Assert.True(max < 0.02, $"cell {i}: {max}");
        }
        Assert.Throws<InvalidOperationException>(() => lstm.WeightIh);
    }

    [Fact]
    public void Training_Conversion_AndFloatWeights_AreRefused()
    {
        var lstm = new Lstm(4, 5, 2);
        Quantizer.QuantizeDynamic(lstm);
        var x = Tensor.Randn([3, 2, 4]);
        var ex = Assert.Throws<InvalidOperationException>(() => lstm.Forward(x));   // still in training mode
        Assert.Contains("quantized for inference", ex.Message);
        Assert.Contains("call Eval()", ex.Message);
        lstm.Eval();
        var (y, _) = lstm.Forward(x);
        Assert.False(y.RequiresGrad);
        Assert.Throws<InvalidOperationException>(() => lstm.To(DType.Float64));
        Assert.Throws<InvalidOperationException>(() => lstm.Weights(0));
        Assert.Throws<ArgumentException>(() => lstm.Forward(x.Double()));
        // Only the biases are parameters now.
        Assert.All(lstm.NamedParameters(), p => Assert.StartsWith("bias_", p.Name));
    }

    private sealed class CharModel : Module
    {
        public readonly Embedding Emb;
        public readonly Lstm Rnn;
        public readonly Linear Fc;

        public CharModel(Generator g)
        {
            Emb = RegisterModule("emb", new Embedding(30, 16, generator: g));
            Rnn = RegisterModule("rnn", new Lstm(16, 64, 2, generator: g));
            Fc = RegisterModule("fc", new Linear(64, 30, generator: g));
        }

        public Tensor Forward(Tensor ids) => Fc.Forward(Rnn.Forward(Emb.Forward(ids)).Output);
    }

    [Fact]
    public void Files_RoundTripBitForBit_AndAreSmaller()
    {
        var model = new CharModel(new Generator(17));
        var dir = Directory.CreateTempSubdirectory("recurrent-q");
        try
        {
            string floatPath = Path.Combine(dir.FullName, "float.safetensors"), qPath = Path.Combine(dir.FullName, "int8.safetensors");
            Recurrent.IO.ModuleIO.Save(model, floatPath);
            long floatWeightBytes = model.Rnn.FlatWeights.Where((_, i) => model.Rnn.FlatWeightsNames[i].StartsWith("weight")).Sum(p => 4L * p.Numel)
                + 4L * model.Fc.Weight.Numel;
            Quantizer.QuantizeDynamic(model).Eval();
            var ids = Tensor.RandInt(0, 30, [9, 3], generator: new Generator(1));
            var y = model.Forward(ids);
            model.SaveQuantized(qPath);
            // The weights' memory: int8 plus one float scale per row.
            Assert.True(floatWeightBytes / (double)Quantizer.QuantizedWeightBytes(model) >= 3.5);
            // The quantized file against the float one (embedding and biases stay float32 in both).
            long fs = new FileInfo(floatPath).Length, qs = new FileInfo(qPath).Length;
            Assert.True(fs / (double)qs > 2.5, $"float {fs} B, int8 {qs} B");

            var loaded = new CharModel(new Generator(99)).LoadQuantized(qPath);
            loaded.Eval();
            Assert.True(loaded.Rnn.IsQuantized && loaded.Fc.IsQuantized);
            Assert.Equal(y.ToArray<float>(), loaded.Forward(ids).ToArray<float>());
            // A float file is refused with the way out.
            var ex = Assert.Throws<InvalidDataException>(() => new CharModel(new Generator(1)).LoadQuantized(floatPath));
            Assert.Contains("QuantizeDynamic", ex.Message);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void PartlyQuantizedModel_RoundTrips_ItsFloatModulesStayFloat()
    {
        // quantize_dynamic with a subset of module types: only the head is int8, the LSTM stays float.
        var model = new CharModel(new Generator(23));
        Quantizer.QuantizeDynamic(model.Fc);
        model.Eval();
        var ids = Tensor.RandInt(0, 30, [7, 2], generator: new Generator(2));
        var y = model.Forward(ids).ToArray<float>();
        var dir = Directory.CreateTempSubdirectory("recurrent-q");
        try
        {
            string path = Path.Combine(dir.FullName, "part.safetensors");
            model.SaveQuantized(path);
            var loaded = new CharModel(new Generator(5)).LoadQuantized(path);
            loaded.Eval();
            Assert.True(loaded.Fc.IsQuantized);
            Assert.False(loaded.Rnn.IsQuantized);
            Assert.Equal(y, loaded.Forward(ids).ToArray<float>());

            // A fully quantized model cannot take float LSTM weights back: the message says why and what to do.
            var full = Quantizer.QuantizeDynamic(new CharModel(new Generator(5)));
            var ex = Assert.Throws<InvalidDataException>(() => full.LoadQuantized(path));
            Assert.Contains("rnn.weight_ih_l0 is F32, but LSTM 'rnn' is quantized", ex.Message);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void ExtraInt8Weights_AreUnexpectedKeys_NotAnUnsupportedDType()
    {
        var g = new Generator(3);
        var big = Quantizer.QuantizeDynamic(new Sequential(new Linear(4, 4, generator: g), new Linear(4, 4, generator: g), new Linear(4, 2, generator: g)));
        var dir = Directory.CreateTempSubdirectory("recurrent-q");
        try
        {
            string path = Path.Combine(dir.FullName, "big.safetensors");
            big.SaveQuantized(path);
            var small = new Sequential(new Linear(4, 4, generator: g), new Linear(4, 4, generator: g));
            var ex = Assert.Throws<InvalidOperationException>(() => small.LoadQuantized(path));
            Assert.Contains("Unexpected key(s) in state_dict: \"2.weight\", \"2.weight_scale\"", ex.Message);
            Assert.False(Quantizer.IsQuantized(small));
            small.LoadQuantized(path, strict: false);
            Assert.True(Quantizer.IsQuantized(small));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void CorruptScale_IsInvalidData_NamingTheFileAndKey()
    {
        var model = Quantizer.QuantizeDynamic(new Linear(3, 2, generator: new Generator(4)));
        var dir = Directory.CreateTempSubdirectory("recurrent-q");
        try
        {
            string path = Path.Combine(dir.FullName, "q.safetensors");
            model.SaveQuantized(path);
            // Rewrite the scales with a zero (same size, so the header stays valid).
            var file = Recurrent.IO.SafeTensorsFile.Read(path);
            var w = new Recurrent.IO.SafeTensorsWriter();
            foreach (var e in file.Entries)
            {
                long[] shape = e.ToShapeArray();
                if (e.Name == "weight_scale") w.Add(e.Name, shape, new float[] { 0f, 1f });
                else if (e.DType == Recurrent.IO.SafeTensorsDType.I8) w.Add(e.Name, Recurrent.IO.SafeTensorsDType.I8, shape, file.GetBytes(e).ToArray());
                else w.Add(e.Name, shape, file.GetFloat32(e.Name).ToArray());
            }
            w.AddMetadata(Quantizer.FormatKey, Quantizer.FormatValue);
            w.Save(path);
            var ex = Assert.Throws<InvalidDataException>(() => new Linear(3, 2).LoadQuantized(path));
            Assert.Contains("q.safetensors: weight_scale: ", ex.Message);
            Assert.Contains("scales[0] must be finite and positive", ex.Message);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void QuantizeDynamic_NamesTheParameterItCannotQuantize()
    {
        var model = new CharModel(new Generator(6));
        using (new NoGrad()) model.Rnn.GetParameter("weight_hh_l1").Fill_(float.NaN);
        var ex = Assert.Throws<ArgumentException>(() => Quantizer.QuantizeDynamic(model));
        Assert.Contains("cannot quantize rnn.weight_hh_l1 of LSTM 'rnn' (256 rows x 64 input columns)", ex.Message);
        Assert.Equal("model", ex.ParamName);
        Assert.False(Quantizer.IsQuantized(model));
    }
}
