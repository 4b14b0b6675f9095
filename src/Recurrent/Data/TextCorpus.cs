// Loading a text corpus: strict UTF-8 decoding that reports where the first invalid byte is.
using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Recurrent.Data;

/// <summary>
/// Reads text corpora as strict UTF-8. Unlike <see cref="File.ReadAllText(string)"/>, invalid bytes are never replaced
/// by U+FFFD silently: they raise a <see cref="TextDataException"/> naming the byte, its offset, line and column.
/// A leading UTF-8 byte-order mark is dropped.
/// </summary>
public static class TextCorpus
{
    private static ReadOnlySpan<byte> Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>Reads <paramref name="path"/> as UTF-8 text.</summary>
    /// <param name="path">The file to read.</param>
    /// <param name="allowEmpty">When false (the default) an empty file (or one holding only a byte-order mark) is an error.</param>
    /// <exception cref="FileNotFoundException">The file does not exist (the message names it).</exception>
    /// <exception cref="TextDataException">The file is a directory, is empty, or is not valid UTF-8.</exception>
    public static string ReadFile(string path, bool allowEmpty = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            throw new TextDataException($"'{path}' is a directory, not a text file.");
        if (!File.Exists(path))
            throw new FileNotFoundException($"The text file '{path}' does not exist.", path);
        byte[] bytes = File.ReadAllBytes(path);
        return Decode(bytes, path, allowEmpty);
    }

    /// <summary>Decodes <paramref name="bytes"/> as strict UTF-8.</summary>
    /// <param name="bytes">The encoded text.</param>
    /// <param name="source">A name for the data used in error messages (a file name), or null.</param>
    /// <param name="allowEmpty">When false (the default) empty text is an error.</param>
    /// <exception cref="TextDataException">Empty text (unless allowed) or invalid UTF-8.</exception>
    public static string Decode(ReadOnlySpan<byte> bytes, string? source = null, bool allowEmpty = false)
    {
        string what = source is null ? "The text" : $"'{source}'";
        if (bytes.StartsWith(Bom)) bytes = bytes[Bom.Length..];
        if (bytes.IsEmpty)
        {
            if (allowEmpty) return "";
            throw new TextDataException($"{what} is empty; give a file with some text in it.");
        }
        char[] buffer = ArrayPool<char>.Shared.Rent(bytes.Length);
        try
        {
            OperationStatus status = Utf8.ToUtf16(bytes, buffer, out int read, out int written,
                replaceInvalidSequences: false, isFinalBlock: true);
            if (status != OperationStatus.Done)
                throw InvalidUtf8(what, bytes, read, status);
            return new string(buffer, 0, written);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    private static TextDataException InvalidUtf8(string what, ReadOnlySpan<byte> bytes, int offset, OperationStatus status)
    {
        // Line and column (in characters) of the offending byte, counted over the valid prefix.
        ReadOnlySpan<byte> prefix = bytes[..offset];
        int line = prefix.Count((byte)'\n') + 1;
        int lineStart = prefix.LastIndexOf((byte)'\n') + 1;
        int column = Encoding.UTF8.GetCharCount(prefix[lineStart..]) + 1;
        string problem = status == OperationStatus.NeedMoreData
            ? $"it ends in the middle of a multi-byte character (byte 0x{bytes[offset]:X2} at offset {offset})"
            : $"invalid byte 0x{bytes[offset]:X2} at offset {offset}";
        return new TextDataException(
            $"{what} is not valid UTF-8: {problem} (line {line}, column {column}); convert it to UTF-8 first (e.g. iconv -f latin1 -t utf-8).");
    }
}
