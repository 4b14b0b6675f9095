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

    /// <summary>
    /// Most bytes one read may allocate, or null (the default) for <see cref="ReadBudget.Default"/> of the file's
    /// length: 32 bytes per file byte plus 64 MiB. The limit applies separately to <see cref="TorchCheckpoint.Load(string, TorchReaderOptions?)"/>
    /// and to each later call that flattens or converts the checkpoint's tensors (<see cref="TorchCheckpoint.Tensors(string?, bool)"/>,
    /// <see cref="TorchCheckpoint.StateDict"/>, <see cref="TorchCheckpoint.ListTensors"/>, <see cref="TorchCheckpoint.Describe"/>,
    /// <see cref="TorchModuleLoading.ToStateDict"/>), each of which stops with a <see cref="TorchFormatException"/> before
    /// it would exceed it. Raise it for files whose tensors legitimately expand far beyond their stored bytes
    /// (broadcast views, many names for one tensor).
    /// </summary>
    public long? MaxAllocationBytes { get; init; }

    /// <summary>
    /// Whether each zip record read is checked against the CRC-32 its zip header declares (default true), so a
    /// corrupted file cannot load silently wrong weights. An archive in which every record declares a CRC of 0 is
    /// read without the check: that is how PyTorch 2.5 and later write files after
    /// <c>torch.serialization.set_crc32_options(False)</c>, and PyTorch reads them unchecked too. Set false for
    /// archives from a tool that writes wrong CRCs for some records only.
    /// </summary>
    public bool VerifyCrc32 { get; init; } = true;

    /// <summary>The allocation budget for a file of <paramref name="fileLength"/> bytes: <see cref="MaxAllocationBytes"/> or the default.</summary>
    public long AllocationBudget(long fileLength) => MaxAllocationBytes ?? ReadBudget.Default(fileLength);
}
