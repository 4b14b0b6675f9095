using System.Buffers.Binary;
using System.Text;

namespace Recurrent.Tests.IO.SafeTensors;

/// <summary>Helpers for the safetensors tests: locating the PyTorch fixtures and hand-building raw files.</summary>
internal static class SafeTensorsTestSupport
{
    /// <summary>The PyTorch fixture folder (<see cref="TestPaths.RequireFixtures"/>: skips the test without ../shared).</summary>
    public static string FixturesDirectory() => TestPaths.RequireFixtures();

    public static string[] FixtureFiles() =>
        Directory.GetFiles(FixturesDirectory(), "*.safetensors").OrderBy(p => p, StringComparer.Ordinal).ToArray();

    /// <summary>A safetensors file made of the given header text (used verbatim) and a zero-filled buffer.</summary>
    public static byte[] Raw(string header, int bufferLength = 0, ulong? headerLengthOverride = null) =>
        Raw(Encoding.UTF8.GetBytes(header), new byte[bufferLength], headerLengthOverride);

    public static byte[] Raw(byte[] header, byte[] buffer, ulong? headerLengthOverride = null)
    {
        var data = new byte[8 + header.Length + buffer.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(data, headerLengthOverride ?? (ulong)header.Length);
        header.CopyTo(data, 8);
        buffer.CopyTo(data, 8 + header.Length);
        return data;
    }

    /// <summary>A fresh empty directory under the temp folder, deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "recurrent-st-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public string[] Listing() => Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).ToArray()!;

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
