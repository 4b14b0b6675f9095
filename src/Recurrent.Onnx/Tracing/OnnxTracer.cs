// The recorder the exporter installs while the forward runs once (see src/Recurrent/Tracing). It keeps, for every
// tensor object, what it is to the graph:
// - a graph value (an input, a parameter, or the output of a recorded op),
// - a constant (made by a factory, captured from outside, or computed by ops from constants only: folded), which
//   becomes an initializer when a recorded op uses it,
// - or nothing the trace can explain: a tensor made by an op that did not report itself. Using such a tensor fails
//   the export with the op's name (from its autograd record) — the graph is never silently wrong.
// Op reports are turned into ONNX nodes by the emitters in OnnxTracer.Ops.cs and OnnxTracer.Recurrent.cs.
using System.Globalization;
using Recurrent.Nn;
using Recurrent.Onnx.Proto;
using Recurrent.Tracing;

namespace Recurrent.Onnx.Tracing;

internal sealed partial class OnnxTracer : TraceRecorder
{
    private readonly Dictionary<Tensor, Value> _values = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Tensor> _born = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Tensor> _constants = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Tensor, string> _pending = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Tensor, string> _packedData = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Tensor, Tensor> _aliases = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<PackedSequence, PackedValue> _packed = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Tensor, Value> _constantValues = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Array, List<(string Key, Tensor Tensor)>> _parameters = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, Value> _parameterValues = new(StringComparer.Ordinal);
    private readonly Dictionary<Module, string> _modulePaths = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<(Value, int), HashSet<long>> _selectedSteps = new();
    private readonly List<Symbol> _symbols = new();
    private readonly HashSet<int> _pinned = new();
    private int _constantCount;

    public OnnxTracer(long opset, Module? module)
    {
        G = new GraphBuilder(opset);
        if (module is not null)
        {
            foreach (var (key, t) in module.StateDict())
            {
                var storage = t.Data;
                if (!_parameters.TryGetValue(storage, out var list)) _parameters[storage] = list = new();
                list.Add((key, t));
            }
            foreach (var (path, m) in module.NamedModules())
                _modulePaths.TryAdd(m, path.Length == 0 ? "" : path + ".");
        }
    }

    public GraphBuilder G { get; }

    /// <summary>Symbols whose dimension an op required to be a fixed number (declared static in the input).</summary>
    public IReadOnlySet<int> Pinned => _pinned;

    // ------------------------------------------------------------------ inputs and symbols

    public Symbol NewSymbol(string name, long example)
    {
        var s = new Symbol(_symbols.Count, name, example);
        _symbols.Add(s);
        return s;
    }

    /// <summary>
    /// A symbol of the trace's own (not a user's axis name) under a name no other symbol has: sizes are told apart by
    /// their printed form, so a second <c>max_length</c> would read the first one's runtime value.
    /// </summary>
    public Symbol NewUniqueSymbol(string baseName, long example)
    {
        string name = baseName;
        for (int n = 2; _symbols.Any(x => x.Name == name); n++) name = baseName + "_" + n.ToString(CultureInfo.InvariantCulture);
        return NewSymbol(name, example);
    }

    /// <summary>Registers a graph input: <paramref name="dims"/> are its symbolic sizes.</summary>
    public Value AddInput(Tensor example, string name, SymDim[] dims)
    {
        var v = new Value(name, ElementType(example.DType), dims);
        _values[example] = v;
        return v;
    }

    /// <summary>The graph value of an output tensor of the forward.</summary>
    public Value Output(Tensor t, int index)
    {
        using var _ = Suspend();
        return Lookup(t, string.Create(CultureInfo.InvariantCulture, $"output {index} of the forward"));
    }

    /// <summary>Stops reporting while the exporter itself runs tensor code (its own ops must not be traced).</summary>
    public SuspendScope Suspend() => new(this);

    internal readonly struct SuspendScope : IDisposable
    {
        private readonly OnnxTracer _t;
        public SuspendScope(OnnxTracer t) { _t = t; t.Depth++; }
        public void Dispose() => _t.Depth--;
    }

    // ------------------------------------------------------------------ the hooks

    internal override void Created(Tensor tensor) => _born.Add(tensor);

    internal override void Constant(Tensor tensor)
    {
        if (Depth == 0) _constants.Add(tensor);
    }

    internal override void Autograd(string name, Tensor[] results, Tensor?[] inputs)
    {
        if (Depth > 0) return;
        if (results.Length == 0 || _values.ContainsKey(results[0])) return;   // reported by the op itself
        using var _ = Suspend();
        bool graph = false;
        foreach (var t in inputs) if (t is not null && !IsConstant(t)) { graph = true; break; }
        if (!graph)
        {
            foreach (var r in results) _constants.Add(r);          // computed from constants only: folded
            return;
        }
        var reason = UnknownReason(inputs);
        if (reason is null && results.Length == 1 && EmitAutograd(name, results[0], inputs)) return;
        reason ??= $"{OpName(name)} is not supported by the ONNX exporter (autograd node {name})";
        foreach (var r in results) _pending[r] = reason;
    }

    internal override void Op(string kind, object result, Tensor?[] inputs, params object?[] args)
    {
        if (Depth > 0) return;
        using var _ = Suspend();
        if (kind == "Identity" && result is Tensor alias && inputs[0] is { } source && !_values.ContainsKey(source) && _born.Contains(source) && !_constants.Contains(source))
        {
            // Detach of a result its op has not reported yet (ops detach their own result before recording it):
            // resolved when used.
            _aliases[alias] = source;
            return;
        }
        var outputs = ResultTensors(result);
        bool graph = false;
        foreach (var t in inputs) if (t is not null && !IsConstant(t)) { graph = true; break; }
        if (kind is "RecurrentPacked" or "PadPacked" && args.OfType<PackedSequence>().Any(p => _packed.ContainsKey(p))) graph = true;
        if (kind == "DropoutTraining") Emit(kind, result, inputs, args);   // always refused: a random mask per call
        if (!graph)
        {
            foreach (var r in outputs) { _constants.Add(r); _pending.Remove(r); }
            return;
        }
        if (UnknownReason(inputs) is { } unknown)
        {
            // An input the trace cannot explain (or an op's own result used before the op reported it): an error
            // only if this result is ever used.
            foreach (var r in outputs) _pending[r] = unknown;
            return;
        }
        Emit(kind, result, inputs, args);
        foreach (var r in outputs)
            if (!_values.ContainsKey(r) && !_packedData.ContainsKey(r))
                throw new InvalidOperationException($"internal error: the ONNX emitter of {kind} did not bind all of its outputs");
    }

    internal override void InPlace(string op, Tensor target, Tensor? other)
    {
        if (Depth > 0) return;
        using var _ = Suspend();
        if (!IsConstant(target))
            throw new OnnxExportException($"{op}: an in-place op on a traced tensor (shape {ShapeText(target)}) cannot be exported: ONNX values are immutable. Use the out-of-place form ({op.TrimEnd('_')}) and the value it returns.");
        if (other is not null && !IsConstant(other))
            throw new OnnxExportException($"{op}: writing a traced tensor into a constant (shape {ShapeText(target)}) in place cannot be exported. Build the value with out-of-place ops (Tensor.Cat, Tensor.Stack, Add, Mul, ...).");
        if (IsParameter(target, out var key))
            throw new OnnxExportException($"{op}: the forward changes the parameter '{key}' in place; an exported graph has fixed weights. Change parameters before exporting, not inside the forward.");
        // A later use must see the new values: forget snapshots of this storage.
        var storage = target.Data;
        foreach (var t in _constantValues.Keys.Where(t => !t.IsDisposed && ReferenceEquals(t.Data, storage)).ToList()) _constantValues.Remove(t);
    }

    internal override void ReadValues(string api, Tensor tensor)
    {
        if (Depth > 0) return;
        using var _ = Suspend();
        if (IsConstant(tensor)) return;
        throw new OnnxExportException(
            $"{api}: the forward reads the values of a traced tensor (shape {ShapeText(tensor)}) into .NET. Whatever it does with them " +
            "(a branch, a loop count, a size) would be frozen into the graph for these example inputs only. Keep the computation in tensor ops " +
            "(e.g. ArgMax instead of reading the maximum's index with Item, Tensor.Cat/Stack instead of building arrays).");
    }

    // ------------------------------------------------------------------ classification

    private static IReadOnlyList<Tensor> ResultTensors(object result) => result switch
    {
        Tensor t => [t],
        Tensor[] ts => ts,
        ValueTuple<Tensor, Tensor> p => [p.Item1, p.Item2],
        ValueTuple<Tensor, Tensor, Tensor?> p => p.Item3 is null ? [p.Item1, p.Item2] : [p.Item1, p.Item2, p.Item3],
        ValueTuple<PackedSequence, Tensor, Tensor?> p => p.Item3 is null ? [p.Item1.Data, p.Item2] : [p.Item1.Data, p.Item2, p.Item3],
        PackedSequence p => [p.Data],
        _ => throw new InvalidOperationException($"internal error: unexpected traced result {result.GetType().Name}"),
    };

    /// <summary>Why an input cannot be looked up (null when every input can): the first unexplained input's reason.</summary>
    private string? UnknownReason(Tensor?[] inputs)
    {
        foreach (var t in inputs)
        {
            if (t is null) continue;
            var s = _aliases.TryGetValue(t, out var src) ? src : t;
            if (_values.ContainsKey(s) || IsParameter(s, out _) || IsConstant(s) || _packedData.ContainsKey(s)) continue;
            return _pending.TryGetValue(s, out var reason) ? reason
                : $"an operation that does not support ONNX tracing made a tensor of shape {ShapeText(s)} ({Tensor.DTypeName(s.DType)})";
        }
        return null;
    }

    /// <summary>True when <paramref name="t"/> does not depend on the inputs (a factory result, a capture, a fold) and is no parameter.</summary>
    private bool IsConstant(Tensor t)
    {
        if (_aliases.TryGetValue(t, out var source)) return IsConstant(source);
        if (_values.ContainsKey(t) || _pending.ContainsKey(t) || _packedData.ContainsKey(t)) return false;
        if (IsParameter(t, out _)) return false;
        return !_born.Contains(t) || _constants.Contains(t);
    }

    private bool IsParameter(Tensor t, out string key)
    {
        key = "";
        if (_parameters.Count == 0 || !_parameters.TryGetValue(t.Data, out var list)) return false;
        foreach (var (k, p) in list)
            if (p.IsSameView(t))
            {
                key = k;
                return true;
            }
        return false;
    }

    /// <summary>The graph value for <paramref name="t"/> used by <paramref name="consumer"/>; refuses what the trace cannot explain.</summary>
    private Value Lookup(Tensor t, string consumer)
    {
        if (_values.TryGetValue(t, out var v)) return v;
        if (_aliases.TryGetValue(t, out var source)) return Lookup(source, consumer);
        if (IsParameter(t, out var key))
        {
            if (!_parameterValues.TryGetValue(key, out v))
            {
                v = G.Initializer(TensorData(t, key));
                _parameterValues[key] = v;
            }
            return v;
        }
        if (_pending.TryGetValue(t, out var reason))
            throw new OnnxExportException($"{reason}; used by {consumer}. Rewrite the forward with supported ops (see the README's ONNX section).");
        if (_packedData.TryGetValue(t, out var packedMessage))
            throw new OnnxExportException($"{consumer}: {packedMessage}");
        if (_born.Contains(t) && !_constants.Contains(t))
            throw new OnnxExportException($"an operation that does not support ONNX tracing made a tensor of shape {ShapeText(t)} ({Tensor.DTypeName(t.DType)}); used by {consumer}. Rewrite the forward with supported ops (see the README's ONNX section).");
        if (_constantValues.TryGetValue(t, out v)) return v;
        if (_born.Contains(t)) CheckBakedSizes(t, consumer);
        v = G.Initializer(TensorData(t, string.Create(CultureInfo.InvariantCulture, $"const_{_constantCount++}")));
        _constantValues[t] = v;
        return v;
    }

    private Value? LookupOptional(Tensor? t, string consumer) => t is null ? null : Lookup(t, consumer);

    /// <summary>A constant must not hold a size of the example's dynamic dimensions: it would be frozen into the graph.</summary>
    private void CheckBakedSizes(Tensor t, string consumer)
    {
        if (t.Numel <= 1) return;
        for (int d = 0; d < t.Dim; d++)
        {
            int size = t.ShapeRef[d];
            if (size < 2) continue;
            var s = _symbols.FirstOrDefault(s => s.Example == size);
            if (s is null) continue;
            throw new OnnxExportException(
                $"{consumer} uses a constant of shape {ShapeText(t)} whose dimension {d} equals the size of the dynamic dimension '{s.Name}' " +
                $"in the example ({size}): it was probably built from a size read with Size(...) and would be frozen into the graph. Build it from " +
                "the inputs with tensor ops (e.g. Tensor.ZerosLike), pass it as an input, make that dimension static in OnnxExportOptions.DynamicAxes, " +
                "or export with example sizes that differ from the model's fixed sizes.");
        }
    }

    /// <summary>True when <paramref name="t"/> is a constant whose elements are all zero (an omitted recurrent initial state).</summary>
    private bool IsZeroConstant(Tensor? t)
    {
        if (t is null || !IsConstant(t)) return false;
        foreach (var x in t.ToArray<double>()) if (x != 0) return false;
        return true;
    }

    internal static OnnxTensor TensorData(Tensor t, string name)
    {
        var dims = t.ShapeRef.Select(d => (long)d).ToArray();
        var c = t.Detach().Contiguous();
        return t.DType switch
        {
            DType.Float32 => OnnxTensor.FromFloats(name, dims, c.AsSpan<float>()),
            DType.Float64 => OnnxTensor.FromDoubles(name, dims, c.AsSpan<double>()),
            _ => OnnxTensor.FromInt64s(name, dims, c.AsSpan<long>()),
        };
    }

    internal static OnnxElementType ElementType(DType t) => t switch
    {
        DType.Float32 => OnnxElementType.Float,
        DType.Float64 => OnnxElementType.Double,
        _ => OnnxElementType.Int64,
    };

    /// <summary>Binds <paramref name="t"/> to <paramref name="v"/>, checking that the symbolic shape evaluates to the real one.</summary>
    private void Bind(Tensor t, Value v)
    {
        if (v.Rank != t.Dim || v.Type != ElementType(t.DType))
            throw new InvalidOperationException($"internal error: traced value {v} does not match the tensor {ShapeText(t)} {t.DType}");
        for (int i = 0; i < v.Rank; i++)
            if (v.Dims[i].Example != t.ShapeRef[i])
                throw new InvalidOperationException($"internal error: traced value {v} has size {v.Dims[i].Example} in dimension {i}, the tensor {ShapeText(t)}");
        _values[t] = v;
        _pending.Remove(t);
        _constants.Remove(t);
    }

    /// <summary>Marks symbols of <paramref name="d"/> as fixed (an op needs this size as a number).</summary>
    private void Pin(SymDim d)
    {
        foreach (var s in d.AllSymbols) _pinned.Add(s.Id);
    }

    internal static string ShapeText(Tensor t) => "[" + string.Join(", ", t.ShapeRef) + "]";

    /// <summary>"AddBackward0" -> "Add": the op's name as a user knows it.</summary>
    private static string OpName(string autogradName)
    {
        var n = autogradName;
        int i = n.IndexOf("Backward", StringComparison.Ordinal);
        if (i > 0) n = n[..i];
        return n;
    }
}
