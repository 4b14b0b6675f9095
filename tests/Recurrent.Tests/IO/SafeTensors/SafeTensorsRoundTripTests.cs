using System.Buffers.Binary;
using System.Text;
using Recurrent.IO;
using static Recurrent.Tests.IO.SafeTensors.SafeTensorsTestSupport;

namespace Recurrent.Tests.IO.SafeTensors;

public class SafeTensorsRoundTripTests
{
    public static TheoryData<SafeTensorsDType> AllDTypes()
    {
        var data = new TheoryData<SafeTensorsDType>();
        foreach (var d in SafeTensorsDTypes.All) data.Add(d);
        return data;
    }

    [Fact]
    public void DTypeTableIsComplete()
    {
        Assert.Equal(20, SafeTensorsDTypes.All.Count);
        string[] names = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64",
            "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"];
        foreach (string n in names)
        {
            Assert.True(SafeTensorsDTypes.TryParseHeaderName(n, out var d), n);
            Assert.Equal(n, d.ToHeaderName());
        }
        Assert.Equal(1, SafeTensorsDType.BOOL.ElementSize());
        Assert.Equal(2, SafeTensorsDType.BF16.ElementSize());
        Assert.Equal(4, SafeTensorsDType.F32.ElementSize());
        Assert.Equal(8, SafeTensorsDType.C64.ElementSize());
        Assert.Equal(8, SafeTensorsDType.I64.ElementSize());
        Assert.Equal(4, SafeTensorsDType.F4.BitSize());
        Assert.Throws<NotSupportedException>(() => SafeTensorsDType.F6_E2M3.ElementSize());
        Assert.False(SafeTensorsDTypes.TryParseHeaderName("float32", out _));
        Assert.True(SafeTensorsDType.F32.TryToDType(out var dt) && dt == DType.Float32);
        Assert.True(SafeTensorsDType.I64.TryToDType(out dt) && dt == DType.Int64);
        Assert.False(SafeTensorsDType.I32.TryToDType(out _));
        Assert.Equal(SafeTensorsDType.F64, SafeTensorsDTypes.FromDType(DType.Float64));
    }

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void RawRoundTripOfEachDType(SafeTensorsDType dtype)
    {
        long[] shape = [3, 4]; // 12 elements: whole bytes even for F4 (48 bits) and F6 (72 bits)
        int bytes = checked((int)dtype.TryGetByteLength(12)!.Value);
        var payload = new byte[bytes];
        new Random((int)dtype + 1).NextBytes(payload);
        var scalar = new byte[dtype.IsSubByte() ? 0 : dtype.ElementSize()];

        var tensors = new List<(string, SafeTensorsDType, long[], ReadOnlyMemory<byte>)>
        {
            ("t", dtype, shape, payload),
            ("empty", dtype, [0, 5], ReadOnlyMemory<byte>.Empty),
        };
        if (!dtype.IsSubByte()) tensors.Add(("scalar", dtype, [], scalar));
        byte[] file = SafeTensorsFile.Serialize(tensors);

        var f = SafeTensorsFile.Read(file.AsMemory());
        var t = f.GetEntry("t");
        Assert.Equal(dtype, t.DType);
        Assert.Equal(shape, t.Shape);
        Assert.Equal(12, t.ElementCount);
        Assert.Equal(bytes, t.ByteLength);
        Assert.Equal(payload, f.GetBytes("t").ToArray());
        Assert.Equal(0, f["empty"].ByteLength);
        Assert.Equal(0, f["empty"].ElementCount);
        if (!dtype.IsSubByte()) Assert.Equal(0, f["scalar"].Rank);

        // Recurrent-dtype accessors: supported only for the matching dtypes.
        bool f32Ok = dtype is SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16;
        if (f32Ok) Assert.Equal(12, f.GetFloat32("t").Length);
        else AssertUnsupported(() => f.GetFloat32("t"), dtype, "float32");
        if (dtype == SafeTensorsDType.F64) Assert.Equal(12, f.GetFloat64("t").Length);
        else AssertUnsupported(() => f.GetFloat64("t"), dtype, "float64");
        if (dtype == SafeTensorsDType.I64) Assert.Equal(12, f.GetInt64("t").Length);
        else AssertUnsupported(() => f.GetInt64("t"), dtype, "int64");
    }

    private static void AssertUnsupported(Action read, SafeTensorsDType dtype, string wanted)
    {
        var ex = Assert.Throws<NotSupportedException>(read);
        Assert.Contains($"tensor 't' has dtype {dtype.ToHeaderName()}, which cannot be read as {wanted}", ex.Message);
    }

    [Fact]
    public void TypedRoundTripThroughFile()
    {
        using var dir = new TempDir();
        string path = dir.File("typed.safetensors");
        float[] f32 = [1.5f, -0f, float.NaN, float.PositiveInfinity, float.Epsilon, 3.4e38f];
        double[] f64 = [Math.PI, -1e-300, double.NegativeInfinity];
        long[] i64 = [long.MinValue, -1, 0, long.MaxValue];
        new SafeTensorsWriter()
            .Add("w", [2, 3], f32)
            .Add("d", [3], f64)
            .Add("i", [2, 2], i64)
            .Add("scalar", [], new float[] { 42f })
            .Add("none", [4, 0], Array.Empty<double>())
            .AddMetadata("kind", "LSTM")
            .Save(path);

        var f = SafeTensorsFile.Read(path);
        Assert.Equal(path, f.Source);
        Assert.Equal(["d", "i", "none", "scalar", "w"], f.Names); // ordinal name order
        Assert.Equal(BitsOf(f32), BitsOf(f.GetFloat32("w")));
        Assert.Equal(f64, f.GetFloat64("d"));
        Assert.Equal(i64, f.GetInt64("i"));
        Assert.Equal([42f], f.GetFloat32("scalar"));
        Assert.Empty(f.GetFloat64("none"));
        Assert.Equal([4L, 0L], f["none"].ToShapeArray());
        Assert.Equal("LSTM", f.Metadata["kind"]);
        Assert.True(f.TryGet("w", out var w) && w.DType == SafeTensorsDType.F32);
        Assert.False(f.TryGet("missing", out _));
        Assert.False(f.Contains("missing"));
        var ex = Assert.Throws<KeyNotFoundException>(() => f.GetFloat32("missing"));
        Assert.Contains("no tensor named 'missing'", ex.Message);

        // Same through Read(Stream), seekable and not.
        byte[] raw = File.ReadAllBytes(path);
        Assert.Equal(i64, SafeTensorsFile.Read(new MemoryStream(raw)).GetInt64("i"));
        Assert.Equal(i64, SafeTensorsFile.Read(new SafeTensorsMalformedTests.NonSeekableStream(raw)).GetInt64("i"));
        Assert.Equal(i64, SafeTensorsFile.Read(raw).GetInt64("i")); // byte[] converts to ReadOnlyMemory<byte>
        var prefixed = new MemoryStream([1, 2, 3, .. raw]) { Position = 3 };
        Assert.Equal(i64, SafeTensorsFile.Read(prefixed).GetInt64("i"));
    }

    private static int[] BitsOf(float[] a) => a.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void StaticWriteOverloads()
    {
        using var dir = new TempDir();
        SafeTensorsFile.Write(dir.File("f.safetensors"), new[] { ("a", new long[] { 2 }, new float[] { 1, 2 }) });
        SafeTensorsFile.Write(dir.File("d.safetensors"), new[] { ("a", new long[] { 2 }, new double[] { 1, 2 }) },
            new Dictionary<string, string> { ["dtype"] = "float64" });
        SafeTensorsFile.Write(dir.File("l.safetensors"), new[] { ("a", new long[] { 2 }, new long[] { 1, 2 }) });
        SafeTensorsFile.Write(dir.File("r.safetensors"),
            new (string, SafeTensorsDType, long[], ReadOnlyMemory<byte>)[] { ("a", SafeTensorsDType.U8, [2], new byte[] { 7, 9 }) });
        Assert.Equal([1f, 2f], SafeTensorsFile.Read(dir.File("f.safetensors")).GetFloat32("a"));
        var d = SafeTensorsFile.Read(dir.File("d.safetensors"));
        Assert.Equal([1.0, 2.0], d.GetFloat64("a"));
        Assert.Equal("float64", d.Metadata["dtype"]);
        Assert.Equal([1L, 2L], SafeTensorsFile.Read(dir.File("l.safetensors")).GetInt64("a"));
        Assert.Equal([7, 9], SafeTensorsFile.Read(dir.File("r.safetensors")).GetBytes("a").ToArray());
    }

    [Fact]
    public void HalfAndBFloat16WidenToFloat32()
    {
        float[] values = [1f, -2.5f, 0.099975586f, 65504f, float.NegativeInfinity];
        var f16 = new byte[values.Length * 2];
        var bf16 = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(f16.AsSpan(2 * i), (Half)values[i]);
            BinaryPrimitives.WriteUInt16LittleEndian(bf16.AsSpan(2 * i), (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16));
        }
        var f = SafeTensorsFile.Read(SafeTensorsFile.Serialize(new (string, SafeTensorsDType, long[], ReadOnlyMemory<byte>)[]
        {
            ("h", SafeTensorsDType.F16, [values.Length], f16),
            ("b", SafeTensorsDType.BF16, [values.Length], bf16),
        }).AsMemory());
        Assert.Equal(values.Select(v => (float)(Half)v), f.GetFloat32("h"));
        Assert.Equal(values.Select(v => BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(v) & 0xFFFF0000)), f.GetFloat32("b"));
        Assert.Equal([1f, -2.5f], f.GetFloat32("b")[..2]);
    }

    [Fact]
    public void MetadataRoundTrip()
    {
        var meta = new Dictionary<string, string>
        {
            ["kind"] = "LSTM",
            ["empty"] = "",
            ["quotes"] = "say \"hi\"\\ \n\t<&>'+",
            ["unicode \u00e9\u4e2d\U0001F600"] = "\u00fc\u00df \U0001F680",
            ["list"] = "[3, 2, 1]",
            ["__metadata__"] = "keys may be anything",
        };
        byte[] file = SafeTensorsFile.Serialize(new (string, SafeTensorsDType, long[], ReadOnlyMemory<byte>)[] { ("x", SafeTensorsDType.I64, [1], new byte[8]) }, meta);
        var f = SafeTensorsFile.Read(file.AsMemory());
        Assert.Equal(meta.OrderBy(kv => kv.Key, StringComparer.Ordinal), f.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        // Metadata only, no tensors.
        var g = SafeTensorsFile.Read(SafeTensorsFile.Serialize([], meta).AsMemory());
        Assert.Empty(g.Entries);
        Assert.Equal(meta.Count, g.Metadata.Count);
    }

    [Fact]
    public void HeaderLayoutMatchesTheReferenceConventions()
    {
        byte[] file = new SafeTensorsWriter()
            .Add("b", [1], new float[] { 1 })
            .Add("a", [2], new long[] { 1, 2 })
            .Add("B", [], new double[] { 1 })
            .AddMetadata("z", "1").AddMetadata("a", "2")
            .ToArray();
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0UL, n % 8);
        string header = Encoding.UTF8.GetString(file, 8, (int)n);
        Assert.Equal(
            "{\"__metadata__\":{\"a\":\"2\",\"z\":\"1\"}," +
            "\"B\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}," +
            "\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[8,24]}," +
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]}}",
            header.TrimEnd(' '));
        Assert.Equal(8 + (long)n + 28, file.Length);

        // No tensors, no metadata: "{}" padded to 8 bytes.
        byte[] empty = new SafeTensorsWriter().ToArray();
        Assert.Equal(16, empty.Length);
        Assert.Equal("{}      ", Encoding.UTF8.GetString(empty, 8, 8));
        Assert.Empty(SafeTensorsFile.Read(empty.AsMemory()).Entries);
    }

    [Fact]
    public void ComputeLengthMatchesOutput()
    {
        var w = new SafeTensorsWriter().Add("x", [3, 3], new float[9]).AddMetadata("k", "v");
        Assert.Equal(w.ComputeLength(), w.ToArray().Length);
        var ms = new MemoryStream();
        w.WriteTo(ms);
        Assert.Equal(w.ToArray(), ms.ToArray());
    }
}
