// Parity handlers for the recurrent fixtures: RNN/LSTM/GRU (dense, unbatched, packed through
// pack_padded_sequence or pack_sequence, proj_size, eval-mode dropout, float64, large shapes),
// the cells and cell chains, and the packing functions. Parameters are loaded with a strict
// LoadStateDict (the fixture names are PyTorch's state_dict keys), every stored output and
// gradient is compared.
using Recurrent.Nn;

namespace Recurrent.Tests.Parity;

/// <summary>Shared helpers: the gradient convention and the comparison of parameter gradients.</summary>
internal static class RecurrentParity
{
    /// <summary>Loads every <c>param.*</c> tensor into <paramref name="module"/> (strict, no renaming).</summary>
    public static void LoadParams(Fixture f, Module module)
    {
        var sd = f.TensorNames.Where(n => n.StartsWith("param.", StringComparison.Ordinal))
            .ToDictionary(n => n["param.".Length..], n => f[n]);
        module.LoadStateDict(sd, strict: true);
    }

    /// <summary>Backward of sum over outputs o of sum(o * gradout.o), for the outputs the fixture has a gradout for.</summary>
    public static void Backward(Fixture f, IReadOnlyDictionary<string, Tensor> outputs)
    {
        Tensor? total = null;
        foreach (var (name, value) in outputs)
        {
            if (!f.Has("gradout." + name) || !value.RequiresGrad) continue;
            var term = value.Mul(f["gradout." + name]).Sum();
            total = total is null ? term : total.Add(term);
        }
        total?.Backward();
    }

    /// <summary>Compares every <c>grad.param.*</c> with the module's gradients (null = zeros).</summary>
    public static void AssertParamGrads(Fixture f, Module module)
    {
        var ps = module.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        int n = 0;
        foreach (var name in f.TensorNames.Where(n => n.StartsWith("grad.param.", StringComparison.Ordinal)))
        {
            var p = ps[name["grad.param.".Length..]];
            f.AssertClose(name, p.Grad ?? Tensor.ZerosLike(p));
            n++;
        }
        Assert.True(n > 0 || !f.TensorNames.Any(t => t.StartsWith("param.", StringComparison.Ordinal)), $"{f.Name}: no parameter gradients stored");
    }

    public static void AssertGrad(Fixture f, string name, Tensor leaf)
    {
        if (f.Has("grad." + name)) f.AssertClose("grad." + name, leaf.Grad ?? Tensor.ZerosLike(leaf));
    }

    public static Tensor Leaf(Fixture f, string name) => f[name].RequiresGrad_();
}

/// <summary>nn.RNN / nn.LSTM / nn.GRU fixtures.</summary>
public sealed class RecurrentLayerParity : IParityHandler
{
    public IEnumerable<string> Kinds => new[] { "RNN", "LSTM", "GRU" };

    public void Run(Fixture f)
    {
        var kind = f.Kind;
        int inputSize = f.Int("input_size"), hiddenSize = f.Int("hidden_size"), numLayers = f.Int("num_layers");
        bool bias = f.Bool("bias"), batchFirst = f.Bool("batch_first"), bidirectional = f.Bool("bidirectional");
        double dropout = f.Double("dropout");
        RecurrentBase module = kind switch
        {
            "RNN" => new Rnn(inputSize, hiddenSize, numLayers, f.Str("nonlinearity"), bias, batchFirst, dropout, bidirectional),
            "LSTM" => new Lstm(inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, f.IntOrNone("proj_size") ?? 0),
            _ => new Gru(inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional),
        };
        module.To(f.DType);
        if (!f.Bool("training")) module.Eval();
        RecurrentParity.LoadParams(f, module);
        bool lstm = kind == "LSTM";
        var h0 = f.Bool("h0_given") ? RecurrentParity.Leaf(f, "h0") : null;
        var c0 = lstm && f.Bool("h0_given") ? RecurrentParity.Leaf(f, "c0") : null;
        var outputs = new Dictionary<string, Tensor>();
        var leaves = new Dictionary<string, Tensor>();
        if (h0 is not null) leaves["h0"] = h0;
        if (c0 is not null) leaves["c0"] = c0;

        if (!f.Bool("packed"))
        {
            var input = RecurrentParity.Leaf(f, "input");
            leaves["input"] = input;
            Tensor output, hN; Tensor? cN = null;
            switch (module)
            {
                case Rnn rnn: (output, hN) = rnn.Forward(input, h0); break;
                case Gru gru: (output, hN) = gru.Forward(input, h0); break;
                default:
                    var (o, (h, c)) = ((Lstm)module).Forward(input, h0 is null ? null : (h0, c0!));
                    output = o; hN = h; cN = c; break;
            }
            outputs["output"] = output; outputs["h_n"] = hN;
            if (cN is not null) outputs["c_n"] = cN;
        }
        else
        {
            PackedSequence packed;
            bool enforceSorted = f.Bool("enforce_sorted");
            if (f.Str("pack_fn") == "pack_sequence")
            {
                var seqs = new List<Tensor>();
                for (int i = 0; f.Has($"seq.{i}"); i++) { var s = RecurrentParity.Leaf(f, $"seq.{i}"); leaves[$"seq.{i}"] = s; seqs.Add(s); }
                packed = RnnUtils.PackSequence(seqs, enforceSorted);
            }
            else
            {
                var input = RecurrentParity.Leaf(f, "input");
                leaves["input"] = input;
                packed = RnnUtils.PackPaddedSequence(input, f["lengths"], batchFirst, enforceSorted);
            }
            f.AssertClose("packed.data", packed.Data);
            f.AssertClose("packed.batch_sizes", packed.BatchSizes);
            if (f.Has("packed.sorted_indices")) f.AssertClose("packed.sorted_indices", packed.SortedIndices);
            else Assert.Null(packed.SortedIndices);
            if (f.Has("packed.unsorted_indices")) f.AssertClose("packed.unsorted_indices", packed.UnsortedIndices);
            PackedSequence outPacked; Tensor hN; Tensor? cN = null;
            switch (module)
            {
                case Rnn rnn: (outPacked, hN) = rnn.Forward(packed, h0); break;
                case Gru gru: (outPacked, hN) = gru.Forward(packed, h0); break;
                default:
                    var (o, (h, c)) = ((Lstm)module).Forward(packed, h0 is null ? null : (h0, c0!));
                    outPacked = o; hN = h; cN = c; break;
            }
            var (output, lengths) = RnnUtils.PadPackedSequence(outPacked, batchFirst, f.Double("padding_value"));
            f.AssertClose("out.lengths", lengths);
            outputs["output"] = output; outputs["output_packed_data"] = outPacked.Data; outputs["h_n"] = hN;
            if (cN is not null) outputs["c_n"] = cN;
        }

        foreach (var (name, value) in outputs)
            if (f.Has("out." + name)) f.AssertClose("out." + name, value);
        Assert.True(f.Has("out.h_n") && outputs.ContainsKey("h_n"));
        RecurrentParity.Backward(f, outputs);
        foreach (var (name, leaf) in leaves) RecurrentParity.AssertGrad(f, name, leaf);
        RecurrentParity.AssertParamGrads(f, module);
    }
}

/// <summary>nn.RNNCell / LSTMCell / GRUCell fixtures: one step, or a chain of steps.</summary>
public sealed class RecurrentCellParity : IParityHandler
{
    public IEnumerable<string> Kinds => new[] { "RNNCell", "LSTMCell", "GRUCell", "RNNCell_chain", "LSTMCell_chain", "GRUCell_chain" };

    public void Run(Fixture f)
    {
        bool chain = f.Kind.EndsWith("_chain", StringComparison.Ordinal);
        string cellKind = chain ? f.Kind[..^"_chain".Length] : f.Kind;
        int inputSize = f.Int("input_size"), hiddenSize = f.Int("hidden_size");
        bool bias = f.Bool("bias");
        RecurrentCellBase cell = cellKind switch
        {
            "RNNCell" => new RnnCell(inputSize, hiddenSize, bias, f.Str("nonlinearity")),
            "LSTMCell" => new LstmCell(inputSize, hiddenSize, bias),
            _ => new GruCell(inputSize, hiddenSize, bias),
        };
        cell.To(f.DType);
        RecurrentParity.LoadParams(f, cell);
        var input = RecurrentParity.Leaf(f, "input");
        var hx = f.Has("hx") ? RecurrentParity.Leaf(f, "hx") : null;
        var cx = f.Has("cx") ? RecurrentParity.Leaf(f, "cx") : null;
        // The fixtures pass explicit zeros when hx is not given (see their note); Python would build the
        // same zeros, which is what a null state does here.
        Tensor? h = hx, c = cx;
        var hs = new List<Tensor>(); var cs = new List<Tensor>();
        int steps = chain ? f.Int("steps") : 1;
        for (int t = 0; t < steps; t++)
        {
            var x = chain ? input.Select(0, t) : input;
            switch (cell)
            {
                case RnnCell rc: h = rc.Forward(x, h); break;
                case GruCell gc: h = gc.Forward(x, h); break;
                case LstmCell lc:
                    var (hh, cc) = lc.Forward(x, h is null ? null : (h, c!));
                    h = hh; c = cc; cs.Add(cc); break;
            }
            hs.Add(h!);
        }
        var outputs = new Dictionary<string, Tensor> { ["h"] = chain ? Tensor.Stack(hs, 0) : hs[0] };
        if (cs.Count > 0) outputs["c"] = chain ? Tensor.Stack(cs, 0) : cs[0];
        foreach (var (name, value) in outputs) f.AssertClose("out." + name, value);
        Assert.Equal(f.TensorNames.Count(n => n.StartsWith("out.", StringComparison.Ordinal)), outputs.Count);
        RecurrentParity.Backward(f, outputs);
        RecurrentParity.AssertGrad(f, "input", input);
        if (hx is not null) RecurrentParity.AssertGrad(f, "hx", hx);
        if (cx is not null) RecurrentParity.AssertGrad(f, "cx", cx);
        RecurrentParity.AssertParamGrads(f, cell);
    }
}

/// <summary>pack_padded_sequence, pack_sequence, pad_packed_sequence and pad_sequence fixtures.</summary>
public sealed class PackingParity : IParityHandler
{
    public IEnumerable<string> Kinds => new[] { "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence" };

    public void Run(Fixture f)
    {
        switch (f.Kind)
        {
            case "pack_padded_sequence":
            case "pack_sequence":
            {
                var leaves = new Dictionary<string, Tensor>();
                PackedSequence packed;
                if (f.Kind == "pack_sequence")
                {
                    var seqs = new List<Tensor>();
                    for (int i = 0; f.Has($"seq.{i}"); i++) { var s = RecurrentParity.Leaf(f, $"seq.{i}"); leaves[$"seq.{i}"] = s; seqs.Add(s); }
                    Assert.Equal(f.List<long>("lengths"), seqs.Select(s => (long)s.Size(0)).ToArray());
                    packed = RnnUtils.PackSequence(seqs, f.Bool("enforce_sorted"));
                }
                else
                {
                    var input = RecurrentParity.Leaf(f, "input");
                    leaves["input"] = input;
                    Assert.Equal(f.List<long>("lengths"), f["lengths"].ToArray<long>());
                    packed = RnnUtils.PackPaddedSequence(input, f["lengths"], f.Bool("batch_first"), f.Bool("enforce_sorted"));
                }
                f.AssertClose("out.data", packed.Data);
                f.AssertClose("out.batch_sizes", packed.BatchSizes);
                if (f.Has("out.sorted_indices")) f.AssertClose("out.sorted_indices", packed.SortedIndices);
                else Assert.Null(packed.SortedIndices);
                if (f.Has("out.unsorted_indices")) f.AssertClose("out.unsorted_indices", packed.UnsortedIndices);
                else Assert.Null(packed.UnsortedIndices);
                RecurrentParity.Backward(f, new Dictionary<string, Tensor> { ["data"] = packed.Data });
                foreach (var (name, leaf) in leaves) f.AssertClose("grad." + name, leaf.Grad);
                break;
            }
            case "pad_packed_sequence":
            {
                var packed = new PackedSequence(f["packed.data"], f["packed.batch_sizes"], f.Maybe("packed.sorted_indices"), f.Maybe("packed.unsorted_indices"));
                var (padded, lengths) = RnnUtils.PadPackedSequence(packed, f.Bool("batch_first"), f.Double("padding_value"), f.IntOrNone("total_length"));
                f.AssertClose("out.padded", padded);
                f.AssertClose("out.lengths", lengths);
                break;
            }
            case "pad_sequence":
            {
                var seqs = new List<Tensor>();
                for (int i = 0; f.Has($"seq.{i}"); i++) seqs.Add(f[$"seq.{i}"]);
                Assert.Equal(f.List<long>("lengths"), seqs.Select(s => (long)s.Size(0)).ToArray());
                var padded = RnnUtils.PadSequence(seqs, f.Bool("batch_first"), f.Double("padding_value"));
                f.AssertClose("out.padded", padded);
                break;
            }
        }
    }
}
