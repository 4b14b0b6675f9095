// The error raised for unusable text data: a missing, empty or non-UTF-8 corpus, or characters outside a vocabulary.
namespace Recurrent.Data;

/// <summary>
/// Text data that cannot be used: a corpus that is empty or not valid UTF-8, text whose characters are not in a
/// vocabulary, or a corpus too short for the requested windows. The message is one line that says what to fix.
/// </summary>
public sealed class TextDataException : Exception
{
    /// <summary>Creates the exception with a one-line message.</summary>
    public TextDataException(string message) : base(message) { }

    /// <summary>Creates the exception with a one-line message and the underlying cause.</summary>
    public TextDataException(string message, Exception inner) : base(message, inner) { }
}
