// LanguageModelStream: the logits of Embedding -> recurrent -> Linear through Forward, bit for bit (a prompt
// long enough for the tiled GEMM path, then single steps), every step's logits or the last one's, refusals,
// and no allocation per step.
using Recurrent.Nn;
using Recurrent.Quantization;

namespace Recurrent.Tests.Nn.Recurrent;

public class LanguageModelStreamTests
{
    private static (Embedding Emb, RecurrentBase Rnn, Linear Head) Model(string mode, int layers, DType dtype, int vocab = 23, int emb = 6, int hidden = 16)
    {
        var g = new Generator(21);
        var e = new Embedding(vocab, emb, dtype: dtype, generator: g);
        var r = RecurrentStreamTests.Make(mode, layers, 0, dtype, g, input: emb, hidden: hidden);
        var h = new Linear(hidden, vocab, dtype: dtype, generator: g);
        r.Eval();
        return (e, r, h);
    }

    // The reference: the modules' Forward calls on (T, B) token ids from a state.
    private static (Tensor Logits, RecurrentState State) Forward((Embedding Emb, RecurrentBase Rnn, Linear Head) m, long[] ids, int batch, RecurrentState? state)
    {
        var x = m.Emb.Forward(Tensor.FromArray(ids, ids.Length / batch, batch));
        var (o, s) = m.Rnn.Forward(x, state);
        return (m.Head.Forward(o), s);
    }

    [Theory]
    [InlineData("lstm", 1, DType.Float32, 1)]
    [InlineData("lstm", 2, DType.Float32, 3)]
    [InlineData("gru", 1, DType.Float32, 2)]
    [InlineData("tanh", 2, DType.Float64, 1)]
    public void Logits_EqualForward_ForAPromptAndTheStepsAfterIt(string mode, int layers, DType dtype, int batch)
    {
        var m = Model(mode, layers, dtype);
        var g = new Generator(22);
        long[] prompt = Enumerable.Range(0, 13 * batch).Select(_ => g.NextLong(23)).ToArray();   // 13 steps: more than 8 rows
        using var _ = new NoGrad();
        var (refLogits, refState) = Forward(m, prompt, batch, null);

        var stream = new LanguageModelStream(m.Emb, m.Rnn, m.Head, batch);
        Assert.Equal(23, stream.VocabSize);
        var all = Tensor.Zeros([13, batch, 23], dtype);
        var last = Tensor.Zeros([batch, 23], dtype);
        if (dtype == DType.Float32) stream.Run(prompt, all.AsSpan<float>()); else stream.Run(prompt, all.AsSpan<double>());
        Assert.Equal(refLogits.ToArray<double>(), all.ToArray<double>());
        stream.Reset();
        if (dtype == DType.Float32) stream.Run(prompt, last.AsSpan<float>()); else stream.Run(prompt, last.AsSpan<double>());
        Assert.Equal(refLogits.Select(0, 12).ToArray<double>(), last.ToArray<double>());
        Assert.Equal(13, stream.Position);

        RecurrentState state = refState;
        for (int t = 0; t < 6; t++)
        {
            long[] ids = Enumerable.Range(0, batch).Select(_ => g.NextLong(23)).ToArray();
            var (expected, next) = Forward(m, ids, batch, state);
            state = next;
            var logits = Tensor.Zeros([batch, 23], dtype);
            if (dtype == DType.Float32) stream.Step(ids, logits.AsSpan<float>()); else stream.Step(ids, logits.AsSpan<double>());
            Assert.Equal(expected.ToArray<double>(), logits.ToArray<double>());
        }
        Assert.Equal(state.H.ToArray<double>(), stream.State.H.ToArray<double>());
    }

    [Fact]
    public void Int8RecurrentAndHead_GiveTheLogitsOfForward()
    {
        var m = Model("lstm", 2, DType.Float32);
        Quantizer.QuantizeDynamic(m.Rnn);
        Quantizer.QuantizeDynamic(m.Head);
        m.Rnn.Eval(); m.Head.Eval();
        var g = new Generator(23);
        long[] prompt = Enumerable.Range(0, 12).Select(_ => g.NextLong(23)).ToArray();
        var (refLogits, refState) = Forward(m, prompt, 1, null);
        var stream = new LanguageModelStream(m.Emb, m.Rnn, m.Head);
        var last = new float[23];
        stream.Run(prompt, last);
        Assert.Equal(refLogits.Select(0, 11).ToArray<float>(), last);
        var (next, _) = Forward(m, [5], 1, refState);
        stream.Step([5], last);
        Assert.Equal(next.ToArray<float>(), last);
    }

    [Fact]
    public void Refusals_NameTheProblem()
    {
        var (e, r, h) = Model("lstm", 1, DType.Float32);
        var stream = new LanguageModelStream(e, r, h);
        var id = Assert.Throws<ArgumentOutOfRangeException>(() => stream.Step([23], new float[23]));
        Assert.Equal("tokens", id.ParamName);
        Assert.Contains("embedding index 23 is not in [0, 23)", id.Message);
        Assert.Equal(0, stream.Position);
        var len = Assert.Throws<ArgumentException>(() => stream.Run([1, 2, 3], new float[5]));
        Assert.Contains("expected 69 values", len.Message);
        Assert.Contains("or 23 (the last step only)", len.Message);

        var g = new Generator(3);
        var wrongEmb = new Embedding(23, 5, generator: g);
        Assert.Contains("Expected 6, got 5", Assert.Throws<ArgumentException>(() => new LanguageModelStream(wrongEmb, r, h)).Message);
        var maxNorm = new Embedding(23, 6, maxNorm: 1.0, generator: g);
        Assert.Contains("max_norm", Assert.Throws<ArgumentException>(() => new LanguageModelStream(maxNorm, r, h)).Message);
        var wrongHead = new Linear(15, 23, generator: g);
        Assert.Contains("Expected 16, got 15", Assert.Throws<ArgumentException>(() => new LanguageModelStream(e, r, wrongHead)).Message);
        var dbl = new Linear(16, 23, dtype: DType.Float64, generator: g);
        Assert.Contains("share one dtype", Assert.Throws<ArgumentException>(() => new LanguageModelStream(e, r, dbl)).Message);
    }

    [Fact]
    public void ARunTooLongForOneArray_IsRefused_AndTheStateStaysPut()
    {
        // 2^21 steps of 1024 embedding values need 2^31 scratch values, past Array.MaxLength (16 MB of ids to feed).
        var g = new Generator(23);
        var wide = (new Embedding(2, 1024, generator: g), RecurrentStreamTests.Make("gru", 1, 0, DType.Float32, g, input: 1024, hidden: 4), new Linear(4, 2, generator: g));
        wide.Item2.Eval();
        var stream = new LanguageModelStream(wide.Item1, wide.Item2, wide.Item3);
        var e = Assert.Throws<ArgumentException>(() => stream.Run(new long[1 << 21], new float[2]));
        Assert.Equal("tokens", e.ParamName);
        Assert.Contains("2147483648 scratch values", e.Message);
        Assert.Equal(0, stream.Position);

        // The last step's logits of 2^16 steps over a vocabulary of 2^15 need 2^31 values too; the other buffers are
        // small, so the refusal must come before the steps run (it came after them, with the state moved).
        var tall = (new Embedding(1 << 15, 4, generator: g), RecurrentStreamTests.Make("lstm", 1, 0, DType.Float32, g, input: 4, hidden: 4), new Linear(4, 1 << 15, generator: g));
        tall.Item2.Eval();
        stream = new LanguageModelStream(tall.Item1, tall.Item2, tall.Item3);
        stream.Step([5], new float[1 << 15]);
        e = Assert.Throws<ArgumentException>(() => stream.Run(new long[1 << 16], new float[1 << 15]));
        Assert.Equal("tokens", e.ParamName);
        Assert.Contains("2147483648 scratch values", e.Message);
        Assert.Equal(1, stream.Position);
        var after = new float[1 << 15];
        stream.Step([5], after);
        var reference = new LanguageModelStream(tall.Item1, tall.Item2, tall.Item3);
        var expected = new float[1 << 15];
        reference.Step([5], expected);
        reference.Step([5], expected);
        Assert.Equal(expected, after);               // the state was still the one after the first step
    }

    [Fact]
    public void Step_AllocatesNothing_AfterWarmUp()
    {
        var (e, r, h) = Model("lstm", 1, DType.Float32, vocab: 65, emb: 64, hidden: 128);
        var stream = new LanguageModelStream(e, r, h);
        var logits = new float[65];
        var token = new long[1];
        stream.Run([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], logits);
        for (int i = 0; i < 300; i++) { token[0] = i % 65; stream.Step(token, logits); }
        int next = 0;
        Assert.Equal(0, RecurrentStreamTests.AllocatedWhileCollecting(() => { token[0] = next++ % 65; stream.Step(token, logits); }));
    }
}
