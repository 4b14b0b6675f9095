// Tests of sample, eval, info, demo and convert, run in-process on a tiny trained checkpoint.
using System.Globalization;
using Recurrent.Cli;
using Recurrent.Cli.Training;
using Recurrent.IO;
using Recurrent.IO.Torch;
using static Recurrent.Tests.Cli.CliTestSupport;

namespace Recurrent.Tests.Cli;

/// <summary>One tiny checkpoint shared by the tests of this class.</summary>
public sealed class TinyCheckpointFixture : IDisposable
{
    public TempDir Tmp { get; } = new();

    public string Data { get; }

    public string Run => Tmp["run"];

    public TinyCheckpointFixture()
    {
        Data = Tmp.WriteText("corpus.txt", Corpus(2000));
        var args = new TrainArguments
        {
            Data = Data, Out = Run, HiddenSize = 16, EmbeddingSize = 8, SeqLen = 16, BatchSize = 8, Steps = 30,
            EvalEvery = 30, LogEvery = 100, LearningRate = 0.01,
        };
        TrainOutcome o = Trainer.Run(args, Context().Context);
        if (o.Reason != StopReason.StepsDone) throw new InvalidOperationException("fixture training failed");
    }

    public void Dispose() => Tmp.Dispose();
}

public sealed class CommandTests(TinyCheckpointFixture fx) : IClassFixture<TinyCheckpointFixture>
{
    [Fact]
    public void TargetAccuracy_OnResumingATextRun_IsRefused()
    {
        // Refused when starting a --data run; a resume accepted it silently, and it did nothing.
        var r = Run("train", "--resume", "--out", fx.Run, "--target-accuracy", "0.5");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("--target-accuracy applies to the built-in task only", r.Error);
    }

    [Fact]
    public void SampleIsDeterministicForASeed()
    {
        var a = Run("sample", fx.Run, "--prompt", "the ", "--length", "80", "--seed", "5");
        var b = Run("sample", fx.Run, "--prompt", "the ", "--length", "80", "--seed", "5");
        var c = Run("sample", fx.Run, "--prompt", "the ", "--length", "80", "--seed", "6");
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(a.Out, b.Out);
        Assert.NotEqual(a.Out, c.Out);
        Assert.StartsWith("the ", a.Out);
        // Prompt, 80 generated characters (ASCII corpus), and a newline unless the last generated one is a newline.
        Assert.EndsWith("\n", a.Out);
        Assert.True(a.Out.Length == 84 || (a.Out.Length == 85 && a.Out[83] != '\n'), $"length {a.Out.Length}");
        // Every generated character comes from the training text's vocabulary.
        string corpus = File.ReadAllText(fx.Data);
        Assert.All(a.Out[..^1], ch => Assert.Contains(ch, corpus));
    }

    [Fact]
    public void GreedySamplingIgnoresTheSeed()
    {
        var a = Run("sample", fx.Run, "--prompt", "a", "--length", "40", "--temperature", "0", "--seed", "1");
        var b = Run("sample", fx.Run, "--prompt", "a", "--length", "40", "--temperature", "0", "--seed", "2");
        var k1 = Run("sample", fx.Run, "--prompt", "a", "--length", "40", "--top-k", "1", "--seed", "3");
        Assert.Equal(a.Out, b.Out);
        Assert.Equal(a.Out, k1.Out);
    }

    [Fact]
    public void SampleRejectsUnknownPromptCharactersAndBadOptions()
    {
        var r = Run("sample", fx.Run, "--prompt", "xyzé");
        Assert.Equal(ExitCodes.Usage, r.ExitCode);
        Assert.Contains("--prompt contains", r.Error);
        Assert.Single(r.ErrorLines);
        Assert.Equal(ExitCodes.Usage, Run("sample", fx.Run, "--temperature", "-1").ExitCode);
        Assert.Equal(ExitCodes.Usage, Run("sample", fx.Run, "--top-k", "-3").ExitCode);
    }

    [Fact]
    public void EvalOfTheWholeFileReportsNatsAndBitsPerCharacter()
    {
        var r = Run("eval", fx.Run, "--data", fx.Data, "--split", "all");
        Assert.Equal(0, r.ExitCode);
        var m = System.Text.RegularExpressions.Regex.Match(r.Out, @"loss (\d+\.\d+) nats/char, (\d+\.\d+) bits/char");
        Assert.True(m.Success, r.Out);
        double nats = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        double bits = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        Assert.Equal(nats / Math.Log(2), bits, 3);
        // Trained for a few steps: clearly better than uniform over the vocabulary.
        int vocab = File.ReadAllText(fx.Data).Distinct().Count();
        Assert.True(nats < Math.Log(vocab), $"loss {nats} vs uniform {Math.Log(vocab)}");
        int predicted = File.ReadAllText(fx.Data).Length - 1;
        Assert.Contains($"{predicted.ToString("N0", CultureInfo.InvariantCulture)} characters predicted", r.Out);
        Assert.Contains("all of it", r.Out);
    }

    [Fact]
    public void EvalOfTheRunsOwnDataDefaultsToTheValidationSplitAndMatchesTraining()
    {
        // Without --data, and with --data naming the same text: the validation split, scored as training scored it.
        var own = Run("eval", fx.Run);
        var named = Run("eval", fx.Run, "--data", fx.Data);
        Assert.Equal(0, own.ExitCode);
        Assert.Contains("validation split", own.Out);
        Assert.Equal(own.Out, named.Out);
        var ck = Recurrent.Cli.Checkpoints.CharLmCheckpoint.Load(fx.Run, forTraining: true);
        double trained = ck.State!.Evals[^1].Loss;
        Assert.Contains($"loss {trained.ToString("0.0000", CultureInfo.InvariantCulture)} nats/char", own.Out);
        int valChars = (int)Math.Round(File.ReadAllText(fx.Data).Length * 0.1);
        Assert.Contains($"{(valChars - 1).ToString("N0", CultureInfo.InvariantCulture)} characters predicted", own.Out);

        var train = Run("eval", fx.Run, "--split", "train");
        Assert.Equal(0, train.ExitCode);
        Assert.Contains("training split", train.Out);
        Assert.DoesNotContain($"loss {trained.ToString("0.0000", CultureInfo.InvariantCulture)} nats", train.Out);
    }

    [Fact]
    public void EvalOfAnotherFileScoresAllOfItAndHasNoSplit()
    {
        string other = fx.Tmp.WriteText("other.txt", "the cat sat on the mat.\nthe dog ran.\n");
        var r = Run("eval", fx.Run, "--data", other);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"'{other}': 36 characters predicted", r.Out);
        var split = Run("eval", fx.Run, "--data", other, "--split", "validation");
        Assert.Equal(ExitCodes.Usage, split.ExitCode);
        Assert.Contains("is not the text the checkpoint was trained on", split.Error);
        Assert.Single(split.ErrorLines);
    }

    [Fact]
    public void EvalShowsProgressOnATerminal()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var ctx = new CliContext(output, error, isTerminal: true, isErrorTerminal: true);
        Assert.Equal(0, CliApp.Run(["eval", fx.Run, "--split", "all", "--batch-size", "1"], ctx));
        Assert.Matches(@"\reval: +\d+ ?% \([\d,]+ / [\d,]+ characters\)", error.ToString());
        Assert.DoesNotContain("eval:", output.ToString()); // progress on stderr, the result alone on stdout
    }

    [Fact]
    public void EvalRejectsTextWithUnknownCharacters()
    {
        string other = fx.Tmp.WriteText("unknown.txt", "the cat sat on the QUIZ\n");
        var r = Run("eval", fx.Run, "--data", other);
        Assert.Equal(ExitCodes.Failure, r.ExitCode);
        Assert.Contains("'Q' (U+0051)", r.Error);
        Assert.Single(r.ErrorLines);
    }

    [Fact]
    public void InfoListsCheckpointTensors()
    {
        var r = Run("info", fx.Run);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("step 30", r.Out);
        Assert.Contains("model: lstm", r.Out);
        Assert.Matches(@"rnn\.weight_ih_l0\s+F32\s+\[64, 8\]", r.Out);
        Assert.Matches(@"fc\.bias\s+F32\s+\[\d+\]", r.Out);
        Assert.Contains("optimizer.safetensors", r.Out);
        Assert.Matches(@"state\.0\.step\s+I64\s+\[\]", r.Out);
    }

    [Fact]
    public void InfoListsASafetensorsFile()
    {
        string path = fx.Tmp["w.safetensors"];
        new SafeTensorsWriter().Add("a.weight", [2, 3], new float[6]).Add("ids", [4], new long[4]).AddMetadata("note", "hi").Save(path);
        var r = Run("info", path);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("(safetensors, 2 tensors)", r.Out);
        Assert.Matches(@"a\.weight\s+F32\s+\[2, 3\]", r.Out);
        Assert.Matches(@"ids\s+I64\s+\[4\]", r.Out);
        Assert.Contains("10 elements", r.Out);
        Assert.Contains("metadata note: hi", r.Out);
    }

    [SkippableFact]
    public void InfoAndConvertReadPyTorchFiles()
    {
        string pt = TestPaths.RequireRealCheckpoints("RWDavid__rnn-instrument-recognition__gru.pt");
        var info = Run("info", pt);
        Assert.Equal(0, info.ExitCode);
        Assert.Matches(@"gru\.weight_ih_l0\s+torch\.float32\s+\[48, 13\]", info.Out);

        string output = fx.Tmp["gru.safetensors"];
        var conv = Run("convert", pt, output);
        Assert.Equal(0, conv.ExitCode);
        var torch = TorchCheckpoint.Load(pt).StateDict();
        SafeTensorsFile st = SafeTensorsFile.Read(output);
        Assert.Equal(torch.Keys.Order(StringComparer.Ordinal), st.Names.Order(StringComparer.Ordinal));
        foreach (var (name, t) in torch)
        {
            Assert.Equal(t.GetShape(), st[name].ToShapeArray());
            Assert.Equal(t.ToFloat32Array(), st.GetFloat32(name));
        }
        Assert.Equal(ExitCodes.Usage, Run("convert", pt, fx.Tmp["x.bin"]).ExitCode);
    }

    [Fact]
    public void DemoListsAndRunsTheReluRnn()
    {
        var list = Run("demo");
        Assert.Equal(0, list.ExitCode);
        foreach (var d in Recurrent.Samples.Demos.All) Assert.Contains(d.Name, list.Out);
        var r = Run("demo", "relu-rnn");
        Assert.Equal(0, r.ExitCode);
        string flat = string.Concat(r.Out.Where(c => !char.IsWhiteSpace(c)));
        Assert.Contains("tensor([[[5.]],[[8.]],[[16.]],[[18.]]]", flat); // RNN output: 5, 8, 16, 18 as computed by hand
        Assert.Contains("thisishntensor([[[18.]]]", flat);
    }

    [Fact]
    public void Quantize_WritesASmallerInt8Checkpoint_ThatSampleAndEvalRun()
    {
        string q = fx.Tmp["run-int8"];
        var r = Run("quantize", fx.Run, q);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("smaller", r.Out);
        var s = Run("sample", q, "--prompt", "the ", "--length", "40", "--seed", "5");
        Assert.Equal(0, s.ExitCode);
        Assert.StartsWith("the ", s.Out);
        Assert.Equal(s.Out, Run("sample", q, "--prompt", "the ", "--length", "40", "--seed", "5").Out);
        var e = Run("eval", q, "--data", fx.Data);
        Assert.Equal(0, e.ExitCode);
        var ef = Run("eval", fx.Run, "--data", fx.Data);
        double Loss(string text) => double.Parse(System.Text.RegularExpressions.Regex.Match(text, @"loss[^0-9]*([0-9]+\.[0-9]+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(Loss(e.Out + e.Error) - Loss(ef.Out + ef.Error)) < 0.05, $"int8 {e.Out}{e.Error} vs float {ef.Out}{ef.Error}");
        // An int8 checkpoint cannot be resumed, and the output folder must be new.
        var again = Run("quantize", fx.Run, q);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("not empty", again.Error);
    }
}
