// Limits the PyTorch reader enforces on untrusted files.
namespace Recurrent.IO.Torch;

/// <summary>
/// Limits applied while reading a PyTorch file. The defaults accept any real checkpoint that fits in
/// .NET arrays and refuse structures that only hostile or corrupt files contain.
/// </summary>
public sealed record TorchReaderOptions
{
    /// <summary>The defaults.</summary>
    public static TorchReaderOptions Default { get; } = new();

    /// <summary>Deepest container nesting accepted (Python itself cannot pickle much deeper than 1000).</summary>
    public int MaxDepth { get; init; } = 1000;

    /// <summary>
    /// Most container and value nodes the object tree may hold when shared references are counted
    /// each time they are reached (guards against "billion laughs" memo sharing).
    /// </summary>
    public long MaxTreeNodes { get; init; } = 10_000_000;

    /// <summary>Largest Python integer accepted, in bytes of its two's complement form (LONG1/LONG4).</summary>
    public int MaxIntegerBytes { get; init; } = 1024;

    /// <summary>
    /// Largest pickle accepted (<c>data.pkl</c>, or each pickle of a legacy file), in bytes. Unpickled objects
    /// take several times their pickled size, so this also bounds memory use.
    /// </summary>
    public long MaxPickleBytes { get; init; } = 256L << 20;

    /// <summary>
    /// Most elements a view may expand to when it has more elements than its storage (stride-0 or
    /// overlapping views), so that a few stored bytes cannot request a huge copy.
    /// </summary>
    public long MaxOverlappingViewElements { get; init; } = 1L << 24;
}
