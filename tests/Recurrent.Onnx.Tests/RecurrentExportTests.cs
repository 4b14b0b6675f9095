// Every option of Rnn / Lstm / Gru and the three cells, exported and run in ONNX Runtime at two batch sizes and two
// sequence lengths besides the example's; outputs (output, h_n, c_n) must equal Recurrent's.
using Recurrent.Kernels;
using Recurrent.Nn;

namespace Recurrent.Onnx.Tests;

public class RecurrentExportTests
{
    public static TheoryData<string, bool, int, bool, bool, bool> DenseCases()
    {
        var data = new TheoryData<string, bool, int, bool, bool, bool>();
        foreach (var mode in new[] { "rnn_tanh", "rnn_relu", "lstm", "gru" })
            foreach (var bias in new[] { true, false })
                foreach (var layers in new[] { 1, 2 })
                    foreach (var bidirectional in new[] { false, true })
                        foreach (var batchFirst in new[] { false, true })
                            foreach (var state in new[] { false, true })
                                data.Add(mode, bias, layers, bidirectional, batchFirst, state);
        return data;
    }

    internal static RecurrentBase Make(string mode, int input, int hidden, int layers = 1, bool bias = true, bool batchFirst = false,
        bool bidirectional = false, ulong seed = 1, double dropout = 0)
    {
        var g = new Generator(seed);
        RecurrentBase m = mode switch
        {
            "lstm" => new Lstm(input, hidden, layers, bias, batchFirst, dropout, bidirectional, generator: g),
            "gru" => new Gru(input, hidden, layers, bias, batchFirst, dropout, bidirectional, generator: g),
            _ => new Rnn(input, hidden, layers, mode == "rnn_relu" ? "relu" : "tanh", bias, batchFirst, dropout, bidirectional, generator: g),
        };
        m.Eval();
        return m;
    }

    /// <summary>(seq, batch) pairs: the example first, then two more batch sizes and sequence lengths.</summary>
    internal static readonly (int T, int B)[] Sizes = [(5, 3), (7, 2), (2, 4)];

    private static Tensor Input(int t, int b, int features, bool batchFirst, Generator g) =>
        batchFirst ? Tensor.Randn([b, t, features], generator: g) : Tensor.Randn([t, b, features], generator: g);

    [Theory]
    [MemberData(nameof(DenseCases))]
    public void Dense(string mode, bool bias, int layers, bool bidirectional, bool batchFirst, bool state)
    {
        const int I = 4, H = 6;
        var m = Make(mode, I, H, layers, bias, batchFirst, bidirectional);
        bool lstm = m.Mode == RnnMode.Lstm;
        int rows = layers * (bidirectional ? 2 : 1);
        var g = new Generator(7);
        Tensor[] Inputs(int t, int b)
        {
            var list = new List<Tensor> { Input(t, b, I, batchFirst, g) };
            if (state) { list.Add(Tensor.Randn([rows, b, H], generator: g)); if (lstm) list.Add(Tensor.Randn([rows, b, H], generator: g)); }
            return list.ToArray();
        }
        Tensor[] Forward(Tensor[] xs)
        {
            RecurrentState? s = state ? new RecurrentState(xs[1], lstm ? xs[2] : null) : null;
            var (o, st) = m.Forward(xs[0], s);
            return lstm ? [o, st.H, st.C!] : [o, st.H];
        }
        var result = OrtCheck.ExportAndVerify($"dense-{mode}", Forward, Inputs(Sizes[0].T, Sizes[0].B),
            Sizes.Skip(1).Select(s => Inputs(s.T, s.B)), new OnnxExportOptions { Module = m });
        string op = lstm ? "LSTM" : m.Mode == RnnMode.Gru ? "GRU" : "RNN";
        Assert.Equal(layers, result.NodeCounts[op]);                     // one node per layer, both directions in it
        Assert.Contains("W_l0", result.InitializerNames.First(n => n.Contains("W_l0")));
        // Batch and sequence are dynamic in the declared input; features and layers x directions are not.
        var x = result.Inputs[0];
        Assert.Equal("4", x.Dims[2]);
        Assert.False(long.TryParse(x.Dims[0], out _));
        Assert.False(long.TryParse(x.Dims[1], out _));
        if (state) Assert.Equal(rows.ToString(), result.Inputs[1].Dims[0]);
    }

    public static TheoryData<string, int, bool, bool, bool> PaddedCases()
    {
        var data = new TheoryData<string, int, bool, bool, bool>();
        foreach (var mode in new[] { "rnn_tanh", "rnn_relu", "lstm", "gru" })
            foreach (var layers in new[] { 1, 2 })
                foreach (var bidirectional in new[] { false, true })
                    foreach (var batchFirst in new[] { false, true })
                        data.Add(mode, layers, bidirectional, batchFirst, layers == 2);
        return data;
    }

    /// <summary>Lengths for a batch: unsorted, one full-length sequence, one of length 1 when the batch allows.</summary>
    internal static Tensor Lengths(int t, int b, Generator g)
    {
        var l = new long[b];
        for (int i = 0; i < b; i++) l[i] = 1 + (long)g.NextLong(t);
        l[b / 2] = t;
        if (b > 2) l[0] = 1;
        return Tensor.FromArray(l, b);
    }

    [Theory]
    [MemberData(nameof(PaddedCases))]
    public void PaddedWithLengths(string mode, int layers, bool bidirectional, bool batchFirst, bool state)
    {
        const int I = 3, H = 5;
        var m = Make(mode, I, H, layers, bias: true, batchFirst, bidirectional, seed: 3);
        bool lstm = m.Mode == RnnMode.Lstm;
        int rows = layers * (bidirectional ? 2 : 1);
        var g = new Generator(11);
        Tensor[] Inputs(int t, int b)
        {
            var list = new List<Tensor> { Input(t, b, I, batchFirst, g), Lengths(t, b, g) };
            if (state) { list.Add(Tensor.Randn([rows, b, H], generator: g)); if (lstm) list.Add(Tensor.Randn([rows, b, H], generator: g)); }
            return list.ToArray();
        }
        Tensor[] Forward(Tensor[] xs)
        {
            RecurrentState? s = state ? new RecurrentState(xs[2], lstm ? xs[3] : null) : null;
            var (o, st) = m.ForwardPadded(xs[0], xs[1], s);
            return lstm ? [o, st.H, st.C!] : [o, st.H];
        }
        OrtCheck.ExportAndVerify($"padded-{mode}", Forward, Inputs(Sizes[0].T, Sizes[0].B), Sizes.Skip(1).Select(s => Inputs(s.T, s.B)),
            new OnnxExportOptions { Module = m });
    }

    [Theory]
    [InlineData("gru", false, true)]
    [InlineData("lstm", true, false)]
    [InlineData("rnn_tanh", true, true)]
    public void PackedSequenceInput(string mode, bool batchFirst, bool bidirectional)
    {
        const int I = 3, H = 4;
        var m = Make(mode, I, H, 2, bias: true, batchFirst, bidirectional, seed: 5);
        bool lstm = m.Mode == RnnMode.Lstm;
        var g = new Generator(13);
        Tensor[] Inputs(int t, int b) => [Input(t, b, I, batchFirst, g), Lengths(t, b, g)];
        Tensor[] Forward(Tensor[] xs)
        {
            var packed = PackedSequence.FromPadded(xs[0], xs[1], batchFirst, enforceSorted: false);
            var (outPacked, st) = m.Forward(packed);
            var (padded, lengths) = RnnUtils.PadPackedSequence(outPacked, batchFirst);
            return lstm ? [padded, lengths, st.H, st.C!] : [padded, lengths, st.H];
        }
        OrtCheck.ExportAndVerify($"packed-{mode}", Forward, Inputs(5, 3), [Inputs(7, 2), Inputs(4, 4)], new OnnxExportOptions { Module = m });
    }

    [Fact]
    public void PackedOutputPaddedWithPaddingValueAndTotalLength()
    {
        var m = Make("gru", 3, 4, 1, seed: 9);
        var g = new Generator(2);
        Tensor[] Inputs(int t, int b) => [Tensor.Randn([t, b, 3], generator: g), Lengths(t, b, g)];
        Tensor[] Forward(Tensor[] xs)
        {
            var (o, h) = ((Gru)m).Forward(RnnUtils.PackPaddedSequence(xs[0], xs[1], enforceSorted: false));
            var (padded, _) = RnnUtils.PadPackedSequence(o, paddingValue: -1.5, totalLength: xs[0].Size(0));
            return [padded, h];
        }
        OrtCheck.ExportAndVerify("packed-padding-value", Forward, Inputs(5, 3), [Inputs(6, 2), Inputs(3, 5)], new OnnxExportOptions { Module = m });
    }

    [Fact]
    public void TwoPaddedSequences_KeepTheirOwnLengths_InReshapes()
    {
        // Each PadPackedSequence(totalLength: null) has its own runtime length; both were named max_length, and a
        // reshape reading the second one's size got the first one's.
        var enc = (Gru)Make("gru", 3, 4, 1, seed: 21);
        var dec = (Gru)Make("gru", 3, 4, 1, seed: 22);
        var g = new Generator(7);
        Tensor[] Inputs(int ts, int tt, int b) => [Tensor.Randn([ts, b, 3], generator: g), Lengths(ts, b, g), Tensor.Randn([tt, b, 3], generator: g), Lengths(tt, b, g)];
        Tensor[] Forward(Tensor[] xs)
        {
            Tensor Run(Gru m, Tensor x, Tensor lengths)
            {
                var (o, _) = m.Forward(RnnUtils.PackPaddedSequence(x, lengths, enforceSorted: false));
                var (y, _) = RnnUtils.PadPackedSequence(o);
                return (y.Reshape(-1, 4) * 2.0).Reshape(y.Size(0), y.Size(1), 4);
            }
            return [Run(enc, xs[0], xs[1]), Run(dec, xs[2], xs[3])];
        }
        OrtCheck.ExportAndVerify("two-padded", Forward, Inputs(5, 3, 2), [Inputs(7, 4, 3), Inputs(3, 6, 2)]);
    }

    [Theory]
    [InlineData("lstm", false)]
    [InlineData("gru", true)]
    [InlineData("rnn_relu", false)]
    public void UnbatchedInput(string mode, bool state)
    {
        var m = Make(mode, 3, 4, 2, bidirectional: true, seed: 4);
        bool lstm = m.Mode == RnnMode.Lstm;
        var g = new Generator(3);
        Tensor[] Inputs(int t)
        {
            var list = new List<Tensor> { Tensor.Randn([t, 3], generator: g) };
            if (state) { list.Add(Tensor.Randn([4, 4], generator: g)); if (lstm) list.Add(Tensor.Randn([4, 4], generator: g)); }
            return list.ToArray();
        }
        Tensor[] Forward(Tensor[] xs)
        {
            var (o, st) = m.Forward(xs[0], state ? new RecurrentState(xs[1], lstm ? xs[2] : null) : null);
            return lstm ? [o, st.H, st.C!] : [o, st.H];
        }
        OrtCheck.ExportAndVerify($"unbatched-{mode}", Forward, Inputs(5), [Inputs(8), Inputs(2)], new OnnxExportOptions { Module = m });
    }

    [Fact]
    public void ZeroInitialStateBuiltFromTheBatchSizeIsOmitted()
    {
        // PyTorch models build h0 as torch.zeros(layers, x.size(0), hidden): a constant holding the example's batch size.
        var lstm = (Lstm)Make("lstm", 3, 4, 2, batchFirst: true, seed: 8);
        var g = new Generator(5);
        Tensor[] Forward(Tensor[] xs)
        {
            var h0 = Tensor.Zeros(2, xs[0].Size(0), 4);
            var c0 = Tensor.Zeros(2, xs[0].Size(0), 4);
            var (o, (h, c)) = lstm.Forward(xs[0], (h0, c0));
            return [o, h, c];
        }
        OrtCheck.ExportAndVerify("zero-h0", Forward, [Tensor.Randn([3, 5, 3], generator: g)],
            [[Tensor.Randn([2, 7, 3], generator: g)], [Tensor.Randn([6, 2, 3], generator: g)]], new OnnxExportOptions { Module = lstm });
    }

    [Fact]
    public void RecurrentOverloadNamesInputsAndOutputs()
    {
        var lstm = (Lstm)Make("lstm", 3, 4, 1, seed: 12);
        var g = new Generator(1);
        var path = OrtCheck.TempPath("overload");
        var result = OnnxExport.Export(lstm, Tensor.Randn([5, 3, 3], generator: g), new RecurrentState(Tensor.Randn([1, 3, 4], generator: g), Tensor.Randn([1, 3, 4], generator: g)), path);
        File.Delete(path);
        Assert.Equal(["input", "h0", "c0"], result.Inputs.Select(i => i.Name));
        Assert.Equal(["output", "h_n", "c_n"], result.Outputs.Select(o => o.Name));
        Assert.Contains("W_l0", result.InitializerNames);
        Assert.Equal(17, result.Opset);
    }

    public static TheoryData<string, bool, bool, bool> CellCases()
    {
        var data = new TheoryData<string, bool, bool, bool>();
        foreach (var mode in new[] { "rnn_tanh", "rnn_relu", "lstm", "gru" })
            foreach (var bias in new[] { true, false })
                foreach (var state in new[] { true, false })
                    data.Add(mode, bias, state, !state);
        return data;
    }

    [Theory]
    [MemberData(nameof(CellCases))]
    public void Cells(string mode, bool bias, bool state, bool unbatched)
    {
        const int I = 3, H = 5;
        var g = new Generator(21);
        RecurrentCellBase cell = mode switch
        {
            "lstm" => new LstmCell(I, H, bias, generator: g),
            "gru" => new GruCell(I, H, bias, generator: g),
            _ => new RnnCell(I, H, bias, mode == "rnn_relu" ? "relu" : "tanh", generator: g),
        };
        bool lstm = cell is LstmCell;
        Tensor[] Inputs(int b)
        {
            int[] xs = unbatched ? [I] : [b, I], hs = unbatched ? [H] : [b, H];
            var list = new List<Tensor> { Tensor.Randn(xs, generator: g) };
            if (state) { list.Add(Tensor.Randn(hs, generator: g)); if (lstm) list.Add(Tensor.Randn(hs, generator: g)); }
            return list.ToArray();
        }
        Tensor[] Forward(Tensor[] xs) => cell switch
        {
            LstmCell c => state ? Pair(c.Forward(xs[0], (xs[1], xs[2]))) : Pair(c.Forward(xs[0])),
            GruCell c => [c.Forward(xs[0], state ? xs[1] : null)],
            RnnCell c => [c.Forward(xs[0], state ? xs[1] : null)],
            _ => throw new InvalidOperationException(),
        };
        static Tensor[] Pair((Tensor H, Tensor C) p) => [p.H, p.C];
        var result = OrtCheck.ExportAndVerify($"cell-{mode}", Forward, Inputs(3), [Inputs(2), Inputs(5)], new OnnxExportOptions { Module = cell });
        Assert.Equal(1, result.NodeCounts[lstm ? "LSTM" : cell is GruCell ? "GRU" : "RNN"]);
    }

    [Fact]
    public void CellStepsOverAFixedLengthSequenceUnrollWhenTheTimeAxisIsStatic()
    {
        // A .NET loop over time is legitimate when the length is declared static; batch stays dynamic.
        var cell = new GruCell(3, 4, generator: new Generator(3));
        var g = new Generator(4);
        Tensor[] Forward(Tensor[] xs)
        {
            Tensor? h = null;
            for (int t = 0; t < xs[0].Size(0); t++) h = cell.Forward(xs[0][t], h);
            return [h!];
        }
        var axes = new Dictionary<string, IReadOnlyDictionary<int, string>> { ["x"] = new Dictionary<int, string> { [1] = "batch" } };
        OrtCheck.ExportAndVerify("cell-loop", Forward, [Tensor.Randn([4, 3, 3], generator: g)], [[Tensor.Randn([4, 2, 3], generator: g)], [Tensor.Randn([4, 6, 3], generator: g)]],
            new OnnxExportOptions { Module = cell, InputNames = ["x"], DynamicAxes = axes });
    }

    [Theory]
    [InlineData(18)]
    [InlineData(20)]
    [InlineData(21)]
    [InlineData(23)]
    public void OpsetVersions(int opset)
    {
        var m = Make("lstm", 3, 4, 2, bidirectional: true, seed: 6);
        var fc = new Linear(8, 2, generator: new Generator(2));
        var g = new Generator(8);
        Tensor[] Forward(Tensor[] xs)
        {
            var (o, _) = m.Forward(xs[0]);
            return [fc.Forward(o).Mean(0).Softmax(-1), o.Max(2).Values];
        }
        var result = OrtCheck.ExportAndVerify($"opset{opset}", Forward, [Tensor.Randn([5, 3, 3], generator: g)], [[Tensor.Randn([2, 6, 3], generator: g)], [Tensor.Randn([7, 2, 3], generator: g)]],
            new OnnxExportOptions { Opset = opset });
        Assert.Equal(opset, result.Opset);
    }
}
