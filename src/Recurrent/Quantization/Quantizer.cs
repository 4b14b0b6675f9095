// Dynamic quantization, as torch.ao.quantization.quantize_dynamic: the weights of Linear, Rnn, Lstm,
// Gru and the three cells become int8 ahead of time (symmetric, one scale per output row); their
// activations are quantized on the fly per call (uint8, one scale and zero point per row); products
// accumulate in int32 and are rescaled to float; biases, gate arithmetic and every other module stay
// float32. Inference only. Files: safetensors with the int8 weights under their PyTorch names and
// the scales beside them.
using Recurrent.IO;
using Recurrent.Kernels;
using Recurrent.Nn;

namespace Recurrent.Quantization;

/// <summary>
/// Dynamic int8 quantization for inference, as PyTorch's <c>torch.ao.quantization.quantize_dynamic(model,
/// {nn.LSTM, nn.GRU, nn.RNN, nn.Linear, ...}, dtype=torch.qint8)</c>.
/// </summary>
/// <remarks>
/// <para>Weights: int8, symmetric, one scale per output row: <c>scale = max|w| / 127</c>,
/// <c>q = round_half_even(w / scale)</c> (PyTorch's per-channel qint8; its default for LSTM is one scale per
/// tensor, which loses precision on rows of small weights). Activations — the input projection's rows and each
/// step's hidden state — are quantized per call to uint8 with one scale and zero point per row (the row's range,
/// widened to include 0). Products accumulate exactly in int32; <c>y = scale_a * scale_w * (acc - zp_a * sum(q_w)) + b</c>
/// in float32, then the float gate arithmetic of the fused kernels.</para>
/// <para>Quantization happens in place: the quantized modules keep their identity (fields that hold them keep
/// working), drop their float weights (the memory they held is freed), keep their biases as float32 parameters,
/// and refuse training mode and dtype conversion. Every option of the float layers is supported (layers,
/// bidirectional, batch_first, packed and padded-with-lengths input, proj_size, unbatched input).</para>
/// </remarks>
public static class Quantizer
{
    /// <summary>The safetensors metadata key a quantized checkpoint carries, and its value.</summary>
    public const string FormatKey = "recurrent.quantization", FormatValue = "dynamic-int8-per-row-v1";

    /// <summary>The suffix of the float32 per-row scales saved beside each int8 weight (<c>rnn.weight_ih_l0_scale</c>).</summary>
    public const string ScaleSuffix = "_scale";

    /// <summary>
    /// Quantizes every <see cref="Linear"/>, <see cref="Rnn"/>, <see cref="Lstm"/>, <see cref="Gru"/>,
    /// <see cref="RnnCell"/>, <see cref="LstmCell"/> and <see cref="GruCell"/> of <paramref name="model"/> (itself
    /// included) in place, and returns the model. Call <see cref="Module.Eval"/> before running it.
    /// </summary>
    /// <exception cref="ArgumentException">A weight is NaN or infinite, or wider than the int8 kernels take; the model is left as it was.</exception>
    public static TModule QuantizeDynamic<TModule>(TModule model) where TModule : Module
    {
        Guard.NotNull(model, nameof(model));
        // Every module's weights are quantized before any is installed: a weight that cannot be (NaN, infinite, too
        // wide) throws with the model untouched, not with the modules before it already int8 and their floats gone.
        var pending = new List<(IDynamicQuantizable Module, Dictionary<string, QuantizedMatrix> Weights)>();
        foreach (var (prefix, m) in model.NamedModules().ToList())
        {
            if (m is not IDynamicQuantizable q || q.IsQuantized) continue;
            var weights = new Dictionary<string, QuantizedMatrix>();
            foreach (var (name, rows, cols) in q.QuantizableWeights)
            {
                try { weights[name] = QuantizedWeights.Quantize(m.GetParameter(name)); }
                catch (ArgumentException e)
                {
                    // The kernel's own message names its matrix ("weight[5, 2] is NaN", "k must be in [0, ...]"): say
                    // which parameter of which module, and that the columns are its input features.
                    string key = prefix.Length == 0 ? name : prefix + "." + name;
                    throw new ArgumentException($"cannot quantize {key} of {m.TypeName} '{prefix}' ({rows} rows x {cols} input columns): {e.Message}", nameof(model), e);
                }
            }
            pending.Add((q, weights));
        }
        foreach (var (q, weights) in pending) q.InstallQuantized(weights);
        return model;
    }

    /// <summary>The bytes of the int8 weights and scales of a quantized model (what the float weights took 4x of).</summary>
    public static long QuantizedWeightBytes(Module model)
    {
        Guard.NotNull(model, nameof(model));
        long bytes = 0;
        foreach (var (_, m) in model.NamedModules())
            if (m is IDynamicQuantizable { IsQuantized: true } q)
                foreach (var w in q.Quantized.Values) bytes += (long)w.N * w.K + 4L * w.N;
        return bytes;
    }

    /// <summary>
    /// Saves a quantized model as safetensors: every float parameter and buffer (<see cref="Module.StateDict"/>),
    /// each int8 weight as <c>I8</c> (rows, columns) under its state_dict name, and its per-row scales as
    /// <c>F32</c> (rows) under the name + <see cref="ScaleSuffix"/>. Written atomically.
    /// </summary>
    /// <exception cref="ArgumentException">The model has no quantized module.</exception>
    public static void SaveQuantized(this Module model, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Guard.NotNull(path, nameof(path));
        Writer(model, metadata).Save(path);
    }

    /// <summary>True when some module of <paramref name="model"/> (itself included) is dynamically quantized.</summary>
    public static bool IsQuantized(Module model)
    {
        Guard.NotNull(model, nameof(model));
        return model.NamedModules().Any(m => m.Module is IDynamicQuantizable { IsQuantized: true });
    }

    /// <summary>True when the safetensors <paramref name="file"/> was written by <see cref="SaveQuantized"/>.</summary>
    public static bool IsQuantizedFile(SafeTensorsFile file)
    {
        Guard.NotNull(file, nameof(file));
        return file.Metadata.TryGetValue(FormatKey, out var f) && f == FormatValue;
    }

    /// <summary>The bytes <see cref="SaveQuantized"/> writes (the checkpoint store saves quantized models with it).</summary>
    internal static byte[] Serialize(Module model, IReadOnlyDictionary<string, string>? metadata) => Writer(model, metadata).ToArray();

    private static SafeTensorsWriter Writer(Module model, IReadOnlyDictionary<string, string>? metadata)
    {
        Guard.NotNull(model, nameof(model));
        var writer = new SafeTensorsWriter();
        foreach (var (name, t) in model.StateDict())
        {
            var c = t.Contiguous();
            long[] shape = c.Shape.ToArray().Select(v => (long)v).ToArray();
            switch (c.DType)
            {
                case DType.Float32: writer.Add(name, shape, c.AsSpan<float>().ToArray()); break;
                case DType.Float64: writer.Add(name, shape, c.AsSpan<double>().ToArray()); break;
                default: writer.Add(name, shape, c.AsSpan<long>().ToArray()); break;
            }
        }
        int quantized = 0;
        // Under every name a shared module has, as the state dict lists it (and LoadQuantized reads it).
        foreach (var (prefix, m) in model.NamedModulesEveryRegistration())
        {
            if (m is not IDynamicQuantizable { IsQuantized: true } q) continue;
            string p = prefix.Length == 0 ? "" : prefix + ".";
            foreach (var (name, w) in q.Quantized)
            {
                var bytes = new byte[(long)w.N * w.K];
                w.CopyInt8To(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, sbyte>(bytes.AsSpan()));
                writer.Add(p + name, SafeTensorsDType.I8, [w.N, w.K], bytes);
                writer.Add(p + name + ScaleSuffix, [w.N], w.Scales.ToArray());
                quantized++;
            }
        }
        if (quantized == 0)
            throw new ArgumentException("SaveQuantized: the model has no quantized module; call Quantizer.QuantizeDynamic(model) first (or save it with Save).", nameof(model));
        writer.AddMetadata(metadata);
        writer.AddMetadata(FormatKey, FormatValue);
        return writer;
    }

    /// <summary>
    /// Loads a checkpoint written by <see cref="SaveQuantized"/> into <paramref name="model"/>, a model of the same
    /// architecture (float, or already quantized): its quantizable modules take the file's int8 weights (no float
    /// weights are quantized), the rest loads as <see cref="Module.LoadStateDict"/> with <paramref name="strict"/>.
    /// Returns the model.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a quantized checkpoint, or its int8 weights do not fit the model.</exception>
    public static TModule LoadQuantized<TModule>(this TModule model, string path, bool strict = true) where TModule : Module
    {
        Guard.NotNull(path, nameof(path));
        return LoadQuantized(model, SafeTensorsFile.Read(path), strict);
    }

    /// <summary><see cref="LoadQuantized{TModule}(TModule, string, bool)"/> from a file already read.</summary>
    public static TModule LoadQuantized<TModule>(this TModule model, SafeTensorsFile file, bool strict = true) where TModule : Module
    {
        Guard.NotNull(model, nameof(model));
        Guard.NotNull(file, nameof(file));
        string path = file.Source ?? "the file";
        if (!IsQuantizedFile(file))
            throw new InvalidDataException($"{path}: not a quantized checkpoint (metadata {FormatKey} = {FormatValue} is missing); load a float checkpoint with Load(path) and quantize it with Quantizer.QuantizeDynamic.");
        // Every int8 weight and the float remainder are checked before any module changes: a file that does not fit
        // leaves the model as it was.
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        var installs = new List<(IDynamicQuantizable Module, Dictionary<string, QuantizedMatrix> Weights)>();
        var leaving = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (prefix, m) in model.NamedModulesEveryRegistration().ToList())
        {
            if (m is not IDynamicQuantizable q) continue;
            string p = prefix.Length == 0 ? "" : prefix + ".";
            // A module the saved model left float (QuantizeDynamic on a part of it, as quantize_dynamic with a subset
            // of module types) has its weights as floats in the file: it loads as a float module, with the rest.
            var first = q.QuantizableWeights.First();
            if (file.TryGet(p + first.Name, out var firstEntry) && firstEntry.DType != SafeTensorsDType.I8 && !q.IsQuantized)
            {
                foreach (var (name, _, _) in q.QuantizableWeights)
                    if (file.TryGet(p + name, out var e) && e.DType == SafeTensorsDType.I8)
                        throw new InvalidDataException($"{path}: {m.TypeName} '{prefix}' has {p + first.Name} as {firstEntry.DType} but {p + name} as I8; a module's weights are all int8 or all float.");
                continue;
            }
            var weights = new Dictionary<string, QuantizedMatrix>();
            foreach (var (name, rows, cols) in q.QuantizableWeights)
            {
                string key = p + name;
                if (!file.TryGet(key, out var entry) || entry.DType != SafeTensorsDType.I8)
                    throw new InvalidDataException(q.IsQuantized && entry is not null
                        ? $"{path}: {key} is {entry.DType}, but {m.TypeName} '{prefix}' is quantized (its float weights are gone); load the file into a float model of the same architecture."
                        : $"{path}: {key} must be an I8 tensor of shape ({rows}, {cols}) for {m.TypeName} '{prefix}'.");
                var shape = entry.ToShapeArray();
                if (shape.Length != 2 || shape[0] != rows || shape[1] != cols)
                    throw new InvalidDataException($"{path}: size mismatch for {key}: expected ({rows}, {cols}), got ({string.Join(", ", shape)}).");
                if (!file.TryGet(key + ScaleSuffix, out var scaleEntry) || scaleEntry.DType != SafeTensorsDType.F32 || scaleEntry.ToShapeArray() is not [var n] || n != rows)
                    throw new InvalidDataException($"{path}: {key + ScaleSuffix} must be an F32 tensor of shape ({rows}).");
                var int8 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, sbyte>(file.GetBytes(entry));
                try { weights[name] = QuantizedMatrix.FromInt8(int8, file.GetFloat32(key + ScaleSuffix), rows, cols); }
                catch (ArgumentException e) { throw new InvalidDataException($"{path}: {key + ScaleSuffix}: {e.Message}", e); }
                consumed.Add(key);
                consumed.Add(key + ScaleSuffix);
                leaving.Add(key);
            }
            installs.Add((q, weights));
        }
        var rest = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var extraInt8 = new List<string>();
        foreach (var entry in file.Entries)
        {
            if (consumed.Contains(entry.Name)) continue;
            // An int8 weight no module of this model takes (a larger model's file): an unexpected key, as any other,
            // with its scales beside it; it is not a tensor the float state dict can hold.
            if (entry.DType == SafeTensorsDType.I8) { extraInt8.Add(entry.Name); continue; }
            rest[entry.Name] = TensorIO.ToTensor(file, entry);
        }
        foreach (var name in extraInt8) rest.Remove(name + ScaleSuffix);
        var errors = model.CheckStateDict(rest, strict, leaving, out _, out _, out _, out _);
        if (strict && extraInt8.Count > 0)
            errors.Add("Unexpected key(s) in state_dict: " + string.Join(", ", extraInt8.SelectMany(k => new[] { k, k + ScaleSuffix }).Where(file.Contains).Select(k => $"\"{k}\"")) + ". ");
        if (errors.Count > 0)
            throw new InvalidOperationException($"Error(s) in loading state_dict for {model.TypeName}:\n\t" + string.Join("\n\t", errors));
        foreach (var (q, weights) in installs) q.InstallQuantized(weights);
        model.LoadStateDict(rest, strict);
        return model;
    }
}
