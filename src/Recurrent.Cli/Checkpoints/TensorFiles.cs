// Tensor maps <-> safetensors: the weights and the optimizer state of a checkpoint, with exact float/int bits.
using Recurrent.IO;

namespace Recurrent.Cli.Checkpoints;

/// <summary>Writes and reads named tensors (float32, float64, int64) as safetensors.</summary>
public static class TensorFiles
{
    /// <summary>Writes <paramref name="tensors"/> (contiguous copies) and <paramref name="metadata"/> to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var writer = new SafeTensorsWriter();
        foreach (var (name, tensor) in tensors)
        {
            Tensor t = tensor.Detach().Contiguous();
            long[] shape = t.Shape.Select(d => (long)d).ToArray();
            switch (t.DType)
            {
                case DType.Float32: writer.Add(name, shape, t.ToArray<float>()); break;
                case DType.Float64: writer.Add(name, shape, t.ToArray<double>()); break;
                case DType.Int64: writer.Add(name, shape, t.ToArray<long>()); break;
                default: throw new NotSupportedException($"Tensor '{name}' has dtype {t.DType}, which checkpoints do not store.");
            }
        }
        writer.AddMetadata(metadata);
        writer.WriteTo(stream);
    }

    /// <summary>Reads every tensor of a safetensors file (F32, F64 or I64) into a name -> tensor map, in file order.</summary>
    /// <exception cref="CliException">The file holds a dtype other than F32/F64/I64 or a shape that does not fit.</exception>
    public static (Dictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Read(string path)
    {
        SafeTensorsFile file = SafeTensorsFile.Read(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (SafeTensorsEntry e in file.Entries)
        {
            int[] shape = e.ToShapeArray().Select(d => d <= int.MaxValue ? (int)d
                : throw new CliException($"tensor '{e.Name}' in '{path}' has a dimension of {d}, too large.")).ToArray();
            result[e.Name] = e.DType switch
            {
                SafeTensorsDType.F32 => Tensor.FromArray(file.GetFloat32(e.Name), shape),
                SafeTensorsDType.F64 => Tensor.FromArray(file.GetFloat64(e.Name), shape),
                SafeTensorsDType.I64 => Tensor.FromArray(file.GetInt64(e.Name), shape),
                _ => throw new CliException($"tensor '{e.Name}' in '{path}' has dtype {e.DType.ToHeaderName()}; expected F32, F64 or I64."),
            };
        }
        return (result, file.Metadata);
    }
}
