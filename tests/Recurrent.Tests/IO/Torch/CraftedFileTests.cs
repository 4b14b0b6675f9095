// Features the six real files do not exercise, on hand-built files: every dtype, strided views,
// parameters, big-endian archives, untyped storages, legacy storage views, pickle protocols 0-5,
// and the key-path / flattening helpers.
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using Recurrent.IO.Torch;

namespace Recurrent.Tests.IO.Torch;

public class CraftedFileTests
{
    private static TorchTensor Single(byte[] file) => Assert.Single(TorchCheckpoint.Load(file).Tensors().Values);

    private static byte[] OneTensor(string storageType, byte[] data, long numel, long[] shape, long[] stride, long offset = 0, string? byteorder = "little")
    {
        var pickle = new PickleBuilder().Proto().OrderedDict().Str("t")
            .TensorV2(b => b.ZipStorage(storageType, "0", numel), offset, shape, stride).SetItem().Stop().ToArray();
        return TorchFiles.Zip(pickle, new[] { ("0", data) }, byteorder: byteorder);
    }

    private static byte[] Le<T>(T[] values, int size, Action<byte[], int, T> write)
    {
        var b = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++) write(b, i * size, values[i]);
        return b;
    }

    [Fact]
    public void EveryDTypeReads()
    {
        var f64 = Le(new[] { 1.5, -2.25, double.NaN }, 8, (b, o, v) => BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(o), v));
        var t = Single(OneTensor("DoubleStorage", f64, 3, new[] { 3L }, new[] { 1L }));
        Assert.Equal(TorchDType.Float64, t.DType);
        Assert.Equal(new[] { 1.5, -2.25, double.NaN }, t.ToFloat64Array());
        Assert.Equal(new[] { 1.5f, -2.25f, float.NaN }, t.ToFloat32Array());

        var f16 = Le(new[] { (Half)1.5, (Half)(-0.0009765625), Half.PositiveInfinity }, 2, (b, o, v) => BinaryPrimitives.WriteHalfLittleEndian(b.AsSpan(o), v));
        Assert.Equal(new[] { 1.5f, -0.0009765625f, float.PositiveInfinity }, Single(OneTensor("HalfStorage", f16, 3, new[] { 3L }, new[] { 1L })).ToFloat32Array());

        // bfloat16 is the top half of a float32.
        var bf16 = Le(new[] { 1.5f, -3.0f, 1e-3f }, 2, (b, o, v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), (ushort)(BitConverter.SingleToInt32Bits(v) >>> 16)));
        var bt = Single(OneTensor("BFloat16Storage", bf16, 3, new[] { 3L }, new[] { 1L }));
        Assert.Equal(TorchDType.BFloat16, bt.DType);
        Assert.Equal(new[] { 1.5f, -3.0f, BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(1e-3f) & unchecked((int)0xFFFF0000)) }, bt.ToFloat32Array());

        var i64 = Le(new[] { long.MinValue, -1L, long.MaxValue }, 8, (b, o, v) => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(o), v));
        var lt = Single(OneTensor("LongStorage", i64, 3, new[] { 3L }, new[] { 1L }));
        Assert.Equal(new[] { long.MinValue, -1L, long.MaxValue }, lt.ToInt64Array());
        Assert.Equal(new[] { (double)long.MinValue, -1.0, long.MaxValue }, lt.ToFloat64Array());

        var i32 = Le(new[] { int.MinValue, 7 }, 4, (b, o, v) => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(o), v));
        Assert.Equal(new[] { (double)int.MinValue, 7 }, Single(OneTensor("IntStorage", i32, 2, new[] { 2L }, new[] { 1L })).ToFloat64Array());
        var i16 = Le(new short[] { -300, 300 }, 2, (b, o, v) => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(o), v));
        Assert.Equal(new long[] { -300, 300 }, Single(OneTensor("ShortStorage", i16, 2, new[] { 2L }, new[] { 1L })).ToInt64Array());
        Assert.Equal(new long[] { -1, 127 }, Single(OneTensor("CharStorage", new byte[] { 0xFF, 0x7F }, 2, new[] { 2L }, new[] { 1L })).ToInt64Array());
        Assert.Equal(new long[] { 255, 127 }, Single(OneTensor("ByteStorage", new byte[] { 0xFF, 0x7F }, 2, new[] { 2L }, new[] { 1L })).ToInt64Array());
        var bools = Single(OneTensor("BoolStorage", new byte[] { 1, 0, 1 }, 3, new[] { 3L }, new[] { 1L }));
        Assert.Equal(TorchDType.Bool, bools.DType);
        Assert.Equal(new long[] { 1, 0, 1 }, bools.ToInt64Array());
        Assert.Equal(new[] { 1f, 0f, 1f }, bools.ToFloat32Array());

        Assert.Throws<InvalidOperationException>(() => t.ToInt64Array());
    }

    [Fact]
    public void StridedViewsCopyRowMajor()
    {
        var data = TorchFiles.Floats(0, 1, 2, 3, 4, 5, 6);
        // The transpose of a 2x3 matrix stored at offset 1: [[1,2,3],[4,5,6]]^T.
        var t = Single(OneTensor("FloatStorage", data, 7, new[] { 3L, 2 }, new[] { 1L, 3 }, offset: 1));
        Assert.False(t.IsContiguous);
        Assert.False(t.TryGetContiguousData(out _));
        Assert.Equal(new[] { 1f, 4, 2, 5, 3, 6 }, t.ToFloat32Array());
        Assert.Equal(new[] { 1.0, 4, 2, 5, 3, 6 }, t.ToFloat64Array());

        // A broadcast (stride 0) view, a size-1 dimension with an odd stride, and an empty tensor.
        Assert.Equal(new[] { 3f, 3, 3, 3 }, Single(OneTensor("FloatStorage", data, 7, new[] { 4L }, new[] { 0L }, offset: 3)).ToFloat32Array());
        var unit = Single(OneTensor("FloatStorage", data, 7, new[] { 1L, 3 }, new[] { 99L, 1 }, offset: 2));
        Assert.True(unit.IsContiguous);
        Assert.Equal(new[] { 2f, 3, 4 }, unit.ToFloat32Array());
        var empty = Single(OneTensor("FloatStorage", data, 7, new[] { 0L, 5 }, new[] { 5L, 1 }, offset: 100));
        Assert.Equal(0, empty.ElementCount);
        Assert.Empty(empty.ToFloat32Array());

        var span = new float[6];
        t.CopyTo(span);
        Assert.Equal(t.ToFloat32Array(), span);
        Assert.Throws<ArgumentException>(() => t.CopyTo(new float[5]));
    }

    [Fact]
    public void BigEndianArchivesAreByteSwapped()
    {
        var be = new byte[12];
        for (int i = 0; i < 3; i++) BinaryPrimitives.WriteSingleBigEndian(be.AsSpan(i * 4), i + 0.5f);
        Assert.Equal(new[] { 0.5f, 1.5f, 2.5f }, Single(OneTensor("FloatStorage", be, 3, new[] { 3L }, new[] { 1L }, byteorder: "big")).ToFloat32Array());
        // Without a byteorder record the data is little-endian, as PyTorch assumes.
        Assert.Equal(new[] { 0.5f, 1.5f }, Single(OneTensor("FloatStorage", TorchFiles.Floats(0.5f, 1.5f), 2, new[] { 2L }, new[] { 1L }, byteorder: null)).ToFloat32Array());
    }

    [Fact]
    public void ParametersKeepTheirFlags()
    {
        var pickle = new PickleBuilder().Proto().EmptyDict().Mark()
            .Str("param").Global("torch._utils", "_rebuild_parameter").Mark()
                .TensorV2(b => b.ZipStorage("FloatStorage", "0", 2), 0, new[] { 2L }, new[] { 1L }).True().OrderedDict().Tuple().Reduce()
            .Str("frozen").Global("torch._utils", "_rebuild_parameter_with_state").Mark()
                .TensorV2(b => b.ZipStorage("FloatStorage", "0", 2), 1, new[] { 1L }, new[] { 1L }).False().OrderedDict().EmptyDict().Tuple().Reduce()
            .Str("typed").Global("torch._tensor", "_rebuild_from_type_v2").Mark()
                .Global("torch._utils", "_rebuild_tensor_v2").Global("torch.nn.parameter", "Parameter")
                .Mark().ZipStorage("FloatStorage", "0", 2).Int(0).IntTuple(2).IntTuple(1).True().OrderedDict().Tuple()
                .EmptyDict().Tuple().Reduce()
            .Str("plain").Global("torch._tensor", "_rebuild_from_type_v2").Mark()
                .Global("torch._utils", "_rebuild_tensor_v2").Global("torch", "Tensor")
                .Mark().ZipStorage("FloatStorage", "0", 2).Int(0).IntTuple(2).IntTuple(1).False().OrderedDict().Tuple()
                .EmptyDict().Tuple().Reduce()
            .SetItems().Stop().ToArray();
        var t = TorchCheckpoint.Load(TorchFiles.Zip(pickle, new[] { ("0", TorchFiles.Floats(1, 2)) })).Tensors();
        Assert.True(t["param"].IsParameter && t["param"].RequiresGrad);
        Assert.True(t["frozen"].IsParameter && !t["frozen"].RequiresGrad);
        Assert.Equal(new[] { 2f }, t["frozen"].ToFloat32Array());
        Assert.True(t["typed"].IsParameter && t["typed"].RequiresGrad);
        Assert.False(t["plain"].IsParameter);
        Assert.Same(t["param"].Storage, t["plain"].Storage);
    }

    [Fact]
    public void UntypedStorageWithRebuildTensorV3()
    {
        // PyTorch >= 2.1 writes tensors of newer dtypes this way: the storage is raw bytes, the dtype an argument.
        var half = Le(new[] { (Half)0.25, (Half)(-8) }, 2, (b, o, v) => BinaryPrimitives.WriteHalfLittleEndian(b.AsSpan(o), v));
        var pickle = new PickleBuilder().Proto().Global("torch._utils", "_rebuild_tensor_v3").Mark()
            .ZipStorage("UntypedStorage", "0", 6).Int(1).IntTuple(2).IntTuple(1).False().OrderedDict().Global("torch", "float16").Tuple().Reduce().Stop().ToArray();
        var t = Assert.IsType<TorchTensor>(TorchCheckpoint.Load(TorchFiles.Zip(pickle, new[] { ("0", new byte[] { 9, 9 }.Concat(half).ToArray()) })).Root);
        Assert.Equal(TorchDType.Float16, t.DType);
        Assert.True(t.Storage.IsUntyped);
        Assert.Equal(TorchDType.UInt8, t.Storage.DType);
        Assert.Equal(new[] { 0.25f, -8f }, t.ToFloat32Array());
    }

    [Fact]
    public void LegacyStorageViewsResolveIntoTheirRoot()
    {
        var data = TorchFiles.Floats(0, 1, 2, 3, 4, 5, 6, 7);
        var pickle = new PickleBuilder().Proto().OrderedDict().Mark()
            .Str("a").TensorV2(b => b.LegacyStorage("FloatStorage", "root", 8, ("v1", 2, 4)), 1, new[] { 2L }, new[] { 1L })
            .Str("b").TensorV2(b => b.LegacyStorage("FloatStorage", "root", 8, ("v1", 2, 4)), 0, new[] { 4L }, new[] { 1L })
            .Str("c").TensorV2(b => b.LegacyStorage("FloatStorage", "root", 8, ("v2", 6, 2)), 0, new[] { 2L }, new[] { 1L })
            .Str("d").TensorV2(b => b.LegacyStorage("FloatStorage", "root", 8), 0, new[] { 2L, 4 }, new[] { 4L, 1 })
            .SetItems().Stop().ToArray();
        var ckpt = TorchCheckpoint.Load(TorchFiles.Legacy(pickle, new[] { ("root", 8L, data) }));
        var t = ckpt.Tensors();
        Assert.Equal(new[] { 3f, 4 }, t["a"].ToFloat32Array());
        Assert.Equal(new[] { 2f, 3, 4, 5 }, t["b"].ToFloat32Array());
        Assert.Equal(new[] { 6f, 7 }, t["c"].ToFloat32Array());
        Assert.Equal(Enumerable.Range(0, 8).Select(i => (float)i), t["d"].ToFloat32Array());
        Assert.Same(t["a"].Storage, t["b"].Storage);
        Assert.Equal(3, ckpt.Storages.Count);
        Assert.Equal(new[] { "root", "v1", "v2" }, ckpt.Storages.Select(s => s.Key));
    }

    [Fact]
    public void CudaStorageClassesAndDeflatedEntriesLoad()
    {
        var pickle = new PickleBuilder().Proto().TensorV2(b => b.Mark().Str("storage").Global("torch.cuda", "FloatStorage").Str("0").Str("cuda:1").Int(3).Tuple().BinPersId(),
            0, new[] { 3L }, new[] { 1L }).Stop().ToArray();
        var file = TorchFiles.Zip(pickle, new[] { ("0", TorchFiles.Floats(1, 2, 3)) }, prefix: "my model", level: CompressionLevel.Optimal, dataPklFirst: false);
        var ckpt = TorchCheckpoint.Load(file);
        var t = Assert.IsType<TorchTensor>(ckpt.Root);
        Assert.Equal("cuda:1", t.Storage.Location);
        Assert.Equal(new[] { 1f, 2, 3 }, t.ToFloat32Array());
        Assert.Equal("my model/", ckpt.Records["prefix"]);
    }

    [SkippableFact]
    public void ArchivesWrittenWithoutCrc32Load()
    {
        // torch.serialization.set_crc32_options(False) (PyTorch >= 2.5) writes 0 for every CRC-32;
        // PyTorch then reads without checking, and so does this reader.
        var file = (byte[])RealCheckpoints.Bytes(RealCheckpoints.Lightning).Clone();
        int zeroed = 0;
        for (int i = 0; i + 20 < file.Length; i++)
        {
            uint signature = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(i));
            if (signature is 0x04034b50 or 0x02014b50)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(i + (signature == 0x04034b50 ? 14 : 16)), 0);
                zeroed++;
            }
        }
        Assert.Equal(46, zeroed);
        var expected = TorchCheckpoint.Load(RealCheckpoints.Bytes(RealCheckpoints.Lightning)).Tensors();
        var actual = TorchCheckpoint.Load(file).Tensors();
        Assert.Equal(expected.Keys, actual.Keys);
        Assert.All(expected, kv => Assert.Equal(kv.Value.ToFloat32Array(), actual[kv.Key].ToFloat32Array()));
    }

    [Fact]
    public void FormatErrorsAreIOExceptions()
    {
        // Code that handles a bad file with catch (IOException) handles these too; a missing file keeps its own type.
        Assert.IsAssignableFrom<IOException>(Assert.ThrowsAny<TorchFormatException>(() => TorchCheckpoint.Load("x"u8.ToArray())));
        Assert.Throws<FileNotFoundException>(() => TorchCheckpoint.Load(Path.Combine(Path.GetTempPath(), $"recurrent-no-such-file-{Guid.NewGuid():N}.pt")));
    }

    [Theory]
    [InlineData(0, "KGRwMApWYQpwMQpJMQpzVmIKcDIKRjEuNQpzVmMKcDMKKGxwNApJMQphSTIKYShJMwpWeApwNQp0cDYKYXNWZApwNwpW6QpwOApzVmUKcDkKTnNWZgpwMTAKSTAxCnNWZwpwMTEKTDExODA1OTE2MjA3MTc0MTEzMDM0MjRMCnNWaApwMTIKSS03CnNWaQpwMTMKRmluZgpzSTUKY19jb2RlY3MKZW5jb2RlCnAxNAooVlx1MDAwMP8KcDE1ClZsYXRpbjEKcDE2CnRwMTcKUnAxOApzLg==")]
    [InlineData(1, "fXEAKFgBAAAAYXEBSwFYAQAAAGJxAkc/+AAAAAAAAFgBAAAAY3EDXXEEKEsBSwIoSwNYAQAAAHhxBXRxBmVYAQAAAGRxB1gCAAAAw6lxCFgBAAAAZXEJTlgBAAAAZnEKSTAxClgBAAAAZ3ELTDExODA1OTE2MjA3MTc0MTEzMDM0MjRMClgBAAAAaHEMSvn///9YAQAAAGlxDUd/8AAAAAAAAEsFY19jb2RlY3MKZW5jb2RlCnEOKFgDAAAAAMO/cQ9YBgAAAGxhdGluMXEQdHERUnESdS4=")]
    [InlineData(2, "gAJ9cQAoWAEAAABhcQFLAVgBAAAAYnECRz/4AAAAAAAAWAEAAABjcQNdcQQoSwFLAksDWAEAAAB4cQWGcQZlWAEAAABkcQdYAgAAAMOpcQhYAQAAAGVxCU5YAQAAAGZxCohYAQAAAGdxC4oJAAAAAAAAAABAWAEAAABocQxK+f///1gBAAAAaXENR3/wAAAAAAAASwVjX2NvZGVjcwplbmNvZGUKcQ5YAwAAAADDv3EPWAYAAABsYXRpbjFxEIZxEVJxEnUu")]
    [InlineData(4, "gASVawAAAAAAAAB9lCiMAWGUSwGMAWKURz/4AAAAAAAAjAFjlF2UKEsBSwJLA4wBeJSGlGWMAWSUjALDqZSMAWWUTowBZpSIjAFnlIoJAAAAAAAAAABAjAFolEr5////jAFplEd/8AAAAAAAAEsFQwIA/5R1Lg==")]
    [InlineData(5, "gAWVawAAAAAAAAB9lCiMAWGUSwGMAWKURz/4AAAAAAAAjAFjlF2UKEsBSwJLA4wBeJSGlGWMAWSUjALDqZSMAWWUTowBZpSIjAFnlIoJAAAAAAAAAABAjAFolEr5////jAFplEd/8AAAAAAAAEsFQwIA/5R1Lg==")]
    public void CPythonPicklesOfEveryProtocolRead(int protocol, string base64)
    {
        // pickle.dumps({'a': 1, 'b': 1.5, 'c': [1, 2, (3, 'x')], 'd': 'é', 'e': None, 'f': True,
        //               'g': 2**70, 'h': -7, 'i': float('inf'), 5: b'\x00\xff'}, protocol=N) from CPython 3.
        var d = Assert.IsType<TorchDict>(TorchFiles.Unpickle(Convert.FromBase64String(base64)));
        Assert.Equal(new object?[] { "a", "b", "c", "d", "e", "f", "g", "h", "i", 5L }, d.Keys);
        Assert.Equal(1L, d["a"]);
        Assert.Equal(1.5, d["b"]);
        var c = Assert.IsType<TorchList>(d["c"]);
        Assert.Equal(1L, c[0]);
        Assert.Equal(new object?[] { 3L, "x" }, Assert.IsType<TorchTuple>(c[2]));
        Assert.Equal("é", d["d"]);
        Assert.Null(d["e"]);
        Assert.Equal(true, d["f"]);
        Assert.Equal(BigInteger.Pow(2, 70), d["g"]);
        Assert.Equal(-7L, d["h"]);
        Assert.Equal(double.PositiveInfinity, d["i"]);
        Assert.Equal(new byte[] { 0, 0xFF }, d[5L]);
        Assert.Equal(new byte[] { 0, 0xFF }, d[5.0]); // Python: 5 == 5.0
        _ = protocol;
    }

    [Fact]
    public void Protocol4And5OpcodesAndTorchValues()
    {
        var p = new PickleBuilder().Proto(5).Op(0x95).UInt64(0) // FRAME (length is only a hint)
            .EmptyDict().Op(0x94).Mark()
            .ShortStr("set").Op(0x8f).Mark().Int(1).Int(2).Int(1).Op(0x90)
            .ShortStr("frozen").Mark().Str("x").Op(0x91)
            .ShortStr("bytes").Op('C').Byte(2).Byte(1).Byte(2)
            .ShortStr("ba").Op(0x96).UInt64(1).Byte(7).Op(0x98)
            .ShortStr("big").Op(0x8b).UInt32(13).Bytes(new byte[12]).Byte(1)
            .ShortStr("neg").Int(-5)
            .ShortStr("nan").Float(double.NaN)
            .ShortStr("ninf").Float(double.NegativeInfinity)
            .ShortStr("size").Global("torch", "Size").IntTuple(2, 3).Tuple1().Reduce()
            .ShortStr("dev").Global("torch", "device").Str("cuda").Int(0).Tuple2().Reduce()
            .ShortStr("dev2").Global("torch", "device").Str("mps:1").Tuple1().Reduce()
            .ShortStr("dtype").Global("torch", "bfloat16")
            .ShortStr("z").Global("builtins", "complex").Float(1).Float(-2).Tuple2().Reduce()
            .ShortStr("py2s").Global("__builtin__", "set").Mark().Int(9).Op('l').Tuple1().Reduce()
            .ShortStr("cnt").Global("collections", "Counter").EmptyTuple().Op(0x81)
            .ShortStr("od2").Global("collections", "OrderedDict").Mark().Mark().Str("k").Int(1).Tuple().Op('l').Tuple1().Reduce()
            .Int(3).Str("int key").None().Str("none key").Mark().Int(1).Str("a").Tuple().Str("tuple key")
            .SetItems().Stop();
        var d = Assert.IsType<TorchDict>(TorchFiles.Unpickle(p.ToArray()));
        var set = Assert.IsType<TorchSet>(d["set"]);
        Assert.False(set.IsFrozen);
        Assert.Equal(new object?[] { 1L, 2L }, set);
        Assert.True(Assert.IsType<TorchSet>(d["frozen"]).IsFrozen);
        Assert.Equal(new byte[] { 1, 2 }, d["bytes"]);
        Assert.Equal(new byte[] { 7 }, d["ba"]);
        Assert.Equal(BigInteger.One << 96, d["big"]);
        Assert.Equal(-5L, d["neg"]);
        Assert.True(double.IsNaN((double)d["nan"]!));
        Assert.Equal(double.NegativeInfinity, d["ninf"]);
        var size = Assert.IsType<TorchTuple>(d["size"]);
        Assert.True(size.IsTorchSize);
        Assert.Equal(new object?[] { 2L, 3L }, size);
        Assert.Equal(new TorchDevice("cuda", 0), d["dev"]);
        Assert.Equal("mps:1", d["dev2"]!.ToString());
        Assert.Equal(TorchDType.BFloat16, d["dtype"]);
        Assert.Equal(new Complex(1, -2), d["z"]);
        Assert.Equal(new object?[] { 9L }, Assert.IsType<TorchSet>(d["py2s"]));
        Assert.Equal("collections.Counter", Assert.IsType<TorchDict>(d["cnt"]).PythonType);
        Assert.Equal(1L, Assert.IsType<TorchDict>(d["od2"])["k"]);
        Assert.Equal("int key", d[3L]);
        Assert.Equal("none key", d[null]);
        Assert.Equal("tuple key", d.Keys.OfType<TorchTuple>().Select(k => d[k]).Single());
    }

    // ---- API helpers -----------------------------------------------------------------------------

    private static TorchCheckpoint Nested()
    {
        // {'model': {'encoder.lstm': {'weight': t0}, 'head': [t1, {'bias': t2}]}, 'model.weird': t3, 'epoch': 4, 'opt': {0: {'m': t0}}}
        var p = new PickleBuilder().Proto().EmptyDict().Mark()
            .Str("model").EmptyDict().Mark()
                .Str("encoder.lstm").EmptyDict().Str("weight").TensorV2(b => b.ZipStorage("FloatStorage", "0", 4), 0, new[] { 4L }, new[] { 1L }).Put(1).SetItem()
                .Str("head").EmptyList().Mark()
                    .TensorV2(b => b.ZipStorage("FloatStorage", "0", 4), 1, new[] { 1L }, new[] { 1L })
                    .EmptyDict().Str("bias").TensorV2(b => b.ZipStorage("FloatStorage", "0", 4), 2, new[] { 1L }, new[] { 1L }).SetItem()
                .Appends()
            .SetItems()
            .Str("model.weird").TensorV2(b => b.ZipStorage("FloatStorage", "0", 4), 3, new[] { 1L }, new[] { 1L })
            .Str("epoch").Int(4)
            .Str("opt").EmptyDict().Int(0).EmptyDict().Str("m").Get(1).SetItem().SetItem()
            .SetItems().Stop().ToArray();
        return TorchCheckpoint.Load(TorchFiles.Zip(p, new[] { ("0", TorchFiles.Floats(0, 1, 2, 3)) }));
    }

    [Fact]
    public void KeyPathsMatchTheLongestKeyAndReportWhatExists()
    {
        var ckpt = Nested();
        Assert.IsType<TorchTensor>(ckpt.Get("model.encoder.lstm.weight"));
        Assert.Equal(new[] { 3f }, Assert.IsType<TorchTensor>(ckpt.Get("model.weird")).ToFloat32Array());
        Assert.Equal(new[] { 2f }, Assert.IsType<TorchTensor>(ckpt.Get("model.head.1.bias")).ToFloat32Array());
        Assert.Same(ckpt.Get("model.encoder.lstm.weight"), ckpt.Get("opt.0.m"));
        Assert.Equal(4L, ckpt.Get("epoch"));
        Assert.Same(ckpt.Root, ckpt.Get(null));
        Assert.Same(ckpt.Root, ckpt.Get(""));
        Assert.True(ckpt.TryGet("model.head", out var head) && head is TorchList);
        Assert.False(ckpt.TryGet("model.nope", out _));
        var e = Assert.Throws<KeyNotFoundException>(() => ckpt.Get("model.decoder"));
        Assert.Contains("nothing named 'decoder' at 'model'", e.Message);
        Assert.Contains("'encoder.lstm'", e.Message);
        Assert.Throws<KeyNotFoundException>(() => ckpt.Get("model.head.7"));
        Assert.Throws<InvalidCastException>(() => ckpt.GetDict("epoch"));
    }

    [Fact]
    public void TensorsFlattenWithDottedNames()
    {
        var ckpt = Nested();
        Assert.Equal(new[] { "model.encoder.lstm.weight", "model.head.0", "model.head.1.bias", "model.weird", "opt.0.m" }, ckpt.Tensors().Keys);
        Assert.Equal(new[] { "encoder.lstm.weight", "head.0", "head.1.bias" }, ckpt.Tensors("model").Keys);
        Assert.Equal(new[] { "model.weird" }, ckpt.Tensors(flatten: false).Keys);
        Assert.Equal(new[] { "0", "1.bias" }, ckpt.Tensors("model.head").Keys);
        Assert.Equal(new[] { "weight" }, ckpt.Tensors("model.encoder.lstm", flatten: false).Keys);
        Assert.Equal(new[] { "model.weird" }, ckpt.Tensors("model.weird").Keys);

        var stripped = TorchCheckpoint.StripPrefix(ckpt.Tensors(), "model.");
        Assert.Equal(new[] { "encoder.lstm.weight", "head.0", "head.1.bias", "weird", "opt.0.m" }, stripped.Keys);
        Assert.Equal(new[] { "encoder.lstm.weight", "head.0", "head.1.bias", "weird" }, TorchCheckpoint.StripPrefix(ckpt.Tensors(), "model.", dropOthers: true).Keys);
        var clash = new Dictionary<string, TorchTensor> { ["a.x"] = stripped["weird"], ["x"] = stripped["weird"] };
        Assert.Throws<ArgumentException>(() => TorchCheckpoint.StripPrefix(clash, "a."));

        Assert.Equal("", ckpt.FindStateDictPath()); // 'model' holds no tensors directly, the root does
        string text = ckpt.Describe();
        Assert.Contains("epoch = 4", text);
        Assert.Contains("model.head.1.bias", text);
        Assert.Equal("model.head.0  float32  [1]", ckpt.ListTensors()[1].ToString());
    }

    [Fact]
    public void TensorNamesThatCollideAreReported()
    {
        var p = new PickleBuilder().Proto().EmptyDict().Mark()
            .Str("a.b").TensorV2(b => b.ZipStorage("FloatStorage", "0", 1), 0, new[] { 1L }, new[] { 1L })
            .Str("a").EmptyDict().Str("b").TensorV2(b => b.ZipStorage("FloatStorage", "0", 1), 0, new[] { 1L }, new[] { 1L }).SetItem()
            .SetItems().Stop().ToArray();
        var ckpt = TorchCheckpoint.Load(TorchFiles.Zip(p, new[] { ("0", TorchFiles.Floats(1)) }));
        Assert.Contains("same name 'a.b'", Assert.Throws<TorchFormatException>(() => ckpt.Tensors()).Message);
        Assert.Single(ckpt.Tensors(flatten: false));
    }
}
