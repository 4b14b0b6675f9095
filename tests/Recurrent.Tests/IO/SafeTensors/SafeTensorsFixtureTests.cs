using System.Text.Json;
using Recurrent.IO;
using static Recurrent.Tests.IO.SafeTensors.SafeTensorsTestSupport;

namespace Recurrent.Tests.IO.SafeTensors;

/// <summary>Every PyTorch golden fixture must read, validate, and survive a write/read round trip.</summary>
public class SafeTensorsFixtureTests
{
    [SkippableFact]
    public void AllFixturesRead()
    {
        string[] files = FixtureFiles();
        string manifest = Path.Combine(FixturesDirectory(), "manifest.json");
        if (File.Exists(manifest))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
            Assert.Equal(doc.RootElement.GetProperty("count").GetInt32(), files.Length);
        }
        Assert.NotEmpty(files);

        var failures = new List<string>();
        int tensors = 0;
        foreach (string path in files)
        {
            try
            {
                var f = SafeTensorsFile.Read(path);
                long total = 0;
                Assert.NotEmpty(f.Entries);
                Assert.Equal(Path.GetFileNameWithoutExtension(path), f.Metadata["case"]);
                foreach (SafeTensorsEntry e in f.Entries)
                {
                    long count = 1;
                    foreach (long d in e.Shape) count *= d;
                    Assert.Equal(count, e.ElementCount);
                    Assert.Equal(count * e.DType.ElementSize(), e.ByteLength);
                    Assert.Equal(e.ByteLength, f.GetBytes(e.Name).Length);
                    int n = e.DType switch
                    {
                        SafeTensorsDType.F32 => f.GetFloat32(e.Name).Length,
                        SafeTensorsDType.F64 => f.GetFloat64(e.Name).Length,
                        SafeTensorsDType.I64 => f.GetInt64(e.Name).Length,
                        _ => throw new Xunit.Sdk.XunitException($"unexpected dtype {e.DType} in {e.Name}"),
                    };
                    Assert.Equal(count, n);
                    total += e.ByteLength;
                    tensors++;
                }
                Assert.Equal(f.BufferLength, total);
                Assert.Equal(new FileInfo(path).Length, 8 + f.HeaderLength + f.BufferLength);
            }
            catch (Exception ex)
            {
                failures.Add($"{Path.GetFileName(path)}: {ex.GetType().Name}: {ex.Message}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(tensors > files.Length);
    }

    [SkippableFact]
    public void FixturesRoundTripByteForByte()
    {
        // Our writer follows the same conventions as the fixture generator (metadata first with sorted keys,
        // tensors in name order, compact JSON, space padding), so re-serializing reproduces each file exactly.
        var failures = new List<string>();
        foreach (string path in FixtureFiles())
        {
            byte[] original = File.ReadAllBytes(path);
            var f = SafeTensorsFile.Read(original.AsMemory());
            var w = new SafeTensorsWriter().AddMetadata(f.Metadata);
            foreach (var e in f.Entries) w.Add(e.Name, e.DType, e.ToShapeArray(), f.GetMemory(e));
            byte[] copy = w.ToArray();
            if (!copy.AsSpan().SequenceEqual(original)) failures.Add(Path.GetFileName(path));

            // And semantically, through the reader again.
            var g = SafeTensorsFile.Read(copy.AsMemory());
            Assert.Equal(f.Metadata.Count, g.Metadata.Count);
            foreach (var kv in f.Metadata) Assert.Equal(kv.Value, g.Metadata[kv.Key]);
            Assert.Equal(f.Names.Order(StringComparer.Ordinal), g.Names);
            foreach (var e in f.Entries)
            {
                Assert.Equal(e.Shape, g[e.Name].Shape);
                Assert.Equal(e.DType, g[e.Name].DType);
                Assert.True(f.GetBytes(e.Name).SequenceEqual(g.GetBytes(e.Name)));
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} fixture(s) not reproduced byte for byte: {string.Join(", ", failures.Take(10))}");
    }
}
