// Tests for the character vocabulary: ordering, encoding, unknown characters and JSON round trips.
using Recurrent.Data;

namespace Recurrent.Tests.Data;

public sealed class CharVocabularyTests
{
    [Fact]
    public void BuildsDistinctCharactersInCodePointOrder()
    {
        var v = CharVocabulary.Build("hello\nworld");
        Assert.Equal(["\n", "d", "e", "h", "l", "o", "r", "w"], v.Symbols);
        Assert.Equal(8, v.Count);
        Assert.Equal(0, v.IndexOf("\n"));
        Assert.Equal(-1, v.IndexOf("z"));
    }

    [Fact]
    public void EncodeDecodeRoundTripsAndCountsAstralCharactersOnce()
    {
        const string text = "a🙂b🙂é";
        var v = CharVocabulary.Build(text);
        Assert.Equal(4, v.Count);
        long[] ids = v.Encode(text);
        Assert.Equal(5, ids.Length);
        Assert.Equal(ids[1], ids[3]);
        Assert.Equal(text, v.Decode(ids));
    }

    [Fact]
    public void UnknownCharacterIsNamed()
    {
        var v = CharVocabulary.Build("abc");
        var e = Assert.Throws<TextDataException>(() => v.Encode("abxc", "the prompt"));
        Assert.Contains("the prompt", e.Message);
        Assert.Contains("'x' (U+0078)", e.Message);
        Assert.Contains("character 2", e.Message);
    }

    [Fact]
    public void DecodeRejectsOutOfRangeIds()
    {
        var v = CharVocabulary.Build("ab");
        Assert.Throws<ArgumentOutOfRangeException>(() => v.Decode([0, 2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => v.Decode([-1]));
    }

    [Fact]
    public void JsonRoundTripKeepsOrder()
    {
        var v = CharVocabulary.FromSymbols(["z", "\n", "🙂", "\""]);
        var back = CharVocabulary.FromJson(v.ToJson());
        Assert.Equal(v.Symbols, back.Symbols);
        Assert.Equal(2, back.IndexOf("🙂"));
    }

    [Theory]
    [InlineData("{\"a\":1}")]
    [InlineData("[\"ab\"]")]
    [InlineData("[\"a\",\"a\"]")]
    [InlineData("[]")]
    [InlineData("not json")]
    [InlineData("null")]
    public void BadJsonIsRejected(string json) =>
        Assert.Throws<TextDataException>(() => CharVocabulary.FromJson(json));
}
