// The entry point: run a forward once on example inputs under the tracing recorder and write the ONNX model.
using System.Globalization;
using System.Reflection;
using Recurrent.Nn;
using Recurrent.Onnx.Proto;
using Recurrent.Onnx.Tracing;
using Recurrent.Tracing;

namespace Recurrent.Onnx;

/// <summary>One graph input or output of an exported model: its name, element type and dims (a number or a symbolic name).</summary>
/// <param name="Name">The value's name in the graph.</param>
/// <param name="ElementType">ONNX element type name: <c>float</c>, <c>double</c> or <c>int64</c>.</param>
/// <param name="Dims">Each dimension: its fixed size, or the name of a dynamic one (<c>batch</c>, <c>input_0_dim1</c>, <c>seq*batch</c>).</param>
public sealed record OnnxValueDescription(string Name, string ElementType, IReadOnlyList<string> Dims)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {ElementType}[{string.Join(", ", Dims)}]";
}

/// <summary>What an export wrote: the file, the opset, the graph's inputs and outputs and its nodes by op type.</summary>
public sealed class OnnxExportResult
{
    internal OnnxExportResult(string path, OnnxModel model, IReadOnlyList<OnnxValueDescription> inputs, IReadOnlyList<OnnxValueDescription> outputs)
    {
        Path = path;
        Model = model;
        Inputs = inputs;
        Outputs = outputs;
        NodeCounts = model.Nodes.GroupBy(n => n.OpType).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
    }

    /// <summary>The file written.</summary>
    public string Path { get; }

    /// <summary>The opset version of the default ONNX domain.</summary>
    public int Opset => (int)Model.Opset;

    /// <summary>The graph inputs, in the order of the example inputs.</summary>
    public IReadOnlyList<OnnxValueDescription> Inputs { get; }

    /// <summary>The graph outputs, in the order the forward returns them.</summary>
    public IReadOnlyList<OnnxValueDescription> Outputs { get; }

    /// <summary>The number of nodes of each ONNX op type (e.g. <c>LSTM</c>: 2 for a two-layer LSTM).</summary>
    public IReadOnlyDictionary<string, int> NodeCounts { get; }

    /// <summary>The initializer names (parameters by state_dict key, recurrent weights, constants).</summary>
    public IReadOnlyList<string> InitializerNames => Model.Initializers.Select(i => i.Name).ToList();

    internal OnnxModel Model { get; }
}

/// <summary>
/// Exports a forward pass to an ONNX model, as <c>torch.onnx.export</c>: the forward runs once on example inputs
/// while every tensor op is recorded; inputs become graph inputs (with dynamic batch and sequence axes), tensors
/// that are neither inputs nor computed become initializers (named by the module's state_dict keys), and recurrent
/// layers become ONNX RNN / LSTM / GRU nodes. Anything the graph could not reproduce for other inputs (an op without
/// an ONNX mapping, training-mode dropout, a value read into .NET, a loop over a dynamic dimension, a size frozen
/// into a constant) fails the export with an <see cref="OnnxExportException"/> that names it.
/// </summary>
/// <remarks>
/// As with PyTorch's tracer, .NET control flow is not recorded: a branch on a size or a value runs once, for the
/// example. Sizes read with <c>Size(...)</c> and used in .NET arithmetic become constants; reshapes whose sizes come
/// from the inputs' dynamic dimensions are recognised and stay dynamic, and the cases the exporter can detect (loops
/// over a dynamic dimension, constants shaped like the example's dynamic sizes, value reads) are refused.
/// </remarks>
public static class OnnxExport
{
    // protobuf's limit for one message (2 GiB) less room for the graph itself.
    private const long MaxModelBytes = (2L << 30) - (64L << 20);

    /// <summary>
    /// Test hook: a lower limit on the weights' bytes for the exports of this async flow, so that the refusal of a model
    /// past protobuf's 2 GiB is tested without 2 GiB of weights. Null: the real limit.
    /// </summary>
    internal static readonly AsyncLocal<long?> MaxModelBytesForTests = new();

    /// <summary>
    /// Traces <paramref name="forward"/> on <paramref name="exampleInputs"/> and writes the model to <paramref name="path"/>.
    /// </summary>
    /// <param name="forward">The computation: graph inputs in, graph outputs out.</param>
    /// <param name="exampleInputs">One tensor per graph input, with representative shapes (dynamic dimensions of size 2 or more).</param>
    /// <param name="path">The .onnx file to write (written to a temporary name, then renamed).</param>
    /// <param name="options">Names, dynamic axes, opset, the module naming the initializers.</param>
    /// <returns>What was written.</returns>
    /// <exception cref="OnnxExportException">The forward cannot be exported correctly; the message says why.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static OnnxExportResult Export(Func<Tensor[], Tensor[]> forward, Tensor[] exampleInputs, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(exampleInputs);
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new OnnxExportOptions();
        if (options.Opset < OnnxExportOptions.MinOpset || options.Opset > OnnxExportOptions.MaxOpset)
            throw new ArgumentOutOfRangeException(nameof(options), options.Opset, $"opset must be in [{OnnxExportOptions.MinOpset}, {OnnxExportOptions.MaxOpset}], got {options.Opset}");
        for (int i = 0; i < exampleInputs.Length; i++)
        {
            if (exampleInputs[i] is null) throw new ArgumentNullException(nameof(exampleInputs), $"exampleInputs[{i}] must not be null");
            // The tracer knows a graph input by its tensor: one tensor passed twice would be one input read for both.
            for (int j = 0; j < i; j++)
                if (ReferenceEquals(exampleInputs[i], exampleInputs[j]))
                    throw new ArgumentException($"exampleInputs[{i}] is the same tensor as exampleInputs[{j}]; each graph input needs its own tensor (pass a Clone() of one)", nameof(exampleInputs));
        }
        var inputNames = Names(options.InputNames, exampleInputs.Length, "input", nameof(options.InputNames));
        CheckWritable(path);

        var tracer = new OnnxTracer(options.Opset, options.Module);
        var declared = DeclareInputs(tracer, exampleInputs, inputNames, options.DynamicAxes);
        // The caller's output names are taken before tracing, so that no name the tracer makes up for a node takes one.
        var reservedOutputs = new HashSet<string>(StringComparer.Ordinal);
        if (options.OutputNames is not null)
            foreach (var n in options.OutputNames)
                if (!string.IsNullOrEmpty(n) && !reservedOutputs.Contains(n))
                {
                    if (!tracer.G.Reserve(n))
                        throw new ArgumentException($"OnnxExportOptions.OutputNames: '{n}' is already an input's name", nameof(options));
                    reservedOutputs.Add(n);
                }

        Tensor[] outputs;
        var previous = TraceRecorder.Install(tracer);
        try
        {
            using (new NoGrad())
                outputs = forward(exampleInputs) ?? throw new OnnxExportException("the forward returned null; return the output tensors");
        }
        finally
        {
            TraceRecorder.Install(previous);
        }
        if (outputs.Length == 0) throw new OnnxExportException("the forward returned no tensor; return at least one output");
        var outputNames = Names(options.OutputNames, outputs.Length, "output", nameof(options.OutputNames));

        // Outputs: a value may be returned twice or be an input/initializer: give each output its own name.
        var graphOutputs = new List<Value>();
        var inputNameSet = new HashSet<string>(inputNames, StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var renames = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < outputs.Length; i++)
        {
            if (outputs[i] is null) throw new OnnxExportException($"output {i} of the forward is null");
            var v = tracer.Output(outputs[i], i);
            var want = outputNames[i];
            // An initializer (a parameter or a constant returned as it is; Output may have just made it) is no node's
            // output: it goes through an Identity, as an input does.
            bool isInitializer = tracer.G.Initializers.Any(init => init.Name == v.Name);
            bool producedByNode = !inputNameSet.Contains(v.Name) && !isInitializer && used.Add(v.Name);
            if (producedByNode && !renames.ContainsKey(v.Name) && (reservedOutputs.Remove(want) || tracer.G.Reserve(want))) renames[v.Name] = want;
            else
            {
                if (!reservedOutputs.Remove(want) && !tracer.G.Reserve(want)) throw new OnnxExportException($"output name '{want}' is already used by another value of the graph; choose another in OnnxExportOptions.OutputNames");
                tracer.G.Nodes.Add(new OnnxNode("Identity", "output_identity_" + i.ToString(CultureInfo.InvariantCulture), [v.Name], [want], new()));
            }
            graphOutputs.Add(new Value(want, v.Type, v.Dims));
        }
        var nodes = tracer.G.Nodes.Select(n => new OnnxNode(n.OpType, n.Name, n.Inputs.Select(x => renames.GetValueOrDefault(x, x)).ToArray(),
            n.Outputs.Select(x => renames.GetValueOrDefault(x, x)).ToArray(), n.Attributes)).ToList();

        var model = new OnnxModel
        {
            IrVersion = IrVersion(options.Opset),
            Opset = options.Opset,
            GraphName = options.GraphName ?? options.Module?.TypeName ?? "recurrent",
            ProducerVersion = typeof(OnnxExport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0] ?? "",
        };
        model.Nodes.AddRange(nodes);
        model.Initializers.AddRange(tracer.G.Initializers);
        var inputDescriptions = new List<OnnxValueDescription>();
        for (int i = 0; i < exampleInputs.Length; i++)
        {
            var (v, dims) = declared[i];
            var final = dims.Select(d => d is Symbol s && !(tracer.Pinned.Contains(s.Id) && options.DynamicAxes is null) ? (object)s.Name : (object)(d is Symbol ps ? ps.Example : (long)d!)).ToArray();
            model.Inputs.Add(new OnnxValueInfo(v.Name, v.Type, final));
            inputDescriptions.Add(new OnnxValueDescription(v.Name, TypeName(v.Type), final.Select(Text).ToList()));
        }
        var outputDescriptions = new List<OnnxValueDescription>();
        foreach (var o in graphOutputs)
        {
            var dims = o.Dims.Select(d => d.IsConst ? (object)d.ConstValue : d.ToString()).ToArray();
            model.Outputs.Add(new OnnxValueInfo(o.Name, o.Type, dims));
            outputDescriptions.Add(new OnnxValueDescription(o.Name, TypeName(o.Type), dims.Select(Text).ToList()));
        }
        if (options.Metadata is not null)
            foreach (var kv in options.Metadata) model.Metadata.Add(kv);

        // A protobuf message is at most 2 GiB, and this writer embeds every weight in the file (no external data).
        long weightBytes = model.Initializers.Sum(t => (long)t.RawData.Length);
        if (weightBytes > (MaxModelBytesForTests.Value ?? MaxModelBytes)) throw OnnxExportException.TooLarge("the model's weights take", weightBytes);
        Write(path, model.ToBytes());
        return new OnnxExportResult(path, model, inputDescriptions, outputDescriptions);

        static string Text(object d) => d is long l ? l.ToString(CultureInfo.InvariantCulture) : (string)d;
    }

    /// <summary>
    /// Exports a module with one input and one output (<c>Sequential</c>, <c>Linear</c>, your own
    /// <see cref="Module{TIn, TOut}"/>); its state_dict keys name the initializers.
    /// </summary>
    public static OnnxExportResult Export(Module<Tensor, Tensor> module, Tensor exampleInput, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(exampleInput);
        return Export(xs => [module.Forward(xs[0])], [exampleInput], path, WithModule(options, module, ["input"], ["output"]));
    }

    /// <summary>
    /// Exports a recurrent module (<see cref="Rnn"/>, <see cref="Lstm"/>, <see cref="Gru"/>) with its state as
    /// inputs and outputs: inputs <c>input</c>, <c>h0</c> (and <c>c0</c> for an LSTM) when
    /// <paramref name="exampleState"/> is given; outputs <c>output</c>, <c>h_n</c> (and <c>c_n</c>).
    /// </summary>
    public static OnnxExportResult Export(RecurrentBase module, Tensor exampleInput, RecurrentState? exampleState, string path, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(exampleInput);
        bool lstm = module.Mode == Kernels.RnnMode.Lstm;
        var inputs = new List<Tensor> { exampleInput };
        var inNames = new List<string> { "input" };
        if (exampleState is { } s)
        {
            if (s.H is null) throw new ArgumentException("exampleState.H must be given (the initial hidden state)", nameof(exampleState));
            if (!lstm && s.C is not null)
                throw new ArgumentException($"exampleState.C is an LSTM's cell state; a {module.TypeName} has none", nameof(exampleState));
            inputs.Add(s.H); inNames.Add("h0");
            if (lstm)
            {
                inputs.Add(s.C ?? throw new ArgumentException("exampleState.C must be given for an LSTM", nameof(exampleState)));
                inNames.Add("c0");
            }
        }
        string[] outNames = lstm ? ["output", "h_n", "c_n"] : ["output", "h_n"];
        return Export(xs =>
        {
            RecurrentState? st = xs.Length > 1 ? new RecurrentState(xs[1], lstm ? xs[2] : null) : null;
            var (o, state) = module.Forward(xs[0], st);
            return lstm ? [o, state.H, state.C!] : [o, state.H];
        }, inputs.ToArray(), path, WithModule(options, module, inNames.ToArray(), outNames));
    }

    private static OnnxExportOptions WithModule(OnnxExportOptions? o, Recurrent.Nn.Module module, string[] inputNames, string[] outputNames) => new()
    {
        InputNames = o?.InputNames ?? inputNames,
        OutputNames = o?.OutputNames ?? outputNames,
        DynamicAxes = o?.DynamicAxes,
        Opset = o?.Opset ?? OnnxExportOptions.DefaultOpset,
        Module = o?.Module ?? module,
        GraphName = o?.GraphName,
        Metadata = o?.Metadata,
    };

    private static string[] Names(IReadOnlyList<string>? given, int count, string prefix, string option)
    {
        if (given is null) return Enumerable.Range(0, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"{prefix}_{i}")).ToArray();
        if (given.Count != count)
            throw new ArgumentException($"OnnxExportOptions.{option}: expected {count} names, got {given.Count}", option);
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in given)
        {
            if (string.IsNullOrEmpty(n)) throw new ArgumentException($"OnnxExportOptions.{option}: names must not be empty", option);
            if (!set.Add(n)) throw new ArgumentException($"OnnxExportOptions.{option}: the name '{n}' appears twice", option);
        }
        return given.ToArray();
    }

    /// <summary>Symbols for the dynamic dims; each input dim is a Symbol or a long.</summary>
    private static List<(Value Value, object?[] Dims)> DeclareInputs(OnnxTracer tracer, Tensor[] inputs, string[] names,
        IReadOnlyDictionary<string, IReadOnlyDictionary<int, string>>? dynamicAxes)
    {
        if (dynamicAxes is not null)
            foreach (var (key, axes) in dynamicAxes)
            {
                if (!names.Contains(key))
                    throw new ArgumentException($"OnnxExportOptions.DynamicAxes names the input '{key}', but the inputs are {string.Join(", ", names.Select(n => "'" + n + "'"))}", "options");
                if (axes is null)
                    throw new ArgumentException($"OnnxExportOptions.DynamicAxes['{key}'] is null; give a map of axis to dimension name (empty for none)", "options");
                var t = inputs[Array.IndexOf(names, key)];
                foreach (var (a, n) in axes)
                {
                    if (a < 0 || a >= t.Dim)
                        throw new ArgumentException($"OnnxExportOptions.DynamicAxes['{key}']: axis {a} is out of range for an input of shape [{string.Join(", ", t.Shape)}]", "options");
                    if (string.IsNullOrWhiteSpace(n))
                        throw new ArgumentException($"OnnxExportOptions.DynamicAxes['{key}'][{a}]: the dimension name must not be empty", "options");
                }
            }
        var byName = new Dictionary<string, Symbol>(StringComparer.Ordinal);
        var result = new List<(Value, object?[])>();
        for (int i = 0; i < inputs.Length; i++)
        {
            var t = inputs[i];
            tracer.G.Reserve(names[i]);
            var dims = new object?[t.Dim];
            var sym = new SymDim[t.Dim];
            for (int d = 0; d < t.Dim; d++)
            {
                int size = t.Size(d);
                string? dimName = null;
                if (dynamicAxes is null)
                {
                    bool auto = t.DType == DType.Int64 || t.Dim == 1 || d < t.Dim - 1;
                    if (auto && size >= 2) dimName = string.Create(CultureInfo.InvariantCulture, $"{names[i]}_dim{d}");
                }
                else if (dynamicAxes.TryGetValue(names[i], out var axes))
                {
                    if (axes.TryGetValue(d, out var n))
                    {
                        if (size < 2)
                            throw new ArgumentException($"OnnxExportOptions.DynamicAxes['{names[i]}'][{d}] ('{n}'): a dynamic dimension needs size 2 or more in the example (size 1 cannot be told from broadcasting), got {size}", "options");
                        dimName = n;
                    }
                }
                if (dimName is null) { dims[d] = (long)size; sym[d] = SymDim.Const(size); continue; }
                if (!byName.TryGetValue(dimName, out var s))
                {
                    s = tracer.NewSymbol(dimName, size);
                    byName[dimName] = s;
                }
                else if (s.Example != size)
                    throw new ArgumentException($"OnnxExportOptions.DynamicAxes: the dimension '{dimName}' has size {s.Example} in one input and {size} in '{names[i]}'", "options");
                dims[d] = s;
                sym[d] = SymDim.Of(s);
            }
            var v = tracer.AddInput(t, names[i], sym);
            for (int d = 0; d < t.Dim; d++)
                if (dims[d] is Symbol s && !tracer.G.HasSymbolSource(s))
                {
                    int axis = d;
                    tracer.G.DefineSymbol(s, () => tracer.G.Node("Shape", [v], OnnxElementType.Int64, [SymDim.Const(1)],
                        OnnxAttribute.Of("start", (long)axis), OnnxAttribute.Of("end", (long)axis + 1)));
                }
            result.Add((v, dims));
        }
        return result;
    }

    private static long IrVersion(int opset) => opset switch
    {
        <= 18 => 8,
        <= 20 => 9,
        <= 22 => 10,
        _ => 11,
    };

    private static string TypeName(OnnxElementType t) => t switch
    {
        OnnxElementType.Float => "float",
        OnnxElementType.Double => "double",
        OnnxElementType.Int64 => "int64",
        OnnxElementType.Int32 => "int32",
        _ => "bool",
    };

    internal static void CheckWritable(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw new DirectoryNotFoundException($"cannot write the ONNX model to '{path}': the folder '{dir}' does not exist");
        if (Directory.Exists(full))
            throw new IOException($"cannot write the ONNX model to '{path}': it is a folder");
        // Fail before tracing when the folder cannot take a new file. A name of its own per call (a per-process name
        // collided between two threads exporting to one path: "being used by another process"), in the temporary
        // files' pattern, so that one left by a process killed here is swept as theirs are.
        var probe = full + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None)) { }
            File.Delete(probe);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new IOException($"cannot write the ONNX model to '{path}': {e.Message}", e);
        }
    }

    private static void Write(string path, byte[] bytes)
    {
        var full = System.IO.Path.GetFullPath(path);
        // A name of its own per call (two exports to one path from two threads must not share a temporary file),
        // and the bytes on the disk before the rename, so a power loss leaves the old model or the new one, whole.
        var tmp = full + ".tmp-" + Guid.NewGuid().ToString("N");
        DeleteStaleTemporaries(full);
        try
        {
            using (var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new IOException($"cannot write the ONNX model to '{path}': {e.Message}", e);
        }
    }

    /// <summary>How old a temporary file beside the model must be before an export removes it as a crashed one's.</summary>
    internal static readonly TimeSpan StaleTemporaryAge = TimeSpan.FromHours(1);

    // A process killed while it wrote (Ctrl+C during `recurrent export`, a crash, a power loss) leaves its temporary file
    // beside the model; the next export to that path removes those not written to for an hour. A younger one may be
    // another export's, still writing (its every write moves the file's time), so it stays. Best effort: a file that
    // cannot be listed or deleted is left.
    private static void DeleteStaleTemporaries(string full)
    {
        try
        {
            var dir = System.IO.Path.GetDirectoryName(full);
            if (dir is null || !Directory.Exists(dir)) return;
            var cutoff = DateTime.UtcNow - StaleTemporaryAge;
            foreach (var file in Directory.EnumerateFiles(dir, System.IO.Path.GetFileName(full) + ".tmp-*"))
            {
                var name = System.IO.Path.GetFileName(file);
                // Only this writer's names: the model's name, ".tmp-", 32 hex digits.
                if (name.Length != System.IO.Path.GetFileName(full).Length + 5 + 32 || name.AsSpan(name.Length - 32).IndexOfAnyExcept("0123456789abcdef") >= 0) continue;
                try
                {
                    if (File.GetLastWriteTimeUtc(file) < cutoff) File.Delete(file);
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
