// A character vocabulary: the distinct Unicode code points of a corpus, in code-point order, mapped to ids 0..N-1.
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Recurrent.Data;

/// <summary>
/// Maps characters (Unicode scalar values, so a character outside the Basic Multilingual Plane is one symbol, not two
/// UTF-16 halves) to token ids and back. Built from a corpus, ids follow code-point order, so the same text always
/// gives the same vocabulary.
/// </summary>
public sealed class CharVocabulary
{
    private readonly Rune[] _symbols;
    private readonly Dictionary<int, int> _ids;

    private CharVocabulary(Rune[] symbols)
    {
        _symbols = symbols;
        _ids = new Dictionary<int, int>(symbols.Length);
        for (int i = 0; i < symbols.Length; i++) _ids.Add(symbols[i].Value, i);
    }

    /// <summary>Number of symbols (the model's vocabulary size).</summary>
    public int Count => _symbols.Length;

    /// <summary>The symbols in id order, each as a string (one or two UTF-16 chars).</summary>
    public IReadOnlyList<string> Symbols => _symbols.Select(r => r.ToString()).ToArray();

    /// <summary>The vocabulary of the distinct characters of <paramref name="text"/>, in code-point order.</summary>
    /// <exception cref="TextDataException">The text is empty.</exception>
    public static CharVocabulary Build(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) throw new TextDataException("Cannot build a vocabulary from empty text.");
        var set = new HashSet<int>();
        foreach (Rune r in text.EnumerateRunes()) set.Add(r.Value);
        return new CharVocabulary(set.Order().Select(v => new Rune(v)).ToArray());
    }

    /// <summary>A vocabulary with exactly these symbols in this order (each must be one character).</summary>
    /// <exception cref="ArgumentException">A symbol is not exactly one Unicode scalar value, or is repeated.</exception>
    public static CharVocabulary FromSymbols(IEnumerable<string> symbols)
    {
        ArgumentNullException.ThrowIfNull(symbols);
        string? error = Validate(symbols, out Rune[] runes);
        if (error is not null) throw new ArgumentException(error, nameof(symbols));
        return new CharVocabulary(runes);
    }

    private static string? Validate(IEnumerable<string> symbols, out Rune[] runes)
    {
        var list = new List<Rune>();
        var seen = new HashSet<int>();
        runes = [];
        foreach (string s in symbols)
        {
            if (string.IsNullOrEmpty(s) || !Rune.TryGetRuneAt(s, 0, out Rune r) || r.Utf16SequenceLength != s.Length)
                return $"every symbol must be exactly one character, but got \"{s}\"";
            if (!seen.Add(r.Value)) return $"{Describe(r)} is listed twice";
            list.Add(r);
        }
        if (list.Count == 0) return "a vocabulary needs at least one symbol";
        runes = list.ToArray();
        return null;
    }

    /// <summary>Whether <paramref name="symbol"/> is in the vocabulary.</summary>
    public bool Contains(Rune symbol) => _ids.ContainsKey(symbol.Value);

    /// <summary>The id of <paramref name="symbol"/>, or -1 if it is not in the vocabulary.</summary>
    public int IndexOf(Rune symbol) => _ids.TryGetValue(symbol.Value, out int id) ? id : -1;

    /// <summary>The id of a one-character string, or -1.</summary>
    public int IndexOf(string symbol) =>
        !string.IsNullOrEmpty(symbol) && Rune.TryGetRuneAt(symbol, 0, out Rune r) && r.Utf16SequenceLength == symbol.Length ? IndexOf(r) : -1;

    /// <summary>The symbol with id <paramref name="id"/>.</summary>
    public string this[int id]
    {
        get
        {
            if ((uint)id >= (uint)_symbols.Length)
                throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is out of range for a vocabulary of {Count} symbols.");
            return _symbols[id].ToString();
        }
    }

    /// <summary>Encodes <paramref name="text"/> as token ids.</summary>
    /// <param name="text">The text.</param>
    /// <param name="source">What the text is, for the error message (e.g. "the prompt", "'valid.txt'").</param>
    /// <exception cref="TextDataException">A character of the text is not in the vocabulary.</exception>
    public long[] Encode(string text, string source = "The text")
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new long[CountRunes(text)];
        int i = 0, pos = 0;
        foreach (Rune r in text.EnumerateRunes())
        {
            if (!_ids.TryGetValue(r.Value, out int id))
                throw new TextDataException(
                    $"{source} contains {Describe(r)} at character {i} (UTF-16 offset {pos}), which is not in the vocabulary of {Count} characters.");
            ids[i++] = id;
            pos += r.Utf16SequenceLength;
        }
        return ids;
    }

    /// <summary>Decodes token ids back to text.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside [0, Count).</exception>
    public string Decode(ReadOnlySpan<long> ids)
    {
        var sb = new StringBuilder(ids.Length);
        foreach (long id in ids)
        {
            if ((ulong)id >= (ulong)_symbols.Length)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is out of range for a vocabulary of {Count} symbols.");
            sb.Append(_symbols[id].ToString());
        }
        return sb.ToString();
    }

    /// <summary>The number of characters (Unicode scalar values) of <paramref name="text"/>.</summary>
    public static int CountRunes(string text)
    {
        int n = 0;
        foreach (Rune _ in text.EnumerateRunes()) n++;
        return n;
    }

    /// <summary>Serialises the vocabulary as a JSON array of one-character strings, in id order.</summary>
    public string ToJson() => JsonSerializer.Serialize(Symbols.ToArray(), VocabularyJson.Default.StringArray);

    /// <summary>Reads a vocabulary written by <see cref="ToJson"/>.</summary>
    /// <exception cref="TextDataException">The JSON is not an array of distinct one-character strings.</exception>
    public static CharVocabulary FromJson(string json)
    {
        string[]? symbols;
        try { symbols = JsonSerializer.Deserialize(json, VocabularyJson.Default.StringArray); }
        catch (JsonException e) { throw new TextDataException($"The vocabulary is not a JSON array of strings: {e.Message}", e); }
        if (symbols is null) throw new TextDataException("The vocabulary is not a JSON array of strings (got null).");
        string? error = Validate(symbols, out Rune[] runes);
        if (error is not null) throw new TextDataException($"The vocabulary is invalid: {error}");
        return new CharVocabulary(runes);
    }

    /// <summary>A readable description of a character: 'a' (U+0061), or just U+000A for control characters.</summary>
    public static string Describe(Rune r) =>
        Rune.IsControl(r) || Rune.IsWhiteSpace(r) ? $"U+{r.Value:X4}" : $"'{r}' (U+{r.Value:X4})";
}

/// <summary>Source-generated JSON contract of vocab.json (no reflection: trimming- and AOT-safe).</summary>
[JsonSerializable(typeof(string[]))]
internal sealed partial class VocabularyJson : JsonSerializerContext;
