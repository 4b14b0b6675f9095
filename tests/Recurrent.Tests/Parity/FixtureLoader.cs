// Reads a fixture file into a Fixture (tensors as Recurrent tensors) through Recurrent.IO's safetensors reader.
using Recurrent.IO;

namespace Recurrent.Tests.Parity;

public static class FixtureLoader
{
    public static Fixture Load(string path)
    {
        var file = SafeTensorsFile.Read(path);
        var tensors = new Dictionary<string, Tensor>();
        foreach (var e in file.Entries)
        {
            var shape = e.ToShapeArray().Select(checked_ => checked((int)checked_)).ToArray();
            tensors[e.Name] = e.DType switch
            {
                SafeTensorsDType.F32 => Tensor.FromArray(file.GetFloat32(e.Name), shape),
                SafeTensorsDType.F64 => Tensor.FromArray(file.GetFloat64(e.Name), shape),
                SafeTensorsDType.I64 => Tensor.FromArray(file.GetInt64(e.Name), shape),
                _ => throw new InvalidDataException($"{path}: {e.Name}: unsupported dtype {e.DType}"),
            };
        }
        return new Fixture(Path.GetFileNameWithoutExtension(path), file.Metadata, tensors);
    }
}
