// The README's quick tour, kept compiling and running (and its claims checked).
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Docs;

public class ReadmeTests
{
    [Fact]
    public void QuickTourRuns()
    {
        var lstm = new Lstm(inputSize: 20, hiddenSize: 50, numLayers: 2);
        var x = Tensor.Randn(100, 32, 20);
        var (output, (hN, cN)) = lstm.Forward(x);
        Assert.Equal(new[] { 100, 32, 50 }, output.Shape);
        Assert.Equal(new[] { 2, 32, 50 }, cN.Shape);
        Assert.Equal(new[] { "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0" }, lstm.StateDict().Keys.Take(4));

        var padded = Tensor.Randn(3, 7, 20);
        var packed = PackedSequence.FromPadded(padded, new long[] { 7, 2, 5 }, batchFirst: true, enforceSorted: false);
        var gru = new Gru(20, 16, batchFirst: true, bidirectional: true);
        var (packedOut, h) = gru.Forward(packed);
        var (unpacked, lengths) = RnnUtils.PadPackedSequence(packedOut, batchFirst: true);
        var lastForward = h.LayerState(layer: 0, direction: 0, bidirectional: true);
        Assert.Equal(new[] { 3, 7, 32 }, unpacked.Shape);
        Assert.Equal(new long[] { 7, 2, 5 }, lengths.ToArray<long>());
        // The forward direction's final state is the output at each sequence's own last step.
        Fixture(lastForward.Select(0, 1), unpacked.Select(0, 1).Select(0, 1).Narrow(0, 0, 16));

        var emb = new Embedding(4, 10);
        var fc = new Linear(16, 4);
        var optimizer = new Adam(gru.Parameters().Concat(emb.Parameters()).Concat(fc.Parameters()), lr: 0.05);
        Assert.Equal(gru.Parameters().Count() + 3, optimizer.ParamGroups[0].Params.Count);
        hN.Sum().Backward();

        var sgd = new Sgd(lstm.Parameters(), lr: 0.01);
        var losses = new List<double>();
        for (int step = 0; step < 3; step++)
        {
            using var scope = Tensor.NewDisposeScope();
            sgd.ZeroGrad();
            var (y, _) = lstm.Forward(x);
            var loss = y.Pow(2).Mean();
            loss.Backward();
            sgd.Step();
            losses.Add(loss.ToDouble());
        }
        // The claims: the loop trains (the loss falls) and what the library keeps survives the scopes.
        Assert.True(losses[2] < losses[0], string.Join(", ", losses));
        Assert.All(lstm.Parameters(), p => Assert.False(p.IsDisposed || p.Grad!.IsDisposed));
    }

    [Fact]
    public void StreamingExampleRuns()
    {
        var lstm = new Lstm(inputSize: 64, hiddenSize: 128);
        lstm.Eval();
        var stream = lstm.CreateStream(batchSize: 1);
        var x = new float[64];
        var y = new float[128];
        var frames = Tensor.Randn(20, 1, 64);
        for (int t = 0; t < 20; t++)
        {
            frames.Select(0, t).ToArray<float>().CopyTo(x, 0);
            stream.Step(x, y);
        }
        RecurrentState state = stream.State;
        Assert.Equal(new[] { 1, 1, 128 }, state.H.Shape);
        Assert.Equal(new[] { 1, 1, 128 }, state.C!.Shape);
        // The claims: one step is Forward on that step from the carried state, bit for bit; over the whole sequence at
        // once Forward projects all inputs in one larger product, so it agrees to rounding only.
        using (new NoGrad())
        {
            (Tensor H, Tensor C)? carried = null;
            Tensor last = null!;
            for (int t = 0; t < 20; t++) (last, carried) = lstm.Forward(frames.Narrow(0, t, 1), carried);
            Assert.Equal(last.ToArray<float>(), y);
            Assert.Equal(carried!.Value.C.ToArray<float>(), state.C.ToArray<float>());
            var (whole, _) = lstm.Forward(frames);
            var w = whole.Select(0, 19).ToArray<float>();
            for (int i = 0; i < y.Length; i++) Assert.Equal(w[i], y[i], 5e-6f);
        }
        stream.Reset();
        Assert.All(stream.State.H.ToArray<float>(), v => Assert.Equal(0f, v));
        stream.State = state;
        Assert.Equal(state.H.ToArray<float>(), stream.State.H.ToArray<float>());

        var lm = new LanguageModelStream(new Embedding(65, 64), lstm, new Linear(128, 65));
        var logits = new float[lm.VocabSize];
        lm.Run([12, 40, 7], logits);
        lm.Step([9], logits);
        Assert.Equal(4, lm.Position);
        Assert.Contains(logits, v => v != 0);
    }

    private static void Fixture(Tensor a, Tensor b) => Parity.Fixture.Compare("readme", a, b);

    /// <summary>The code between <c>// README:name</c> and <c>// README:end</c> in ReadmeExample.cs, without its common indentation.</summary>
    private static string Region(string[] lines, string name)
    {
        int start = Array.FindIndex(lines, l => l.Trim() == "// README:" + name);
        Assert.True(start >= 0, $"no README:{name} region");
        int end = Array.FindIndex(lines, start + 1, l => l.Trim() == "// README:end");
        var body = lines[(start + 1)..end];
        int indent = body.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join("\n", body.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
    }

    [Fact]
    public void EndToEndExampleIsTheReadmesAndRuns()
    {
        var lines = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "tests", "Recurrent.Tests", "Docs", "ReadmeExample.cs"));
        string code = Region(lines, "usings") + "\n\n" + Region(lines, "program") + "\n\n" + Region(lines, "model");
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md")).Replace("\r\n", "\n");
        Assert.True(readme.Contains("```csharp\n" + code + "\n```\n", StringComparison.Ordinal),
            "README.md's end-to-end example differs from tests/Recurrent.Tests/Docs/ReadmeExample.cs; paste this block:\n" + code);

        var (accuracy, parallel, serial) = ReadmeExample.Run();
        // The claims: it learns (the majority class is about half), and threads predict what one thread does.
        Assert.True(accuracy >= 0.9, $"held-out accuracy {accuracy}");
        Assert.Equal(serial, parallel);
    }
}
