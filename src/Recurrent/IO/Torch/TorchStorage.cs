// A storage read from a PyTorch file: a flat run of little-endian elements shared by tensor views.
namespace Recurrent.IO.Torch;

/// <summary>
/// One storage of a PyTorch file (<c>data/&lt;key&gt;</c> in the zip format, a raw record in the legacy
/// format). Tensors are views into storages; tensors that share a storage share this object.
/// </summary>
public sealed class TorchStorage
{
    private ReadOnlyMemory<byte> _data;

    internal TorchStorage(string key, TorchDType dtype, long elementCount, string location, bool isUntyped)
    {
        Key = key;
        DType = dtype;
        ElementCount = elementCount;
        Location = location;
        IsUntyped = isUntyped;
    }

    /// <summary>The storage key in the file (zip: the record name under <c>data/</c>; legacy: the saved object id).</summary>
    public string Key { get; }

    /// <summary>Element type of the storage (<see cref="TorchDType.UInt8"/> for an untyped byte storage).</summary>
    public TorchDType DType { get; }

    /// <summary>Number of elements of <see cref="DType"/>.</summary>
    public long ElementCount { get; }

    /// <summary>Where the storage lived when saved (<c>cpu</c>, <c>cuda:0</c>, <c>mps</c>...). Informational only.</summary>
    public string Location { get; }

    /// <summary>True when the file declared a <c>torch.UntypedStorage</c> (raw bytes; tensors give the dtype).</summary>
    public bool IsUntyped { get; }

    /// <summary>Size in bytes: <see cref="ElementCount"/> times the element size.</summary>
    public long ByteLength => ElementCount * DType.ElementSize();

    /// <summary>The raw elements, little-endian (big-endian files are byte-swapped on load).</summary>
    public ReadOnlyMemory<byte> Data
    {
        get
        {
            if (!IsLoaded)
                throw new InvalidOperationException($"storage '{Key}' has no data yet.");
            return _data;
        }
    }

    internal bool IsLoaded { get; private set; }

    // Legacy-format storage views: a window into a root storage, filled once the root's bytes are read.
    internal TorchStorage? ViewRoot { get; init; }
    internal long ViewElementOffset { get; init; }

    internal void SetData(ReadOnlyMemory<byte> data)
    {
        if (data.Length != ByteLength)
            throw new TorchFormatException($"storage '{Key}': expected {ByteLength} bytes, got {data.Length}.");
        _data = data;
        IsLoaded = true;
    }

    /// <summary>The storage key, dtype, element count and location, for listings and messages.</summary>
    public override string ToString() => $"TorchStorage(key '{Key}', {DType.ShortName()} x {ElementCount}, {Location})";
}
