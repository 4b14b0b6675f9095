// `recurrent export RUN_DIR model.onnx` on tiny trained runs: the file runs in ONNX Runtime and gives the logits and
// states of the checkpoint's model, at several batch sizes and sequence lengths, with the vocabulary in its metadata.
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Recurrent.Cli;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Training;

namespace Recurrent.Onnx.Tests;

public sealed class TinyRunsFixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "recurrent-onnx-cli-" + Guid.NewGuid().ToString("N")[..8]);

    public TinyRunsFixture()
    {
        Directory.CreateDirectory(Root);
        var text = string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", 60));
        File.WriteAllText(Path.Combine(Root, "corpus.txt"), text);
        foreach (var (kind, layers) in new[] { ("lstm", 2), ("gru", 1) })
        {
            var args = new TrainArguments
            {
                Data = Path.Combine(Root, "corpus.txt"), Out = Path.Combine(Root, kind), Model = kind, Layers = layers, HiddenSize = 12,
                EmbeddingSize = 6, SeqLen = 8, BatchSize = 4, Steps = 4, EvalEvery = 4, LogEvery = 100, LearningRate = 0.01, Threads = 1,
            };
            var o = Trainer.Run(args, new CliContext(TextWriter.Null, TextWriter.Null));
            if (o.Reason != StopReason.StepsDone) throw new InvalidOperationException("fixture training failed");
        }
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public sealed class CliExportTests(TinyRunsFixture fx) : IClassFixture<TinyRunsFixture>
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CliApp.Run(args, new CliContext(o, e));
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void ExportInsideACheckpoint_OrOverLATEST_IsRefused_AndChangesNothing()
    {
        var run = Path.Combine(fx.Root, "gru");
        var checkpoint = Directory.GetDirectories(run, "checkpoint-*").Single();
        var before = Directory.GetFiles(run, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        foreach (var target in new[] { Path.Combine(checkpoint, "model.safetensors"), Path.Combine(checkpoint, "model.onnx"), Path.Combine(run, "LATEST") })
        {
            var (code, _, err) = Run("export", run, target);
            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains("would replace", err);
        }
        var after = Directory.GetFiles(run, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (f, bytes) in before) Assert.Equal(bytes, after[f]);
    }

    [Theory]
    [InlineData("lstm", false)]
    [InlineData("gru", false)]
    [InlineData("lstm", true)]
    public void ExportedRunMatchesTheCheckpointInOnnxRuntime(string kind, bool stateless)
    {
        var run = Path.Combine(fx.Root, kind);
        var path = OrtCheck.TempPath("cli-" + kind);
        var args = stateless ? new[] { "export", run, path, "--stateless" } : new[] { "export", run, path };
        var (code, output, err) = Run(args);
        Assert.True(code == 0, err);
        Assert.Contains("wrote", output);
        Assert.Contains("tokens: int64[seq, batch]", output);

        var ck = CharLmCheckpoint.Load(run);
        var model = ck.BuildModel();
        var cfg = ck.Config.Model;
        bool lstm = kind == "lstm";
        using var session = new InferenceSession(path);
        var vocab = JsonSerializer.Deserialize<string[]>(session.ModelMetadata.CustomMetadataMap["recurrent.vocabulary"]);
        Assert.Equal(ck.Vocabulary.Symbols, vocab);
        var g = new Generator(3);
        foreach (var (t, b) in new[] { (5, 3), (9, 1), (2, 4) })
        {
            var tokens = Tensor.RandInt(0, cfg.VocabSize, [t, b], g);
            var h0 = Tensor.Randn([cfg.NumLayers, b, cfg.HiddenSize], generator: g);
            var c0 = Tensor.Randn([cfg.NumLayers, b, cfg.HiddenSize], generator: g);
            Tensor[] inputs = stateless ? [tokens] : lstm ? [tokens, h0, c0] : [tokens, h0];
            Tensor[] expected;
            using (new NoGrad())
            {
                var (logits, s) = model.Forward(tokens, stateless ? null : new Recurrent.Cli.Model.RecurrentState(h0, lstm ? c0 : null));
                expected = stateless ? [logits] : lstm ? [logits, s.H, s.C!] : [logits, s.H];
            }
            var names = stateless ? new[] { "tokens" } : lstm ? new[] { "tokens", "h0", "c0" } : new[] { "tokens", "h0" };
            var outNames = stateless ? new[] { "logits" } : lstm ? new[] { "logits", "h_n", "c_n" } : new[] { "logits", "h_n" };
            var feeds = inputs.Select((x, i) => x.DType == DType.Int64
                ? NamedOnnxValue.CreateFromTensor(names[i], new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(x.ToArray<long>(), x.Shape.ToArray()))
                : NamedOnnxValue.CreateFromTensor(names[i], new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(x.ToArray<float>(), x.Shape.ToArray()))).ToList();
            using var results = session.Run(feeds);
            for (int i = 0; i < outNames.Length; i++)
            {
                var r = results.First(v => v.Name == outNames[i]).AsTensor<float>();
                OrtCheck.AssertClose(expected[i], (r.Dimensions.ToArray(), r.ToArray().Select(v => (double)v).ToArray()), $"{kind} {outNames[i]} at ({t}, {b})");
            }
        }
        File.Delete(path);
    }

    [Fact]
    public void BadArgumentsAreUsageErrors()
    {
        var run = Path.Combine(fx.Root, "gru");
        var (code, _, err) = Run("export", run, OrtCheck.TempPath("opset"), "--opset", "9");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--opset", err);
        (code, _, err) = Run("export", run, fx.Root);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("is a folder", err);
        (code, _, err) = Run("export", Path.Combine(fx.Root, "no-such-run"), OrtCheck.TempPath("missing"));
        Assert.Equal(ExitCodes.Failure, code);
        (code, _, err) = Run("export", run, Path.Combine(fx.Root, "no-such-folder", "m.onnx"));
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("does not exist", err);
    }
}
