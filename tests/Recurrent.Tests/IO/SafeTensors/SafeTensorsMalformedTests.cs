using System.Text;
using Recurrent.IO;
using static Recurrent.Tests.IO.SafeTensors.SafeTensorsTestSupport;

namespace Recurrent.Tests.IO.SafeTensors;

public class SafeTensorsMalformedTests
{
    private static SafeTensorsFormatException Fails(byte[] data, string fragment)
    {
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(data.AsMemory()));
        Assert.Contains(fragment, ex.Message);
        // The stream paths must agree.
        var ex2 = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(new MemoryStream(data)));
        Assert.Equal(ex.Message, ex2.Message);
        var ex3 = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(new NonSeekableStream(data)));
        Assert.Equal(ex.Message, ex3.Message);
        return ex;
    }

    [Fact]
    public void EmptyFile() => Fails([], "too short: 0 byte(s)");

    [Fact]
    public void SevenBytes() => Fails(new byte[7], "too short: 7 byte(s)");

    [Fact]
    public void HeaderLengthLargerThanFile() => Fails(Raw("{}", 0, headerLengthOverride: 100), "header length 100 is larger than the 2 byte(s)");

    [Fact]
    public void HeaderLength2Pow63() => Fails(Raw("{}", 0, headerLengthOverride: 1UL << 63), "header length 9223372036854775808 exceeds the limit");

    [Fact]
    public void HeaderLengthMaxULong() => Fails(Raw("{}", 0, headerLengthOverride: ulong.MaxValue), "exceeds the limit");

    [Fact]
    public void HeaderLengthZero() => Fails(Raw("", 16), "header length is 0");

    [Fact]
    public void HeaderNotJson() => Fails(Raw("{not json}"), "header is not valid JSON");

    [Fact]
    public void HeaderTruncatedJson() => Fails(Raw("{\"a\":{\"dtype\":\"F32\""), "header is not valid JSON");

    [Fact]
    public void HeaderTrailingGarbage() => Fails(Raw("{} x"), "header is not valid JSON");

    [Fact]
    public void HeaderJsonArray() => Fails(Raw("[1, 2]"), "must start with '{' (a JSON object), found byte 0x5B");

    [Fact]
    public void HeaderJsonString() => Fails(Raw("\"{}\""), "must start with '{'");

    [Fact]
    public void HeaderInvalidUtf8() => Fails(Raw([(byte)'{', 0xC3, 0x28, (byte)'}'], []), "not valid UTF-8");

    [Fact]
    public void HeaderTooDeep() =>
        Fails(Raw("{\"__metadata__\":" + new string('[', 40) + new string(']', 40) + "}"), "header is not valid JSON");

    [Fact]
    public void EntryNotObject() => Fails(Raw("{\"a\":[1,2]}"), "tensor 'a': expected a JSON object");

    [Fact]
    public void MissingDtype() => Fails(Raw("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor 'a': missing field \"dtype\"");

    [Fact]
    public void MissingShape() => Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "tensor 'a': missing field \"shape\"");

    [Fact]
    public void MissingOffsets() => Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "tensor 'a': missing field \"data_offsets\"");

    [Fact]
    public void UnexpectedField() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4), "tensor 'a': unexpected field 'extra'");

    [Fact]
    public void DuplicateField() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor 'a': duplicate field \"dtype\"");

    [Fact]
    public void UnknownDtype() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor 'a': unknown dtype 'F17'");

    [Fact]
    public void LowercaseDtypeIsUnknown() =>
        Fails(Raw("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "unknown dtype 'f32'");

    [Fact]
    public void DtypeNotString() =>
        Fails(Raw("{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "\"dtype\" must be a string, found a number");

    [Fact]
    public void ShapeNotArray() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4), "\"shape\" must be an array");

    [Fact]
    public void NegativeDim() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}}", 4), "tensor 'a': \"shape\"[1]: negative dimension -1");

    [Fact]
    public void FractionalDim() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4), "\"shape\"[0]: expected a non-negative integer dimension, found 1.5");

    [Fact]
    public void ExponentDim() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e2],\"data_offsets\":[0,400]}}", 400), "found 1e2");

    [Fact]
    public void StringDim() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4), "found a string");

    [Fact]
    public void HugeDim() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551615],\"data_offsets\":[0,4]}}", 4), "dimension 18446744073709551615 is too large");

    [Fact]
    public void EnormousDim() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000000000000000000000000000],\"data_offsets\":[0,4]}}", 4), "expected a non-negative integer dimension");

    [Fact]
    public void ShapeProductOverflow() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4), "overflows 64 bits");

    [Fact]
    public void ByteSizeOverflow() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8), "byte size overflows 64 bits");

    [Fact]
    public void SubByteMisaligned() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2), "do not fill a whole number of bytes");

    [Fact]
    public void OffsetsNotPair() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8), "\"data_offsets\" must be an array of two");

    [Fact]
    public void NegativeOffset() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4), "\"data_offsets\"[0]: negative offset -4");

    [Fact]
    public void OffsetsOutOfBounds() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4), "tensor 'a': \"data_offsets\" [0, 8] out of bounds: the byte buffer after the header is 4 byte(s)");

    [Fact]
    public void HugeOffsetOutOfBounds() =>
        Fails(Raw("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[9223372036854775800,9223372036854775804]}}", 4), "out of bounds");

    [Fact]
    public void BeginGreaterThanEnd() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4), "tensor 'a': \"data_offsets\" [4, 0] has begin > end");

    [Fact]
    public void SizeMismatch() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "tensor 'a': size mismatch: \"data_offsets\" [0, 8] span 8 byte(s), but dtype F32 with shape [3] needs 12 byte(s)");

    [Fact]
    public void OverlappingEntries() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
            "tensors 'a' [0, 8) and 'b' [4, 12) overlap");

    [Fact]
    public void IdenticalEntries() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "overlap");

    [Fact]
    public void HoleInBuffer() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12),
            "hole in the byte buffer: bytes [4, 8) before tensor 'b'");

    [Fact]
    public void HoleAtStart() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "bytes [0, 4) before tensor 'a'");

    [Fact]
    public void TrailingBytesAfterTensors() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12), "bytes [4, 12) at its end belong to no tensor");

    [Fact]
    public void BufferWithoutTensors() => Fails(Raw("{}", 3), "bytes [0, 3) at its end");

    [Fact]
    public void DuplicateKey() =>
        Fails(Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
            "duplicate key 'a' in the header");

    [Fact]
    public void DuplicateMetadata() =>
        Fails(Raw("{\"__metadata__\":{},\"__metadata__\":{}}"), "duplicate key '__metadata__'");

    [Fact]
    public void DuplicateMetadataKey() =>
        Fails(Raw("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), "duplicate key 'k' in '__metadata__'");

    [Fact]
    public void NonStringMetadata() =>
        Fails(Raw("{\"__metadata__\":{\"hidden_size\":5}}"), "'__metadata__' value for key 'hidden_size' must be a string, found a number (5)");

    [Fact]
    public void MetadataNotObject() =>
        Fails(Raw("{\"__metadata__\":[\"a\"]}"), "'__metadata__' must be a JSON object mapping strings to strings, found an array");

    [Fact]
    public void FilePathIsNamedInMessage()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, Raw("{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4));
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(path));
        Assert.Contains($"safetensors file '{path}': tensor 'a': unknown dtype 'F17'", ex.Message);
        Assert.IsAssignableFrom<IOException>(ex);
    }

    [Fact]
    public void FileHeaderLengthCheckedAgainstFileSize()
    {
        using var dir = new TempDir();
        string path = dir.File("huge-claim.safetensors");
        File.WriteAllBytes(path, Raw("{}", 0, headerLengthOverride: 99_999_999));
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(path));
        Assert.Contains("header length 99999999 is larger than the 2 byte(s)", ex.Message);
        File.WriteAllBytes(path, new byte[5]);
        ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(path));
        Assert.Contains("too short: 5 byte(s)", ex.Message);
    }

    [Fact]
    public void AcceptedEdgeCases()
    {
        // Null metadata, trailing-space padding, 0-dim and empty tensors (zero-length ranges), unicode names.
        var f = SafeTensorsFile.Read(Raw(
            "{\"__metadata__\":null,\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}," +
            "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[8,8]},\"\u00e9\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[8,10]}}   ",
            10).AsMemory());
        Assert.Empty(f.Metadata);
        Assert.Equal(["s", "e", "\u00e9"], f.Names);
        Assert.Equal(1, f["s"].ElementCount);
        Assert.Equal(0, f["s"].Rank);
        Assert.Equal(0, f["e"].ByteLength);
        Assert.Empty(f.GetFloat32("e"));
        Assert.Equal(new double[] { 0 }, f.GetFloat64("s"));
        Assert.Equal(2, f.GetBytes("\u00e9").Length);
        // An empty file: header "{}" and nothing else.
        var empty = SafeTensorsFile.Read(Raw("{}"));
        Assert.Empty(empty.Entries);
        Assert.Equal(0, empty.BufferLength);
    }

    internal sealed class NonSeekableStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 7));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
