using System.Buffers.Binary;
using System.Diagnostics;
using Recurrent.IO;
using Xunit.Abstractions;
using static Recurrent.Tests.IO.SafeTensors.SafeTensorsTestSupport;

namespace Recurrent.Tests.IO.SafeTensors;

/// <summary>Random corruptions of a real fixture must yield a valid file or a SafeTensorsFormatException, nothing else.</summary>
public class SafeTensorsFuzzTests(ITestOutputHelper output)
{
    private static readonly byte[] s_jsonish = "{}[]\",:-0123456789eE.  aF_".Select(c => (byte)c).ToArray();

    [SkippableFact]
    public void CorruptedFixturesFailCleanly()
    {
        string path = FixtureFiles()
            .Where(p => new FileInfo(p).Length < 16_000)
            .OrderBy(p => Path.GetFileName(p), StringComparer.Ordinal)
            .First(p => SafeTensorsFile.Read(p).Entries.Count >= 4);
        byte[] original = File.ReadAllBytes(path);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(original);
        var rng = new Random(12345);
        int ok = 0, rejected = 0;
        var sw = Stopwatch.StartNew();

        for (int iter = 0; iter < 4000; iter++)
        {
            byte[] data = (byte[])original.Clone();
            int mutations = 1 + rng.Next(3);
            for (int m = 0; m < mutations; m++)
            {
                if (data.Length < 9) break; // already truncated to (almost) nothing
                switch (rng.Next(6))
                {
                    case 0: // bit flip anywhere in prefix + header (+ a little buffer)
                    {
                        int pos = rng.Next(Math.Min(data.Length, headerEnd + 16));
                        data[pos] ^= (byte)(1 << rng.Next(8));
                        break;
                    }
                    case 1: // bit flip in the 8-byte length
                        data[rng.Next(8)] ^= (byte)(1 << rng.Next(8));
                        break;
                    case 2: // JSON-significant byte replacement in the header
                        data[8 + rng.Next(Math.Max(1, Math.Min(data.Length, headerEnd) - 8))] = s_jsonish[rng.Next(s_jsonish.Length)];
                        break;
                    case 3: // truncation
                        data = data[..rng.Next(data.Length)];
                        break;
                    case 4: // digit change in the header (shapes / offsets)
                    {
                        int start = 8 + rng.Next(Math.Max(1, Math.Min(data.Length, headerEnd) - 8));
                        for (int i = start; i < Math.Min(data.Length, headerEnd); i++)
                            if (data[i] is >= (byte)'0' and <= (byte)'9') { data[i] = (byte)('0' + rng.Next(10)); break; }
                        break;
                    }
                    default: // append or drop bytes at the end of the buffer
                        data = rng.Next(2) == 0 ? [.. data, .. new byte[rng.Next(1, 9)]] : data[..Math.Max(0, data.Length - rng.Next(1, 9))];
                        break;
                }
            }

            try
            {
                var f = SafeTensorsFile.Read(data.AsMemory());
                foreach (var e in f.Entries)
                {
                    Assert.Equal(e.ByteLength, f.GetBytes(e.Name).Length);
                    switch (e.DType)
                    {
                        case SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16: f.GetFloat32(e.Name); break;
                        case SafeTensorsDType.F64: f.GetFloat64(e.Name); break;
                        case SafeTensorsDType.I64: f.GetInt64(e.Name); break;
                    }
                }
                ok++;
            }
            catch (SafeTensorsFormatException ex)
            {
                Assert.False(string.IsNullOrWhiteSpace(ex.Message));
                rejected++;
            }
        }
        output.WriteLine($"{Path.GetFileName(path)}: {rejected} rejected, {ok} accepted in {sw.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(rejected > 1000, $"only {rejected} rejected, {ok} accepted");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"fuzzing took {sw.Elapsed}");
    }
}
