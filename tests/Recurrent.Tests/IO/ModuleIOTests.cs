// Unit tests of TensorIO and ModuleIO: save -> load round trips through safetensors (float32,
// float64, int64, 0-dim), PyTorch key names, dtype conversion on load, strict-load errors for
// missing / unexpected / mis-shaped keys, and atomic writes that leave no temporary files.
using Recurrent.IO;
using Recurrent.IO.Torch;
using Recurrent.Nn;
using Recurrent.Tests.IO.Torch;

namespace Recurrent.Tests.IO;

public sealed class ModuleIOTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("recurrent-moduleio-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Sequential Model(ulong seed, DType dtype = DType.Float32) =>
        new(new Embedding(7, 4, paddingIdx: 0, dtype: dtype, generator: new Generator(seed)),
            new Linear(4, 3, dtype: dtype, generator: new Generator(seed + 1)), new Tanh(),
            new Linear(3, 2, bias: false, dtype: dtype, generator: new Generator(seed + 2)));

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void SaveLoadRoundTripIsExact(DType dtype)
    {
        var a = Model(1, dtype);
        var path = Path.Combine(_dir, "model.safetensors");
        a.Save(path, new Dictionary<string, string> { ["epoch"] = "3" });
        Assert.Single(Directory.GetFiles(_dir));                         // no temporary file left behind

        var file = SafeTensorsFile.Read(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("3", file.Metadata["epoch"]);
        Assert.Equal(["0.weight", "1.bias", "1.weight", "3.weight"], file.Names.Order(StringComparer.Ordinal));
        Assert.All(file.Entries, e => Assert.Equal(dtype == DType.Float32 ? SafeTensorsDType.F32 : SafeTensorsDType.F64, e.DType));

        var b = Model(99, dtype);
        var result = b.Load(path);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        foreach (var ((ka, ta), (kb, tb)) in a.StateDict().Zip(b.StateDict()))
        {
            Assert.Equal(ka, kb);
            Assert.Equal(ta.Double().ToArray<double>(), tb.Double().ToArray<double>());
        }
        var ids = Tensor.FromArray(new long[] { 1, 0, 6 }, 3);
        Assert.Equal(a.Forward(ids).Double().ToArray<double>(), b.Forward(ids).Double().ToArray<double>());
    }

    [Fact]
    public void LoadConvertsToTheModelsDtype()
    {
        var path = Path.Combine(_dir, "f64.safetensors");
        Model(1, DType.Float64).Save(path);
        var m = Model(2);
        m.Load(path);
        var expected = TensorIO.ReadTensors(path)["1.weight"].ToArray<double>().Select(v => (float)v).ToArray();
        Assert.Equal(DType.Float32, ((Linear)m[1]).Weight.DType);
        Assert.Equal(expected, ((Linear)m[1]).Weight.ToArray<float>());
    }

    [Fact]
    public void StrictLoadReportsMissingUnexpectedAndMisshapedKeys()
    {
        var good = new Linear(2, 3).StateDict();
        var path = Path.Combine(_dir, "w.safetensors");

        TensorIO.WriteTensors(path, new Dictionary<string, Tensor> { ["weight"] = good["weight"] });
        var m = new Linear(2, 3);
        var before = m.Weight.ToArray<float>();
        var missing = Assert.Throws<InvalidOperationException>(() => m.Load(path));
        Assert.Contains("Error(s) in loading state_dict for Linear", missing.Message);
        Assert.Contains("Missing key(s) in state_dict: \"bias\"", missing.Message);
        Assert.Equal(before, m.Weight.ToArray<float>());                   // strict failure changes nothing
        var lenient = m.Load(path, strict: false);
        Assert.Equal(["bias"], lenient.MissingKeys);
        Assert.Equal(good["weight"].ToArray<float>(), m.Weight.ToArray<float>());

        TensorIO.WriteTensors(path, new Dictionary<string, Tensor>(good) { ["extra"] = Tensor.Zeros(1) });
        var unexpected = Assert.Throws<InvalidOperationException>(() => new Linear(2, 3).Load(path));
        Assert.Contains("Unexpected key(s) in state_dict: \"extra\"", unexpected.Message);
        Assert.Equal(["extra"], new Linear(2, 3).Load(path, strict: false).UnexpectedKeys);

        TensorIO.WriteTensors(path, new Dictionary<string, Tensor> { ["weight"] = Tensor.Zeros(4, 2), ["bias"] = Tensor.Zeros(3) });
        var shape = Assert.Throws<InvalidOperationException>(() => new Linear(2, 3).Load(path, strict: false));
        Assert.Contains("size mismatch for weight: copying a param with shape torch.Size([4, 2]) from checkpoint, the shape in current model is torch.Size([3, 2]).", shape.Message);
    }

    [Fact]
    public void TensorIORoundTripsEveryDtypeAndMetadata()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = Tensor.Randn([2, 3], DType.Float32, new Generator(1)),
            ["f64"] = Tensor.Randn([4], DType.Float64, new Generator(2)),
            ["ids"] = Tensor.FromArray(new long[] { 5, -1, 1L << 40 }, 3),
            ["scalar"] = Tensor.Scalar(2.5),
            ["strided"] = Tensor.Arange(0, 6, 1, DType.Float32).View(2, 3).T(),
        };
        var path = Path.Combine(_dir, "t.safetensors");
        TensorIO.WriteTensors(path, tensors, new Dictionary<string, string> { ["note"] = "hi" });
        var back = TensorIO.ReadTensors(path, out var meta);
        Assert.Equal("hi", meta["note"]);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), back.Keys);
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.DType, back[k].DType);
            Assert.Equal(t.Shape, back[k].Shape);
            Assert.Equal(t.Double().ToArray<double>(), back[k].Double().ToArray<double>());
        }
        Assert.Equal(new float[] { 0, 3, 1, 4, 2, 5 }, back["strided"].ToArray<float>());
        using var ms = new MemoryStream(TensorIO.Serialize(tensors));
        Assert.Equal(5, TensorIO.ReadTensors(ms, out _).Count);
    }

    [Fact]
    public void LossBuffersAreSavedToo()
    {
        var path = Path.Combine(_dir, "loss.safetensors");
        new CrossEntropyLoss(Tensor.FromArray(new[] { 1f, 2f, 3f }, 3)).Save(path);
        var l = new CrossEntropyLoss(Tensor.Zeros(3));
        l.Load(path);
        Assert.Equal(new[] { 1f, 2f, 3f }, l.Weight!.ToArray<float>());
    }

    // A Linear(2, 3) state_dict as torch.save writes it: weight (3, 2) and bias (3) on their own storages.
    private static readonly float[] PtWeight = [1, 2, 3, 4, 5, 6], PtBias = [-1, 0, 1];

    private static byte[] LinearPt(bool legacy)
    {
        var p = new PickleBuilder().Proto().OrderedDict().Mark();
        if (legacy)
            p.Str("weight").TensorV2(b => b.LegacyStorage("FloatStorage", "w", 6), 0, [3, 2], [2, 1])
             .Str("bias").TensorV2(b => b.LegacyStorage("FloatStorage", "b", 3), 0, [3], [1]);
        else
            p.Str("weight").TensorV2(b => b.ZipStorage("FloatStorage", "0", 6), 0, [3, 2], [2, 1])
             .Str("bias").TensorV2(b => b.ZipStorage("FloatStorage", "1", 3), 0, [3], [1]);
        var pickle = p.SetItems().Stop().ToArray();
        return legacy
            ? TorchFiles.Legacy(pickle, [("w", 6L, TorchFiles.Floats(PtWeight)), ("b", 3L, TorchFiles.Floats(PtBias))])
            : TorchFiles.Zip(pickle, [("0", TorchFiles.Floats(PtWeight)), ("1", TorchFiles.Floats(PtBias))]);
    }

    [Theory]
    [InlineData(false, "a PyTorch file (a zip archive")]
    [InlineData(true, "a PyTorch file (the legacy torch.save format")]
    public void LoadOfAPyTorchFileSaysHowToLoadIt(bool legacy, string what)
    {
        var path = Path.Combine(_dir, "x.pt");
        File.WriteAllBytes(path, LinearPt(legacy));
        var model = new Linear(2, 3);
        var e = Assert.Throws<SafeTensorsFormatException>(() => model.Load(path));
        Assert.StartsWith($"'{path}' is {what}", e.Message);
        Assert.Contains("not a safetensors file", e.Message);
        Assert.Contains("TorchCheckpoint.Load(path).LoadInto(model)", e.Message);
        Assert.Contains("recurrent convert", e.Message);
        Assert.DoesNotContain("header length", e.Message);
        Assert.Throws<SafeTensorsFormatException>(() => TensorIO.ReadTensors(path));

        // The advice works.
        TorchCheckpoint.Load(path).LoadInto(model);
        Assert.Equal(PtWeight, model.Weight.ToArray<float>());
        Assert.Equal(PtBias, model.Bias!.ToArray<float>());
    }

    [Fact]
    public void OtherFilesKeepTheHeaderMessage()
    {
        var path = Path.Combine(_dir, "junk.bin");
        File.WriteAllBytes(path, Enumerable.Repeat((byte)0x7f, 64).ToArray());
        var e = Assert.Throws<SafeTensorsFormatException>(() => new Linear(2, 3).Load(path));
        Assert.Contains("exceeds the limit", e.Message);
        Assert.DoesNotContain("PyTorch", e.Message);
    }

    [SkippableTheory]
    [InlineData(RealCheckpoints.BiLstm, "a PyTorch file (a zip archive")]
    [InlineData(RealCheckpoints.LegacyCharRnn, "a PyTorch file (the legacy torch.save format")]
    public void LoadOfARealPyTorchCheckpointSaysHowToLoadIt(string name, string what)
    {
        var path = TestPaths.RequireRealCheckpoints(name);
        var e = Assert.Throws<SafeTensorsFormatException>(() => new Linear(2, 3).Load(path));
        Assert.Contains($"is {what}", e.Message);
        Assert.Contains("TorchCheckpoint.Load(path).LoadInto(model)", e.Message);
    }
}
