// Emitters of the tensor ops: each turns one reported op into ONNX nodes and binds the op's result tensor(s) to the
// new graph values, with symbolic shapes computed from the inputs' (so the dynamic axes stay dynamic).
using System.Globalization;
using Recurrent.Onnx.Proto;

namespace Recurrent.Onnx.Tracing;

internal sealed partial class OnnxTracer
{
    private static readonly Dictionary<string, string> UnaryOps = new(StringComparer.Ordinal)
    {
        ["NegBackward0"] = "Neg", ["ExpBackward0"] = "Exp", ["LogBackward0"] = "Log", ["TanhBackward0"] = "Tanh",
        ["SigmoidBackward0"] = "Sigmoid", ["ReluBackward0"] = "Relu", ["SqrtBackward0"] = "Sqrt", ["SinBackward0"] = "Sin",
        ["CosBackward0"] = "Cos", ["AbsBackward0"] = "Abs",
    };

    private static readonly Dictionary<string, string> BinaryOps = new(StringComparer.Ordinal)
    {
        ["AddBackward0"] = "Add", ["SubBackward0"] = "Sub", ["MulBackward0"] = "Mul", ["DivBackward0"] = "Div",
        ["PowBackward1"] = "Pow", ["MaximumBackward0"] = "Max",
    };

    /// <summary>The ops without attributes, reported by their autograd record alone. False: not one of them.</summary>
    private bool EmitAutograd(string name, Tensor r, Tensor?[] inputs)
    {
        string what = OpName(name);
        if (UnaryOps.TryGetValue(name, out var unary) && inputs.Length == 1 && inputs[0] is { } x1)
        {
            var x = Lookup(x1, what);
            Bind(r, G.Node(unary, [x], x.Type, x.Dims));
            return true;
        }
        if (BinaryOps.TryGetValue(name, out var binary) && inputs.Length == 2 && inputs[0] is { } a0 && inputs[1] is { } b0)
        {
            var a = Lookup(a0, what); var b = Lookup(b0, what);
            Bind(r, G.Node(binary, [a, b], a.Type, BroadcastDims(a, b)));
            return true;
        }
        if (inputs.Length == 0 || inputs[0] is not { } x0) return false;
        switch (name)
        {
            case "MmBackward0" or "BmmBackward0" when inputs.Length == 2 && inputs[1] is { } m1:
            {
                var a = Lookup(x0, what); var b = Lookup(m1, what);
                var dims = a.Rank == 2 ? new[] { a.Dims[0], b.Dims[1] } : new[] { Prefer(a.Dims[0], b.Dims[0]), a.Dims[1], b.Dims[2] };
                Bind(r, G.Node("MatMul", [a, b], a.Type, dims));
                return true;
            }
            case "CloneBackward0" when inputs.Length == 1:
                Bind(r, Lookup(x0, what));
                return true;
            case "ViewBackward0" when inputs.Length == 1:
            {
                var x = Lookup(x0, "View/Reshape");
                Bind(r, Reshape(x, x0.ShapeRef, r.ShapeRef, "View/Reshape"));
                return true;
            }
            case "SqueezeBackward0" when inputs.Length == 1:
            {
                var x = Lookup(x0, "Squeeze");
                var removed = new List<int>();
                int o = 0;
                for (int i = 0; i < x0.Dim; i++)
                {
                    if (o < r.Dim && x0.ShapeRef[i] == r.ShapeRef[o]) o++;
                    else removed.Add(i);
                }
                Bind(r, removed.Count == 0 ? x : G.Squeeze(x, removed.ToArray()));
                return true;
            }
            case "UnsqueezeBackward0" when inputs.Length == 1:
            {
                var x = Lookup(x0, "Unsqueeze");
                var inserted = new List<int>();
                int i = 0;
                for (int o = 0; o < r.Dim; o++)
                {
                    if (i < x0.Dim && x0.ShapeRef[i] == r.ShapeRef[o]) i++;
                    else inserted.Add(o);
                }
                Bind(r, G.Unsqueeze(x, inserted.ToArray()));
                return true;
            }
            case "ExpandBackward0" when inputs.Length == 1:
            {
                var x = Lookup(x0, "Expand");
                int lead = r.Dim - x0.Dim;
                var shape = new long[r.Dim];
                var dims = new SymDim[r.Dim];
                for (int j = 0; j < r.Dim; j++)
                {
                    int size = r.ShapeRef[j];
                    if (j >= lead && x0.ShapeRef[j - lead] == size) { shape[j] = 1; dims[j] = x.Dims[j - lead]; continue; }
                    CheckBakedSize(size, "Expand");
                    shape[j] = size; dims[j] = SymDim.Const(size);
                }
                Bind(r, G.Node("Expand", [x, G.Ints(shape)], x.Type, dims));
                return true;
            }
            case "SumBackward0" when inputs.Length == 1:
            {
                var x = Lookup(x0, "Sum");
                Bind(r, G.Reduce("ReduceSum", x, null, false, x.Type));
                return true;
            }
            case "SumProductBackward0" when inputs.Length == 2 && inputs[1] is { } y0:
            {
                var a = Lookup(x0, "SumProduct"); var b = Lookup(y0, "SumProduct");
                var p = G.Node("Mul", [a, b], a.Type, BroadcastDims(a, b));
                Bind(r, G.Reduce("ReduceSum", p, null, false, a.Type));
                return true;
            }
            case "ToCopyBackward0" when inputs.Length == 1:
                Bind(r, G.Cast(Lookup(x0, "To"), ElementType(r.DType)));
                return true;
        }
        return false;
    }

    /// <summary>Ops that report themselves (attributes, composites).</summary>
    private void Emit(string kind, object result, Tensor?[] inputs, object?[] args)
    {
        switch (kind)
        {
            case "Identity":
                Bind((Tensor)result, Lookup(inputs[0]!, "Detach"));
                return;
            case "Cast":
                Bind((Tensor)result, G.Cast(Lookup(inputs[0]!, "To"), ElementType((DType)args[0]!)));
                return;
            case "Index":
                EmitIndex((Tensor)result, inputs[0]!, (TensorIndex[])args[0]!);
                return;
            case "Transpose":
            {
                var x = Lookup(inputs[0]!, "Transpose");
                var perm = Enumerable.Range(0, x.Rank).ToArray();
                int a = (int)args[0]!, b = (int)args[1]!;
                (perm[a], perm[b]) = (perm[b], perm[a]);
                Bind((Tensor)result, G.Transpose(x, perm));
                return;
            }
            case "Permute":
                Bind((Tensor)result, G.Transpose(Lookup(inputs[0]!, "Permute"), (int[])args[0]!));
                return;
            case "Narrow":
                EmitNarrow((Tensor)result, inputs[0]!, (int)args[0]!, (int)args[1]!, (int)args[2]!);
                return;
            case "Select":
            {
                var x0 = inputs[0]!;
                var x = Lookup(x0, "Select");
                int d = (int)args[0]!, index = (int)args[1]!;
                if (index >= 0)
                {
                    RecordSteps(x, d, index, 1, "Select / x[i]");
                    CheckLastPosition(x, d, index, $"Select({d}, {index})", $"Select({d}, -1)");
                }
                var dims = x.Dims.Where((_, i) => i != d).ToArray();
                Bind((Tensor)result, G.Node("Gather", [x, G.Scalar(index, OnnxElementType.Int64)], x.Type, dims, OnnxAttribute.Of("axis", (long)d)));
                return;
            }
            case "Concat":
            {
                int d = (int)args[0]!;
                var vals = inputs.Select(t => Lookup(t!, "Cat")).ToArray();
                var dims = (SymDim[])vals[0].Dims.Clone();
                dims[d] = vals.Select(v => v.Dims[d]).Aggregate((p, q) => p + q);
                for (int i = 0; i < dims.Length; i++)
                    if (i != d) dims[i] = vals.Select(v => v.Dims[i]).Aggregate(Prefer);
                Bind((Tensor)result, vals.Length == 1 ? vals[0] : G.Node("Concat", vals, vals[0].Type, dims, OnnxAttribute.Of("axis", (long)d)));
                return;
            }
            case "IndexSelect":
            {
                var x = Lookup(inputs[0]!, "IndexSelect");
                var idx = Lookup(inputs[1]!, "IndexSelect");
                int d = (int)args[0]!;
                if (idx.Rank == 0) idx = G.Unsqueeze(idx, 0);
                var dims = (SymDim[])x.Dims.Clone();
                if (dims.Length > 0) dims[d] = idx.Dims[0];
                Bind((Tensor)result, G.Node("Gather", [x, idx], x.Type, dims, OnnxAttribute.Of("axis", (long)d)));
                return;
            }
            case "GatherElements":
            {
                var x = Lookup(inputs[0]!, "Gather");
                var idx = Lookup(inputs[1]!, "Gather");
                Bind((Tensor)result, G.Node("GatherElements", [x, idx], x.Type, idx.Dims, OnnxAttribute.Of("axis", (long)(int)args[0]!)));
                return;
            }
            case "Equal" or "Greater" or "Less" or "GreaterOrEqual" or "LessOrEqual" or "NotEqual":
            {
                var r = (Tensor)result;
                var a = Lookup(inputs[0]!, kind); var b = Lookup(inputs[1]!, kind);
                var dims = BroadcastDims(a, b);
                var c = kind == "NotEqual"
                    ? G.Node("Not", [G.Node("Equal", [a, b], OnnxElementType.Bool, dims)], OnnxElementType.Bool, dims)
                    : G.Node(kind, [a, b], OnnxElementType.Bool, dims);
                Bind(r, G.Cast(c, ElementType(r.DType)));
                return;
            }
            case "PowScalar":
            {
                var x = Lookup(inputs[0]!, "Pow");
                Bind((Tensor)result, G.Node("Pow", [x, G.Scalar((double)args[0]!, x.Type)], x.Type, x.Dims));
                return;
            }
            case "Clip":
            {
                var x = Lookup(inputs[0]!, "Clamp");
                double lo = (double)args[0]!, hi = (double)args[1]!;
                var min = double.IsNegativeInfinity(lo) ? null : G.Scalar(lo, x.Type);
                var max = double.IsPositiveInfinity(hi) ? null : G.Scalar(hi, x.Type);
                Bind((Tensor)result, G.Node("Clip", [x, min, max], x.Type, x.Dims));
                return;
            }
            case "ReduceSum":
            {
                var x = Lookup(inputs[0]!, "Sum");
                Bind((Tensor)result, G.Reduce("ReduceSum", x, [(int)args[0]!], (bool)args[1]!, x.Type));
                return;
            }
            case "ReduceMean":
            {
                var x = Lookup(inputs[0]!, "Mean");
                int[]? axes = args[0] is int d ? (x.Rank == 0 ? null : [d]) : null;
                Bind((Tensor)result, G.Reduce("ReduceMean", x, axes, (bool)args[1]!, x.Type));
                return;
            }
            case "MaxDim" or "MinDim":
            {
                var (values, indices) = ((Tensor, Tensor))result;
                var x = Lookup(inputs[0]!, kind == "MaxDim" ? "Max" : "Min");
                int d = (int)args[0]!; bool keep = (bool)args[1]!;
                if (x.Rank == 0)
                {
                    Bind(values, x);
                    Bind(indices, G.Scalar(0, OnnxElementType.Int64));
                    return;
                }
                Bind(values, G.Reduce(kind == "MaxDim" ? "ReduceMax" : "ReduceMin", x, [d], keep, x.Type));
                var idxDims = keep ? x.Dims.Select((s, i) => i == d ? SymDim.Const(1) : s).ToArray() : x.Dims.Where((_, i) => i != d).ToArray();
                Bind(indices, G.Node(kind == "MaxDim" ? "ArgMax" : "ArgMin", [x], OnnxElementType.Int64, idxDims,
                    OnnxAttribute.Of("axis", (long)d), OnnxAttribute.Of("keepdims", keep ? 1L : 0L)));
                return;
            }
            case "LayerNorm":
            {
                var r = (Tensor)result;
                var x = Lookup(inputs[0]!, "LayerNorm");
                int k = (int)args[0]!;
                double eps = (double)args[1]!;
                var normalized = inputs[0]!.ShapeRef[^k..];
                // ONNX's LayerNormalization needs a scale: ones when the layer has no weight.
                Value scale;
                if (inputs[1] is { } w) scale = Lookup(w, "LayerNorm");
                else
                {
                    int n = normalized.Aggregate(1, (a, b) => a * b);
                    long[] dims = [.. normalized.Select(d => (long)d)];
                    scale = G.Initializer(x.Type == OnnxElementType.Double
                        ? OnnxTensor.FromDoubles("layernorm_ones", dims, Enumerable.Repeat(1.0, n).ToArray())
                        : OnnxTensor.FromFloats("layernorm_ones", dims, Enumerable.Repeat(1f, n).ToArray()));
                }
                Value? shift = inputs[2] is { } b ? Lookup(b, "LayerNorm") : null;
                Bind(r, G.Node("LayerNormalization", [x, scale, shift], x.Type, x.Dims,
                    OnnxAttribute.Of("axis", (long)-k), OnnxAttribute.Of("epsilon", (float)eps)));
                return;
            }
            case "Where":
            {
                var r = (Tensor)result;
                var type = ElementType(r.DType);
                var c = Lookup(inputs[0]!, "Where");
                var a = Lookup(inputs[1]!, "Where");
                var b = Lookup(inputs[2]!, "Where");
                if (a.Type != type) a = G.Cast(a, type);
                if (b.Type != type) b = G.Cast(b, type);
                // Our conditions are 0/1 numbers (no bool dtype): nonzero is true, as a Cast to bool makes it.
                var cond = c.Type == OnnxElementType.Bool ? c : G.Cast(c, OnnxElementType.Bool);
                var dims = BroadcastDims(new Value("", type, BroadcastDims(cond, a)), b);
                Bind(r, G.Node("Where", [cond, a, b], type, dims));
                return;
            }
            case "TopK":
            {
                var (values, indices) = ((Tensor, Tensor))result;
                var x = Lookup(inputs[0]!, "TopK");
                int k = (int)args[0]!, d = (int)args[1]!;   // never 0-dim: TopK of a 0-dim tensor reports its 1-dim form
                // k equal to a dynamic dimension's example is that dimension (x.TopK(x.Size(-1)) sorts the whole axis at
                // any length); any other k that equals a dynamic size was read with Size(...) and would be frozen.
                Value kValue;
                SymDim kDim;
                if (!x.Dims[d].IsConst && x.Dims[d].Example == k) (kValue, kDim) = (G.Dim(x.Dims[d]), x.Dims[d]);
                else
                {
                    CheckBakedSize(k, "TopK");
                    (kValue, kDim) = (G.Ints(k), SymDim.Const(k));
                }
                var dims = x.Dims.Select((s, i) => i == d ? kDim : s).ToArray();
                // ONNX's TopK orders equal values by index and sorts, as ours; it does not order NaN (ours and PyTorch's
                // count it as the largest), so a NaN input can differ.
                var outs = G.NodeMulti("TopK", [x, kValue], [(x.Type, dims), (OnnxElementType.Int64, dims)],
                    OnnxAttribute.Of("axis", (long)d), OnnxAttribute.Of("largest", (bool)args[2]! ? 1L : 0L), OnnxAttribute.Of("sorted", 1L));
                Bind(values, outs[0]);
                Bind(indices, outs[1]);
                return;
            }
            case "Softmax" or "LogSoftmax":
            {
                var x = Lookup(inputs[0]!, kind);
                Bind((Tensor)result, G.Node(kind, [x], x.Type, x.Dims, OnnxAttribute.Of("axis", (long)(int)args[0]!)));
                return;
            }
            case "MatMul":
                EmitMatMul((Tensor)result, inputs[0]!, inputs[1]!);
                return;
            case "Split":
            {
                var parts = (Tensor[])result;
                var x = Lookup(inputs[0]!, "Split");
                int d = (int)args[0]!;
                var sizes = (int[])args[1]!;
                if (!x.Dims[d].IsConst && parts.Length > 1)
                    throw LoopError(x, d, "Unbind / SplitWithSizes");
                if (parts.Length == 1) { Bind(parts[0], x); return; }
                var outs = G.NodeMulti("Split", [x, G.Ints(sizes.Select(s => (long)s).ToArray())],
                    sizes.Select(s => ((OnnxElementType, SymDim[])?)(x.Type, x.Dims.Select((dd, i) => i == d ? SymDim.Const(s) : dd).ToArray())).ToArray(),
                    OnnxAttribute.Of("axis", (long)d));
                for (int i = 0; i < parts.Length; i++) Bind(parts[i], outs[i]);
                return;
            }
            case "FullLike":
            {
                var r = (Tensor)result;
                var x = Lookup(inputs[0]!, "ZerosLike/OnesLike/FullLike");
                var type = ElementType(r.DType);
                var valueTensor = TensorData(Tensor.Full([1], (double)args[0]!, r.DType), "value");
                var shape = G.Node("Shape", [x], OnnxElementType.Int64, [SymDim.Const(x.Rank)]);
                Bind(r, G.Node("ConstantOfShape", [shape], type, x.Dims, OnnxAttribute.Of("value", valueTensor)));
                return;
            }
            case "Linear":
                EmitLinear((Tensor)result, inputs[0]!, inputs[1]!, inputs[2]);
                return;
            case "Embedding":
            {
                if (args[0] is double maxNorm)
                    throw new OnnxExportException($"Embedding with max_norm ({maxNorm.ToString(CultureInfo.InvariantCulture)}) cannot be exported: it renormalises the looked-up rows of the weight in place, which an ONNX graph with fixed weights cannot do. Export a model built with maxNorm: null (renormalise the weight once before exporting if needed).");
                var ids = Lookup(inputs[0]!, "Embedding");
                var w = Lookup(inputs[1]!, "Embedding");
                Bind((Tensor)result, G.Node("Gather", [w, ids], w.Type, [.. ids.Dims, w.Dims[1]], OnnxAttribute.Of("axis", 0L)));
                return;
            }
            case "DropoutTraining":
                throw new OnnxExportException($"Dropout in training mode (p = {((double)args[0]!).ToString(CultureInfo.InvariantCulture)}) cannot be exported: it draws a random mask on every call. Call model.Eval() before exporting (dropout is the identity in evaluation mode).");
            case "RecurrentDense" or "RecurrentPacked" or "RecurrentPadded" or "Cell" or "PackPadded" or "PadPacked":
                EmitRecurrent(kind, result, inputs, args);
                return;
            default:
                throw new OnnxExportException($"{kind} is not supported by the ONNX exporter.");
        }
    }

    // ------------------------------------------------------------------ shapes

    private static SymDim Prefer(SymDim a, SymDim b) => a.IsConst && !b.IsConst ? b : a;

    /// <summary>NumPy broadcasting of two symbolic shapes (the example sizes decide which side broadcasts).</summary>
    private static SymDim[] BroadcastDims(Value a, Value b)
    {
        int rank = Math.Max(a.Rank, b.Rank);
        var dims = new SymDim[rank];
        for (int i = 0; i < rank; i++)
        {
            var da = i - (rank - a.Rank) is var ia && ia >= 0 ? a.Dims[ia] : SymDim.Const(1);
            var db = i - (rank - b.Rank) is var ib && ib >= 0 ? b.Dims[ib] : SymDim.Const(1);
            if (da.Example == 1 && db.Example != 1) dims[i] = db;
            else if (db.Example == 1 && da.Example != 1) dims[i] = da;
            else dims[i] = Prefer(da, db);
        }
        return dims;
    }

    private void CheckBakedSize(long size, string op)
    {
        if (size < 2) return;
        var s = _symbols.FirstOrDefault(s => s.Example == size);
        if (s is null) return;
        throw new OnnxExportException(
            $"{op}: the target size {size} equals the size of the dynamic dimension '{s.Name}' in the example; a size read with Size(...) " +
            "would be frozen into the graph. Derive the shape from a tensor (e.g. Expand to another tensor's shape with broadcasting ops), make the " +
            "dimension static in OnnxExportOptions.DynamicAxes, or export with example sizes that differ from the model's fixed sizes.");
    }

    /// <summary>Reshape of <paramref name="x"/> (sizes <paramref name="inSizes"/>) to the sizes <paramref name="outSizes"/>, keeping dynamic dims dynamic.</summary>
    private Value Reshape(Value x, ReadOnlySpan<int> inSizes, ReadOnlySpan<int> outSizes, string op)
    {
        var outDims = ReshapeDims(x, inSizes.ToArray(), outSizes.ToArray(), op);
        if (outDims.Length == x.Rank && outDims.Select((d, i) => d.Equals(x.Dims[i])).All(b => b)) return x;
        var spec = new long[outDims.Length];
        var dynamic = new List<int>();
        for (int j = 0; j < outDims.Length; j++)
        {
            if (outDims[j].IsConst) spec[j] = outDims[j].ConstValue;
            else if (j < x.Rank && x.Dims[j].Equals(outDims[j])) spec[j] = 0;
            else dynamic.Add(j);
        }
        Value shape;
        if (dynamic.Count <= 1)
        {
            if (dynamic.Count == 1) spec[dynamic[0]] = -1;
            shape = G.Ints(spec);
        }
        else
        {
            // Two or more sizes not copied from the input: compute all but the last (that one is -1).
            var pieces = new List<Value?>();
            for (int j = 0; j < outDims.Length; j++)
                pieces.Add(dynamic.Contains(j) && j != dynamic[^1] ? G.Dim(outDims[j]) : G.Ints(j == dynamic[^1] ? -1 : spec[j]));
            shape = G.Node("Concat", pieces.ToArray(), OnnxElementType.Int64, [SymDim.Const(outDims.Length)], OnnxAttribute.Of("axis", 0L));
        }
        return G.Node("Reshape", [x, shape], x.Type, outDims);
    }

    /// <summary>
    /// The symbolic sizes after a reshape: dims are grouped where the running products of the example sizes meet; a
    /// group with one output dim takes the product of its input dims; a group that splits a dynamic dim is factored
    /// by the example sizes (refused when two factorings fit: the sizes coincide).
    /// </summary>
    private SymDim[] ReshapeDims(Value x, int[] a, int[] b, string op)
    {
        var result = new SymDim[b.Length];
        if (a.Contains(0) || b.Contains(0) || x.Dims.All(d => d.IsConst))
        {
            for (int j = 0; j < b.Length; j++) result[j] = SymDim.Const(b[j]);
            return result;
        }
        int i = 0, k = 0;
        while (i < a.Length || k < b.Length)
        {
            if (k < b.Length && b[k] == 1) { result[k++] = SymDim.Const(1); continue; }
            if (i < a.Length && a[i] == 1) { i++; continue; }
            if (i >= a.Length || k >= b.Length) throw new InvalidOperationException("internal error: reshape sizes do not match");
            var gi = new List<int> { i }; var gk = new List<int> { k };
            long pa = a[i++], pb = b[k++];
            while (pa != pb)
            {
                if (pa < pb) { gi.Add(i); pa *= a[i++]; }
                else { gk.Add(k); pb *= b[k++]; }
            }
            var expr = gi.Select(g => x.Dims[g]).Aggregate((p, q) => p * q);
            if (gk.Count == 1) { result[gk[0]] = expr; continue; }
            if (expr.IsConst) { foreach (var g in gk) result[g] = SymDim.Const(b[g]); continue; }
            if (!expr.IsMonomial(out long coeff, out var syms))
                throw new OnnxExportException($"{op}: cannot split the dynamic size {expr} into [{string.Join(", ", gk.Select(g => b[g]))}] in a graph. Reshape only along whole dynamic dimensions (e.g. View(-1, hidden)).");
            var solutions = new Dictionary<string, SymDim[]>(StringComparer.Ordinal);
            int n = gk.Count;
            var assign = new int[syms.Length];
            long total = (long)Math.Pow(n, syms.Length);
            for (long code = 0; code < total; code++)
            {
                long c = code;
                for (int s = 0; s < syms.Length; s++) { assign[s] = (int)(c % n); c /= n; }
                var parts = new SymDim[n];
                long constProduct = 1;
                bool ok = true;
                for (int q = 0; q < n && ok; q++)
                {
                    long v = 1;
                    var dim = SymDim.Const(1);
                    for (int s = 0; s < syms.Length; s++)
                        if (assign[s] == q) { v *= syms[s].Example; dim *= SymDim.Of(syms[s]); }
                    if (b[gk[q]] % v != 0) { ok = false; break; }
                    long kq = b[gk[q]] / v;
                    constProduct *= kq;
                    parts[q] = dim * SymDim.Const(kq);
                }
                if (!ok || constProduct != coeff) continue;
                solutions[string.Join("|", parts.Select(p => p.ToString()))] = parts;
            }
            if (solutions.Count != 1)
                throw new OnnxExportException(solutions.Count == 0
                    ? $"{op}: cannot tell how the dynamic size {expr} splits into [{string.Join(", ", gk.Select(g => b[g]))}]."
                    : $"{op}: the dynamic size {expr} splits into [{string.Join(", ", gk.Select(g => b[g]))}] in more than one way because sizes of the example coincide ({string.Join(" or ", solutions.Keys.Select(k => "[" + k.Replace("|", ", ") + "]"))}). Export with example sizes that differ from each other and from the model's fixed sizes.");
            var sol = solutions.Values.First();
            for (int q = 0; q < n; q++) result[gk[q]] = sol[q];
        }
        return result;
    }

    // ------------------------------------------------------------------ slicing

    private void EmitIndex(Tensor result, Tensor x0, TensorIndex[] indices)
    {
        var cur = Lookup(x0, "the indexer x[...]");
        var sizes = x0.ShapeRef.ToList();
        int d = 0;
        foreach (var ix in indices)
        {
            int size = sizes[d];
            if (ix.IsRange)
            {
                var (start, length) = ix.Range.GetOffsetAndLength(size);
                var r = ix.Range;
                // Whole as written (.., 0.., ..^0), or the whole of a fixed dimension: nothing to slice. A range with
                // fixed ends (x[..3]) is a slice of that many positions even where the example has exactly that many.
                if (start == 0 && length == size && (cur.Dims[d].IsConst || !r.Start.IsFromEnd && r.End.IsFromEnd && r.End.Value == 0)) { d++; continue; }
                long s = r.Start.IsFromEnd ? -r.Start.Value : r.Start.Value;
                long e = r.End.IsFromEnd ? (r.End.Value == 0 ? long.MaxValue : -r.End.Value) : r.End.Value;
                var dim = cur.Dims[d];
                SymDim newSize;
                if (dim.IsConst) newSize = SymDim.Const(length);
                else
                {
                    var startExpr = r.Start.IsFromEnd ? dim - r.Start.Value : SymDim.Const(r.Start.Value);
                    var endExpr = r.End.IsFromEnd ? dim - r.End.Value : SymDim.Const(r.End.Value);
                    newSize = endExpr - startExpr;
                    if (!r.Start.IsFromEnd && !r.End.IsFromEnd) RecordSteps(cur, d, start, length, "the indexer x[a..b]");
                }
                if (s == 0 && e == long.MaxValue) { d++; continue; }
                cur = G.Slice(cur, d, s, e, newSize);
                sizes[d] = length;
                d++;
            }
            else
            {
                long idx = ix.Index.IsFromEnd ? -ix.Index.Value : ix.Index.Value;
                if (!ix.Index.IsFromEnd)
                {
                    RecordSteps(cur, d, idx, 1, "the indexer x[i]");
                    CheckLastPosition(cur, d, idx, $"the indexer's position {idx} along dimension {d}", "the indexer's ^1");
                }
                var dims = cur.Dims.Where((_, q) => q != d).ToArray();
                cur = G.Node("Gather", [cur, G.Scalar(idx, OnnxElementType.Int64)], cur.Type, dims, OnnxAttribute.Of("axis", (long)d));
                sizes.RemoveAt(d);
            }
        }
        Bind(result, cur);
    }

    private void EmitNarrow(Tensor result, Tensor x0, int d, int requestedStart, int length)
    {
        var x = Lookup(x0, "Narrow");
        int size = x0.ShapeRef[d];
        int start = requestedStart < 0 ? requestedStart + size : requestedStart;
        var dim = x.Dims[d];
        bool toEnd = start + length == size;
        if (dim.IsConst)
        {
            if (start == 0 && length == size) Bind(result, x);
            else Bind(result, G.Slice(x, d, start, start + length, SymDim.Const(length)));
            return;
        }
        if (requestedStart < 0)
        {
            // Counted from the end, as written: the same positions from the end at any length.
            long s = requestedStart, e = toEnd ? long.MaxValue : requestedStart + length;
            Bind(result, G.Slice(x, d, s, e, SymDim.Const(length)));
            return;
        }
        RecordSteps(x, d, start, length, "Narrow / Split / Chunk");
        // Narrow takes a length, never "to the end": where the example's slice ends at the dimension's end, the length
        // may be a fixed number or the example's size minus start (x.Size(d) - start), and the two graphs differ at
        // any other length. A trace cannot tell them apart, so it refuses instead of guessing.
        if (toEnd)
            throw new OnnxExportException(
                $"Narrow({d}, {start}, {length}) (or the last piece of a Split / Chunk, whose pieces' sizes come from the example): the slice ends at the end of the dynamic dimension {dim} (size {size} in the example), " +
                $"so the trace cannot tell a fixed length {length} from \"the rest of the dimension\" (x.Size({d}) - {start}). " +
                (start == 0 ? "For the whole dimension, drop the Narrow. " : $"For the rest of the dimension, use the indexer x[{start}..] along dimension {d}, which keeps its meaning at any length. ") +
                "For a fixed length, give an example input of another size along that dimension.");
        Bind(result, G.Slice(x, d, start, start + length, SymDim.Const(length)));
    }

    /// <summary>
    /// Fixed positions taken along a dynamic dimension: when they cover every step of the example, the forward is
    /// a .NET loop over that dimension, which the trace would unroll to the example's length. Refused.
    /// </summary>
    private void RecordSteps(Value x, int d, long start, long count, string op)
    {
        var dim = x.Dims[d];
        if (dim.IsConst) return;
        if (start == 0 && count >= dim.Example) return;   // one slice of the whole example: not a step-by-step loop
        if (!_selectedSteps.TryGetValue((x, d), out var set)) _selectedSteps[(x, d)] = set = new HashSet<long>();
        for (long t = start; t < start + count; t++) set.Add(t);
        if (set.Count >= dim.Example && dim.Example >= 2) throw LoopError(x, d, op);
    }

    /// <summary>
    /// A fixed position that is the example's last along a dynamic dimension: x.Select(0, x.Size(0) - 1) (the last
    /// step, at any length) and a fixed index that happens to be the last look the same to a trace. Refused.
    /// </summary>
    private static void CheckLastPosition(Value x, int d, long index, string what, string fromEnd)
    {
        var dim = x.Dims[d];
        if (dim.IsConst || dim.Example < 2 || index != dim.Example - 1) return;
        throw new OnnxExportException(
            $"{what}: the last position of the dynamic dimension {dim} (size {dim.Example} in the example), so the trace cannot tell " +
            $"a fixed index {index} from \"the last position\" (x.Size({d}) - 1). For the last position use {fromEnd}, which keeps its " +
            "meaning at any length; for a fixed index, give an example input of another size along that dimension.");
    }

    private static OnnxExportException LoopError(Value x, int d, string op) => new(
        $"{op}: the forward takes every position of the dynamic dimension {x.Dims[d]} (size {x.Dims[d].Example} in the example) one by one: " +
        "a .NET loop over it, which the trace would unroll to exactly this length, so the graph would be wrong for any other length. " +
        "Use a recurrent layer (Rnn, Lstm, Gru: one ONNX node for all steps) or whole-tensor ops, or make that dimension static in " +
        "OnnxExportOptions.DynamicAxes if the model really has a fixed length.");

    // ------------------------------------------------------------------ products

    private void EmitMatMul(Tensor r, Tensor a0, Tensor b0)
    {
        var a = Lookup(a0, "MatMul"); var b = Lookup(b0, "MatMul");
        var dims = new List<SymDim>();
        if (a.Rank >= 2 || b.Rank >= 2)
        {
            var ba = a.Rank > 2 ? a.Dims[..^2] : [];
            var bb = b.Rank > 2 ? b.Dims[..^2] : [];
            if (ba.Length > 0 || bb.Length > 0)
                dims.AddRange(BroadcastDims(new Value("a", a.Type, ba), new Value("b", b.Type, bb)));
            if (a.Rank >= 2) dims.Add(a.Dims[^2]);
            if (b.Rank >= 2) dims.Add(b.Dims[^1]);
        }
        Bind(r, G.Node("MatMul", [a, b], a.Type, dims.ToArray()));
    }

    private void EmitLinear(Tensor r, Tensor input, Tensor weight, Tensor? bias)
    {
        var x = Lookup(input, "Linear");
        var w = Lookup(weight, "Linear");
        var bv = LookupOptional(bias, "Linear");
        var outDim = w.Dims[0];
        if (x.Rank == 2)
        {
            Bind(r, G.Node("Gemm", [x, w, bv], x.Type, [x.Dims[0], outDim], OnnxAttribute.Of("transB", 1L)));
            return;
        }
        var wt = G.Transpose(w, [1, 0]);
        var dims = x.Dims[..^1].Append(outDim).ToArray();
        var y = G.Node("MatMul", [x, wt], x.Type, dims);
        if (bv is not null) y = G.Node("Add", [y, bv], x.Type, dims);
        Bind(r, y);
    }
}
