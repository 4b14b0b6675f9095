// The samples' models, the CLI's character model, and models built like the six real checkpoints in
// ../shared/real-checkpoints (with their real weights when ../shared is beside the repository), exported and run in
// ONNX Runtime at several batch sizes and sequence lengths.
using Recurrent.Cli.Model;
using Recurrent.IO.Torch;
using Recurrent.Nn;
using Recurrent.Samples;
using Recurrent.Tests;

namespace Recurrent.Onnx.Tests;

public class ModelExportTests
{
    private static readonly Generator G = new(77);

    private static Tensor X(params int[] shape) => Tensor.Randn(shape, generator: G);

    // ------------------------------------------------------------------ samples

    [Fact]
    public void HandBuiltCells()
    {
        var rnn = new LinearRnn(3, 5, 4);
        var lstm = new HandLstmCell(3, 5);
        var gru = new HandGruCell(3, 5);
        foreach (var m in new Module[] { rnn, lstm, gru }) m.Eval();
        Tensor[] In(int b) => [X(b, 3), X(b, 5), X(b, 5)];
        OrtCheck.ExportAndVerify("linear-rnn", xs => { var (o, h) = rnn.Forward(xs[0], xs[1]); return [o, h]; }, In(3)[..2], [In(2)[..2], In(5)[..2]], new OnnxExportOptions { Module = rnn });
        OrtCheck.ExportAndVerify("hand-lstm", xs => { var (h, c) = lstm.Forward(xs[0], xs[1], xs[2]); return [h, c]; }, In(3), [In(2), In(4)], new OnnxExportOptions { Module = lstm });
        OrtCheck.ExportAndVerify("hand-gru", xs => [gru.Forward(xs[0], xs[1])], In(3)[..2], [In(2)[..2], In(6)[..2]], new OnnxExportOptions { Module = gru });
    }

    // PyTorch's word_language_model with --tied: the decoder's weight is the encoder's table itself.
    private sealed class TiedLanguageModel : Module<Tensor, Tensor>
    {
        private readonly Embedding _encoder;
        private readonly Lstm _rnn;
        private readonly Linear _decoder;

        public TiedLanguageModel()
        {
            var g = new Generator(11);
            _encoder = RegisterModule("encoder", new Embedding(10, 6, generator: g));
            _rnn = RegisterModule("rnn", new Lstm(6, 6, generator: g));
            _decoder = RegisterModule("decoder", new Linear(6, 10, generator: g));
            _decoder.Weight = _encoder.Weight;
        }

        public override Tensor Forward(Tensor ids) => _decoder.Forward(_rnn.Forward(_encoder.Forward(ids)).Output);
    }

    [Fact]
    public void TiedWeightsAreOneInitializer()
    {
        var model = new TiedLanguageModel();
        model.Eval();
        Tensor[] Ids(int t, int b) => [Tensor.RandInt(0, 10, [t, b], G)];
        var r = OrtCheck.ExportAndVerify("tied-lm", xs => [model.Forward(xs[0])], Ids(5, 2), [Ids(3, 1), Ids(7, 4)], new OnnxExportOptions { Module = model });
        Assert.Contains("encoder.weight", r.InitializerNames);                      // the first of its state_dict keys
        Assert.DoesNotContain("decoder.weight", r.InitializerNames);
        Assert.Contains("decoder.bias", r.InitializerNames);
    }

    [Fact]
    public void LstmTagger()
    {
        var model = new LstmTaggerModel(6, 6, 9, 3, new Generator(1));
        model.Eval();
        Tensor[] Sentence(int n) => [Tensor.RandInt(0, 9, [n], G)];
        var r = OrtCheck.ExportAndVerify("tagger", xs => [model.Forward(xs[0])], Sentence(5), [Sentence(3), Sentence(8)], new OnnxExportOptions { Module = model });
        Assert.Equal(1, r.NodeCounts["LSTM"]);
        Assert.Contains("word_embeddings.weight", r.InitializerNames);
    }

    [Fact]
    public void HelloOhlolModels()
    {
        var rnn = new HelloOhlol.RnnModel();
        rnn.Eval();
        // The tutorial's model fixes the batch at 1 (its h0 is zeros(1, 1, 4)); the sequence is dynamic.
        Tensor[] OneHot(int t) => [Tensor.Eye(4).IndexSelect(0, Tensor.RandInt(0, 4, [t], G)).View(t, 1, 4)];
        OrtCheck.ExportAndVerify("hello-rnn", xs => [rnn.Forward(xs[0])], OneHot(5), [OneHot(3), OneHot(9)], new OnnxExportOptions { Module = rnn });

        var emb = new HelloOhlol.EmbeddingRnnModel();
        emb.Eval();
        Tensor[] Ids(int b, int t) => [Tensor.RandInt(0, 4, [b, t], G)];
        var r = OrtCheck.ExportAndVerify("hello-emb-rnn", xs => [emb.Forward(xs[0])], Ids(3, 5), [Ids(2, 7), Ids(4, 2)], new OnnxExportOptions { Module = emb });
        Assert.Equal(2, r.NodeCounts["RNN"]);

        var cell = new HelloOhlol.RnnCellModel();
        OrtCheck.ExportAndVerify("hello-cell", xs => [cell.Cell.Forward(xs[0], xs[1])], [X(3, 4), X(3, 4)], [[X(1, 4), X(1, 4)], [X(5, 4), X(5, 4)]], new OnnxExportOptions { Module = cell });
    }

    [Fact]
    public void ReluRnnWorkedExampleAndShapeWalkthroughModels()
    {
        var cell = new RnnCell(2, 1, bias: false, nonlinearity: "relu");
        cell.LoadStateDict(new Dictionary<string, Tensor> { ["weight_ih"] = Tensor.FromArray(new float[,] { { -1, 3 } }), ["weight_hh"] = Tensor.FromArray(new float[,] { { 2 } }) });
        var rnn = new Rnn(2, 1, nonlinearity: "relu", bias: false);
        rnn.LoadStateDict(new Dictionary<string, Tensor> { ["weight_ih_l0"] = Tensor.FromArray(new float[,] { { -1, 3 } }), ["weight_hh_l0"] = Tensor.FromArray(new float[,] { { 2 } }) });
        var x = Tensor.FromArray(new float[,,] { { { 1, 2 } }, { { 2, 0 } }, { { 3, 1 } }, { { -1, -5 } } });
        // The worked example has batch 1 (static in the automatic axes); the sequence is dynamic.
        var r = OrtCheck.ExportAndVerify("relu-rnn", xs => { var (o, h) = rnn.Forward(xs[0], xs[1]); return [o, h]; }, [x, Tensor.Zeros(1, 1, 1)],
            [[X(6, 1, 2), X(1, 1, 1)], [X(2, 1, 2), X(1, 1, 1)]], new OnnxExportOptions { Module = rnn });
        OrtCheck.ExportAndVerify("relu-cell", xs => [cell.Forward(xs[0], xs[1])], [X(3, 2), X(3, 1)], [[X(4, 2), X(4, 1)]], new OnnxExportOptions { Module = cell });

        foreach (var kind in new[] { "rnn_tanh", "lstm", "gru" })
        {
            var m = RecurrentExportTests.Make(kind, 20, 50, 2, seed: 3);
            bool lstm = kind == "lstm";
            Tensor[] In(int t, int b) => lstm ? [X(t, b, 20), X(2, b, 50), X(2, b, 50)] : [X(t, b, 20), X(2, b, 50)];
            OrtCheck.ExportAndVerify("walkthrough-" + kind, xs =>
            {
                var (o, s) = m.Forward(xs[0], new Recurrent.Nn.RecurrentState(xs[1], lstm ? xs[2] : null));
                return lstm ? [o, s.H, s.C!] : [o, s.H];
            }, In(10, 4), [In(6, 3), In(12, 2)], new OnnxExportOptions { Module = m });
        }
    }

    [Theory]
    [InlineData("lstm", 1)]
    [InlineData("gru", 2)]
    [InlineData("rnn", 2)]
    public void CliCharacterModel(string kind, int layers)
    {
        var model = new CharLanguageModel(new ModelConfig { Kind = kind, VocabSize = 12, EmbeddingSize = 8, HiddenSize = 16, NumLayers = layers, Dropout = 0.2 }, new Generator(4), new Generator(5));
        model.Eval();
        bool lstm = kind == "lstm";
        Tensor[] In(int t, int b) => lstm
            ? [Tensor.RandInt(0, 12, [t, b], G), X(layers, b, 16), X(layers, b, 16)]
            : [Tensor.RandInt(0, 12, [t, b], G), X(layers, b, 16)];
        var r = OrtCheck.ExportAndVerify("charlm-" + kind, xs =>
        {
            var (logits, s) = model.Forward(xs[0], new Recurrent.Cli.Model.RecurrentState(xs[1], lstm ? xs[2] : null));
            return lstm ? [logits, s.H, s.C!] : [logits, s.H];
        }, In(5, 3), [In(8, 2), In(1, 4), In(3, 1)], new OnnxExportOptions { Module = model });
        Assert.Contains("emb.weight", r.InitializerNames);
        Assert.Contains("fc.weight", r.InitializerNames);
        Assert.Contains("rnn.W_l0", r.InitializerNames);
    }

    // ------------------------------------------------------------------ models like the real checkpoints

    /// <summary>SimpleBILSTM: LSTM(57, 128, 2, batch_first, bidirectional) -> output[:, -1, :] -> Linear(256, 18); zeros h0/c0 made in forward.</summary>
    private sealed class SimpleBiLstm : Module
    {
        public readonly Lstm Rnn; public readonly Linear Fc;
        public SimpleBiLstm() { Rnn = RegisterModule("rnn", new Lstm(57, 128, 2, batchFirst: true, bidirectional: true)); Fc = RegisterModule("fc", new Linear(256, 18)); }
        public Tensor Forward(Tensor x)
        {
            var h0 = Tensor.Zeros(4, x.Size(0), 128); var c0 = Tensor.Zeros(4, x.Size(0), 128);
            var (output, _) = Rnn.Forward(x, (h0, c0));
            return Fc.Forward(output[.., ^1, ..]);
        }
    }

    /// <summary>GRUNet: GRU(13, 16, batch_first) -> out[:, -1] -> relu -> Linear(16, 7).</summary>
    private sealed class GruNet : Module
    {
        public readonly Gru Gru; public readonly Linear Fc;
        public GruNet() { Gru = RegisterModule("gru", new Gru(13, 16, batchFirst: true)); Fc = RegisterModule("fc", new Linear(16, 7)); }
        public Tensor Forward(Tensor x) => Fc.Forward(Gru.Forward(x).Output[.., ^1].Relu());
    }

    /// <summary>LightningLSTM: LSTM(1, 1); a 1-D input viewed as (len, 1), unbatched; prediction = lstm_out[-1].</summary>
    private sealed class LightningLstm : Module
    {
        public readonly Lstm Lstm;
        public LightningLstm() => Lstm = RegisterModule("lstm", new Lstm(1, 1));
        public Tensor Forward(Tensor input) => Lstm.Forward(input.View(input.Size(0), 1)).Output[^1];
    }

    /// <summary>CharLSTM: Embedding(62, 128) -> LSTM(128, 128, 2, dropout 0.3, batch_first) -> reshape(B*T, 128) -> Linear(128, 62).</summary>
    private sealed class CharLstm : Module
    {
        public readonly Embedding Embedding; public readonly Lstm Lstm; public readonly Linear Fc;
        public CharLstm()
        {
            Embedding = RegisterModule("embedding", new Embedding(62, 128));
            Lstm = RegisterModule("lstm", new Lstm(128, 128, 2, batchFirst: true, dropout: 0.3));
            Fc = RegisterModule("fc", new Linear(128, 62));
        }
        public (Tensor Logits, Tensor H, Tensor C) Forward(Tensor ids, Tensor h0, Tensor c0)
        {
            var (output, (h, c)) = Lstm.Forward(Embedding.Forward(ids), (h0, c0));
            return (Fc.Forward(output.Reshape(ids.Size(0) * ids.Size(1), 128)), h, c);
        }
    }

    /// <summary>CharRNN: one-hot (B, T, 83) -> LSTM(83, 256, 2, dropout 0.5, batch_first) -> Dropout -> reshape(-1, 256) -> Linear(256, 83).</summary>
    private sealed class CharRnn : Module
    {
        public readonly Lstm Lstm; public readonly Dropout Dropout; public readonly Linear Fc;
        public CharRnn()
        {
            Lstm = RegisterModule("lstm", new Lstm(83, 256, 2, batchFirst: true, dropout: 0.5));
            Dropout = RegisterModule("dropout", new Dropout(0.5));
            Fc = RegisterModule("fc", new Linear(256, 83));
        }
        public (Tensor Logits, Tensor H, Tensor C) Forward(Tensor x, Tensor h0, Tensor c0)
        {
            var (r, (h, c)) = Lstm.Forward(x, (h0, c0));
            return (Fc.Forward(Dropout.Forward(r).Reshape(-1, 256)), h, c);
        }
    }

    /// <summary>GRUClassifier: PackedSequence (B, T, 9) -> GRU(9, 256, 3, batch_first, dropout 0.2) -> hn[-1] -> Dropout -> Linear(256, 5).</summary>
    private sealed class GruClassifier : Module
    {
        public readonly Gru Gru; public readonly Linear Fc; public readonly Dropout Dropout;
        public GruClassifier()
        {
            Gru = RegisterModule("gru", new Gru(9, 256, 3, batchFirst: true, dropout: 0.2));
            Fc = RegisterModule("fc", new Linear(256, 5));
            Dropout = RegisterModule("dropout", new Dropout(0.2));
        }
        public Tensor Forward(Tensor padded, Tensor lengths)
        {
            var (_, hn) = Gru.Forward(PackedSequence.FromPadded(padded, lengths, batchFirst: true, enforceSorted: false));
            return Fc.Forward(Dropout.Forward(hn[^1]));
        }
    }

    private static Tensor OneHot(int b, int t, int v) => Tensor.Eye(v).IndexSelect(0, Tensor.RandInt(0, v, [b * t], G)).View(b, t, v);

    public static TheoryData<string> RealCheckpoints() => new()
    {
        "Foxbabe1q__Name-Nation-classification__bilstm.pt",
        "RWDavid__rnn-instrument-recognition__gru.pt",
        "beenlanced__ltsm_project_pytorch__epoch=299-step=600.ckpt",
        "daewook1004__DeepLearning_LangugeModel__best_lstm_model.pth",
        "infiniteoverflow__Char-RNN__rnn_20_epoch.net",
        "ohovey1__sequence_classification_deep_nn__gru_model.pth",
    };

    /// <summary>The model of a checkpoint, its forward over graph inputs, and input sets (example first, then others).</summary>
    private static (Module Model, Func<Tensor[], Tensor[]> Forward, Tensor[][] Inputs, string Op, int Nodes) Build(string file)
    {
        switch (file.Split("__")[1])
        {
            case "Name-Nation-classification":
            {
                var m = new SimpleBiLstm();
                return (m, xs => [m.Forward(xs[0])], [[OneHot(3, 10, 57)], [OneHot(2, 10, 57)], [OneHot(5, 7, 57)]], "LSTM", 2);
            }
            case "rnn-instrument-recognition":
            {
                var m = new GruNet();
                return (m, xs => [m.Forward(xs[0])], [[X(3, 50, 13)], [X(2, 20, 13)], [X(4, 9, 13)]], "GRU", 1);
            }
            case "ltsm_project_pytorch":
            {
                var m = new LightningLstm();
                return (m, xs => [m.Forward(xs[0])], [[Tensor.FromArray(new float[] { 0, 0.5f, 0.25f, 1 })], [X(6)], [X(2)]], "LSTM", 1);
            }
            case "DeepLearning_LangugeModel":
            {
                var m = new CharLstm();
                Tensor[] In(int b, int t) => [Tensor.RandInt(0, 62, [b, t], G), X(2, b, 128), X(2, b, 128)];
                return (m, xs => { var (l, h, c) = m.Forward(xs[0], xs[1], xs[2]); return [l, h, c]; }, [In(3, 30), In(2, 11), In(4, 5)], "LSTM", 2);
            }
            case "Char-RNN":
            {
                var m = new CharRnn();
                Tensor[] In(int b, int t) => [OneHot(b, t, 83), Tensor.Zeros(2, b, 256), Tensor.Zeros(2, b, 256)];
                return (m, xs => { var (l, h, c) = m.Forward(xs[0], xs[1], xs[2]); return [l, h, c]; }, [In(3, 6), In(2, 9), In(5, 1)], "LSTM", 2);
            }
            default:
            {
                var m = new GruClassifier();
                Tensor[] In(int b, int t) => [X(b, t, 9), RecurrentExportTests.Lengths(t, b, G)];
                return (m, xs => [m.Forward(xs[0], xs[1])], [In(3, 5), In(2, 8), In(6, 4)], "GRU", 3);
            }
        }
    }

    [Theory]
    [MemberData(nameof(RealCheckpoints))]
    public void BuiltLikeRealCheckpoint(string file)
    {
        var (model, forward, inputs, op, nodes) = Build(file);
        model.Eval();
        var r = OrtCheck.ExportAndVerify(file[..12], forward, inputs[0], inputs[1..], new OnnxExportOptions { Module = model });
        Assert.Equal(nodes, r.NodeCounts[op]);
    }

    [SkippableTheory]
    [MemberData(nameof(RealCheckpoints))]
    public void RealCheckpointWeights(string file)
    {
        var path = Path.Combine(TestPaths.Shared, "real-checkpoints", file);
        Skip.IfNot(File.Exists(path), "../shared/real-checkpoints is not beside the repository");
        var (model, forward, inputs, _, _) = Build(file);
        TorchCheckpoint.Load(path).LoadInto(model);
        model.Eval();
        OrtCheck.ExportAndVerify(file[..12] + "-real", forward, inputs[0], inputs[1..], new OnnxExportOptions { Module = model });
    }
}
