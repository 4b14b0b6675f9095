// The six real checkpoints in ../shared/real-checkpoints loaded into Recurrent's own modules
// (Embedding, Lstm, Gru, Linear) with TorchCheckpoint.LoadInto (strict) and run: the Lightning LSTM
// against what its notebook printed, the two char models against the greedy text recorded beside
// them, the classifiers against an independent float64 re-implementation that reads the weights
// straight from the reader. Plus strict / non-strict loading into the wrong architecture.
using System.Text;
using System.Text.Json;
using Recurrent.IO.Torch;
using Recurrent.Nn;

namespace Recurrent.Tests.IO.Torch;

public partial class RealModelTests
{
    private static JsonElement Json(string name) =>
        JsonDocument.Parse(File.ReadAllText(RealCheckpoints.PathOf(name) + ".json")).RootElement;

    private static TorchCheckpoint Load(string name) => TorchCheckpoint.Load(RealCheckpoints.Bytes(name));

    // ---- The models, as the source repositories define them (submodule names = state_dict keys) ----

    /// <summary>beenlanced LightningLSTM: nn.LSTM(1, 1); forward(input) = lstm(input.view(len, 1))[0][-1].</summary>
    private sealed class LightningLstm : Module<Tensor, Tensor>
    {
        private readonly Lstm _lstm;
        public LightningLstm() => _lstm = RegisterModule("lstm", new Lstm(1, 1));
        public override Tensor Forward(Tensor input)
        {
            var output = _lstm.Forward(input.View(input.Size(0), 1)).Output; // unbatched: (seq, 1)
            return output.Select(0, output.Size(0) - 1);                      // (1,)
        }
    }

    /// <summary>
    /// The two character models: [embedding or one-hot] -> lstm (batch_first) -> fc. Step returns the logits of
    /// the last position and carries (h, c), as their sampling loops do.
    /// </summary>
    private sealed class CharModel : Module
    {
        private readonly Embedding? _embedding;
        private readonly Lstm _lstm;
        private readonly Linear _fc;
        private readonly int _vocab;

        public CharModel(int vocab, int hidden, bool embedding, double dropout, int? lstmHidden = null)
        {
            _vocab = vocab;
            if (embedding) _embedding = RegisterModule("embedding", new Embedding(vocab, hidden));
            _lstm = RegisterModule("lstm", new Lstm(embedding ? hidden : vocab, lstmHidden ?? hidden, numLayers: 2, batchFirst: true, dropout: dropout));
            _fc = RegisterModule("fc", new Linear(lstmHidden ?? hidden, vocab));
        }

        public (Tensor H, Tensor C)? State { get; set; }
        private Tensor? _lastOutput;

        public Tensor Step(IReadOnlyList<int> ids)
        {
            Tensor x;
            if (_embedding is not null)
                x = _embedding.Forward(Tensor.FromArray(ids.Select(i => (long)i).ToArray(), 1, ids.Count));
            else
            {
                var oneHot = new float[ids.Count * _vocab];
                for (int t = 0; t < ids.Count; t++) oneHot[t * _vocab + ids[t]] = 1;
                x = Tensor.FromArray(oneHot, 1, ids.Count, _vocab);
            }
            var (output, state) = _lstm.Forward(x, State);                      // (1, seq, H)
            State = state;
            _lastOutput = output;
            return _fc.Forward(output.Select(1, ids.Count - 1)).Select(0, 0);  // (vocab,)
        }

        /// <summary>The logits at every position of <paramref name="ids"/> from a zero state: (seq, vocab).</summary>
        public Tensor AllLogits(IReadOnlyList<int> ids)
        {
            State = null;
            Step(ids);
            return _fc.Forward(_lastOutput!.Select(0, 0));
        }

        /// <summary>Greedy decoding as the recorded smoke checks: the prime in one call, then one id at a time.</summary>
        public string Greedy(string[] vocab, string prime, int count)
        {
            Eval();
            State = null;
            var text = new StringBuilder(prime);
            using var _ = new NoGrad();
            var logits = Step(prime.Select(c => Array.IndexOf(vocab, c.ToString())).ToArray());
            for (int i = 0; i < count; i++)
            {
                int id = (int)logits.ArgMax().Item<long>();
                text.Append(vocab[id]);
                logits = Step(new[] { id });
            }
            return text.ToString();
        }
    }

    /// <summary>RWDavid GRUNet: gru = nn.GRU(13, 16, batch_first=True); fc(relu(out[:, -1])).</summary>
    private sealed class GruNet : Module<Tensor, Tensor>
    {
        private readonly Gru _gru;
        private readonly Linear _fc;
        public GruNet()
        {
            _gru = RegisterModule("gru", new Gru(13, 16, batchFirst: true));
            _fc = RegisterModule("fc", new Linear(16, 7));
        }
        public override Tensor Forward(Tensor x)
        {
            var (output, _) = _gru.Forward(x);                                  // (N, L, 16)
            return _fc.Forward(output.Select(1, output.Size(1) - 1).Relu());    // (N, 7)
        }
    }

    /// <summary>ohovey1 GRUClassifier: gru = nn.GRU(9, 256, 3, batch_first=True, dropout=0.2) on a PackedSequence; fc(hn[-1]).</summary>
    private sealed class GruClassifier : Module<PackedSequence, Tensor>
    {
        private readonly Gru _gru;
        private readonly Linear _fc;
        public GruClassifier()
        {
            _gru = RegisterModule("gru", new Gru(9, 256, 3, batchFirst: true, dropout: 0.2));
            _fc = RegisterModule("fc", new Linear(256, 5));
            RegisterModule("dropout", new Dropout(0.2));
        }
        public override Tensor Forward(PackedSequence x)
        {
            var (_, hn) = _gru.Forward(x);                        // hn: (3, N, 256), in the caller's batch order
            return _fc.Forward(hn.Select(0, hn.Size(0) - 1));     // (N, 5)
        }
    }

    /// <summary>Foxbabe1q SimpleBILSTM: rnn = nn.LSTM(57, hidden, 2, batch_first=True, bidirectional=True); fc(output[:, -1]).</summary>
    private sealed class BiLstmClassifier : Module<Tensor, Tensor>
    {
        private readonly Lstm _rnn;
        private readonly Linear? _fc;
        public BiLstmClassifier(int hidden = 128, bool head = true, bool extraHead = false)
        {
            _rnn = RegisterModule("rnn", new Lstm(57, hidden, numLayers: 2, batchFirst: true, bidirectional: true));
            if (head) _fc = RegisterModule("fc", new Linear(2 * hidden, 18));
            if (extraHead) RegisterModule("head", new Linear(2 * hidden, 2));
        }
        public Lstm Rnn => _rnn;
        public override Tensor Forward(Tensor x)
        {
            var (output, _) = _rnn.Forward(x);                                   // (N, 10, 2H)
            return _fc!.Forward(output.Select(1, output.Size(1) - 1));           // (N, 18)
        }
    }

    // ---- The real models ----

    [SkippableFact]
    public void LightningLstmReproducesTheNotebookPredictions()
    {
        // The notebook printed tensor([6.7842e-05]) and tensor([0.9809]) (PyTorch float32 on CPU). The exact
        // (float64) values for these weights are 6.7817e-05 and 0.98094: at the last step the cell state
        // c_4 = f*c_3 + i*g = -0.19394 + 0.19402 = 7.8e-5 cancels two float32 numbers of size 0.19, whose
        // rounding (~1e-8 each) moves c_4 by ~3e-4 relative. Our float32 LSTM rounds as PyTorch's does and
        // lands on the printed 6.7842e-05; the same module in float64 gives the exact 6.7817e-05.
        var json = Json(RealCheckpoints.Lightning).GetProperty("reference_outputs").GetProperty("cases");
        var model = new LightningLstm();
        var result = Load(RealCheckpoints.Lightning).LoadInto(model);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);

        double[] printedDigits = { 0.5e-9, 0.5e-4 }; // half a unit in the last printed digit of each case
        int k = 0;
        foreach (var c in json.EnumerateArray())
        {
            var input = c.GetProperty("input").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
            double printed = c.GetProperty("output").GetDouble();
            Tensor y;
            using (new NoGrad()) y = model.Forward(Tensor.FromArray(input));
            Assert.Equal(new[] { 1 }, y.Shape);
            Assert.Equal(DType.Float32, y.DType);
            Assert.InRange(y.ToDouble(), printed - printedDigits[k], printed + printedDigits[k]);
            k++;
        }

        model.Double();
        var sd = Load(RealCheckpoints.Lightning).StateDict();
        foreach (var (input, exact) in new[] { (new[] { 0.0, 0.5, 0.25, 1.0 }, 6.7817e-05), (new[] { 1.0, 0.5, 0.25, 1.0 }, 0.98094) })
        {
            double y;
            using (new NoGrad()) y = model.Forward(Tensor.FromArray(input)).ToDouble();
            var reference = Reference.Lstm(sd, "lstm.", 1, false, input.Select(v => new[] { v }).ToArray()).Output[^1][0];
            Assert.Equal(reference, y, 1e-14);
            Assert.Equal(exact, y, exact * 1e-4);
        }
    }

    [SkippableFact]
    public void CharLstmWithEmbeddingGeneratesTheRecordedText()
    {
        // daewook1004 CharLSTM (embedding 62x128, 2-layer LSTM 128, fc 128->62); the LSTM weights are views into
        // one flattened cuDNN storage. smoke_check: greedy from 'ROMEO:\n', 120 characters, (h0, c0) = 0.
        var json = Json(RealCheckpoints.CharLstm);
        var vocab = json.GetProperty("architecture").GetProperty("vocabulary").GetString()!.Select(c => c.ToString()).ToArray();
        string expected = json.GetProperty("smoke_check").GetProperty("output").GetString()!;
        Assert.Equal(62, vocab.Length);
        var model = new CharModel(vocab.Length, 128, embedding: true, dropout: 0.3);
        Load(RealCheckpoints.CharLstm).LoadInto(model);
        Assert.Equal(expected, model.Greedy(vocab, "ROMEO:\n", 120));
    }

    [SkippableFact]
    public void LegacyCharRnnGeneratesTheRecordedTextWithItsOwnTokens()
    {
        // infiniteoverflow CharRNN: one-hot over the 83 'tokens' stored in the file, 2-layer LSTM 256, fc 256->83.
        var json = Json(RealCheckpoints.LegacyCharRnn);
        string expected = json.GetProperty("smoke_check").GetProperty("output").GetString()!;
        var ckpt = Load(RealCheckpoints.LegacyCharRnn);
        var tokens = Assert.IsType<TorchTuple>(ckpt.Get("tokens")).Cast<string>().ToArray();
        var model = new CharModel(tokens.Length, (int)(long)ckpt.Get("n_hidden")!, embedding: false, dropout: 0.5);
        var result = ckpt.LoadInto(model);                       // finds 'state_dict'
        Assert.Empty(result.MissingKeys);
        Assert.Equal(expected, model.Greedy(tokens, "The ", 60));
    }

    [SkippableFact]
    public void LegacyGruClassifierMatchesTheFloat64Reference()
    {
        // RWDavid GRUNet on a deterministic (2, 50, 13) input: fc(relu(out[:, -1])).
        const int N = 2, L = 50, F = 13;
        var x = Deterministic(N, L, F, seed: 1);
        var model = new GruNet();
        Load(RealCheckpoints.LegacyGru).LoadInto(model);
        Tensor logits;
        using (new NoGrad()) logits = model.Forward(Tensor.FromArray(x, N, L, F));
        Assert.Equal(new[] { N, 7 }, logits.Shape);

        var sd = Load(RealCheckpoints.LegacyGru).StateDict();
        var expected = new double[N * 7];
        for (int n = 0; n < N; n++)
        {
            var last = Reference.Gru(sd, "gru.", 1, Rows(x, n, L, F, L)).Output[^1];
            Reference.Linear(sd, "fc.", last.Select(v => Math.Max(v, 0)).ToArray()).CopyTo(expected, n * 7);
        }
        AssertCloseFloat32(expected, logits);
    }

    [SkippableFact]
    public void PackedGruClassifierMatchesTheFloat64Reference()
    {
        // ohovey1 GRUClassifier (3 layers of 256, weights in one shared storage) on a PackedSequence of three
        // unsorted lengths; hn[-1] is each sequence's last-layer state at its own last step.
        const int N = 3, L = 9, F = 9;
        int[] lengths = { 5, 9, 2 };
        var x = Deterministic(N, L, F, seed: 2);
        var model = new GruClassifier();
        Load(RealCheckpoints.GruFlat).LoadInto(model);
        model.Eval();
        var packed = RnnUtils.PackPaddedSequence(Tensor.FromArray(x, N, L, F), lengths, batchFirst: true, enforceSorted: false);
        Tensor logits;
        using (new NoGrad()) logits = model.Forward(packed);
        Assert.Equal(new[] { N, 5 }, logits.Shape);

        var sd = Load(RealCheckpoints.GruFlat).StateDict();
        var expected = new double[N * 5];
        for (int n = 0; n < N; n++)
        {
            var finalH = Reference.Gru(sd, "gru.", 3, Rows(x, n, L, F, lengths[n])).Final;
            Reference.Linear(sd, "fc.", finalH[^1]).CopyTo(expected, n * 5);
        }
        AssertCloseFloat32(expected, logits);
    }

    [SkippableFact]
    public void BidirectionalLstmClassifierMatchesTheFloat64Reference()
    {
        // Foxbabe1q SimpleBILSTM on names encoded as its training script does: one-hot over
        // ascii_letters + " .,;'", truncated / zero-padded to 10 rows; fc(output[:, -1]).
        string[] names = { "Nakamura", "Schmidt", "O'Brien", "Rossi", "Dostoevsky" };
        var x = EncodeNames(names);
        var model = new BiLstmClassifier();
        Load(RealCheckpoints.BiLstm).LoadInto(model);
        Tensor logits;
        using (new NoGrad()) logits = model.Forward(Tensor.FromArray(x, names.Length, 10, 57));
        Assert.Equal(new[] { names.Length, 18 }, logits.Shape);

        var sd = Load(RealCheckpoints.BiLstm).StateDict();
        var expected = new double[names.Length * 18];
        for (int n = 0; n < names.Length; n++)
        {
            var output = Reference.Lstm(sd, "rnn.", 2, true, Rows(x, n, 10, 57, 10)).Output;
            Reference.Linear(sd, "fc.", output[^1]).CopyTo(expected, n * 18);
        }
        AssertCloseFloat32(expected, logits);
    }

    // ---- Loading into the wrong architecture ----

    [SkippableFact]
    public void StrictLoadIntoAWrongHiddenSizeNamesEveryKeyAndBothShapes()
    {
        var model = new BiLstmClassifier(hidden: 64);
        var before = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        var error = Assert.Throws<InvalidOperationException>(() => Load(RealCheckpoints.BiLstm).LoadInto(model));
        Assert.StartsWith("Error(s) in loading state_dict for BiLstmClassifier:\n\t", error.Message);
        Assert.Contains("size mismatch for rnn.weight_ih_l0: copying a param with shape torch.Size([512, 57]) from checkpoint, the shape in current model is torch.Size([256, 57]).", error.Message);
        Assert.Contains("size mismatch for rnn.weight_hh_l1_reverse: copying a param with shape torch.Size([512, 128]) from checkpoint, the shape in current model is torch.Size([256, 64]).", error.Message);
        Assert.Contains("size mismatch for fc.weight: copying a param with shape torch.Size([18, 256]) from checkpoint, the shape in current model is torch.Size([18, 128]).", error.Message);
        Assert.DoesNotContain("size mismatch for fc.bias", error.Message);
        Assert.DoesNotContain("Missing key(s)", error.Message);
        // Nothing was copied, not even the keys that fit.
        foreach (var (k, v) in model.StateDict())
            Assert.Equal(before[k].ToArray<float>(), v.ToArray<float>());

        // Non-strict loading still refuses a shape mismatch, as PyTorch does.
        Assert.Throws<InvalidOperationException>(() => Load(RealCheckpoints.BiLstm).LoadInto(model, strict: false));
    }

    [SkippableFact]
    public void MissingHeadIsAnErrorWhenStrictAndReturnedWhenNot()
    {
        var model = new BiLstmClassifier(head: false);
        var error = Assert.Throws<InvalidOperationException>(() => Load(RealCheckpoints.BiLstm).LoadInto(model));
        Assert.Equal("Error(s) in loading state_dict for BiLstmClassifier:\n\tUnexpected key(s) in state_dict: \"fc.weight\", \"fc.bias\". ", error.Message);

        var ckpt = Load(RealCheckpoints.BiLstm);
        var result = ckpt.LoadInto(model, strict: false);
        Assert.Equal(new[] { "fc.weight", "fc.bias" }, result.UnexpectedKeys);
        Assert.Empty(result.MissingKeys);
        var file = ckpt.StateDict();
        foreach (var (name, p) in model.Rnn.NamedParameters())
            Assert.Equal(file["rnn." + name].ToFloat32Array(), p.ToArray<float>());
    }

    [SkippableFact]
    public void ExtraModuleIsReportedMissing()
    {
        var model = new BiLstmClassifier(extraHead: true);
        var error = Assert.Throws<InvalidOperationException>(() => Load(RealCheckpoints.BiLstm).LoadInto(model));
        Assert.Equal("Error(s) in loading state_dict for BiLstmClassifier:\n\tMissing key(s) in state_dict: \"head.weight\", \"head.bias\". ", error.Message);
        var result = Load(RealCheckpoints.BiLstm).LoadInto(model, strict: false);
        Assert.Equal(new[] { "head.weight", "head.bias" }, result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
    }

    [SkippableFact]
    public void KeyPathAndPrefixSelectTheWeightsOfAWholeLightningFile()
    {
        // keyPath "" takes every tensor in the file; stripping "state_dict." leaves the model's keys bare and the
        // optimizer / callback tensors as unexpected keys.
        var ckpt = Load(RealCheckpoints.Lightning);
        var model = new LightningLstm();
        var error = Assert.Throws<InvalidOperationException>(() => ckpt.LoadInto(model, keyPath: "", stripPrefix: "state_dict."));
        Assert.Contains("Unexpected key(s) in state_dict: ", error.Message);
        Assert.Contains("\"optimizer_states.0.state.0.exp_avg\"", error.Message);

        var result = ckpt.LoadInto(model, keyPath: "", stripPrefix: "state_dict.", strict: false);
        Assert.Empty(result.MissingKeys);
        var others = ckpt.Tensors().Keys.Where(k => !k.StartsWith("state_dict.", StringComparison.Ordinal)).ToList();
        Assert.Equal(others, result.UnexpectedKeys);
        Assert.Equal(13, others.Count); // kth_value, and step / exp_avg / exp_avg_sq of 4 parameters
        Assert.Equal(ckpt.StateDict()["lstm.weight_hh_l0"].ToFloat32Array(), model.StateDict()["lstm.weight_hh_l0"].ToArray<float>());

        // An explicit key path gives the same as the default.
        Assert.Equal(ckpt.ToStateDict().Keys, ckpt.ToStateDict("state_dict").Keys);
        Assert.Throws<KeyNotFoundException>(() => ckpt.ToStateDict("model_state_dict"));
    }

    [SkippableTheory]
    [MemberData(nameof(RealCheckpointTests.Files), MemberType = typeof(RealCheckpointTests))]
    public void ToStateDictCopiesEveryModelTensor(string name)
    {
        var ckpt = Load(name);
        var reader = ckpt.StateDict();
        var sd = ckpt.ToStateDict();
        Assert.Equal(reader.Keys, sd.Keys);
        foreach (var (k, t) in reader)
        {
            Assert.Equal(t.GetShape().Select(s => (int)s), sd[k].Shape);
            Assert.Equal(DType.Float32, sd[k].DType);
            Assert.False(sd[k].RequiresGrad);
            Assert.Equal(t.ToFloat32Array(), sd[k].ToArray<float>());
        }
    }

    // ---- Helpers ----

    /// <summary>A smooth deterministic (N, L, F) input in [-1, 1].</summary>
    private static float[] Deterministic(int n, int l, int f, int seed)
    {
        var x = new float[n * l * f];
        for (int i = 0; i < x.Length; i++) x[i] = (float)Math.Sin(0.37 * i + seed) * (float)Math.Cos(0.11 * i * seed);
        return x;
    }

    /// <summary>The first <paramref name="length"/> rows of batch element <paramref name="n"/> of an (N, L, F) array, as float64.</summary>
    private static double[][] Rows(float[] x, int n, int l, int f, int length) =>
        Enumerable.Range(0, length).Select(t => x.AsSpan((n * l + t) * f, f).ToArray().Select(v => (double)v).ToArray()).ToArray();

    private static float[] EncodeNames(string[] names)
    {
        const string letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'";
        Assert.Equal(57, letters.Length);
        var x = new float[names.Length * 10 * 57];
        for (int n = 0; n < names.Length; n++)
            for (int t = 0; t < Math.Min(10, names[n].Length); t++)
                x[(n * 10 + t) * 57 + letters.IndexOf(names[n][t])] = 1;
        return x;
    }

    /// <summary>torch.testing.assert_close's float32 defaults (rtol 1.3e-6, atol 1e-5) against a float64 reference.</summary>
    private static void AssertCloseFloat32(double[] expected, Tensor actual)
    {
        var a = actual.ToArray<float>();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - expected[i]) <= 1e-5 + 1.3e-6 * Math.Abs(expected[i]),
                $"element {i}: expected {expected[i]:R}, got {a[i]:R} (difference {Math.Abs(a[i] - expected[i]):E2})");
    }

    /// <summary>
    /// Plain float64 LSTM / GRU / Linear for one sequence (batch 1), reading the weights straight from the reader
    /// (PyTorch's gate orders: LSTM i, f, g, o; GRU r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))).
    /// </summary>
    private static class Reference
    {
        private static double[] W(IReadOnlyDictionary<string, TorchTensor> sd, string name) => sd[name].ToFloat64Array();
        private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

        private static double[] Affine(double[] w, double[]? b, double[] x, int rows)
        {
            int cols = x.Length;
            var y = new double[rows];
            for (int r = 0; r < rows; r++)
            {
                double s = b?[r] ?? 0;
                for (int j = 0; j < cols; j++) s += w[r * cols + j] * x[j];
                y[r] = s;
            }
            return y;
        }

        public static double[] Linear(IReadOnlyDictionary<string, TorchTensor> sd, string prefix, double[] x) =>
            Affine(W(sd, prefix + "weight"), W(sd, prefix + "bias"), x, (int)sd[prefix + "bias"].Shape[0]);

        /// <summary>Output per step (directions concatenated) and the final h of each layer x direction.</summary>
        public static (double[][] Output, double[][] Final) Lstm(IReadOnlyDictionary<string, TorchTensor> sd, string prefix, int layers,
            bool bidirectional, double[][] xs) =>
            Stack(sd, prefix, layers, bidirectional, xs, (wih, whh, bih, bhh, x, h, c) =>
            {
                int hs = h.Length;
                var gi = Affine(wih, bih, x, 4 * hs);
                var gh = Affine(whh, bhh, h, 4 * hs);
                var hNew = new double[hs];
                for (int k = 0; k < hs; k++)
                {
                    double i = Sigmoid(gi[k] + gh[k]), f = Sigmoid(gi[hs + k] + gh[hs + k]);
                    double g = Math.Tanh(gi[2 * hs + k] + gh[2 * hs + k]), o = Sigmoid(gi[3 * hs + k] + gh[3 * hs + k]);
                    c[k] = f * c[k] + i * g;
                    hNew[k] = o * Math.Tanh(c[k]);
                }
                return hNew;
            });

        public static (double[][] Output, double[][] Final) Gru(IReadOnlyDictionary<string, TorchTensor> sd, string prefix, int layers, double[][] xs) =>
            Stack(sd, prefix, layers, false, xs, (wih, whh, bih, bhh, x, h, _) =>
            {
                int hs = h.Length;
                var gi = Affine(wih, bih, x, 3 * hs);
                var gh = Affine(whh, bhh, h, 3 * hs);
                var hNew = new double[hs];
                for (int k = 0; k < hs; k++)
                {
                    double r = Sigmoid(gi[k] + gh[k]), z = Sigmoid(gi[hs + k] + gh[hs + k]);
                    double n = Math.Tanh(gi[2 * hs + k] + r * gh[2 * hs + k]);
                    hNew[k] = (1 - z) * n + z * h[k];
                }
                return hNew;
            });

        private delegate double[] Cell(double[] wih, double[] whh, double[] bih, double[] bhh, double[] x, double[] h, double[] c);

        private static (double[][] Output, double[][] Final) Stack(IReadOnlyDictionary<string, TorchTensor> sd, string prefix, int layers,
            bool bidirectional, double[][] xs, Cell cell)
        {
            int hs = (int)sd[prefix + "weight_hh_l0"].Shape[1];
            var final = new List<double[]>();
            for (int l = 0; l < layers; l++)
            {
                var outputs = new double[xs.Length][];
                for (int t = 0; t < xs.Length; t++) outputs[t] = Array.Empty<double>();
                foreach (var suffix in bidirectional ? new[] { "", "_reverse" } : new[] { "" })
                {
                    string p = $"{prefix}{{0}}_l{l}{suffix}";
                    var (wih, whh, bih, bhh) = (W(sd, string.Format(p, "weight_ih")), W(sd, string.Format(p, "weight_hh")),
                        W(sd, string.Format(p, "bias_ih")), W(sd, string.Format(p, "bias_hh")));
                    double[] h = new double[hs], c = new double[hs];
                    var steps = Enumerable.Range(0, xs.Length);
                    foreach (int t in suffix.Length == 0 ? steps : steps.Reverse())
                    {
                        h = cell(wih, whh, bih, bhh, xs[t], h, c);
                        outputs[t] = outputs[t].Concat(h).ToArray();
                    }
                    final.Add(h);
                }
                xs = outputs;
            }
            return (xs, final.ToArray());
        }
    }
}
