// The six real checkpoints, dynamically quantized to int8 (Quantizer.QuantizeDynamic) and compared with the
// same model in float32 on the same inputs: max abs error of the outputs and argmax agreement, written to the
// test output (the figures in the README's quantization section come from here). Beside each figure is the
// error of the float model with only its weights rounded to int8 per row (no activation quantization): the
// floor any int8-weight scheme starts from, and a measure of how sensitive the float model itself is.
// The assertions are acceptance criteria, not error bounds (those are derived in QuantizationTests): the
// char models keep their next-character loss within 0.02 nats/char (issue 15's char-LM target) and 95% of
// their predictions; a classifier agrees with float on at least 80% of the inputs (a broken path agrees at
// chance, 1 in 5 to 1 in 18), because the 3-layer GRU classifier is so sensitive on these synthetic inputs
// that rounding its weights alone to int8 already changes 16% of its predictions on 40-step sequences.
using System.Globalization;
using Recurrent.IO.Torch;
using Recurrent.Nn;
using Recurrent.Quantization;
using Xunit.Abstractions;

namespace Recurrent.Tests.IO.Torch;

public partial class RealModelTests(ITestOutputHelper output)
{
    private static readonly string[] SomeNames =
    {
        "Nakamura", "Schmidt", "O'Brien", "Rossi", "Dostoevsky", "Tanaka", "Muller", "Kowalski", "Nguyen", "Garcia",
        "Dubois", "Silva", "Papadopoulos", "Kim", "Chen", "Novak", "Jansen", "Murphy", "Yamamoto", "Ivanov",
        "Haddad", "Smith", "Fernandez", "Schneider", "Bianchi", "Lefebvre", "Santos", "Park", "Wang", "Svoboda",
        "De Vries", "Kelly", "Suzuki", "Petrov", "Nasser", "Johnson", "Lopez", "Fischer", "Romano", "Moreau",
    };

    private void Report(string model, string what, double maxAbs, double? agreement, double weightsOnly, string? extra = null) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"int8 vs float32 | {model} | {what} | max abs error {maxAbs:E2}{(agreement is { } a ? $" | argmax agreement {a:P1}" : "")} | weights-only rounding {weightsOnly:E2}{(extra is null ? "" : " | " + extra)}"));

    /// <summary>
    /// The float model with the weights QuantizeDynamic quantizes (Linear and recurrent weights, not embeddings)
    /// rounded to int8 with one symmetric scale per row, activations left in float.
    /// </summary>
    private static TModel WeightsRounded<TModel>(Func<TModel> create, string checkpoint) where TModel : Module
    {
        var m = create();
        Load(checkpoint).LoadInto(m);
        m.Eval();
        foreach (var (_, module) in m.NamedModules())
        {
            if (module is not (Linear or RecurrentBase)) continue;
            foreach (var (name, p) in module.NamedParameters(recurse: false))
            {
                if (!name.StartsWith("weight", StringComparison.Ordinal)) continue;
                int rows = p.Size(0), cols = p.Size(1);
                var a = p.ToArray<float>();
                for (int r = 0; r < rows; r++)
                {
                    var row = a.AsSpan(r * cols, cols);
                    float max = 0;
                    foreach (float v in row) max = Math.Max(max, Math.Abs(v));
                    float s = max / 127;
                    if (s == 0) continue;
                    for (int c = 0; c < cols; c++) row[c] = MathF.Round(row[c] / s) * s;
                }
                using (new NoGrad()) p.Copy_(Tensor.FromArray(a, rows, cols));
            }
        }
        return m;
    }

    private static double MaxAbs(Tensor a, Tensor b)
    {
        var x = a.ToArray<float>();
        var y = b.ToArray<float>();
        Assert.Equal(x.Length, y.Length);
        double m = 0;
        for (int i = 0; i < x.Length; i++) m = Math.Max(m, Math.Abs(x[i] - y[i]));
        return m;
    }

    /// <summary>Fraction of rows of two (rows, classes) tensors whose argmax is the same.</summary>
    private static double Agreement(Tensor a, Tensor b)
    {
        var x = a.ArgMax(1).ToArray<long>();
        var y = b.ArgMax(1).ToArray<long>();
        return x.Zip(y).Count(p => p.First == p.Second) / (double)x.Length;
    }

    private static (TModel Float, TModel Int8, TModel Rounded) Pair<TModel>(Func<TModel> create, string checkpoint) where TModel : Module
    {
        var f = create();
        Load(checkpoint).LoadInto(f);
        f.Eval();
        var q = create();
        Load(checkpoint).LoadInto(q);
        q.Eval();
        Quantizer.QuantizeDynamic(q);
        Assert.True(Quantizer.IsQuantized(q));
        return (f, q, WeightsRounded(create, checkpoint));
    }

    [SkippableFact]
    public void Int8LightningLstmStaysCloseToFloat()
    {
        var (f, q, w) = Pair(() => new LightningLstm(), RealCheckpoints.Lightning);
        var rng = new Random(3);
        double worst = 0, rounded = 0;
        using var _ = new NoGrad();
        for (int i = 0; i < 64; i++)
        {
            var x = Tensor.FromArray(Enumerable.Range(0, 4).Select(_ => (float)rng.NextDouble()).ToArray());
            var y = f.Forward(x);
            worst = Math.Max(worst, MaxAbs(y, q.Forward(x)));
            rounded = Math.Max(rounded, MaxAbs(y, w.Forward(x)));
        }
        Report("beenlanced LightningLSTM (1x1)", "64 random sequences of 4", worst, null, rounded);
        Assert.True(worst < 0.01, $"max abs error {worst:E2} of a prediction in [0, 1]");
    }

    [SkippableFact]
    public void Int8CharLstmWithEmbeddingKeepsItsNextCharacterLoss() =>
        CharModelKeepsItsLoss(RealCheckpoints.CharLstm, "daewook1004 CharLSTM (emb 128, 2x LSTM 128)", ck =>
        {
            var vocab = Json(RealCheckpoints.CharLstm).GetProperty("architecture").GetProperty("vocabulary").GetString()!.Select(c => c.ToString()).ToArray();
            return (vocab, () => new CharModel(vocab.Length, 128, embedding: true, dropout: 0.3));
        });

    [SkippableFact]
    public void Int8LegacyCharRnnKeepsItsNextCharacterLoss() =>
        CharModelKeepsItsLoss(RealCheckpoints.LegacyCharRnn, "infiniteoverflow CharRNN (one-hot, 2x LSTM 256)", ck =>
        {
            var tokens = Assert.IsType<TorchTuple>(ck.Get("tokens")).Cast<string>().ToArray();
            int hidden = (int)(long)ck.Get("n_hidden")!;
            return (tokens, () => new CharModel(tokens.Length, hidden, embedding: false, dropout: 0.5));
        });

    /// <summary>Teacher-forced next-character loss over 2,000 characters of Tiny Shakespeare, float32 and int8.</summary>
    private void CharModelKeepsItsLoss(string checkpoint, string label, Func<TorchCheckpoint, (string[] Vocab, Func<CharModel> Create)> describe)
    {
        var (vocab, create) = describe(Load(checkpoint));
        var (f, q, w) = Pair(create, checkpoint);
        string text = File.ReadAllText(Path.Combine(RealCheckpoints.Directory, "..", "data", "tinyshakespeare.txt"))[..4000];
        int[] ids = text.Select(c => Array.IndexOf(vocab, c.ToString())).Where(i => i >= 0).Take(2001).ToArray();
        Assert.Equal(2001, ids.Length);
        Tensor lf, lq, lw;
        using (new NoGrad())
        {
            lf = f.AllLogits(ids[..^1]);
            lq = q.AllLogits(ids[..^1]);
            lw = w.AllLogits(ids[..^1]);
        }
        var target = Tensor.FromArray(ids[1..].Select(i => (long)i).ToArray());
        double lossF = Functional.CrossEntropy(lf, target).ToDouble();
        double lossQ = Functional.CrossEntropy(lq, target).ToDouble();
        double agreement = Agreement(lf, lq);
        Report(label, "2,000 characters of Tiny Shakespeare, teacher-forced", MaxAbs(lf, lq), agreement, MaxAbs(lf, lw),
            string.Create(CultureInfo.InvariantCulture, $"loss {lossF:F4} -> {lossQ:F4} nats/char ({lossQ - lossF:+0.0000;-0.0000})"));
        Assert.True(Math.Abs(lossQ - lossF) <= 0.02, $"loss {lossF} float32, {lossQ} int8");
        Assert.True(agreement >= 0.95, $"argmax agreement {agreement:P1}");
    }

    [SkippableFact]
    public void Int8LegacyGruClassifierAgreesWithFloat()
    {
        const int N = 64, L = 50, F = 13;
        var (f, q, w) = Pair(() => new GruNet(), RealCheckpoints.LegacyGru);
        var x = Tensor.FromArray(Deterministic(N, L, F, seed: 1), N, L, F);
        Tensor yf, yq, yw;
        using (new NoGrad()) { yf = f.Forward(x); yq = q.Forward(x); yw = w.Forward(x); }
        Classifier("RWDavid GRUNet (GRU 13->16, fc 7)", $"{N} sequences of {L}", yf, yq, yw);
    }

    [SkippableFact]
    public void Int8PackedGruClassifierAgreesWithFloat()
    {
        const int N = 64, L = 40, F = 9;
        var (f, q, w) = Pair(() => new GruClassifier(), RealCheckpoints.GruFlat);
        var lengths = Enumerable.Range(0, N).Select(i => 1 + (i * 7) % L).ToArray();
        var packed = RnnUtils.PackPaddedSequence(Tensor.FromArray(Deterministic(N, L, F, seed: 2), N, L, F), lengths, batchFirst: true, enforceSorted: false);
        Tensor yf, yq, yw;
        using (new NoGrad()) { yf = f.Forward(packed); yq = q.Forward(packed); yw = w.Forward(packed); }
        Classifier("ohovey1 GRUClassifier (3x GRU 256, packed)", $"{N} packed sequences of 1..{L}", yf, yq, yw);
    }

    [SkippableFact]
    public void Int8BidirectionalLstmClassifierAgreesWithFloat()
    {
        var (f, q, w) = Pair(() => new BiLstmClassifier(), RealCheckpoints.BiLstm);
        var x = Tensor.FromArray(EncodeNames(SomeNames), SomeNames.Length, 10, 57);
        Tensor yf, yq, yw;
        using (new NoGrad()) { yf = f.Forward(x); yq = q.Forward(x); yw = w.Forward(x); }
        Classifier("Foxbabe1q SimpleBILSTM (2x biLSTM 128)", $"{SomeNames.Length} names", yf, yq, yw);
    }

    /// <summary>Class logits: report, and require most predictions to agree (see the file header).</summary>
    private void Classifier(string label, string inputs, Tensor yf, Tensor yq, Tensor yw)
    {
        double agreement = Agreement(yf, yq);
        var v = yf.ToArray<float>();
        Report(label, inputs, MaxAbs(yf, yq), agreement, MaxAbs(yf, yw),
            string.Create(CultureInfo.InvariantCulture, $"float32 logits span {v.Max() - v.Min():F2}; weights-only agreement {Agreement(yf, yw):P1}"));
        Assert.True(agreement >= 0.8, $"argmax agreement {agreement:P1}");
    }
}
