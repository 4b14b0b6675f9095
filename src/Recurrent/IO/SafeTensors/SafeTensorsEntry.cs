// One tensor listed in a safetensors header.
using System.Collections.ObjectModel;

namespace Recurrent.IO;

/// <summary>
/// One tensor of a safetensors file, as validated from the header: name, dtype, shape and its
/// <c>[DataBegin, DataEnd)</c> byte range, relative to the start of the byte buffer (after the header).
/// </summary>
public sealed class SafeTensorsEntry
{
    private readonly long[] _shape;

    internal SafeTensorsEntry(string name, SafeTensorsDType dtype, long[] shape, long elementCount, long dataBegin, long dataEnd)
    {
        Name = name;
        DType = dtype;
        _shape = shape;
        Shape = Array.AsReadOnly(shape);
        ElementCount = elementCount;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
    }

    /// <summary>The tensor's key in the header (e.g. <c>"param.weight_ih_l0"</c>).</summary>
    public string Name { get; }

    /// <summary>Element type.</summary>
    public SafeTensorsDType DType { get; }

    /// <summary>Dimensions, row-major; empty for a 0-dim (scalar) tensor.</summary>
    public ReadOnlyCollection<long> Shape { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Product of the dimensions (1 for a scalar, 0 when a dimension is 0).</summary>
    public long ElementCount { get; }

    /// <summary>First byte of the data, relative to the start of the byte buffer.</summary>
    public long DataBegin { get; }

    /// <summary>One past the last byte of the data, relative to the start of the byte buffer.</summary>
    public long DataEnd { get; }

    /// <summary><see cref="DataEnd"/> - <see cref="DataBegin"/>.</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <summary>A fresh copy of <see cref="Shape"/> as an array.</summary>
    public long[] ToShapeArray() => (long[])_shape.Clone();

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name}: {DType.ToHeaderName()}[{string.Join(", ", Shape)}] bytes [{DataBegin}, {DataEnd})";
}
