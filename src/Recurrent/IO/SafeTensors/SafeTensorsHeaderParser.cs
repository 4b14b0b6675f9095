// Validating parser for the safetensors prefix and JSON header.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Recurrent.IO;

/// <summary>
/// Parses and validates the 8-byte length prefix and the JSON header of a safetensors file held in memory.
/// Nothing read from the header is trusted (or used to size an allocation) before it has been checked
/// against the actual data length.
/// </summary>
internal static class SafeTensorsHeaderParser
{
    internal readonly record struct Result(
        List<SafeTensorsEntry> Entries,
        Dictionary<string, string> Metadata,
        long HeaderLength,
        long BufferOffset,
        long BufferLength);

    private static readonly JsonDocumentOptions s_jsonOptions = new()
    {
        MaxDepth = 16,
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
    };

    private const string MetadataKey = "__metadata__";

    internal static string Where(string? source) =>
        source is null ? "safetensors data" : $"safetensors file '{source}'";

    /// <summary>Checks the 8-byte prefix of data whose total length is <paramref name="totalLength"/>; returns the header length.</summary>
    internal static long CheckPrefix(ReadOnlySpan<byte> prefix, long totalLength, string? source)
    {
        string where = Where(source);
        if (totalLength < 8 || prefix.Length < 8)
            throw new SafeTensorsFormatException(
                $"{where}: too short: {totalLength} byte(s), expected at least 8 (the little-endian u64 header length) followed by a JSON header.");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > SafeTensorsFile.MaxHeaderLength && PyTorchFormat(prefix) is { } pytorch)
            throw new SafeTensorsFormatException(
                $"{(source is null ? "the data" : $"'{source}'")} is {pytorch}, not a safetensors file. Read it with Recurrent.IO.Torch: TorchCheckpoint.Load(path).LoadInto(model) " +
                "loads its state_dict into a module (ToStateDict() gives the tensors by name), or convert it once with " +
                "`recurrent convert FILE.pt OUT.safetensors` and load that.");
        if (n > SafeTensorsFile.MaxHeaderLength)
            throw new SafeTensorsFormatException(
                $"{where}: header length {n} exceeds the limit of {SafeTensorsFile.MaxHeaderLength} bytes (file is {totalLength} bytes).");
        if (n > (ulong)(totalLength - 8))
            throw new SafeTensorsFormatException(
                $"{where}: header length {n} is larger than the {totalLength - 8} byte(s) that follow the 8-byte prefix (file truncated or not safetensors).");
        if (n == 0)
            throw new SafeTensorsFormatException($"{where}: header length is 0; expected a JSON object.");
        return (long)n;
    }

    /// <summary>
    /// What a file that is not safetensors is when its first bytes are PyTorch's: a zip archive (<c>PK\x03\x04</c>, what
    /// <c>torch.save</c> writes since PyTorch 1.6) or a pickle (<c>0x80</c> and a protocol 2-5; the legacy format starts
    /// with its magic number as a pickled long). Null otherwise.
    /// </summary>
    internal static string? PyTorchFormat(ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length >= 4 && prefix[0] == (byte)'P' && prefix[1] == (byte)'K' && prefix[2] == 3 && prefix[3] == 4)
            return "a PyTorch file (a zip archive, as torch.save writes .pt/.pth/.ckpt files)";
        if (prefix.Length >= 4 && prefix[0] == 0x80 && prefix[1] == 2 && prefix[2] == 0x8a && prefix[3] == 0x0a)
            return "a PyTorch file (the legacy torch.save format of PyTorch before 1.6, a pickle)";
        if (prefix.Length >= 2 && prefix[0] == 0x80 && prefix[1] is >= 2 and <= 5)
            return "a Python pickle (a legacy torch.save file or another pickle)";
        return null;
    }

    internal static Result Parse(ReadOnlyMemory<byte> data, string? source)
    {
        string where = Where(source);
        long n = CheckPrefix(data.Span, data.Length, source);
        ReadOnlyMemory<byte> header = data.Slice(8, (int)n);
        long bufferOffset = 8 + n;
        long bufferLength = data.Length - bufferOffset;

        ReadOnlySpan<byte> hs = header.Span;
        if (!Utf8.IsValid(hs))
            throw new SafeTensorsFormatException($"{where}: header ({n} bytes) is not valid UTF-8.");
        if (hs[0] != (byte)'{')
            throw new SafeTensorsFormatException(
                $"{where}: header must start with '{{' (a JSON object), found byte 0x{hs[0]:X2} ('{Printable(hs[0])}').");

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, s_jsonOptions);
        }
        catch (JsonException ex)
        {
            throw new SafeTensorsFormatException($"{where}: header is not valid JSON: {ex.Message}", ex);
        }

        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException($"{where}: header must be a JSON object, found {Kind(root.ValueKind)}.");

            var entries = new List<SafeTensorsEntry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            Dictionary<string, string>? metadata = null;

            foreach (JsonProperty prop in root.EnumerateObject())
            {
                string name = prop.Name;
                if (!seen.Add(name))
                    throw new SafeTensorsFormatException($"{where}: duplicate key '{name}' in the header.");
                if (name == MetadataKey)
                    metadata = ParseMetadata(prop.Value, where);
                else
                    entries.Add(ParseEntry(name, prop.Value, bufferLength, where));
            }

            CheckLayout(entries, bufferLength, where);
            return new Result(entries, metadata ?? new Dictionary<string, string>(StringComparer.Ordinal), n, bufferOffset, bufferLength);
        }
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement value, string where)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (value.ValueKind == JsonValueKind.Null)
            return result;
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(
                $"{where}: '{MetadataKey}' must be a JSON object mapping strings to strings, found {Kind(value.ValueKind)}.");
        foreach (JsonProperty p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new SafeTensorsFormatException(
                    $"{where}: '{MetadataKey}' value for key '{p.Name}' must be a string, found {Kind(p.Value.ValueKind)} ({Excerpt(p.Value)}).");
            if (!result.TryAdd(p.Name, p.Value.GetString()!))
                throw new SafeTensorsFormatException($"{where}: duplicate key '{p.Name}' in '{MetadataKey}'.");
        }
        return result;
    }

    // Messages are built only on failure: a header may list hundreds of thousands of tensors, and a few
    // strings per entry would make a valid file cost many times its size to parse.
    private static SafeTensorsEntry ParseEntry(string name, JsonElement value, long bufferLength, string where)
    {
        string What() => $"{where}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(
                $"{What()}: expected a JSON object with \"dtype\", \"shape\" and \"data_offsets\", found {Kind(value.ValueKind)}.");

        JsonElement? dtypeEl = null, shapeEl = null, offsetsEl = null;
        foreach (JsonProperty p in value.EnumerateObject())
        {
            if (p.NameEquals("dtype"u8)) SetOnce(ref dtypeEl, p, name, where);
            else if (p.NameEquals("shape"u8)) SetOnce(ref shapeEl, p, name, where);
            else if (p.NameEquals("data_offsets"u8)) SetOnce(ref offsetsEl, p, name, where);
            else
                throw new SafeTensorsFormatException(
                    $"{What()}: unexpected field '{p.Name}' (expected only \"dtype\", \"shape\" and \"data_offsets\").");
        }
        if (dtypeEl is null) throw new SafeTensorsFormatException($"{What()}: missing field \"dtype\".");
        if (shapeEl is null) throw new SafeTensorsFormatException($"{What()}: missing field \"shape\".");
        if (offsetsEl is null) throw new SafeTensorsFormatException($"{What()}: missing field \"data_offsets\".");

        // dtype
        JsonElement d = dtypeEl.Value;
        if (d.ValueKind != JsonValueKind.String)
            throw new SafeTensorsFormatException($"{What()}: \"dtype\" must be a string, found {Kind(d.ValueKind)} ({Excerpt(d)}).");
        if (!TryParseDType(d, out SafeTensorsDType dtype))
            throw new SafeTensorsFormatException(
                $"{What()}: unknown dtype '{Truncate(d.GetString()!)}' (expected one of {string.Join(", ", SafeTensorsDTypes.All)}).");

        // shape
        JsonElement s = shapeEl.Value;
        if (s.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsFormatException($"{What()}: \"shape\" must be an array of non-negative integers, found {Kind(s.ValueKind)} ({Excerpt(s)}).");
        var shape = new long[s.GetArrayLength()];
        int i = 0;
        foreach (JsonElement dim in s.EnumerateArray())
        {
            shape[i] = ReadNonNegative(dim, name, where, "\"shape\"", i, "dimension");
            i++;
        }

        // data_offsets
        JsonElement o = offsetsEl.Value;
        if (o.ValueKind != JsonValueKind.Array || o.GetArrayLength() != 2)
            throw new SafeTensorsFormatException(
                $"{What()}: \"data_offsets\" must be an array of two non-negative integers [begin, end], found {Excerpt(o)}.");
        long begin = ReadNonNegative(o[0], name, where, "\"data_offsets\"", 0, "offset");
        long end = ReadNonNegative(o[1], name, where, "\"data_offsets\"", 1, "offset");

        // element count and byte size, in checked 64-bit unsigned arithmetic
        ulong count = 1;
        foreach (long dim in shape)
        {
            if (dim != 0 && count > ulong.MaxValue / (ulong)dim)
                throw new SafeTensorsFormatException(
                    $"{What()}: shape {ShapeText(shape)} has too many elements (the product of the dimensions overflows 64 bits).");
            count *= (ulong)dim;
        }
        if (count > long.MaxValue)
            throw new SafeTensorsFormatException(
                $"{What()}: shape {ShapeText(shape)} has too many elements ({count}; the limit is {long.MaxValue}).");
        ulong? bytes = dtype.TryGetByteLength(count);
        if (bytes is null)
        {
            if (dtype.IsSubByte() && count <= ulong.MaxValue / (ulong)dtype.BitSize())
                throw new SafeTensorsFormatException(
                    $"{What()}: {count} element(s) of {dtype.BitSize()}-bit dtype {dtype.ToHeaderName()} do not fill a whole number of bytes.");
            throw new SafeTensorsFormatException(
                $"{What()}: shape {ShapeText(shape)} of dtype {dtype.ToHeaderName()} is too large (the byte size overflows 64 bits).");
        }

        if (begin > end)
            throw new SafeTensorsFormatException($"{What()}: \"data_offsets\" [{begin}, {end}] has begin > end.");
        if (end > bufferLength)
            throw new SafeTensorsFormatException(
                $"{What()}: \"data_offsets\" [{begin}, {end}] out of bounds: the byte buffer after the header is {bufferLength} byte(s).");
        ulong span = (ulong)(end - begin);
        if (span != bytes.Value)
            throw new SafeTensorsFormatException(
                $"{What()}: size mismatch: \"data_offsets\" [{begin}, {end}] span {span} byte(s), but dtype {dtype.ToHeaderName()} with shape {ShapeText(shape)} needs {bytes.Value} byte(s).");

        return new SafeTensorsEntry(name, dtype, shape, (long)count, begin, end);
    }

    private static bool TryParseDType(JsonElement el, out SafeTensorsDType dtype)
    {
        foreach (SafeTensorsDType candidate in SafeTensorsDTypes.All)
        {
            if (el.ValueEquals(candidate.ToHeaderName()))
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>Entries must tile the byte buffer exactly: no overlap, no hole, nothing left over (as the reference implementation requires).</summary>
    private static void CheckLayout(List<SafeTensorsEntry> entries, long bufferLength, string where)
    {
        var sorted = entries.ToArray();
        Array.Sort(sorted, static (a, b) =>
        {
            int c = a.DataBegin.CompareTo(b.DataBegin);
            return c != 0 ? c : a.DataEnd.CompareTo(b.DataEnd);
        });
        long expected = 0;
        SafeTensorsEntry? previous = null;
        foreach (SafeTensorsEntry e in sorted)
        {
            if (e.DataBegin < expected)
                throw new SafeTensorsFormatException(
                    $"{where}: tensors '{previous!.Name}' [{previous.DataBegin}, {previous.DataEnd}) and '{e.Name}' [{e.DataBegin}, {e.DataEnd}) overlap.");
            if (e.DataBegin > expected)
                throw new SafeTensorsFormatException(
                    $"{where}: hole in the byte buffer: bytes [{expected}, {e.DataBegin}) before tensor '{e.Name}' belong to no tensor (tensors must be contiguous).");
            expected = e.DataEnd;
            previous = e;
        }
        if (expected != bufferLength)
            throw new SafeTensorsFormatException(
                $"{where}: hole in the byte buffer: bytes [{expected}, {bufferLength}) at its end belong to no tensor (the tensors cover {expected} of {bufferLength} byte(s)).");
    }

    private static void SetOnce(ref JsonElement? slot, JsonProperty p, string name, string where)
    {
        if (slot is not null)
            throw new SafeTensorsFormatException($"{where}: tensor '{name}': duplicate field \"{p.Name}\".");
        slot = p.Value;
    }

    private static long ReadNonNegative(JsonElement el, string name, string where, string field, int index, string noun)
    {
        string What() => $"{where}: tensor '{name}': {field}[{index}]";
        if (el.ValueKind != JsonValueKind.Number)
            throw new SafeTensorsFormatException($"{What()}: expected a non-negative integer {noun}, found {Kind(el.ValueKind)} ({Excerpt(el)}).");
        if (el.TryGetInt64(out long v))
        {
            if (v < 0)
                throw new SafeTensorsFormatException($"{What()}: negative {noun} {v}; expected a non-negative integer.");
            return v;
        }
        if (el.TryGetUInt64(out ulong u))
            throw new SafeTensorsFormatException($"{What()}: {noun} {u} is too large (the limit is {long.MaxValue}).");
        throw new SafeTensorsFormatException($"{What()}: expected a non-negative integer {noun}, found {Excerpt(el)}.");
    }

    internal static string ShapeText(ReadOnlySpan<long> shape)
    {
        var sb = new StringBuilder("[");
        int shown = Math.Min(shape.Length, 16);
        for (int i = 0; i < shown; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        if (shape.Length > shown) sb.Append(", ... (").Append(shape.Length).Append(" dims)");
        return sb.Append(']').ToString();
    }

    private static string Kind(JsonValueKind k) => k switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => k.ToString(),
    };

    private static string Excerpt(JsonElement el) => Truncate(el.GetRawText());

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "...";

    private static char Printable(byte b) => b >= 0x20 && b < 0x7F ? (char)b : '?';
}
