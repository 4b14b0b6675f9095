// Building and (atomically) saving safetensors files.
using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Recurrent.IO;

/// <summary>
/// Collects tensors and metadata, then writes a safetensors file: <c>"__metadata__"</c> first (keys in ordinal
/// order), tensors in ordinal name order laid out contiguously in that order, the JSON header padded with
/// spaces to a multiple of 8 bytes. Every input is validated when added, so a save never starts with bad input;
/// <see cref="Save"/> writes a temporary file in the target directory and renames it over the target, so an
/// interrupted save never leaves a truncated file behind.
/// </summary>
/// <remarks>
/// The data arrays/memory are referenced, not copied: do not modify them until the file has been written.
/// </remarks>
public sealed class SafeTensorsWriter
{
    private const string MetadataKey = "__metadata__";
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private enum Kind { Bytes, F32, F64, I64 }

    private sealed record Pending(string Name, SafeTensorsDType DType, long[] Shape, long ByteLength, Kind Kind,
        ReadOnlyMemory<byte> Bytes, ReadOnlyMemory<float> F32, ReadOnlyMemory<double> F64, ReadOnlyMemory<long> I64);

    private readonly Dictionary<string, Pending> _tensors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    /// <summary>Number of tensors added.</summary>
    public int Count => _tensors.Count;

    /// <summary>The metadata added so far.</summary>
    public IReadOnlyDictionary<string, string> Metadata => _metadata;

    /// <summary>Adds a tensor given as raw little-endian bytes, whose length must equal the shape's element count times the dtype size.</summary>
    /// <exception cref="ArgumentException">Bad or duplicate name, unknown dtype, negative dimension, or data length mismatch.</exception>
    public SafeTensorsWriter Add(string name, SafeTensorsDType dtype, long[] shape, ReadOnlyMemory<byte> data)
    {
        if (!Enum.IsDefined(dtype))
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"Tensor '{name}': not a safetensors dtype.");
        long bytes = CheckAndSize(name, dtype, shape, out long[] copy);
        if (data.Length != bytes)
            throw new ArgumentException(
                $"Tensor '{name}': dtype {dtype.ToHeaderName()} with shape {SafeTensorsHeaderParser.ShapeText(copy)} needs {bytes} byte(s), but the data has {data.Length}.",
                nameof(data));
        _tensors.Add(name, new Pending(name, dtype, copy, bytes, Kind.Bytes, data, default, default, default));
        return this;
    }

    /// <summary>Adds a float32 tensor (dtype F32); the data length must equal the shape's element count.</summary>
    public SafeTensorsWriter Add(string name, long[] shape, ReadOnlyMemory<float> data)
    {
        long bytes = CheckTyped(name, SafeTensorsDType.F32, shape, data.Length, out long[] copy);
        _tensors.Add(name, new Pending(name, SafeTensorsDType.F32, copy, bytes, Kind.F32, default, data, default, default));
        return this;
    }

    /// <summary>Adds a float64 tensor (dtype F64); the data length must equal the shape's element count.</summary>
    public SafeTensorsWriter Add(string name, long[] shape, ReadOnlyMemory<double> data)
    {
        long bytes = CheckTyped(name, SafeTensorsDType.F64, shape, data.Length, out long[] copy);
        _tensors.Add(name, new Pending(name, SafeTensorsDType.F64, copy, bytes, Kind.F64, default, default, data, default));
        return this;
    }

    /// <summary>Adds an int64 tensor (dtype I64); the data length must equal the shape's element count.</summary>
    public SafeTensorsWriter Add(string name, long[] shape, ReadOnlyMemory<long> data)
    {
        long bytes = CheckTyped(name, SafeTensorsDType.I64, shape, data.Length, out long[] copy);
        _tensors.Add(name, new Pending(name, SafeTensorsDType.I64, copy, bytes, Kind.I64, default, default, default, data));
        return this;
    }

    /// <summary>Sets a metadata entry (replacing an earlier value for the same key).</summary>
    public SafeTensorsWriter AddMetadata(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        CheckUtf16(key, $"Metadata key '{key}'", nameof(key));
        CheckUtf16(value, $"Metadata value for key '{key}'", nameof(value));
        _metadata[key] = value;
        return this;
    }

    /// <summary>Sets several metadata entries; null adds nothing.</summary>
    public SafeTensorsWriter AddMetadata(IEnumerable<KeyValuePair<string, string>>? metadata)
    {
        if (metadata is null) return this;
        foreach (var kv in metadata)
        {
            if (kv.Value is null) throw new ArgumentException($"Metadata value for key '{kv.Key}' is null.", nameof(metadata));
            AddMetadata(kv.Key, kv.Value);
        }
        return this;
    }

    /// <summary>The exact size of the file that would be written.</summary>
    public long ComputeLength() => 8 + BuildHeader().Length + _tensors.Values.Sum(t => t.ByteLength);

    /// <summary>The file as a byte array.</summary>
    public byte[] ToArray()
    {
        long length = ComputeLength();
        if (length > Array.MaxLength)
            throw new NotSupportedException($"The safetensors data would be {length} bytes, more than fits in one array; use Save or WriteTo.");
        var ms = new MemoryStream((int)length);
        WriteTo(ms);
        return ms.GetBuffer().Length == length ? ms.GetBuffer() : ms.ToArray();
    }

    /// <summary>Writes the file to <paramref name="stream"/> at its current position.</summary>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] header = BuildHeader();
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (Pending t in Ordered()) WriteData(stream, t);
    }

    /// <summary>
    /// Writes the file to <paramref name="path"/> atomically: to a temporary file in the same directory, flushed to
    /// disk, then renamed over <paramref name="path"/>. On failure the temporary file is removed and any existing
    /// file at <paramref name="path"/> is left untouched.
    /// </summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no directory.", nameof(path));
        if (Directory.Exists(full)) throw new IOException($"Cannot write safetensors file '{full}': it is a directory.");
        _ = BuildHeader(); // all validation (including header size) before touching the file system
        string fileName = Path.GetFileName(full);
        if (fileName.Length > 64) fileName = fileName[..64]; // keep the temporary name within file-name limits
        string tmp = Path.Combine(dir, $".{fileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                WriteTo(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    // ------------------------------------------------------------------ internals

    private IEnumerable<Pending> Ordered() => _tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal);

    private byte[] BuildHeader()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, SkipValidation = false }))
        {
            json.WriteStartObject();
            if (_metadata.Count > 0)
            {
                json.WriteStartObject(MetadataKey);
                foreach (var kv in _metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    json.WriteString(kv.Key, kv.Value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (Pending t in Ordered())
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.ToHeaderName());
                json.WriteStartArray("shape");
                foreach (long d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset = checked(offset + t.ByteLength);
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        if (padded > SafeTensorsFile.MaxHeaderLength)
            throw new InvalidOperationException(
                $"The safetensors header would be {padded} bytes, over the {SafeTensorsFile.MaxHeaderLength}-byte limit readers accept.");
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static void WriteData(Stream stream, Pending t)
    {
        switch (t.Kind)
        {
            case Kind.Bytes: stream.Write(t.Bytes.Span); break;
            case Kind.F32: WriteLittleEndian(stream, t.F32.Span); break;
            case Kind.F64: WriteLittleEndian(stream, t.F64.Span); break;
            case Kind.I64: WriteLittleEndian(stream, t.I64.Span); break;
        }
    }

    // A span of bytes holds at most 2 GiB, and a tensor of more than 2^29 float32 values takes more: the values are
    // written in pieces of at most `pieceValues` (1 GiB of bytes by default; tests pass a small one).
    internal static void WriteLittleEndian<T>(Stream stream, ReadOnlySpan<T> values, int pieceValues = 0) where T : unmanaged
    {
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (pieceValues <= 0) pieceValues = (1 << 30) / size;
        for (long start = 0; start < values.Length; start += pieceValues)
        {
            ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(values.Slice((int)start, (int)Math.Min(pieceValues, values.Length - start)));
            if (BitConverter.IsLittleEndian) { stream.Write(bytes); continue; }
            byte[] chunk = new byte[Math.Min(bytes.Length, 1 << 16)];
            for (int pos = 0; pos < bytes.Length; pos += chunk.Length)
            {
                int n = Math.Min(chunk.Length, bytes.Length - pos);
                bytes.Slice(pos, n).CopyTo(chunk);
                for (int i = 0; i < n; i += size) chunk.AsSpan(i, size).Reverse();
                stream.Write(chunk, 0, n);
            }
        }
    }

    private long CheckTyped(string name, SafeTensorsDType dtype, long[] shape, int dataLength, out long[] copy)
    {
        long bytes = CheckAndSize(name, dtype, shape, out copy);
        long count = bytes / dtype.ElementSize();
        if (count != dataLength)
            throw new ArgumentException(
                $"Tensor '{name}': shape {SafeTensorsHeaderParser.ShapeText(copy)} has {count} element(s), but the data has {dataLength}.",
                "data");
        return bytes;
    }

    private long CheckAndSize(string name, SafeTensorsDType dtype, long[] shape, out long[] copy)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == MetadataKey)
            throw new ArgumentException($"'{MetadataKey}' is reserved for the metadata and cannot be a tensor name.", nameof(name));
        CheckUtf16(name, $"Tensor name '{name}'", nameof(name));
        if (_tensors.ContainsKey(name))
            throw new ArgumentException($"Duplicate tensor name '{name}'.", nameof(name));
        copy = (long[])shape.Clone();
        ulong count = 1;
        for (int i = 0; i < copy.Length; i++)
        {
            long d = copy[i];
            if (d < 0)
                throw new ArgumentException($"Tensor '{name}': negative dimension {d} at index {i} of shape {SafeTensorsHeaderParser.ShapeText(copy)}.", nameof(shape));
            if (d != 0 && count > ulong.MaxValue / (ulong)d)
                throw new ArgumentException($"Tensor '{name}': shape {SafeTensorsHeaderParser.ShapeText(copy)} has too many elements.", nameof(shape));
            count *= (ulong)d;
        }
        ulong? bytes = dtype.TryGetByteLength(count);
        if (bytes is null || bytes.Value > long.MaxValue)
            throw new ArgumentException(
                $"Tensor '{name}': shape {SafeTensorsHeaderParser.ShapeText(copy)} of dtype {dtype.ToHeaderName()} does not have a valid byte size (overflow, or sub-byte elements not filling whole bytes).",
                nameof(shape));
        return (long)bytes.Value;
    }

    private static void CheckUtf16(string s, string what, string param)
    {
        try { s_strictUtf8.GetByteCount(s); }
        catch (EncoderFallbackException) { throw new ArgumentException($"{what} contains an unpaired surrogate and cannot be encoded as UTF-8.", param); }
    }
}
