// A tensor read from a PyTorch file: a strided view (offset, shape, strides) into a TorchStorage.
using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Runtime.InteropServices;

namespace Recurrent.IO.Torch;

/// <summary>
/// A tensor as PyTorch saved it: a view with <see cref="Shape"/>, <see cref="Strides"/> (in elements) and
/// <see cref="StorageOffset"/> (in elements) into a shared <see cref="TorchStorage"/>. The bounds of the
/// view were checked against the storage when the file was read. Use <see cref="ToFloat32Array"/> and
/// friends for a contiguous row-major copy.
/// </summary>
public sealed class TorchTensor
{
    /// <summary>Most dimensions a tensor may have (PyTorch itself caps many kernels far lower).</summary>
    public const int MaxRank = 64;

    private readonly long[] _shape;
    private readonly long[] _strides;

    private TorchTensor(TorchDType dtype, long[] shape, long[] strides, long storageOffset, TorchStorage storage,
        long elementCount, bool requiresGrad, bool isParameter)
    {
        DType = dtype;
        _shape = shape;
        _strides = strides;
        Shape = Array.AsReadOnly(shape);
        Strides = Array.AsReadOnly(strides);
        StorageOffset = storageOffset;
        Storage = storage;
        ElementCount = elementCount;
        RequiresGrad = requiresGrad;
        IsParameter = isParameter;
        IsContiguous = ComputeIsContiguous(shape, strides);
    }

    /// <summary>Element type (usually the storage's; a <c>_rebuild_tensor_v3</c> tensor on an untyped storage names its own).</summary>
    public TorchDType DType { get; }

    /// <summary>Size of each dimension; empty for a 0-d (scalar) tensor.</summary>
    public ReadOnlyCollection<long> Shape { get; }

    /// <summary>Step in elements between neighbours along each dimension.</summary>
    public ReadOnlyCollection<long> Strides { get; }

    /// <summary>Offset in elements of <see cref="DType"/> from the start of the storage.</summary>
    public long StorageOffset { get; }

    /// <summary>The storage this tensor views (shared with other views of it).</summary>
    public TorchStorage Storage { get; }

    /// <summary>Whether the tensor was saved with <c>requires_grad=True</c>.</summary>
    public bool RequiresGrad { get; }

    /// <summary>Whether the tensor was saved as an <c>nn.Parameter</c>.</summary>
    public bool IsParameter { get; }

    /// <summary>Number of elements (product of <see cref="Shape"/>; 1 for a 0-d tensor).</summary>
    public long ElementCount { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>True when the elements are laid out row-major without gaps (dimensions of size 1 ignored).</summary>
    public bool IsContiguous { get; }

    /// <summary>The shape as a new array.</summary>
    public long[] GetShape() => (long[])_shape.Clone();

    /// <summary>The strides as a new array.</summary>
    public long[] GetStrides() => (long[])_strides.Clone();

    /// <summary>
    /// Builds a view after checking it against the storage: non-negative sizes, strides and offset, no
    /// arithmetic overflow, every addressed element inside the storage's declared bytes, and an element
    /// count that a .NET array can hold.
    /// </summary>
    internal static TorchTensor Create(TorchDType dtype, long[] shape, long[] strides, long storageOffset,
        TorchStorage storage, bool requiresGrad, bool isParameter, TorchReaderOptions options)
    {
        string where = $"tensor on storage '{storage.Key}'";
        if (shape.Length != strides.Length)
            throw new TorchFormatException($"{where}: shape has {shape.Length} dimensions but stride has {strides.Length}.");
        if (shape.Length > MaxRank)
            throw new TorchFormatException($"{where}: {shape.Length} dimensions exceed the limit of {MaxRank}.");
        if (storageOffset < 0)
            throw new TorchFormatException($"{where}: negative storage offset {storageOffset}.");

        long numel = 1;
        long maxIndex = storageOffset; // highest element index addressed, in elements of dtype
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] < 0)
                throw new TorchFormatException($"{where}: negative size {shape[d]} in dimension {d}.");
            if (strides[d] < 0)
                throw new TorchFormatException($"{where}: negative stride {strides[d]} in dimension {d}.");
            numel = CheckedMath.Multiply(numel, shape[d], where + ": element count");
        }
        if (numel > Array.MaxLength)
            throw new TorchFormatException($"{where}: {numel} elements exceed the {Array.MaxLength} a .NET array can hold.");

        int elementSize = dtype.ElementSize();
        long storageBytes = storage.ByteLength;
        if (numel > 0)
        {
            for (int d = 0; d < shape.Length; d++)
                maxIndex = CheckedMath.Add(maxIndex, CheckedMath.Multiply(shape[d] - 1, strides[d], where + ": extent"), where + ": extent");
            long endByte = CheckedMath.Multiply(CheckedMath.Add(maxIndex, 1, where), elementSize, where + ": extent");
            if (endByte > storageBytes)
                throw new TorchFormatException(
                    $"{where}: view (offset {storageOffset}, shape [{string.Join(", ", shape)}], stride [{string.Join(", ", strides)}]) " +
                    $"needs {endByte} bytes but the storage holds {storageBytes} bytes ({storage.ElementCount} x {storage.DType.ShortName()}).");
            // Overlapping views (stride 0, broadcasts) can address few bytes yet expand to many elements;
            // cap that expansion so a tiny file cannot request a huge copy.
            if (numel > storageBytes / elementSize && numel > options.MaxOverlappingViewElements)
                throw new TorchFormatException(
                    $"{where}: {numel} elements overlap a storage of {storageBytes} bytes; more than the {options.MaxOverlappingViewElements} allowed for overlapping views.");
        }
        return new TorchTensor(dtype, shape, strides, storageOffset, storage, numel, requiresGrad, isParameter);
    }

    internal TorchTensor WithFlags(bool requiresGrad, bool isParameter) =>
        new(DType, _shape, _strides, StorageOffset, Storage, ElementCount, requiresGrad, isParameter);

    /// <summary>The tensor's bytes without a copy when it is contiguous (little-endian elements).</summary>
    public bool TryGetContiguousData(out ReadOnlyMemory<byte> data)
    {
        if (!IsContiguous)
        {
            data = default;
            return false;
        }
        int es = DType.ElementSize();
        data = ElementCount == 0 ? ReadOnlyMemory<byte>.Empty : Storage.Data.Slice((int)(StorageOffset * es), (int)(ElementCount * es));
        return true;
    }

    /// <summary>A contiguous row-major float32 copy (float64, integers and bool converted; half and bfloat16 widened).</summary>
    public float[] ToFloat32Array()
    {
        var result = new float[ElementCount];
        CopyTo(result);
        return result;
    }

    /// <summary>A contiguous row-major float64 copy (every dtype converted).</summary>
    public double[] ToFloat64Array()
    {
        var result = new double[ElementCount];
        CopyTo(result);
        return result;
    }

    /// <summary>A contiguous row-major int64 copy. Only integer and bool tensors convert; floating point throws.</summary>
    public long[] ToInt64Array()
    {
        var result = new long[ElementCount];
        CopyTo(result);
        return result;
    }

    /// <summary>Copies the elements, row-major, into <paramref name="destination"/> as float32.</summary>
    public void CopyTo(Span<float> destination) => Gather(destination, TorchDType.Float32, static (b, dt) => ReadSingle(b, dt));

    /// <summary>Copies the elements, row-major, into <paramref name="destination"/> as float64.</summary>
    public void CopyTo(Span<double> destination) => Gather(destination, TorchDType.Float64, static (b, dt) => ReadDouble(b, dt));

    /// <summary>Copies the elements, row-major, into <paramref name="destination"/> as int64 (integer and bool tensors only).</summary>
    public void CopyTo(Span<long> destination)
    {
        if (DType.IsFloatingPoint())
            throw new InvalidOperationException($"cannot convert a {DType.ShortName()} tensor to int64 without rounding; use ToFloat64Array.");
        Gather(destination, TorchDType.Int64, static (b, dt) => ReadInt64(b, dt));
    }

    /// <summary>
    /// Copies the view row-major into <paramref name="destination"/>: one block copy when the tensor is
    /// contiguous and already of the destination's type, else element by element through <paramref name="read"/>.
    /// </summary>
    private void Gather<T>(Span<T> destination, TorchDType sameType, Func<ReadOnlySpan<byte>, TorchDType, T> read) where T : unmanaged
    {
        if (!CheckDestination(destination.Length))
            return;
        ReadOnlySpan<byte> data = Storage.Data.Span;
        int es = DType.ElementSize();
        if (DType == sameType && IsContiguous && BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, T>(data.Slice((int)(StorageOffset * es), (int)(ElementCount * es))).CopyTo(destination);
            return;
        }
        var it = new OffsetIterator(_shape, _strides, StorageOffset);
        for (int i = 0; i < destination.Length; i++, it.MoveNext())
            destination[i] = read(data.Slice((int)(it.Offset * es), es), DType);
    }

    /// <summary>Checks the destination length; false when there is nothing to copy (an empty tensor may sit past its storage's end).</summary>
    private bool CheckDestination(int length)
    {
        if (length != ElementCount)
            throw new ArgumentException($"destination must hold exactly {ElementCount} elements, got {length}.", "destination");
        return length > 0;
    }

    private static float ReadSingle(ReadOnlySpan<byte> b, TorchDType dtype) => dtype switch
    {
        TorchDType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(b),
        TorchDType.Float64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(b),
        TorchDType.Float16 => (float)BinaryPrimitives.ReadHalfLittleEndian(b),
        TorchDType.BFloat16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
        TorchDType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(b),
        TorchDType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(b),
        TorchDType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(b),
        TorchDType.Int8 => (sbyte)b[0],
        TorchDType.UInt8 => b[0],
        TorchDType.Bool => b[0] != 0 ? 1f : 0f,
        _ => throw new InvalidOperationException($"unknown dtype {dtype}"),
    };

    private static double ReadDouble(ReadOnlySpan<byte> b, TorchDType dtype) => dtype switch
    {
        TorchDType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(b),
        TorchDType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(b),
        _ => ReadSingleExact(b, dtype),
    };

    // Every remaining dtype converts exactly through float32 except int32, which float64 holds exactly.
    private static double ReadSingleExact(ReadOnlySpan<byte> b, TorchDType dtype) =>
        dtype == TorchDType.Int32 ? BinaryPrimitives.ReadInt32LittleEndian(b) : ReadSingle(b, dtype);

    private static long ReadInt64(ReadOnlySpan<byte> b, TorchDType dtype) => dtype switch
    {
        TorchDType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(b),
        TorchDType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(b),
        TorchDType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(b),
        TorchDType.Int8 => (sbyte)b[0],
        TorchDType.UInt8 => b[0],
        TorchDType.Bool => b[0] != 0 ? 1 : 0,
        _ => throw new InvalidOperationException($"cannot convert {dtype} to int64"),
    };

    private static bool ComputeIsContiguous(long[] shape, long[] strides)
    {
        long expected = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] == 0)
                return true;
            if (shape[d] != 1)
            {
                if (strides[d] != expected)
                    return false;
                expected *= shape[d];
            }
        }
        return true;
    }

    /// <summary>The dtype, shape, strides and storage of the tensor, for listings and messages.</summary>
    public override string ToString() =>
        $"TorchTensor({DType.ShortName()}, [{string.Join(", ", _shape)}]{(IsContiguous ? "" : ", non-contiguous")}, storage '{Storage.Key}' + {StorageOffset})";

    /// <summary>Walks the element offsets of a strided view in row-major order.</summary>
    private struct OffsetIterator
    {
        private readonly long[] _shape;
        private readonly long[] _strides;
        private readonly long[] _index;

        public OffsetIterator(long[] shape, long[] strides, long offset)
        {
            _shape = shape;
            _strides = strides;
            _index = new long[shape.Length];
            Offset = offset;
        }

        public long Offset { get; private set; }

        public void MoveNext()
        {
            for (int d = _shape.Length - 1; d >= 0; d--)
            {
                if (++_index[d] < _shape[d])
                {
                    Offset += _strides[d];
                    return;
                }
                Offset -= (_shape[d] - 1) * _strides[d];
                _index[d] = 0;
            }
        }
    }
}

/// <summary>Overflow-checked arithmetic that reports overflow as a format error.</summary>
internal static class CheckedMath
{
    public static long Multiply(long a, long b, string what)
    {
        long r;
        try { r = checked(a * b); }
        catch (OverflowException) { throw new TorchFormatException($"{what}: {a} * {b} overflows 64 bits."); }
        return r;
    }

    public static long Add(long a, long b, string what)
    {
        long r;
        try { r = checked(a + b); }
        catch (OverflowException) { throw new TorchFormatException($"{what}: {a} + {b} overflows 64 bits."); }
        return r;
    }
}
