// An extra file of a checkpoint: a name and a callback that writes its bytes.
using System.Text;

namespace Recurrent.Training;

/// <summary>
/// A file a caller adds to a checkpoint besides the ones the store writes (a model config, a vocabulary, a loss
/// history). It is written under a temporary name, then listed in the manifest with its size and SHA-256.
/// </summary>
/// <param name="Name">A plain file name: no directory part, not starting with '.', none of the store's own names.</param>
/// <param name="Write">Writes the whole content to the stream it is given.</param>
public sealed record CheckpointFile(string Name, Action<Stream> Write)
{
    /// <summary>A file with the given bytes.</summary>
    public static CheckpointFile FromBytes(string name, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return new(name, s => s.Write(bytes));
    }

    /// <summary>A UTF-8 text file (no byte-order mark).</summary>
    public static CheckpointFile FromText(string name, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return FromBytes(name, new UTF8Encoding(false).GetBytes(text));
    }
}
