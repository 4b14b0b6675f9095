// Dispatch from a weight file to the reader of its format, by content (magic bytes) first and extension second.
// Adding a format (PyTorch .pt/.pth/.ckpt through TorchCheckpoint) is one more ITensorFileFormat in the list.
using System.Buffers.Binary;
using Recurrent.IO;
using Recurrent.IO.Torch;

namespace Recurrent.Cli.Inspection;

/// <summary>A weight-file format that <c>info</c> (and later <c>convert</c>) can read.</summary>
public interface ITensorFileFormat
{
    /// <summary>The format's name as shown to users.</summary>
    string Name { get; }

    /// <summary>Whether the file looks like this format, from its first bytes (up to 16) and its extension.</summary>
    bool Recognizes(ReadOnlySpan<byte> head, string extension);

    /// <summary>Lists the file's tensors.</summary>
    TensorListing List(string path);
}

/// <summary>The known formats and the dispatch over them.</summary>
public static class TensorFileFormats
{
    /// <summary>The formats tried in order.</summary>
    public static IReadOnlyList<ITensorFileFormat> All { get; } = [new SafeTensorsFormat(), new PyTorchFormat()];

    /// <summary>Lists the tensors of <paramref name="path"/> with the first format that recognizes it.</summary>
    /// <exception cref="CliException">The file does not exist or no format recognizes it.</exception>
    public static TensorListing List(string path)
    {
        if (!File.Exists(path)) throw new CliException($"'{path}' does not exist.");
        Span<byte> head = stackalloc byte[16];
        int n;
        using (var fs = File.OpenRead(path)) n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..n];
        string ext = Path.GetExtension(path).ToLowerInvariant();
        foreach (ITensorFileFormat format in All)
            if (format.Recognizes(head, ext)) return format.List(path);
        throw new CliException(
            $"'{path}' is not a weight file this program reads (known formats: {string.Join(", ", All.Select(f => f.Name))}).");
    }
}

/// <summary>safetensors: an 8-byte little-endian header length, then a JSON header starting with '{'.</summary>
internal sealed class SafeTensorsFormat : ITensorFileFormat
{
    public string Name => "safetensors";

    public bool Recognizes(ReadOnlySpan<byte> head, string extension)
    {
        if (extension == ".safetensors") return true;
        if (head.Length < 9) return false;
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(head);
        return headerLength is > 1 and <= SafeTensorsFile.MaxHeaderLength && head[8] == (byte)'{';
    }

    public TensorListing List(string path)
    {
        SafeTensorsFile file = SafeTensorsFile.Read(path);
        var tensors = file.Entries.Select(e => new TensorInfo(e.Name, e.DType.ToHeaderName(), e.ToShapeArray())).ToList();
        return new TensorListing(path, Name, tensors, file.Metadata);
    }
}

/// <summary>
/// PyTorch's <c>torch.save</c> files (a zip archive, or the legacy pickle stream), read by the restricted
/// unpickler of <see cref="TorchCheckpoint"/>: every tensor in the file, nested containers flattened to dotted names.
/// </summary>
internal sealed class PyTorchFormat : ITensorFileFormat
{
    public string Name => "PyTorch (.pt/.pth/.ckpt)";

    public bool Recognizes(ReadOnlySpan<byte> head, string extension) =>
        extension is ".pt" or ".pth" or ".ckpt" or ".bin"
        || head.StartsWith("PK\x03\x04"u8)                      // zip container (torch.save since 1.6)
        || (head.Length >= 2 && head[0] == 0x80 && head[1] <= 5); // legacy pickle stream

    public TensorListing List(string path)
    {
        TorchCheckpoint ck = TorchCheckpoint.Load(path);
        var tensors = ck.ListTensors().Select(t => new TensorInfo(t.Name, t.DType.TorchName(), t.Shape)).ToList();
        var meta = new Dictionary<string, string>(ck.Records);
        if (ck.FindStateDictPath() is { } sd) meta["state_dict"] = sd.Length == 0 ? "(root)" : sd;
        return new TensorListing(path, Name, tensors, meta);
    }
}
