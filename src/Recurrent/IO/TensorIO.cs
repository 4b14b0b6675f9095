// Adapters between safetensors files and Tensors: read every tensor of a file (F32/F64/I64, and
// F16/BF16 widened to float32) with its metadata, and write a name -> Tensor map atomically.
// Used by module save/load, optimizer checkpoints and the CLI.
namespace Recurrent.IO;

/// <summary>Reads and writes named <see cref="Tensor"/>s as safetensors files.</summary>
public static class TensorIO
{
    /// <summary>The tensors of a safetensors file, by name in header order (F16 and BF16 are widened to float32).</summary>
    /// <remarks>
    /// Reading allocates memory linear in the file's size, at most <see cref="ReadBudget.Default"/> of it
    /// (32 bytes per file byte plus 64 MiB), whatever the file declares.
    /// </remarks>
    /// <exception cref="SafeTensorsFormatException">The file is malformed, or a tensor's shape is beyond what a
    /// <see cref="Tensor"/> can index (a dimension above <see cref="int.MaxValue"/>, or non-zero dimensions whose
    /// product exceeds <see cref="Array.MaxLength"/> even in an empty tensor); the message names the tensor and field.</exception>
    /// <exception cref="NotSupportedException">A tensor has a dtype Recurrent cannot hold (e.g. I32, U8).</exception>
    /// <exception cref="IOException">The file cannot be read (missing, no permission...).</exception>
    public static Dictionary<string, Tensor> ReadTensors(string path) => ReadTensors(path, out _);

    /// <summary>As <see cref="ReadTensors(string)"/>, also returning the file's <c>__metadata__</c>.</summary>
    public static Dictionary<string, Tensor> ReadTensors(string path, out IReadOnlyDictionary<string, string> metadata)
    {
        var file = SafeTensorsFile.Read(path);
        metadata = file.Metadata;
        return ToTensors(file);
    }

    /// <summary>The tensors of a safetensors file read from <paramref name="stream"/>.</summary>
    public static Dictionary<string, Tensor> ReadTensors(Stream stream, out IReadOnlyDictionary<string, string> metadata)
    {
        var file = SafeTensorsFile.Read(stream);
        metadata = file.Metadata;
        return ToTensors(file);
    }

    /// <summary>Every tensor of an already parsed file, by name in header order.</summary>
    public static Dictionary<string, Tensor> ToTensors(SafeTensorsFile file)
    {
        Guard.NotNull(file, nameof(file));
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in file.Entries) result[e.Name] = ToTensor(file, e);
        return result;
    }

    /// <summary>One tensor of a parsed file as a new contiguous <see cref="Tensor"/>.</summary>
    /// <exception cref="SafeTensorsFormatException">The shape is beyond what a <see cref="Tensor"/> can index.</exception>
    /// <exception cref="NotSupportedException">The dtype is not F32, F64, I64, F16 or BF16.</exception>
    public static Tensor ToTensor(SafeTensorsFile file, SafeTensorsEntry entry)
    {
        Guard.NotNull(file, nameof(file));
        Guard.NotNull(entry, nameof(entry));
        int[] shape = TensorShapeLimits.TryToIntShape(entry.Shape, out string error)
            ?? throw new SafeTensorsFormatException($"{SafeTensorsHeaderParser.Where(file.Source)}: tensor '{entry.Name}': \"shape\" {SafeTensorsHeaderParser.ShapeText(entry.ToShapeArray())}: {error}.");
        return entry.DType switch
        {
            SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16 => Tensor.FromArray(file.GetFloat32(entry.Name), shape),
            SafeTensorsDType.F64 => Tensor.FromArray(file.GetFloat64(entry.Name), shape),
            SafeTensorsDType.I64 => Tensor.FromArray(file.GetInt64(entry.Name), shape),
            _ => throw new NotSupportedException($"{file.Source ?? "safetensors data"}: tensor '{entry.Name}' has dtype {entry.DType.ToHeaderName()}; Recurrent reads F32, F64, I64, F16 and BF16"),
        };
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> (values copied, in their own dtype: F32, F64 or I64) and optional
    /// <paramref name="metadata"/> to <paramref name="path"/> atomically (temporary file, then rename).
    /// </summary>
    public static void WriteTensors(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        => Build(tensors, metadata).Save(path);

    /// <summary>The safetensors bytes of <paramref name="tensors"/> and <paramref name="metadata"/>.</summary>
    public static byte[] Serialize(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        => Build(tensors, metadata).ToArray();

    private static SafeTensorsWriter Build(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        Guard.NotNull(tensors, nameof(tensors));
        var w = new SafeTensorsWriter();
        foreach (var (name, t) in tensors)
        {
            if (t is null) throw new ArgumentException($"tensor '{name}' is null", nameof(tensors));
            var shape = t.Shape.Select(s => (long)s).ToArray();
            switch (t.DType)
            {
                case DType.Float32: w.Add(name, shape, t.ToArray<float>()); break;
                case DType.Float64: w.Add(name, shape, t.ToArray<double>()); break;
                default: w.Add(name, shape, t.ToArray<long>()); break;
            }
        }
        w.AddMetadata(metadata);
        return w;
    }
}
