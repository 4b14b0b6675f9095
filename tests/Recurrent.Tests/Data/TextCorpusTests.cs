// Tests for strict UTF-8 corpus loading and its error messages.
using System.Text;
using Recurrent.Data;

namespace Recurrent.Tests.Data;

public sealed class TextCorpusTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("recurrent-corpus-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(byte[] bytes)
    {
        string path = Path.Combine(_dir, $"{Guid.NewGuid():N}.txt");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void ReadsUtf8IncludingMultiByteAndAstralCharacters()
    {
        const string text = "héllo, 世界 🙂\nline 2\n";
        Assert.Equal(text, TextCorpus.ReadFile(Write(Encoding.UTF8.GetBytes(text))));
    }

    [Fact]
    public void DropsByteOrderMark()
    {
        byte[] bytes = [0xEF, 0xBB, 0xBF, (byte)'a', (byte)'b'];
        Assert.Equal("ab", TextCorpus.ReadFile(Write(bytes)));
    }

    [Fact]
    public void InvalidByteIsReportedWithOffsetLineAndColumn()
    {
        byte[] bytes = [.. Encoding.UTF8.GetBytes("ok\nté"), 0xFF, (byte)'x'];
        string path = Write(bytes);
        var e = Assert.Throws<TextDataException>(() => TextCorpus.ReadFile(path));
        Assert.Contains("not valid UTF-8", e.Message);
        Assert.Contains("0xFF", e.Message);
        Assert.Contains("offset 6", e.Message); // "ok\n" (3) + "t" (1) + "é" (2)
        Assert.Contains("line 2, column 3", e.Message);
        Assert.Contains(Path.GetFileName(path), e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Latin1TextIsRejected()
    {
        byte[] latin1 = Encoding.Latin1.GetBytes("café au lait");
        var e = Assert.Throws<TextDataException>(() => TextCorpus.Decode(latin1, "menu.txt"));
        Assert.Contains("0xE9", e.Message);
        Assert.Contains("offset 3", e.Message);
    }

    [Fact]
    public void TruncatedMultiByteSequenceIsRejected()
    {
        byte[] bytes = [(byte)'a', 0xE4, 0xB8]; // first two bytes of a three-byte character
        var e = Assert.Throws<TextDataException>(() => TextCorpus.Decode(bytes));
        Assert.Contains("offset 1", e.Message);
    }

    [Fact]
    public void SurrogateCodePointsEncodedInUtf8AreRejected()
    {
        byte[] bytes = [0xED, 0xA0, 0x80]; // U+D800 encoded directly: not valid UTF-8
        Assert.Throws<TextDataException>(() => TextCorpus.Decode(bytes));
    }

    [Fact]
    public void EmptyFileIsAnErrorUnlessAllowed()
    {
        string path = Write([]);
        var e = Assert.Throws<TextDataException>(() => TextCorpus.ReadFile(path));
        Assert.Contains("is empty", e.Message);
        Assert.Equal("", TextCorpus.ReadFile(path, allowEmpty: true));
        Assert.Throws<TextDataException>(() => TextCorpus.ReadFile(Write([0xEF, 0xBB, 0xBF])));
    }

    [Fact]
    public void MissingFileAndDirectoryAreReported()
    {
        string missing = Path.Combine(_dir, "nope.txt");
        var e = Assert.Throws<FileNotFoundException>(() => TextCorpus.ReadFile(missing));
        Assert.Contains("nope.txt", e.Message);
        Assert.Throws<TextDataException>(() => TextCorpus.ReadFile(_dir));
    }
}
