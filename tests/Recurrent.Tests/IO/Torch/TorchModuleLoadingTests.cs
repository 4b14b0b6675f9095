// TorchModuleLoading on hand-built files: every dtype's conversion to a Tensor, strided / 0-d / empty
// views, dtype conversion into a module's parameters, DataParallel's "module." prefix, and the
// errors for integer tensors and prefix collisions.
using System.Buffers.Binary;
using Recurrent.IO.Torch;
using Recurrent.Nn;

namespace Recurrent.Tests.IO.Torch;

public class TorchModuleLoadingTests
{
    private static byte[] Le<T>(T[] values, int size, Action<byte[], int, T> write)
    {
        var b = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++) write(b, i * size, values[i]);
        return b;
    }

    /// <summary>A zip file holding {name: tensor} for each (name, storage type, data, shape, stride, offset), one storage each.</summary>
    private static TorchCheckpoint File(params (string Name, string Type, byte[] Data, long Numel, long[] Shape, long[]? Stride, long Offset)[] tensors)
    {
        var p = new PickleBuilder().Proto().OrderedDict().Mark();
        int key = 0;
        foreach (var t in tensors)
        {
            string k = (key++).ToString();
            p.Str(t.Name).TensorV2(b => b.ZipStorage(t.Type, k, t.Numel), t.Offset, t.Shape, t.Stride ?? PickleBuilder.ContiguousStrides(t.Shape));
        }
        var pickle = p.SetItems().Stop().ToArray();
        return TorchCheckpoint.Load(TorchFiles.Zip(pickle, tensors.Select((t, i) => (i.ToString(), t.Data))));
    }

    private static Tensor One(string type, byte[] data, long numel, long[] shape, long[]? stride = null, long offset = 0) =>
        Assert.Single(File(("t", type, data, numel, shape, stride, offset)).ToStateDict().Values);

    [Fact]
    public void FloatingDTypesBecomeFloat32OrFloat64()
    {
        var f32 = One("FloatStorage", TorchFiles.Floats(1.5f, -2f, float.NaN, 4f), 4, new[] { 2L, 2 });
        Assert.Equal(DType.Float32, f32.DType);
        Assert.Equal(new[] { 2, 2 }, f32.Shape);
        Assert.Equal(new[] { 1.5f, -2f, float.NaN, 4f }, f32.ToArray<float>());

        var f64 = One("DoubleStorage", Le(new[] { 0.1, -1e300 }, 8, (b, o, v) => BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(o), v)), 2, new[] { 2L });
        Assert.Equal(DType.Float64, f64.DType);
        Assert.Equal(new[] { 0.1, -1e300 }, f64.ToArray<double>());

        var half = One("HalfStorage", Le(new[] { (Half)0.333, Half.NegativeInfinity }, 2, (b, o, v) => BinaryPrimitives.WriteHalfLittleEndian(b.AsSpan(o), v)), 2, new[] { 2L });
        Assert.Equal(DType.Float32, half.DType);
        Assert.Equal(new[] { (float)(Half)0.333, float.NegativeInfinity }, half.ToArray<float>());

        // bfloat16 is the top half of a float32, so it widens exactly.
        var bf = One("BFloat16Storage", Le(new[] { -3.5f, 1e-3f }, 2, (b, o, v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), (ushort)(BitConverter.SingleToInt32Bits(v) >>> 16))), 2, new[] { 2L });
        Assert.Equal(DType.Float32, bf.DType);
        Assert.Equal(new[] { -3.5f, BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(1e-3f) & unchecked((int)0xFFFF0000)) }, bf.ToArray<float>());
    }

    [Fact]
    public void IntegerAndBoolDTypesBecomeInt64()
    {
        var i64 = One("LongStorage", Le(new[] { long.MinValue, long.MaxValue }, 8, (b, o, v) => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(o), v)), 2, new[] { 2L });
        Assert.Equal(DType.Int64, i64.DType);
        Assert.Equal(new[] { long.MinValue, long.MaxValue }, i64.ToArray<long>());

        var i32 = One("IntStorage", Le(new[] { int.MinValue, 5 }, 4, (b, o, v) => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(o), v)), 2, new[] { 2L });
        Assert.Equal(new long[] { int.MinValue, 5 }, i32.ToArray<long>());
        var i16 = One("ShortStorage", Le(new short[] { -7, 300 }, 2, (b, o, v) => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(o), v)), 2, new[] { 2L });
        Assert.Equal(new long[] { -7, 300 }, i16.ToArray<long>());
        Assert.Equal(new long[] { -1, 127 }, One("CharStorage", new byte[] { 0xFF, 0x7F }, 2, new[] { 2L }).ToArray<long>());
        Assert.Equal(new long[] { 255, 127 }, One("ByteStorage", new byte[] { 0xFF, 0x7F }, 2, new[] { 2L }).ToArray<long>());

        var mask = One("BoolStorage", new byte[] { 1, 0, 0, 1 }, 4, new[] { 2L, 2 });
        Assert.Equal(DType.Int64, mask.DType);
        Assert.Equal(new long[] { 1, 0, 0, 1 }, mask.ToArray<long>());
        Assert.All(new[] { i32, i16, mask }, t => Assert.Equal(DType.Int64, t.DType));
    }

    [Fact]
    public void ViewsBecomeContiguousRowMajorTensors()
    {
        var data = TorchFiles.Floats(0, 1, 2, 3, 4, 5, 6);
        // The transpose of [[1, 2, 3], [4, 5, 6]] stored at offset 1.
        var t = One("FloatStorage", data, 7, new[] { 3L, 2 }, new[] { 1L, 3 }, offset: 1);
        Assert.Equal(new[] { 3, 2 }, t.Shape);
        Assert.True(t.IsContiguous);
        Assert.Equal(new[] { 1f, 4, 2, 5, 3, 6 }, t.ToArray<float>());

        var scalar = One("FloatStorage", data, 7, Array.Empty<long>(), Array.Empty<long>(), offset: 5);
        Assert.Equal(0, scalar.Dim);
        Assert.Equal(5f, scalar.Item<float>());

        var empty = One("FloatStorage", data, 7, new[] { 0L, 3 }, new[] { 3L, 1 }, offset: 100);
        Assert.Equal(new[] { 0, 3 }, empty.Shape);
        Assert.Equal(0, empty.Numel);
    }

    [Fact]
    public void ToTensorRefusesADimensionBeyondInt32()
    {
        // An empty tensor may name any size; a Tensor dimension is an int.
        var t = Assert.Single(File(("t", "FloatStorage", Array.Empty<byte>(), 0, new[] { 0L, 3_000_000_000L }, new[] { 1L, 1L }, 0)).Tensors().Values);
        var e = Assert.Throws<TorchFormatException>(() => t.ToTensor());
        Assert.Contains("dimension 1 of size 3000000000", e.Message);
    }

    [Fact]
    public void LoadIntoConvertsToTheParameterDTypeAndStripsDataParallelsPrefix()
    {
        var w = Le(new[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6 }, 8, (b, o, v) => BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(o), v));
        var bias = Le(new[] { -1.0, 1.0 }, 8, (b, o, v) => BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(o), v));
        var ckpt = File(("module.weight", "DoubleStorage", w, 6, new[] { 2L, 3 }, null, 0), ("module.bias", "DoubleStorage", bias, 2, new[] { 2L }, null, 0));

        var linear = new Linear(3, 2);
        var error = Assert.Throws<InvalidOperationException>(() => ckpt.LoadInto(linear));
        Assert.Equal("Error(s) in loading state_dict for Linear:\n\tUnexpected key(s) in state_dict: \"module.weight\", \"module.bias\". \n\tMissing key(s) in state_dict: \"weight\", \"bias\". ", error.Message);

        var result = ckpt.LoadInto(linear, stripPrefix: "module.");
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.Equal(DType.Float32, linear.Weight.DType);
        Assert.True(linear.Weight.RequiresGrad);
        Assert.Equal(new[] { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f }, linear.Weight.ToArray<float>());
        Assert.Equal(new[] { -1f, 1f }, linear.Bias!.ToArray<float>());

        // The same file in float64.
        var linear64 = new Linear(3, 2, dtype: DType.Float64);
        ckpt.LoadInto(linear64, stripPrefix: "module.");
        Assert.Equal(new[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6 }, linear64.Weight.ToArray<double>());
    }

    [Fact]
    public void IntegerTensorsLoadIntoFloatingParameters_Converted_AsPyTorchsLoadStateDict()
    {
        // load_state_dict copies with param.copy_(input_param), which converts the dtype.
        var weight = new byte[16];
        BitConverter.TryWriteBytes(weight.AsSpan(0, 8), 3L);
        BitConverter.TryWriteBytes(weight.AsSpan(8, 8), -2L);
        var ckpt = File(("weight", "LongStorage", weight, 2, new[] { 1L, 2 }, null, 0), ("bias", "FloatStorage", TorchFiles.Floats(0.5f), 1, new[] { 1L }, null, 0));
        var lin = new Linear(2, 1);
        ckpt.LoadInto(lin);
        Assert.Equal([3f, -2f], lin.Weight.ToArray<float>());
        Assert.Equal([0.5f], lin.Bias!.ToArray<float>());
    }

    [Fact]
    public void StrippingThatMakesTwoNamesEqualIsRefused()
    {
        var ckpt = File(("module.bias", "FloatStorage", TorchFiles.Floats(1), 1, new[] { 1L }, null, 0), ("bias", "FloatStorage", TorchFiles.Floats(2), 1, new[] { 1L }, null, 0));
        Assert.Throws<ArgumentException>(() => ckpt.ToStateDict(stripPrefix: "module."));
        Assert.Equal(new[] { "module.bias", "bias" }, ckpt.ToStateDict().Keys);
    }

    [Fact]
    public void NullArgumentsAreRefused()
    {
        var ckpt = File(("bias", "FloatStorage", TorchFiles.Floats(2), 1, new[] { 1L }, null, 0));
        Assert.Throws<ArgumentNullException>(() => ckpt.LoadInto(null!));
        Assert.Throws<ArgumentNullException>(() => ((TorchCheckpoint)null!).ToStateDict());
        Assert.Throws<ArgumentNullException>(() => ((TorchTensor)null!).ToTensor());
    }
}
