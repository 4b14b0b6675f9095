// Reads a fixture file into a Fixture (tensors as Recurrent tensors).
using System.Text.Json;

namespace Recurrent.Tests.Parity;

public static class FixtureLoader
{
    public static Fixture Load(string path)
    {
        // Temporary minimal reader; replaced by Recurrent.IO's safetensors reader when it lands.
        var bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var meta = new Dictionary<string, string>();
        var tensors = new Dictionary<string, Tensor>();
        int baseOff = 8 + (int)n;
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") { foreach (var m in p.Value.EnumerateObject()) meta[m.Name] = m.Value.GetString()!; continue; }
            var dtype = p.Value.GetProperty("dtype").GetString();
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var offs = p.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var span = bytes.AsSpan(baseOff + offs[0], offs[1] - offs[0]);
            tensors[p.Name] = dtype switch
            {
                "F32" => Tensor.FromArray(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span).ToArray(), shape),
                "F64" => Tensor.FromArray(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(span).ToArray(), shape),
                "I64" => Tensor.FromArray(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(span).ToArray(), shape),
                _ => throw new InvalidDataException($"{path}: {p.Name}: unsupported dtype {dtype}"),
            };
        }
        return new Fixture(Path.GetFileNameWithoutExtension(path), meta, tensors);
    }
}
