// Recurrent layers and cells as ONNX RNN / LSTM / GRU nodes, one node per layer (both directions in one node).
// PyTorch -> ONNX:
// - gate blocks reordered: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h with linear_before_reset = 1 (PyTorch's
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))); RNN has one block (activation Tanh or Relu);
// - W (D, G*H, I), R (D, G*H, H), B (D, 2*G*H) = [b_ih | b_hh] per direction, directions stacked (forward, reverse);
// - Y (T, D, B, H) -> (T, B, D*H) by Transpose(0, 2, 1, 3) + Reshape(0, 0, -1) (Squeeze(1) when D = 1);
// - h_n = Concat of every layer's Y_h (D, B, H) along axis 0: PyTorch's (layers*D, B, H), row layer*D + direction;
// - batch_first: Transpose around the stack; an unbatched input gets a batch dimension of 1 around it;
// - variable lengths (ForwardPadded, PackedSequence) become sequence_lens: ONNX's reverse direction starts at each
//   sequence's own last step and Y_h is taken at each sequence's own last step, as PyTorch's packed semantics;
//   PyTorch's padded output is zero (or the padding value) past each length, so the final Y is masked.
// - an initial state that is a constant zero tensor (the usual `Tensor.Zeros(layers, x.Size(0), hidden)`) is omitted:
//   ONNX's default initial state is zero, and the batch size in the constant's shape is not frozen into the graph.
using Recurrent.Kernels;
using Recurrent.Nn;
using Recurrent.Onnx.Proto;

namespace Recurrent.Onnx.Tracing;

internal sealed partial class OnnxTracer
{
    /// <summary>A PackedSequence in the graph: its padded time-major data (T, B, *) and int64 lengths (B).</summary>
    private sealed record PackedValue(Value Padded, Value Lengths);

    private const string PackedDataMessage =
        "PackedSequence.Data holds the packed rows, whose layout depends on the lengths, so a graph cannot compute with it. " +
        "Pad the sequence first (RnnUtils.PadPackedSequence / packed.ToPadded) or run the layer with ForwardPadded(padded, lengths).";

    private void EmitRecurrent(string kind, object result, Tensor?[] inputs, object?[] args)
    {
        switch (kind)
        {
            case "PackPadded":
            {
                var packed = (PackedSequence)result;
                bool batchFirst = (bool)args[0]!;
                var x = Lookup(inputs[0]!, "PackPaddedSequence");
                if (batchFirst) x = G.Transpose(x, SwapFirstTwo(x.Rank));
                var lengths = G.Cast(Lookup(inputs[1]!, "PackPaddedSequence (lengths)"), OnnxElementType.Int64);
                _packed[packed] = new PackedValue(x, lengths);
                _packedData[packed.Data] = PackedDataMessage;
                return;
            }
            case "PadPacked":
            {
                var (padded, lengthsOut) = ((Tensor, Tensor))result;
                var sequence = (PackedSequence)args[0]!;
                bool batchFirst = (bool)args[1]!;
                double paddingValue = (double)args[2]!;
                int? totalLength = (int?)args[3];
                var pv = PackedOf(sequence, "PadPackedSequence");
                var y = MaskSteps(pv.Padded, pv.Lengths, paddingValue);
                int steps = batchFirst ? padded.Size(1) : padded.Size(0);
                if (totalLength is null)
                {
                    // T = max(lengths): a size known only at run time.
                    var maxLen = G.Reduce("ReduceMax", pv.Lengths, [0], true, OnnxElementType.Int64);
                    var s = NewUniqueSymbol("max_length", steps);
                    G.DefineSymbol(s, () => maxLen);
                    var dims = (SymDim[])y.Dims.Clone();
                    dims[0] = SymDim.Of(s);
                    y = G.Node("Slice", [y, G.Ints(0), maxLen, G.Ints(0)], y.Type, dims);
                }
                else if (totalLength.Value != pv.Padded.Dims[0].Example)
                    throw new OnnxExportException($"PadPackedSequence: totalLength {totalLength} differs from the padded input's length {pv.Padded.Dims[0].Example}; only totalLength: null (the longest sequence) or the padded input's own length can be exported.");
                if (batchFirst) y = G.Transpose(y, SwapFirstTwo(y.Rank));
                Bind(padded, y);
                Bind(lengthsOut, pv.Lengths);
                return;
            }
            case "RecurrentDense":
            {
                var m = (RecurrentBase)args[0]!;
                var (output, hN, cN) = ((Tensor, Tensor, Tensor?))result;
                var input = inputs[0]!;
                bool batched = input.Dim == 3;
                int batchDim = m.BatchFirst ? 0 : 1;
                var x = Lookup(input, m.TypeName);
                if (!batched) x = G.Unsqueeze(x, batchDim);
                if (m.BatchFirst) x = G.Transpose(x, [1, 0, 2]);
                var h0 = InitialState(inputs[1], m.TypeName + " h0", batched ? null : 1);
                var c0 = InitialState(inputs[2], m.TypeName + " c0", batched ? null : 1);
                var (y, hn, cn) = RunStack(m, x, h0, c0, null);
                if (m.BatchFirst) y = G.Transpose(y, [1, 0, 2]);
                if (!batched)
                {
                    y = G.Squeeze(y, batchDim);
                    hn = G.Squeeze(hn, 1);
                    cn = cn is null ? null : G.Squeeze(cn, 1);
                }
                Bind(output, y);
                Bind(hN, hn);
                if (cN is not null) Bind(cN, cn!);
                return;
            }
            case "RecurrentPadded":
            {
                var m = (RecurrentBase)args[0]!;
                var (output, hN, cN) = ((Tensor, Tensor, Tensor?))result;
                var x = Lookup(inputs[0]!, m.TypeName + ".ForwardPadded");
                if (m.BatchFirst) x = G.Transpose(x, [1, 0, 2]);
                var lengths = G.Cast(Lookup(inputs[1]!, m.TypeName + ".ForwardPadded (lengths)"), OnnxElementType.Int64);
                var h0 = InitialState(inputs[2], m.TypeName + " h0", null);
                var c0 = InitialState(inputs[3], m.TypeName + " c0", null);
                var (y, hn, cn) = RunStack(m, x, h0, c0, lengths);
                y = MaskSteps(y, lengths, 0.0);
                if (m.BatchFirst) y = G.Transpose(y, [1, 0, 2]);
                Bind(output, y);
                Bind(hN, hn);
                if (cN is not null) Bind(cN, cn!);
                return;
            }
            case "RecurrentPacked":
            {
                var m = (RecurrentBase)args[0]!;
                var inputPacked = (PackedSequence)args[1]!;
                var (outPacked, hN, cN) = ((PackedSequence, Tensor, Tensor?))result;
                var pv = PackedOf(inputPacked, m.TypeName);
                var h0 = InitialState(inputs[1], m.TypeName + " h0", null);
                var c0 = InitialState(inputs[2], m.TypeName + " c0", null);
                var (y, hn, cn) = RunStack(m, pv.Padded, h0, c0, pv.Lengths);
                _packed[outPacked] = new PackedValue(y, pv.Lengths);
                _packedData[outPacked.Data] = PackedDataMessage;
                Bind(hN, hn);
                if (cN is not null) Bind(cN, cn!);
                return;
            }
            case "Cell":
                EmitCell((RecurrentCellBase)args[0]!, result, inputs);
                return;
        }
    }

    private PackedValue PackedOf(PackedSequence p, string consumer) =>
        _packed.TryGetValue(p, out var pv) ? pv : throw new OnnxExportException(
            $"{consumer}: this PackedSequence was not made from traced tensors by RnnUtils.PackPaddedSequence / PackedSequence.FromPadded " +
            "(or by a recurrent layer from such a sequence), so its lengths are not part of the graph. Pack inside the forward from the padded " +
            "input and a lengths input, or use ForwardPadded(padded, lengths).");

    private static int[] SwapFirstTwo(int rank)
    {
        var p = Enumerable.Range(0, rank).ToArray();
        (p[0], p[1]) = (p[1], p[0]);
        return p;
    }

    /// <summary>h0/c0 as a graph value, or null when absent or a constant zero (ONNX's default initial state).</summary>
    private Value? InitialState(Tensor? t, string consumer, int? unsqueezeAxis)
    {
        if (t is null || IsZeroConstant(t)) return null;
        var v = Lookup(t, consumer);
        Pin(v.Dims[0]);
        return unsqueezeAxis is { } a ? G.Unsqueeze(v, a) : v;
    }

    /// <summary>y (T, B, ...) with the steps t &gt;= lengths[b] set to <paramref name="value"/>.</summary>
    private Value MaskSteps(Value y, Value lengths, double value)
    {
        var steps = G.Node("Shape", [y], OnnxElementType.Int64, [SymDim.Const(1)], OnnxAttribute.Of("start", 0L), OnnxAttribute.Of("end", 1L));
        var stepsScalar = G.Squeeze(steps, 0);
        var range = G.Node("Range", [G.Scalar(0, OnnxElementType.Int64), stepsScalar, G.Scalar(1, OnnxElementType.Int64)], OnnxElementType.Int64, [y.Dims[0]]);
        var tCol = G.Unsqueeze(range, 1);                                                    // (T, 1)
        var lenRow = G.Unsqueeze(lengths, 0);                                                // (1, B)
        var mask = G.Node("Less", [tCol, lenRow], OnnxElementType.Bool, [y.Dims[0], lengths.Dims[0]]);
        if (y.Rank > 2) mask = G.Unsqueeze(mask, Enumerable.Range(2, y.Rank - 2).ToArray());
        return G.Node("Where", [mask, y, G.Scalar(value, y.Type)], y.Type, y.Dims);
    }

    // ------------------------------------------------------------------ the stack

    private static int[] GatePermutation(RnnMode mode) => mode switch
    {
        RnnMode.Lstm => [0, 3, 1, 2],   // i, f, g, o -> i, o, f, c
        RnnMode.Gru => [1, 0, 2],       // r, z, n -> z, r, h
        _ => [0],
    };

    private string PrefixOf(Module m) =>
        _modulePaths.TryGetValue(m, out var p) ? p : m.TypeName.ToLowerInvariant() + ".";

    /// <summary>x (T, B, I) -> output (T, B, D*H), h_n (L*D, B, H), c_n; <paramref name="lengths"/> int64 (B) or null.</summary>
    private (Value Y, Value HN, Value? CN) RunStack(RecurrentBase m, Value x, Value? h0, Value? c0, Value? lengths)
    {
        if (m.IsQuantized) throw QuantizedError(m);
        if (m.ProjSize > 0)
            throw new OnnxExportException($"{m.TypeName} with proj_size = {m.ProjSize} cannot be exported: ONNX's LSTM operator has no output projection (weight_hr), and the exporter does not decompose it into a loop. Export a model without projSize, or fold the projection into a following Linear if the model allows it.");
        if (m.Training && m.Dropout > 0 && m.NumLayers > 1)
            throw new OnnxExportException($"{m.TypeName} in training mode with dropout = {m.Dropout} between layers cannot be exported: it draws a random mask on every call. Call model.Eval() before exporting.");
        int dirs = m.NumDirections, layers = m.NumLayers, hidden = m.HiddenSize;
        var steps = x.Dims[0];
        var batch = x.Dims[1];
        var seqLens = lengths is null ? null : G.Cast(lengths, OnnxElementType.Int32);
        var prefix = PrefixOf(m);
        var hs = new List<Value>();
        var cs = new List<Value>();
        var layerInput = x;
        for (int l = 0; l < layers; l++)
        {
            var weights = Enumerable.Range(0, dirs).Select(d => m.Weights(l, d)).ToArray();
            var (w, r, b) = LayerInitializers(prefix, $"_l{l}", m.Mode, weights.Select(t => (t.WeightIh, t.WeightHh, t.BiasIh, t.BiasHh)).ToArray());
            Value? lh = h0 is null ? null : G.Slice(h0, 0, l * dirs, (l + 1) * dirs, SymDim.Const(dirs));
            Value? lc = c0 is null ? null : G.Slice(c0, 0, l * dirs, (l + 1) * dirs, SymDim.Const(dirs));
            var (y, yh, yc) = RecurrentNode(m.Mode, dirs, hidden, layerInput, w, r, b, seqLens, lh, lc, steps, batch);
            hs.Add(yh);
            if (yc is not null) cs.Add(yc);
            layerInput = dirs == 1
                ? G.Squeeze(y, 1)
                : G.Node("Reshape", [G.Transpose(y, [0, 2, 1, 3]), G.Ints(0, 0, -1)], y.Type, [steps, batch, SymDim.Const(dirs * hidden)]);
        }
        var hn = hs.Count == 1 ? hs[0] : G.Node("Concat", hs.ToArray(), hs[0].Type, [SymDim.Const(layers * dirs), batch, SymDim.Const(hidden)], OnnxAttribute.Of("axis", 0L));
        Value? cn = null;
        if (m.Mode == RnnMode.Lstm)
            cn = cs.Count == 1 ? cs[0] : G.Node("Concat", cs.ToArray(), cs[0].Type, [SymDim.Const(layers * dirs), batch, SymDim.Const(hidden)], OnnxAttribute.Of("axis", 0L));
        return (layerInput, hn, cn);
    }

    /// <summary>One ONNX RNN/LSTM/GRU node: x (T, B, I) -> Y (T, D, B, H), Y_h (D, B, H), Y_c (LSTM).</summary>
    private (Value Y, Value YH, Value? YC) RecurrentNode(RnnMode mode, int dirs, int hidden, Value x, Value w, Value r, Value? b,
        Value? seqLens, Value? h0, Value? c0, SymDim steps, SymDim batch)
    {
        var type = x.Type;
        var attrs = new List<OnnxAttribute>
        {
            OnnxAttribute.Of("hidden_size", (long)hidden),
            OnnxAttribute.Of("direction", dirs == 2 ? "bidirectional" : "forward"),
        };
        string op = mode switch { RnnMode.Lstm => "LSTM", RnnMode.Gru => "GRU", _ => "RNN" };
        if (mode == RnnMode.Gru) attrs.Add(OnnxAttribute.Of("linear_before_reset", 1L));
        if (mode is RnnMode.RnnTanh or RnnMode.RnnRelu)
            attrs.Add(OnnxAttribute.Of("activations", Enumerable.Repeat(mode == RnnMode.RnnRelu ? "Relu" : "Tanh", dirs).ToArray()));
        var state = (type, new[] { SymDim.Const(dirs), batch, SymDim.Const(hidden) });
        var outs = G.NodeMulti(op, mode == RnnMode.Lstm ? [x, w, r, b, seqLens, h0, c0] : [x, w, r, b, seqLens, h0],
            mode == RnnMode.Lstm
                ? [(type, [steps, SymDim.Const(dirs), batch, SymDim.Const(hidden)]), state, state]
                : [(type, [steps, SymDim.Const(dirs), batch, SymDim.Const(hidden)]), state],
            attrs.ToArray());
        return (outs[0], outs[1], mode == RnnMode.Lstm ? outs[2] : null);
    }

    /// <summary>W (D, G*H, I), R (D, G*H, H) and B (D, 2*G*H) initializers, gate blocks in ONNX's order.</summary>
    private (Value W, Value R, Value? B) LayerInitializers(string prefix, string suffix, RnnMode mode,
        (Tensor Wih, Tensor Whh, Tensor? Bih, Tensor? Bhh)[] dirs)
    {
        var perm = GatePermutation(mode);
        var dtype = dirs[0].Wih.DType;
        if (dtype != DType.Float32)
            throw new OnnxExportException($"{prefix.TrimEnd('.')}: a {Tensor.DTypeName(dtype)} recurrent layer cannot be exported: ONNX Runtime's RNN, LSTM and GRU kernels run float32 only (\"does not support double\"), so the file could not be checked or served. Convert the model with model.To(DType.Float32) before exporting.");
        Value Stack(string name, Func<int, Tensor[]> parts)
        {
            var rows = new List<float>();
            long cols = 0, gateRows = 0;
            foreach (var d in Enumerable.Range(0, dirs.Length))
            {
                var ps = parts(d);
                foreach (var p in ps)
                {
                    var data = p.ToArray<float>();
                    int g = perm.Length;
                    int blockRows = p.Size(0) / g;
                    int c = p.Dim == 2 ? p.Size(1) : 1;
                    cols = c;
                    foreach (int src in perm) rows.AddRange(new ArraySegment<float>(data, src * blockRows * c, blockRows * c));
                }
                gateRows = ps.Sum(p => (long)p.Size(0));
            }
            long[] dims = parts(0)[0].Dim == 2 ? [dirs.Length, gateRows, cols] : [dirs.Length, gateRows];
            return G.Initializer(OnnxTensor.FromFloats(prefix + name + suffix, dims, rows.ToArray()));   // float32 only (above)
        }
        var w = Stack("W", d => [dirs[d].Wih]);
        var r = Stack("R", d => [dirs[d].Whh]);
        Value? b = dirs[0].Bih is null ? null : Stack("B", d => [dirs[d].Bih!, dirs[d].Bhh!]);
        return (w, r, b);
    }

    private static OnnxExportException QuantizedError(Module m) => new(
        $"{m.TypeName} is dynamically quantized to int8 (Quantizer.QuantizeDynamic); its float weights are gone, and ONNX's RNN/LSTM/GRU " +
        "operators take float weights. Export the float model, then quantize the ONNX file with ONNX Runtime's own tools if needed.");

    private void EmitCell(RecurrentCellBase cell, object result, Tensor?[] inputs)
    {
        if (cell.IsQuantized) throw QuantizedError(cell);
        var input = inputs[0]!;
        bool batched = input.Dim == 2;
        int[] axes = batched ? [0] : [0, 1];
        var x = G.Unsqueeze(Lookup(input, cell.TypeName), axes);                    // (1, B, I)
        Value? State(Tensor? t, string name)
        {
            if (t is null || IsZeroConstant(t)) return null;
            return G.Unsqueeze(Lookup(t, cell.TypeName + " " + name), axes);          // (1, B, H)
        }
        var h0 = State(inputs[1], "hx");
        var c0 = State(inputs[2], "cx");
        var (w, r, b) = LayerInitializers(PrefixOf(cell), "", cell.Mode, [(cell.WeightIh, cell.WeightHh, cell.BiasIh, cell.BiasHh)]);
        var (_, yh, yc) = RecurrentNode(cell.Mode, 1, cell.HiddenSize, x, w, r, b, null, h0, c0, SymDim.Const(1), x.Dims[1]);
        var h = G.Squeeze(yh, axes);
        if (result is Tensor t) { Bind(t, h); return; }
        var (ht, ct) = ((Tensor, Tensor))result;
        Bind(ht, h);
        Bind(ct, G.Squeeze(yc!, axes));
    }
}
