// From a read PyTorch file to Recurrent: TorchTensor -> Tensor, a checkpoint's state_dict -> name ->
// Tensor, and loading it into a Module through Module.LoadStateDict (PyTorch's key and shape checks
// and error wording). Extension methods, so the reader itself stays free of Nn.
using Recurrent.Nn;

namespace Recurrent.IO.Torch;

/// <summary>
/// Converts what <see cref="TorchCheckpoint"/> read into <see cref="Tensor"/>s and loads them into modules.
/// </summary>
/// <example>
/// <code>
/// var model = new CharModel();                                    // submodules named as the checkpoint's keys
/// var ckpt = TorchCheckpoint.Load("epoch=299-step=600.ckpt");
/// ckpt.LoadInto(model);                                           // strict: throws on missing / unexpected / mis-shaped keys
/// var result = ckpt.LoadInto(backbone, strict: false);            // result.UnexpectedKeys: e.g. a head not built
/// Dictionary&lt;string, Tensor&gt; sd = ckpt.ToStateDict(stripPrefix: "model.");
/// </code>
/// </example>
public static class TorchModuleLoading
{
    /// <summary>
    /// A contiguous copy of the tensor as a <see cref="Tensor"/> with the same shape (a 0-d tensor stays 0-d).
    /// float32, float64 and int64 keep their dtype; float16 and bfloat16 widen exactly to float32; int32,
    /// int16, int8 and uint8 widen exactly to int64; bool becomes int64 0/1 (Recurrent has no bool dtype;
    /// its masks are 0/1 tensors too). The result has <c>RequiresGrad</c> false and no history.
    /// </summary>
    /// <exception cref="TorchFormatException">the shape is beyond what a <see cref="Tensor"/> can index: a dimension
    /// larger than <see cref="int.MaxValue"/>, or non-zero dimensions whose product exceeds <see cref="Array.MaxLength"/>
    /// (both possible only in an empty tensor, whose element count the reader already bounds).</exception>
    public static Tensor ToTensor(this TorchTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        int[] shape = TensorShapeLimits.TryToIntShape(tensor.Shape, out string error)
            ?? throw new TorchFormatException($"tensor on storage '{tensor.Storage.Key}' of size [{string.Join(", ", tensor.Shape)}]: {error}.");
        var dtype = TargetDType(tensor.DType);
        var result = Tensor.NewZeroed(dtype, shape);
        switch (dtype)
        {
            case DType.Float32: tensor.CopyTo(result.AsSpan<float>()); break;
            case DType.Float64: tensor.CopyTo(result.AsSpan<double>()); break;
            default: tensor.CopyTo(result.AsSpan<long>()); break;
        }
        return result;
    }

    /// <summary>The <see cref="DType"/> that <see cref="ToTensor"/> gives a tensor of <paramref name="dtype"/>.</summary>
    public static DType TargetDType(TorchDType dtype) => dtype switch
    {
        TorchDType.Float32 or TorchDType.Float16 or TorchDType.BFloat16 => DType.Float32,
        TorchDType.Float64 => DType.Float64,
        TorchDType.Int64 or TorchDType.Int32 or TorchDType.Int16 or TorchDType.Int8 or TorchDType.UInt8 or TorchDType.Bool => DType.Int64,
        _ => throw new NotSupportedException($"no Recurrent dtype for {dtype}"),
    };

    /// <summary>
    /// The tensors of the state_dict at <paramref name="keyPath"/> (default: <see cref="TorchCheckpoint.FindStateDictPath"/>,
    /// or the whole file when no state_dict is recognised), nested containers flattened to dotted names, in file
    /// order, each converted by <see cref="ToTensor"/>. Non-tensor values are skipped. With
    /// <paramref name="stripPrefix"/> (e.g. <c>"model."</c> or DataParallel's <c>"module."</c>), names that start with
    /// it lose it and the others are kept, so a strict load reports them.
    /// </summary>
    /// <remarks>
    /// Each tensor of the file is converted once: names that reach the same tensor, or the same view of the same
    /// storage, share one <see cref="Tensor"/>, as a state_dict with tied weights shares them in PyTorch. The call
    /// allocates at most <see cref="TorchCheckpoint.AllocationBudget"/> bytes.
    /// </remarks>
    /// <exception cref="KeyNotFoundException"><paramref name="keyPath"/> does not exist in the file.</exception>
    /// <exception cref="ArgumentException">stripping the prefix makes two names equal.</exception>
    /// <exception cref="TorchFormatException">a shape a <see cref="Tensor"/> cannot index, two tensors with one name, or
    /// more to convert than the allocation budget allows.</exception>
    public static Dictionary<string, Tensor> ToStateDict(this TorchCheckpoint checkpoint, string? keyPath = null, string? stripPrefix = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var meter = checkpoint.NewMeter();
        // The budget check counts this method's dictionary and, with a prefix to strip, the stripped copy of the names.
        var tensors = checkpoint.Tensors(keyPath ?? checkpoint.FindStateDictPath() ?? "", true, static _ => TorchCheckpoint.StateDictEntryBytes,
            string.IsNullOrEmpty(stripPrefix) ? 1 : 2);
        if (!string.IsNullOrEmpty(stripPrefix))
            tensors = TorchCheckpoint.StripPrefix(tensors, stripPrefix);
        var result = new Dictionary<string, Tensor>(tensors.Count);
        var converted = new Dictionary<ViewKey, Tensor>();
        foreach (var (name, tensor) in tensors)
        {
            var key = new ViewKey(tensor);
            if (!converted.TryGetValue(key, out var t))
            {
                meter.Reserve(TorchCheckpoint.ConvertedBytes(tensor) + 1024, $"tensor '{name}' ({tensor.ElementCount} elements of {tensor.DType.ShortName()})");
                converted.Add(key, t = tensor.ToTensor());
            }
            result.Add(name, t);
        }
        return result;
    }

    /// <summary>Identifies a view: same storage, dtype, offset, shape and strides means the same elements.</summary>
    private readonly struct ViewKey(TorchTensor t) : IEquatable<ViewKey>
    {
        private readonly TorchTensor _t = t;

        public bool Equals(ViewKey other) =>
            ReferenceEquals(_t, other._t)
            || (ReferenceEquals(_t.Storage, other._t.Storage) && _t.DType == other._t.DType && _t.StorageOffset == other._t.StorageOffset
                && _t.Shape.SequenceEqual(other._t.Shape) && _t.Strides.SequenceEqual(other._t.Strides));

        public override bool Equals(object? obj) => obj is ViewKey k && Equals(k);

        public override int GetHashCode()
        {
            var h = new HashCode();
            h.Add(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(_t.Storage));
            h.Add(_t.DType);
            h.Add(_t.StorageOffset);
            var shape = _t.Shape;
            for (int i = 0; i < shape.Count; i++) // indexed: an enumerator would allocate per name
                h.Add(shape[i]);
            return h.ToHashCode();
        }
    }

    /// <summary>
    /// Loads the checkpoint's state_dict (chosen as in <see cref="ToStateDict"/>) into <paramref name="module"/> with
    /// <see cref="Module.LoadStateDict"/>, as <c>module.load_state_dict(torch.load(path)[keyPath], strict)</c>.
    /// Values are converted to each parameter's dtype. With <paramref name="strict"/>, missing or unexpected keys
    /// throw; with <paramref name="strict"/> false they are returned (e.g. a classifier head the module does not
    /// have) and the matching keys are loaded. A shape mismatch always throws, naming the key and both shapes in
    /// PyTorch's words; nothing is changed when anything throws.
    /// </summary>
    /// <returns>The missing keys (in the module's order) and the unexpected keys (in the file's order).</returns>
    /// <exception cref="InvalidOperationException">"Error(s) in loading state_dict for …" as PyTorch's RuntimeError.</exception>
    public static LoadStateDictResult LoadInto(this TorchCheckpoint checkpoint, Module module, string? keyPath = null,
        string? stripPrefix = null, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(module);
        return module.LoadStateDict(checkpoint.ToStateDict(keyPath, stripPrefix), strict);
    }
}
