// Bounded reading of pickle bytes from a stream: every length is checked against the bytes left.
namespace Recurrent.IO.Torch;

/// <summary>
/// Reads a pickle from <c>[start, end)</c> of a stream. Every read is validated against the bytes that
/// remain before anything is allocated, so a declared length can never size an allocation beyond the input.
/// </summary>
internal sealed class PickleInput
{
    private readonly Stream _stream;
    private readonly long _end;
    private readonly AllocationMeter? _meter;
    private long _pos;

    public PickleInput(Stream stream, long end, string name, AllocationMeter? meter = null)
    {
        _stream = stream;
        _pos = stream.Position;
        _end = end;
        Name = name;
        _meter = meter;
    }

    /// <summary>What is being read, for messages (e.g. <c>archive/data.pkl</c>).</summary>
    public string Name { get; }

    public long Position => _pos;

    public long Remaining => _end - _pos;

    public int ReadByte()
    {
        if (_pos >= _end)
            throw Truncated(1);
        int b = _stream.ReadByte();
        if (b < 0)
            throw Truncated(1);
        _pos++;
        return b;
    }

    public void ReadExactly(Span<byte> buffer)
    {
        if (buffer.Length > Remaining)
            throw Truncated(buffer.Length);
        int total = 0;
        while (total < buffer.Length)
        {
            int n = _stream.Read(buffer[total..]);
            if (n <= 0)
                throw Truncated(buffer.Length - total);
            total += n;
        }
        _pos += buffer.Length;
    }

    /// <summary>Reads <paramref name="length"/> bytes after checking that many remain.</summary>
    public byte[] ReadBytes(long length, string what)
    {
        if (length < 0)
            throw new TorchFormatException($"{Name}: negative length {length} for {what} at offset {_pos}.");
        if (length > Remaining)
            throw new TorchFormatException(
                $"{Name}: {what} declares {length} bytes at offset {_pos} but only {Remaining} bytes remain (truncated or corrupt).");
        if (length > Array.MaxLength)
            throw new TorchFormatException($"{Name}: {what} of {length} bytes is larger than a .NET array can hold.");
        _meter?.Reserve(3 * length, $"{Name}: {what} of {length} bytes at offset {_pos}"); // the bytes and the string they may become
        var buffer = GC.AllocateUninitializedArray<byte>((int)length); // every byte is overwritten below
        ReadExactly(buffer);
        return buffer;
    }

    public uint ReadUInt32() { Span<byte> b = stackalloc byte[4]; ReadExactly(b); return System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b); }

    public int ReadInt32() { Span<byte> b = stackalloc byte[4]; ReadExactly(b); return System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(b); }

    public ushort ReadUInt16() { Span<byte> b = stackalloc byte[2]; ReadExactly(b); return System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(b); }

    public long ReadInt64() { Span<byte> b = stackalloc byte[8]; ReadExactly(b); return System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(b); }

    public ulong ReadUInt64() { Span<byte> b = stackalloc byte[8]; ReadExactly(b); return System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(b); }

    public double ReadDoubleBigEndian() { Span<byte> b = stackalloc byte[8]; ReadExactly(b); return System.Buffers.Binary.BinaryPrimitives.ReadDoubleBigEndian(b); }

    /// <summary>Reads up to and including a newline; returns the bytes before it. Lines longer than <paramref name="maxLength"/> are refused.</summary>
    public byte[] ReadLine(int maxLength, string what)
    {
        var buffer = new List<byte>();
        while (true)
        {
            int b = ReadByte();
            if (b == '\n')
                return buffer.ToArray();
            if (buffer.Count >= maxLength)
                throw new TorchFormatException($"{Name}: {what} line longer than {maxLength} bytes at offset {_pos}.");
            if ((buffer.Count & 0xFFFF) == 0xFFFF)
                _meter?.Reserve(8L * buffer.Count, $"{Name}: {what} line at offset {_pos}");
            buffer.Add((byte)b);
        }
    }

    private TorchFormatException Truncated(long wanted) =>
        new($"{Name}: unexpected end of data at offset {_pos} (needed {wanted} more bytes; the file is truncated or corrupt).");
}
