// The graph under construction: unique value names, nodes in execution order (so the graph is topologically sorted),
// initializers, cached constants, and the runtime form of symbolic dimensions (Shape -> Mul/Add of the dynamic input
// sizes) for the few ops that need a size at run time (Reshape with two or more dynamic dims, Range, ...).
using System.Globalization;
using Recurrent.Onnx.Proto;

namespace Recurrent.Onnx.Tracing;

/// <summary>A value of the graph: its name, element type and symbolic shape.</summary>
internal sealed class Value(string name, OnnxElementType type, SymDim[] dims)
{
    public string Name { get; } = name;
    public OnnxElementType Type { get; } = type;
    public SymDim[] Dims { get; } = dims;
    public int Rank => Dims.Length;
    public override string ToString() => $"{Name}: {Type}[{string.Join(", ", Dims.Select(d => d.ToString()))}]";
}

internal sealed class GraphBuilder
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Value> _constCache = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Value> _dimCache = new(StringComparer.Ordinal);
    private readonly Dictionary<int, Func<Value>> _symbolSources = new();
    private int _nodeCount;

    public GraphBuilder(long opset) => Opset = opset;

    public long Opset { get; }
    public List<OnnxNode> Nodes { get; } = new();
    public List<OnnxTensor> Initializers { get; } = new();

    /// <summary>A name not used yet, from <paramref name="hint"/> (the hint itself when free).</summary>
    public string Fresh(string hint)
    {
        if (_names.Add(hint)) return hint;
        for (int i = 1; ; i++)
        {
            var n = string.Create(CultureInfo.InvariantCulture, $"{hint}_{i}");
            if (_names.Add(n)) return n;
        }
    }

    /// <summary>Reserves a name (a graph input) so that no other value takes it.</summary>
    public bool Reserve(string name) => _names.Add(name);

    /// <summary>Adds a node with one output.</summary>
    public Value Node(string op, Value?[] inputs, OnnxElementType type, SymDim[] dims, params OnnxAttribute[] attributes) =>
        NodeMulti(op, inputs, [(type, dims)], attributes)[0];

    /// <summary>Adds a node with several outputs (a null output type leaves that output unnamed, i.e. unused).</summary>
    public Value[] NodeMulti(string op, Value?[] inputs, (OnnxElementType Type, SymDim[] Dims)?[] outputs, params OnnxAttribute[] attributes)
    {
        var outs = new Value[outputs.Length];
        var names = new string[outputs.Length];
        for (int i = 0; i < outputs.Length; i++)
        {
            if (outputs[i] is { } o)
            {
                outs[i] = new Value(Fresh(op.ToLowerInvariant() + "_out"), o.Type, o.Dims);
                names[i] = outs[i].Name;
            }
            else names[i] = "";
        }
        // Trailing omitted inputs are dropped; inner ones are "".
        int n = inputs.Length;
        while (n > 0 && inputs[n - 1] is null) n--;
        var ins = new string[n];
        for (int i = 0; i < n; i++) ins[i] = inputs[i]?.Name ?? "";
        int m = names.Length;
        while (m > 0 && names[m - 1].Length == 0) m--;
        Nodes.Add(new OnnxNode(op, string.Create(CultureInfo.InvariantCulture, $"{op}_{_nodeCount++}"), ins, names[..m], attributes.ToList()));
        return outs;
    }

    public Value Initializer(OnnxTensor t)
    {
        var name = Fresh(t.Name);
        Initializers.Add(new OnnxTensor(name, t.Type, t.Dims, t.RawData));
        return new Value(name, t.Type, t.Dims.Select(SymDim.Const).ToArray());
    }

    /// <summary>A 1-D int64 constant (cached: one initializer per distinct content).</summary>
    public Value Ints(params long[] values)
    {
        var key = "i64:" + string.Join(",", values);
        if (_constCache.TryGetValue(key, out var v)) return v;
        v = Initializer(OnnxTensor.FromInt64s("const_i64", [values.Length], values));
        _constCache[key] = v;
        return v;
    }

    /// <summary>A 0-dim constant of <paramref name="type"/> holding <paramref name="value"/> (cached).</summary>
    public Value Scalar(double value, OnnxElementType type)
    {
        var key = string.Create(CultureInfo.InvariantCulture, $"s:{type}:{value:R}");
        if (_constCache.TryGetValue(key, out var v)) return v;
        OnnxTensor t = type switch
        {
            OnnxElementType.Float => OnnxTensor.FromFloats("const_scalar", [], [(float)value]),
            OnnxElementType.Double => OnnxTensor.FromDoubles("const_scalar", [], [value]),
            OnnxElementType.Int64 => OnnxTensor.FromInt64s("const_scalar", [], [(long)value]),
            _ => throw new ArgumentException($"no scalar constant of type {type}"),
        };
        v = Initializer(t);
        _constCache[key] = v;
        return v;
    }

    // ------------------------------------------------------------------ runtime sizes

    /// <summary>Defines how to compute symbol <paramref name="s"/> at run time: a 1-D int64 value of one element.</summary>
    public void DefineSymbol(Symbol s, Func<Value> source) => _symbolSources[s.Id] = source;

    public bool HasSymbolSource(Symbol s) => _symbolSources.ContainsKey(s.Id);

    /// <summary>The size <paramref name="d"/> as a 1-D int64 tensor of one element, computed in the graph.</summary>
    public Value Dim(SymDim d)
    {
        var key = d.ToString();
        if (_dimCache.TryGetValue(key, out var cached)) return cached;
        Value result;
        if (d.IsConst) result = Ints(d.ConstValue);
        else
        {
            Value? sum = null;
            foreach (var (syms, coeff) in d.Terms)
            {
                Value term;
                if (syms.Length == 0) term = Ints(coeff);
                else
                {
                    term = SymbolValue(syms[0]);
                    for (int i = 1; i < syms.Length; i++) term = Node("Mul", [term, SymbolValue(syms[i])], OnnxElementType.Int64, [SymDim.Const(1)]);
                    if (coeff != 1) term = Node("Mul", [term, Ints(coeff)], OnnxElementType.Int64, [SymDim.Const(1)]);
                }
                sum = sum is null ? term : Node("Add", [sum, term], OnnxElementType.Int64, [SymDim.Const(1)]);
            }
            result = sum!;
        }
        _dimCache[key] = result;
        return result;
    }

    private Value SymbolValue(Symbol s)
    {
        var key = "sym:" + s.Id.ToString(CultureInfo.InvariantCulture);
        if (_dimCache.TryGetValue(key, out var v)) return v;
        if (!_symbolSources.TryGetValue(s.Id, out var source))
            throw new InvalidOperationException($"internal error: no runtime source for the dynamic dimension '{s.Name}'");
        v = source();
        _dimCache[key] = v;
        return v;
    }

    /// <summary>A whole shape as a 1-D int64 tensor (constants where static, computed sizes where dynamic).</summary>
    public Value Shape(SymDim[] dims)
    {
        if (dims.All(d => d.IsConst)) return Ints(dims.Select(d => d.ConstValue).ToArray());
        var parts = new List<Value?>();
        var pending = new List<long>();
        foreach (var d in dims)
        {
            if (d.IsConst) { pending.Add(d.ConstValue); continue; }
            if (pending.Count > 0) { parts.Add(Ints(pending.ToArray())); pending.Clear(); }
            parts.Add(Dim(d));
        }
        if (pending.Count > 0) parts.Add(Ints(pending.ToArray()));
        return parts.Count == 1 ? parts[0]! : Node("Concat", parts.ToArray(), OnnxElementType.Int64, [SymDim.Const(dims.Length)], OnnxAttribute.Of("axis", 0L));
    }

    // ------------------------------------------------------------------ common nodes

    public Value Transpose(Value x, int[] perm)
    {
        if (perm.Select((p, i) => p == i).All(b => b)) return x;
        return Node("Transpose", [x], x.Type, perm.Select(p => x.Dims[p]).ToArray(), OnnxAttribute.Of("perm", perm.Select(p => (long)p).ToArray()));
    }

    public Value Unsqueeze(Value x, params int[] axes)
    {
        var dims = x.Dims.ToList();
        foreach (var a in axes.Order()) dims.Insert(a, SymDim.Const(1));
        return Node("Unsqueeze", [x, Ints(axes.Select(a => (long)a).ToArray())], x.Type, dims.ToArray());
    }

    public Value Squeeze(Value x, params int[] axes)
    {
        var dims = x.Dims.Where((_, i) => !axes.Contains(i)).ToArray();
        return Node("Squeeze", [x, Ints(axes.Select(a => (long)a).ToArray())], x.Type, dims);
    }

    public Value Cast(Value x, OnnxElementType to) =>
        x.Type == to ? x : Node("Cast", [x], to, x.Dims, OnnxAttribute.Of("to", (long)to));


    /// <summary>Slice of one axis [start, end) (end long.MaxValue: to the end) with the given resulting size.</summary>
    public Value Slice(Value x, int axis, long start, long end, SymDim size)
    {
        var dims = (SymDim[])x.Dims.Clone();
        dims[axis] = size;
        return Node("Slice", [x, Ints(start), Ints(end), Ints(axis)], x.Type, dims);
    }

    /// <summary>Reduce op with the axes as an input (opset 18+) or an attribute (ReduceMean/Max/Min before 18).</summary>
    public Value Reduce(string op, Value x, int[]? axes, bool keepDims, OnnxElementType type)
    {
        var dims = new List<SymDim>();
        for (int i = 0; i < x.Rank; i++)
        {
            bool reduced = axes is null || axes.Contains(i);
            if (!reduced) dims.Add(x.Dims[i]);
            else if (keepDims) dims.Add(SymDim.Const(1));
        }
        var keep = OnnxAttribute.Of("keepdims", keepDims ? 1L : 0L);
        bool axesAsInput = op == "ReduceSum" || Opset >= 18;
        if (axes is null) return Node(op, [x], type, dims.ToArray(), keep);
        var axesL = axes.Select(a => (long)a).ToArray();
        return axesAsInput
            ? Node(op, [x, Ints(axesL)], type, dims.ToArray(), keep)
            : Node(op, [x], type, dims.ToArray(), keep, OnnxAttribute.Of("axes", axesL));
    }
}
