// Error raised for a malformed or inconsistent safetensors file.
namespace Recurrent.IO;

/// <summary>
/// A safetensors file (or byte buffer) is malformed: bad header length, invalid JSON, a tensor entry
/// with a wrong or inconsistent field, offsets out of bounds, overlapping or leaving holes, ...
/// The message names the file (when known), the tensor or field, and what was expected versus found.
/// Derives from <see cref="IOException"/> (<see cref="InvalidDataException"/> is sealed), so code that
/// handles I/O failures of a load also handles a corrupt file.
/// </summary>
public class SafeTensorsFormatException : IOException
{
    /// <summary>Creates the exception with a message.</summary>
    public SafeTensorsFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the underlying cause (e.g. a <see cref="System.Text.Json.JsonException"/>).</summary>
    public SafeTensorsFormatException(string message, Exception? innerException) : base(message, innerException) { }
}
