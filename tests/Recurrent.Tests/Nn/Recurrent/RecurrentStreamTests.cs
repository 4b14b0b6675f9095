// RecurrentStream: step-by-step inference equals Forward bit for bit (one step at a time and several at
// once, every mode, layers, projections, float and double, batched and unbatched), carries and exposes
// its state, follows weights loaded in place, refuses what it cannot do with clear messages, and
// allocates nothing per step once warm.
using Recurrent.Nn;
using Recurrent.Quantization;

namespace Recurrent.Tests.Nn.Recurrent;

public class RecurrentStreamTests
{
    public static TheoryData<string, int, int, DType> Models()
    {
        var data = new TheoryData<string, int, int, DType>();
        foreach (var mode in new[] { "tanh", "relu", "lstm", "gru" })
            foreach (int layers in new[] { 1, 3 })
                data.Add(mode, layers, 0, DType.Float32);
        data.Add("lstm", 2, 4, DType.Float32);   // projections
        data.Add("lstm", 1, 3, DType.Float32);
        data.Add("lstm", 2, 0, DType.Float64);
        data.Add("gru", 1, 0, DType.Float64);
        return data;
    }

    internal static RecurrentBase Make(string mode, int layers, int proj, DType dtype, Generator g, int input = 5, int hidden = 7,
        bool batchFirst = false, double dropout = 0) => mode switch
    {
        "lstm" => new Lstm(input, hidden, layers, batchFirst: batchFirst, dropout: dropout, projSize: proj, dtype: dtype, generator: g),
        "gru" => new Gru(input, hidden, layers, batchFirst: batchFirst, dropout: dropout, dtype: dtype, generator: g),
        _ => new Rnn(input, hidden, layers, mode, batchFirst: batchFirst, dropout: dropout, dtype: dtype, generator: g),
    };

    private static double[] D(Tensor t) => t.ToArray<double>();

    [Theory]
    [MemberData(nameof(Models))]
    public void StepByStep_EqualsForwardStepByStep_AndRunEqualsForwardOverTheSequence(string mode, int layers, int proj, DType dtype)
    {
        var g = new Generator(7);
        var m = Make(mode, layers, proj, dtype, g);
        m.Eval();
        const int steps = 11, batch = 3;
        var x = Tensor.Randn([steps, batch, 5], dtype, g);
        using var _ = new NoGrad();

        // Forward one step at a time, carrying the state, and Forward over the whole sequence.
        var outs = new List<Tensor>();
        RecurrentState? state = null;
        for (int t = 0; t < steps; t++)
        {
            var (o, s) = m.Forward(x.Narrow(0, t, 1).Contiguous(), state);
            outs.Add(o);
            state = s;
        }
        var (whole, wholeState) = m.Forward(x);

        var stream = m.CreateStream(batch);
        Assert.Equal(batch, stream.BatchSize);
        Assert.Equal(m.OutputSize, stream.OutputSize);
        for (int t = 0; t < steps; t++)
        {
            var xt = x.Select(0, t).Contiguous();
            var yt = Tensor.Zeros([batch, stream.OutputSize], dtype);
            if (dtype == DType.Float32) stream.Step(xt.AsSpan<float>(), yt.AsSpan<float>());
            else stream.Step(xt.AsSpan<double>(), yt.AsSpan<double>());
            Assert.Equal(D(outs[t]), D(yt));
        }
        Assert.Equal(steps, stream.Position);
        Assert.Equal(D(state!.Value.H), D(stream.State.H));
        if (mode == "lstm") Assert.Equal(D(state.Value.C!), D(stream.State.C!));
        else Assert.Null(stream.State.C);

        // T steps in one call: the same bits as Forward over the sequence.
        stream.Reset();
        Assert.Equal(0, stream.Position);
        Assert.All(D(stream.State.H), v => Assert.Equal(0.0, v));
        var y = stream.Run(x);
        Assert.Equal(D(whole), D(y));
        Assert.Equal(D(wholeState.H), D(stream.State.H));
        Assert.Contains(D(y), v => v != 0);
    }

    [Theory]
    [InlineData("lstm", 1, 0)]
    [InlineData("lstm", 2, 3)]
    [InlineData("gru", 2, 0)]
    [InlineData("tanh", 1, 0)]
    public void Int8Modules_StreamThroughTheInt8Kernel_AsTheirForward(string mode, int layers, int proj)
    {
        var g = new Generator(17);
        var m = Quantizer.QuantizeDynamic(Make(mode, layers, proj, DType.Float32, g));
        m.Eval();
        Assert.True(m.IsQuantized);
        const int steps = 10, batch = 2;
        var x = Tensor.Randn([steps, batch, 5], generator: g);
        var stream = m.CreateStream(batch);
        Assert.Equal(DType.Float32, stream.DType);
        RecurrentState? state = null;
        for (int t = 0; t < steps; t++)
        {
            var (o, s) = m.Forward(x.Narrow(0, t, 1).Contiguous(), state);
            state = s;
            var y = new float[batch * stream.OutputSize];
            stream.Step(x.Select(0, t).Contiguous().AsSpan<float>(), y);
            Assert.Equal(o.ToArray<float>(), y);
        }
        Assert.Equal(state!.Value.H.ToArray<float>(), stream.State.H.ToArray<float>());
        stream.Reset();
        var (whole, _) = m.Forward(x);
        Assert.Equal(whole.ToArray<float>(), stream.Run(x).ToArray<float>());

        m.Train();
        Assert.Contains("quantized for inference", Assert.Throws<InvalidOperationException>(() => stream.Step(new float[10], new float[batch * stream.OutputSize])).Message);
    }

    [Fact]
    public void RunThenSteps_ContinuesFromTheState_AsForwardWithAGivenState()
    {
        var g = new Generator(8);
        var m = (Lstm)Make("lstm", 2, 0, DType.Float32, g);
        m.Eval();
        var x = Tensor.Randn([9, 2, 5], generator: g);
        using var _ = new NoGrad();
        var (_, s1) = m.Forward(x.Narrow(0, 0, 6));
        var (o2, s2) = m.Forward(x.Narrow(0, 6, 3), (s1.H, s1.C));

        var stream = m.CreateStream(2);
        var y1 = new float[6 * 2 * 7];
        stream.Run(x.Narrow(0, 0, 6).Contiguous().AsSpan<float>(), y1);
        var y2 = new float[3 * 2 * 7];
        var x2 = x.Narrow(0, 6, 3).Contiguous().ToArray<float>();
        for (int t = 0; t < 3; t++) stream.Step(x2.AsSpan(t * 10, 10), y2.AsSpan(t * 14, 14));
        Assert.Equal(o2.ToArray<float>(), y2);
        Assert.Equal(s2.H.ToArray<float>(), stream.State.H.ToArray<float>());
        Assert.Equal(s2.C.ToArray<float>(), stream.State.C!.ToArray<float>());
        Assert.Equal(9, stream.Position);
    }

    [Fact]
    public void SettingTheState_StartsFromIt_BatchedOrUnbatched()
    {
        var g = new Generator(9);
        var m = Make("gru", 2, 0, DType.Float32, g);
        m.Eval();
        var x = Tensor.Randn([4, 5], generator: g);          // unbatched (T, I)
        var h0 = Tensor.Randn([2, 7], generator: g);          // unbatched (L, H)
        using var _ = new NoGrad();
        var (o, s) = m.Forward(x, new RecurrentState(h0));

        var stream = m.CreateStream();
        stream.Step(new float[5], new float[7]);
        stream.State = new RecurrentState(h0);
        Assert.Equal(0, stream.Position);
        var y = stream.Run(x);                                 // (T, H) for (T, I)
        Assert.Equal([4, 7], y.Shape.ToArray());
        Assert.Equal(o.ToArray<float>(), y.ToArray<float>());
        Assert.Equal([2, 1, 7], stream.State.H.Shape.ToArray());
        Assert.Equal(s.H.ToArray<float>(), stream.State.H.ToArray<float>());

        // The state is a copy: changing it does not move the stream.
        var copy = stream.State.H;
        copy.Fill_(5);
        Assert.Equal(s.H.ToArray<float>(), stream.State.H.ToArray<float>());
    }

    [Fact]
    public void TensorOverloads_HonourUnbatchedInputAndBatchFirst()
    {
        var g = new Generator(10);
        var m = Make("lstm", 1, 0, DType.Float32, g, batchFirst: true);
        m.Eval();
        var x = Tensor.Randn([2, 5, 5], generator: g);         // (B, T, I): batch_first
        using var noGrad = new NoGrad();
        var (o, _) = m.Forward(x);
        var stream = m.CreateStream(2);
        var y = stream.Run(x);
        Assert.Equal([2, 5, 7], y.Shape.ToArray());
        Assert.Equal(o.ToArray<float>(), y.ToArray<float>());

        var single = m.CreateStream();
        var xt = Tensor.Randn([5], generator: g);
        var (o1, _) = m.Forward(xt.View(1, 1, 5));
        var y1 = single.Step(xt);                              // (I) -> (H_out)
        Assert.Equal([7], y1.Shape.ToArray());
        Assert.Equal(o1.ToArray<float>(), y1.ToArray<float>());
        Assert.False(y1.RequiresGrad);
    }

    [Fact]
    public void WeightsLoadedInPlace_AreUsedFromTheNextStep()
    {
        var g = new Generator(11);
        var a = Make("lstm", 1, 0, DType.Float32, g);
        var b = Make("lstm", 1, 0, DType.Float32, g);
        a.Eval(); b.Eval();
        var x = new float[5];
        for (int i = 0; i < 5; i++) x[i] = 0.1f * (i + 1);
        var stream = a.CreateStream();
        var before = new float[7];
        stream.Step(x, before);
        a.LoadStateDict(b.StateDict());
        var viaStream = new float[7];
        stream.Reset();
        stream.Step(x, viaStream);
        var expected = b.CreateStream();
        var viaB = new float[7];
        expected.Step(x, viaB);
        Assert.Equal(viaB, viaStream);
        Assert.NotEqual(before, viaStream);
    }

    [Fact]
    public void Refusals_NameTheProblemAndTheFix()
    {
        var g = new Generator(12);
        var bi = new Gru(5, 7, bidirectional: true, generator: g);
        var e = Assert.Throws<ArgumentException>(() => bi.CreateStream());
        Assert.Contains("bidirectional", e.Message);
        Assert.Contains("Expected bidirectional: false, got true", e.Message);
        Assert.Equal("module", e.ParamName);

        var m = Make("lstm", 2, 0, DType.Float32, g, dropout: 0.5);
        var r = Assert.Throws<ArgumentOutOfRangeException>(() => m.CreateStream(0));
        Assert.Contains("Expected >= 1, got 0", r.Message);

        var stream = m.CreateStream(2);
        var train = Assert.Throws<InvalidOperationException>(() => stream.Step(new float[10], new float[14]));
        Assert.Contains("training mode with dropout=0.5", train.Message);
        Assert.Contains("Eval()", train.Message);
        m.Eval();
        stream.Step(new float[10], new float[14]);

        var len = Assert.Throws<ArgumentException>(() => stream.Step(new float[9], new float[14]));
        Assert.Contains("expected 2 rows of 5 values (10)", len.Message);
        Assert.Contains("got 9", len.Message);
        var outLen = Assert.Throws<ArgumentException>(() => stream.Step(new float[10], new float[13]));
        Assert.Contains("expected 2 rows of 7 values (14)", outLen.Message);
        var whole = Assert.Throws<ArgumentException>(() => stream.Run(new float[15], new float[21]));
        Assert.Contains("whole number of steps", whole.Message);
        var spanType = Assert.Throws<InvalidOperationException>(() => stream.Step(new double[10], new double[14]));
        Assert.Contains("torch.float32", spanType.Message);
        var tensorType = Assert.Throws<ArgumentException>(() => stream.Step(Tensor.Zeros([2, 5], DType.Float64)));
        Assert.Contains("To(DType.Float32)", tensorType.Message);
        var shape = Assert.Throws<ArgumentException>(() => stream.Step(Tensor.Zeros(5)));
        Assert.Contains("expected shape [2, 5]", shape.Message);
        var noC = Assert.Throws<ArgumentException>(() => stream.State = new RecurrentState(Tensor.Zeros(2, 2, 7)));
        Assert.Contains("State.C must be given", noC.Message);
        var badH = Assert.Throws<ArgumentException>(() => stream.State = new RecurrentState(Tensor.Zeros(2, 3, 7), Tensor.Zeros(2, 2, 7)));
        Assert.Contains("expected shape [2, 2, 7], got [2, 3, 7]", badH.Message);

        // A failed step leaves the state as it was.
        var h = stream.State.H.ToArray<float>();
        Assert.ThrowsAny<ArgumentException>(() => stream.Step(new float[10], new float[1]));
        Assert.Equal(h, stream.State.H.ToArray<float>());

        m.To(DType.Float64);
        var converted = Assert.Throws<InvalidOperationException>(() => stream.Step(new float[10], new float[14]));
        Assert.Contains("converted from torch.float32 to torch.float64", converted.Message);
        Assert.Contains("CreateStream()", converted.Message);
    }

    [Fact]
    public void AnOutputLengthPastIntsRange_IsRefused_NotWrapped()
    {
        // 2^22 steps of 1024 outputs need 2^32 output values: counted in int, the count wrapped to 0 and an empty span
        // passed the stream's check (the kernel's own check then refused it, naming its internal "y").
        var m = Make("tanh", 1, 0, DType.Float32, new Generator(13), input: 1, hidden: 1024);
        m.Eval();
        var stream = m.CreateStream();
        var e = Assert.Throws<ArgumentException>(() => stream.Run(new float[1 << 22], Span<float>.Empty));
        Assert.Equal("output", e.ParamName);
        Assert.Contains("expected 4194304 rows of 1024 values (4294967296)", e.Message);
        Assert.Contains("got 0 values", e.Message);
        Assert.Equal(0, stream.Position);
    }

    public static TheoryData<string, int, int, int> AllocationCases() => new()
    {
        { "lstm", 1, 0, 1 },     // the issue's case: LSTM, hidden 128, batch 1
        { "lstm", 2, 0, 1 },     // a stack: the task-graph schedule
        { "lstm", 1, 32, 4 },    // projections, batch 4
        { "gru", 1, 0, 1 },
        { "tanh", 1, 0, 1 },
        { "gru", 2, 0, 8 },
        { "int8 lstm", 1, 0, 1 },
    };

    [Theory]
    [MemberData(nameof(AllocationCases))]
    public void Step_AllocatesNothing_AfterWarmUp(string mode, int layers, int proj, int batch)
    {
        var g = new Generator(13);
        bool int8 = mode.StartsWith("int8 ", StringComparison.Ordinal);
        var m = Make(int8 ? mode[5..] : mode, layers, proj, DType.Float32, g, input: 64, hidden: 128);
        if (int8) Quantizer.QuantizeDynamic(m);
        m.Eval();
        var stream = m.CreateStream(batch);
        var x = Tensor.Randn([batch * 64], generator: g).ToArray<float>();
        var y = new float[batch * stream.OutputSize];
        var prompt = Tensor.Randn([10 * batch * 64], generator: g).ToArray<float>();
        var promptOut = new float[10 * batch * stream.OutputSize];
        for (int i = 0; i < 300; i++) stream.Step(x, y);       // warm-up: the JIT's tiers, the per-thread scratch
        stream.Run(prompt, promptOut);
        // Steps only: a multi-step Run may split a product over the worker team, and the first split on a thread creates
        // that thread's job object (once, at a time that depends on whether the team happens to be awake).
        long bytes = AllocatedWhileCollecting(() => stream.Step(x, y));
        if (bytes != 0 && !int8)
        {
            // Tell the stream's own allocations from the kernel's and from the measurement's.
            var again = Enumerable.Range(0, 3).Select(_ => MeasureWhileCollecting(() => stream.Step(x, y))).ToArray();
            var w = m.FlatWeights.SelectMany(t => t.ToArray<float>()).ToArray();
            var h0 = new float[layers * batch * stream.OutputSize]; var hN = new float[h0.Length];
            var c0 = mode == "lstm" ? new float[layers * batch * 128] : []; var cN = new float[c0.Length];
            var sizes = m.Sizes;
            int[] bs = [batch];
            var kernel = Enumerable.Range(0, 3).Select(_ => MeasureWhileCollecting(
                () => global::Recurrent.Kernels.RecurrentKernels.StackForward<float>(y, hN, cN, [], x, h0, c0, w, sizes, bs))).ToArray();
            var empty = Enumerable.Range(0, 3).Select(_ => MeasureWhileCollecting(() => { })).ToArray();
            Assert.Fail($"{bytes} B allocated over the steps; measured again: {string.Join(", ", again)}; the kernel alone: " +
                $"{string.Join(", ", kernel)}; an empty action: {string.Join(", ", empty)}");
        }
        Assert.Equal(0, bytes);
        Assert.Contains(y, v => v != 0);
    }

    /// <summary>
    /// Bytes this thread allocates over at least 1,000 calls of <paramref name="step"/> while another thread keeps the GC
    /// collecting, as in a busy server (until at least 3 collections happened): the least of two such measurements taken
    /// after a first one. The first lets the measuring code itself warm up (its own JIT tiers and on-stack replacement run
    /// on this thread); a steady allocation per step, or after each collection (caches the GC may drop: reflection
    /// metadata, weakly held objects), shows up in every one, so the least still sees it, while a one-off allocation in
    /// one of them does not fail the test. (With the most of the two, one full-solution run on 2 cores failed once out
    /// of about ten and passed on every re-run; its message was not captured.)
    /// </summary>
    internal static long AllocatedWhileCollecting(Action step)
    {
        MeasureWhileCollecting(step);
        return Math.Min(MeasureWhileCollecting(step), MeasureWhileCollecting(step));
    }

    internal static long MeasureWhileCollecting(Action step)
    {
        bool stop = false;
        var noise = new Thread(() =>
        {
            var keep = new List<byte[]>();
            while (!Volatile.Read(ref stop))
            {
                keep.Add(new byte[4096]);
                if (keep.Count == 256) { keep.Clear(); GC.Collect(0); }
            }
        }) { IsBackground = true };
        int gcs = GC.CollectionCount(0);
        noise.Start();
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            for (int i = 0; i < 200_000 && (i < 1000 || GC.CollectionCount(0) - gcs < 3); i++) step();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        finally
        {
            Volatile.Write(ref stop, true);
            noise.Join();
            Assert.True(GC.CollectionCount(0) - gcs >= 3, "the measurement saw fewer than 3 collections");
        }
    }
}
