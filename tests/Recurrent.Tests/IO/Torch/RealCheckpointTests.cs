// The six real torch.save files in ../shared/real-checkpoints, checked against the JSON written beside each.
using System.Text.Json;
using Recurrent.IO.Torch;

namespace Recurrent.Tests.IO.Torch;

public class RealCheckpointTests
{
    private static JsonElement Json(string name) =>
        JsonDocument.Parse(File.ReadAllText(RealCheckpoints.PathOf(name) + ".json")).RootElement;

    public static IEnumerable<object[]> Files => RealCheckpoints.Names;

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void LoadsWithTheDescribedFormat(string name)
    {
        var json = Json(name);
        var ckpt = TorchCheckpoint.Load(RealCheckpoints.PathOf(name));
        var format = json.GetProperty("format");
        string kind = format.GetProperty("kind").GetString()!;
        Assert.Equal(kind == "zip" ? TorchFileFormat.Zip : TorchFileFormat.Legacy, ckpt.Format);
        if (kind == "zip")
        {
            Assert.Equal(format.GetProperty("zip_prefix").GetString(), ckpt.Records["prefix"]);
            foreach (var record in format.GetProperty("records").EnumerateObject())
                if (record.Name != ".data/serialization_id")
                    Assert.Equal(record.Value.GetString(), ckpt.Records[record.Name]);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void TopLevelKeysMatch(string name)
    {
        var json = Json(name);
        var root = Assert.IsType<TorchDict>(TorchCheckpoint.Load(RealCheckpoints.PathOf(name)).Root);
        var expected = json.GetProperty("top_level_keys").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(expected, root.Keys.Cast<string>().ToList());
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void TensorNamesDTypesShapesStridesAndOffsetsMatch(string name)
    {
        var json = Json(name);
        var tensors = TorchCheckpoint.Load(RealCheckpoints.PathOf(name)).Tensors();
        var expected = json.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(expected.Select(t => t.GetProperty("name").GetString()), tensors.Keys);
        foreach (var e in expected)
        {
            var t = tensors[e.GetProperty("name").GetString()!];
            Assert.Equal(e.GetProperty("dtype").GetString(), t.DType.ShortName());
            Assert.Equal(e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), t.Shape);
            Assert.Equal(e.GetProperty("stride").EnumerateArray().Select(x => x.GetInt64()), t.Strides);
            Assert.Equal(e.GetProperty("storage_offset").GetInt64(), t.StorageOffset);
            Assert.Equal(e.GetProperty("storage_key").GetString(), t.Storage.Key);
            Assert.Equal(e.GetProperty("storage_numel").GetInt64(), t.Storage.ElementCount);
            Assert.Equal(e.GetProperty("storage_location").GetString(), t.Storage.Location);
            Assert.Equal(e.GetProperty("contiguous").GetBoolean(), t.IsContiguous);
            Assert.Equal(e.GetProperty("requires_grad").GetBoolean(), t.RequiresGrad);
            Assert.Equal(e.GetProperty("is_parameter").GetBoolean(), t.IsParameter);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void StoragesMatchAndAreSharedByKey(string name)
    {
        var json = Json(name);
        var ckpt = TorchCheckpoint.Load(RealCheckpoints.PathOf(name));
        var expected = json.GetProperty("storages").EnumerateArray().ToDictionary(s => s.GetProperty("key").GetString()!);
        Assert.Equal(expected.Keys.Order(), ckpt.Storages.Select(s => s.Key).Order());
        foreach (var s in ckpt.Storages)
        {
            Assert.Equal(expected[s.Key].GetProperty("numel").GetInt64(), s.ElementCount);
            Assert.Equal(expected[s.Key].GetProperty("nbytes").GetInt64(), s.Data.Length);
        }
        // Tensors naming the same key share one storage object, whose bytes their views read.
        var tensors = ckpt.Tensors();
        foreach (var group in tensors.Values.GroupBy(t => t.Storage.Key))
            Assert.Single(group.Select(t => t.Storage).Distinct());
        foreach (var shared in json.GetProperty("shared_storages").EnumerateObject())
        {
            var views = shared.Value.EnumerateArray().Select(n => tensors[n.GetString()!]).ToList();
            Assert.All(views, v => Assert.Same(views[0].Storage, v.Storage));
            foreach (var v in views)
            {
                var expectedBytes = v.Storage.Data.Span.Slice((int)(v.StorageOffset * 4), (int)(v.ElementCount * 4));
                Assert.True(v.TryGetContiguousData(out var actual));
                Assert.True(expectedBytes.SequenceEqual(actual.Span));
                Assert.Equal(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(expectedBytes).ToArray(), v.ToFloat32Array());
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void StateDictIsFoundUnderTheDescribedPrefix(string name)
    {
        var json = Json(name);
        var ckpt = TorchCheckpoint.Load(RealCheckpoints.PathOf(name));
        string prefix = json.GetProperty("model_state_dict_prefix").GetString()!;
        Assert.Equal(prefix.TrimEnd('.'), ckpt.FindStateDictPath());
        var expectedNames = json.GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("name").GetString()!)
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Select(n => n[prefix.Length..]);
        Assert.Equal(expectedNames, ckpt.StateDict().Keys);
        Assert.Equal(ckpt.StateDict().Keys, TorchCheckpoint.StripPrefix(ckpt.Tensors(), prefix, dropOthers: true).Keys);
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void DescribeListsEveryTensor(string name)
    {
        var ckpt = TorchCheckpoint.Load(RealCheckpoints.PathOf(name));
        string text = ckpt.Describe();
        foreach (var info in ckpt.ListTensors())
            Assert.Contains($"{info.Name}", text);
        Assert.Contains(ckpt.Format == TorchFileFormat.Zip ? "format: zip" : "format: legacy", text);
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void LoadsFromANonSeekableStreamToo(string name)
    {
        var viaPath = TorchCheckpoint.Load(RealCheckpoints.PathOf(name)).Tensors();
        using var pipe = new NonSeekableStream(RealCheckpoints.Bytes(name));
        var viaStream = TorchCheckpoint.Load(pipe).Tensors();
        Assert.Equal(viaPath.Keys, viaStream.Keys);
        foreach (var (k, t) in viaPath)
            Assert.Equal(t.ToFloat32Array(), viaStream[k].ToFloat32Array());
    }

    [SkippableFact]
    public void LightningCheckpointKeepsInfOptimizerStateAndScalars()
    {
        var ckpt = TorchCheckpoint.Load(RealCheckpoints.PathOf(RealCheckpoints.Lightning));
        Assert.Equal(299L, ckpt.Get("epoch"));
        Assert.Equal(600L, ckpt.Get("global_step"));
        Assert.Equal("2.5.1.post0", ckpt.Get("pytorch-lightning_version"));

        var callbacks = ckpt.GetDict("callbacks");
        var key = Assert.IsType<string>(Assert.Single(callbacks.Keys));
        Assert.StartsWith("ModelCheckpoint{", key);
        var kth = Assert.IsType<TorchTensor>(ckpt.Get("callbacks." + key + ".kth_value"));
        Assert.Empty(kth.Shape);
        Assert.Equal(1, kth.ElementCount);
        Assert.True(float.IsPositiveInfinity(Assert.Single(kth.ToFloat32Array())));
        Assert.True(double.IsPositiveInfinity(Assert.Single(kth.ToFloat64Array())));

        // Optimizer state: a list holding Adam's state_dict, whose 'state' dict is keyed by Python ints.
        var adam = Assert.IsType<TorchDict>(Assert.Single(Assert.IsType<TorchList>(ckpt.Get("optimizer_states"))));
        var state = Assert.IsType<TorchDict>(adam["state"]);
        Assert.Equal(new object?[] { 0L, 1L, 2L, 3L }, state.Keys);
        Assert.Same(state[2L], ckpt.Get("optimizer_states.0.state.2"));
        var step = Assert.IsType<TorchTensor>(ckpt.Get("optimizer_states.0.state.0.step"));
        Assert.Equal("cpu", step.Storage.Location);
        Assert.Equal(600f, Assert.Single(step.ToFloat32Array()));
        Assert.Equal("mps", Assert.IsType<TorchTensor>(ckpt.Get("optimizer_states.0.state.0.exp_avg")).Storage.Location);
        var group = Assert.IsType<TorchDict>(Assert.Single(Assert.IsType<TorchList>(ckpt.Get("optimizer_states.0.param_groups"))));
        Assert.Equal(0.1, group["lr"]);
        Assert.IsType<TorchTuple>(group["betas"]);
        Assert.Equal(new object?[] { 0L, 1L, 2L, 3L }, Assert.IsType<TorchList>(group["params"]));
        Assert.Empty(Assert.IsType<TorchList>(ckpt.Get("lr_schedulers")));
        Assert.Equal(true, ckpt.Get("loops.fit_loop.epoch_loop.batch_progress.is_last_batch"));

        // The state_dict keeps its _metadata attribute as data.
        var metadata = ckpt.GetDict("state_dict").Attributes;
        Assert.NotNull(metadata);
        Assert.Equal(1L, Assert.IsType<TorchDict>(Assert.IsType<TorchDict>(metadata!["_metadata"])["lstm"])["version"]);
    }

    [SkippableFact]
    public void LightningWeightsReproduceTheNotebookPredictions()
    {
        // reference_outputs in the JSON: a float64 LSTM cell (gates i, f, g, o) on these weights gives
        // 6.7817e-05 for [0, 0.5, 0.25, 1] and 0.98094 for [1, 0.5, 0.25, 1].
        var sd = TorchCheckpoint.Load(RealCheckpoints.PathOf(RealCheckpoints.Lightning)).StateDict();
        var lstm = new ReferenceLstm(sd, "lstm.", layers: 1);
        Assert.Equal(6.7817e-05, lstm.Run(new[] { 0.0, 0.5, 0.25, 1.0 }.Select(x => new[] { x }).ToList())[^1][0], 1e-9);
        Assert.Equal(0.98094, lstm.Run(new[] { 1.0, 0.5, 0.25, 1.0 }.Select(x => new[] { x }).ToList())[^1][0], 1e-5);
    }

    [SkippableFact]
    public void FlattenedStorageCharLstmGeneratesTheDescribedText()
    {
        // smoke_check in the JSON: greedy decoding from 'ROMEO:\n' with (h0, c0) = 0. The LSTM weights are
        // views at offsets into one flattened cuDNN storage, so this checks the offsets end to end.
        var json = Json(RealCheckpoints.CharLstm);
        string vocab = json.GetProperty("architecture").GetProperty("vocabulary").GetString()!;
        string expected = json.GetProperty("smoke_check").GetProperty("output").GetString()!;
        var sd = TorchCheckpoint.Load(RealCheckpoints.PathOf(RealCheckpoints.CharLstm)).StateDict();
        var embedding = sd["embedding.weight"].ToFloat64Array();
        int embedDim = (int)sd["embedding.weight"].Shape[1];
        string text = GreedyDecode(sd, "lstm.", layers: 2, vocab.Select(c => c.ToString()).ToArray(), "ROMEO:\n", 120,
            id => embedding.AsSpan(id * embedDim, embedDim).ToArray());
        Assert.Equal(expected, text);
    }

    [SkippableFact]
    public void LegacyCharRnnGeneratesTheDescribedText()
    {
        var json = Json(RealCheckpoints.LegacyCharRnn);
        string expected = json.GetProperty("smoke_check").GetProperty("output").GetString()!;
        var ckpt = TorchCheckpoint.Load(RealCheckpoints.PathOf(RealCheckpoints.LegacyCharRnn));
        Assert.Equal(256L, ckpt.Get("n_hidden"));
        Assert.Equal(2L, ckpt.Get("n_layers"));
        var tokens = Assert.IsType<TorchTuple>(ckpt.Get("tokens")).Cast<string>().ToArray();
        Assert.Equal(83, tokens.Length);
        string text = GreedyDecode(ckpt.StateDict(), "lstm.", layers: 2, tokens, "The ", 60,
            id => { var x = new double[tokens.Length]; x[id] = 1; return x; });
        Assert.Equal(expected, text);
    }

    [SkippableFact]
    public void LegacyGruSharesOneStorageAtTheDescribedOffsets()
    {
        var ckpt = TorchCheckpoint.Load(RealCheckpoints.PathOf(RealCheckpoints.LegacyGru));
        Assert.Equal("1001", ckpt.Records["protocol_version"]);
        Assert.Equal("True", ckpt.Records["little_endian"]);
        var t = ckpt.Tensors();
        var storage = t["gru.weight_ih_l0"].Storage;
        Assert.Equal(new long[] { 0, 624, 1392, 1440 }, new[] { "gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0" }.Select(n => t[n].StorageOffset));
        Assert.All(new[] { "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0" }, n => Assert.Same(storage, t[n].Storage));
        // The four views tile the storage exactly: together they are the whole storage, in order of offset.
        var concatenated = new[] { "gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0" }.SelectMany(n => t[n].ToFloat32Array()).ToArray();
        Assert.Equal(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(storage.Data.Span).ToArray(), concatenated);
        Assert.All(concatenated, v => Assert.True(float.IsFinite(v) && Math.Abs(v) < 100));
    }

    private static string GreedyDecode(IReadOnlyDictionary<string, TorchTensor> sd, string lstmPrefix, int layers, string[] vocab,
        string prime, int count, Func<int, double[]> input)
    {
        var lstm = new ReferenceLstm(sd, lstmPrefix, layers);
        var fcW = sd["fc.weight"].ToFloat64Array();
        var fcB = sd["fc.bias"].ToFloat64Array();
        int hidden = lstm.Hidden;
        var text = new System.Text.StringBuilder(prime);
        int Next(double[] h)
        {
            int best = 0;
            double bestScore = double.NegativeInfinity;
            for (int o = 0; o < fcB.Length; o++)
            {
                double s = fcB[o];
                for (int j = 0; j < hidden; j++) s += fcW[o * hidden + j] * h[j];
                if (s > bestScore) { bestScore = s; best = o; }
            }
            return best;
        }
        double[]? last = null;
        foreach (char c in prime)
            last = lstm.Step(input(Array.IndexOf(vocab, c.ToString())));
        for (int i = 0; i < count; i++)
        {
            int id = Next(last!);
            text.Append(vocab[id]);
            last = lstm.Step(input(id));
        }
        return text.ToString();
    }

    /// <summary>A plain float64 multi-layer LSTM (PyTorch's gates i, f, g, o), batch 1, for checking weights.</summary>
    private sealed class ReferenceLstm
    {
        private readonly (double[] Wih, double[] Whh, double[] B, int In)[] _layers;
        private readonly double[][] _h, _c;

        public ReferenceLstm(IReadOnlyDictionary<string, TorchTensor> sd, string prefix, int layers)
        {
            Hidden = (int)sd[prefix + "weight_hh_l0"].Shape[1];
            _layers = new (double[], double[], double[], int)[layers];
            for (int l = 0; l < layers; l++)
            {
                var bih = sd[$"{prefix}bias_ih_l{l}"].ToFloat64Array();
                var bhh = sd[$"{prefix}bias_hh_l{l}"].ToFloat64Array();
                _layers[l] = (sd[$"{prefix}weight_ih_l{l}"].ToFloat64Array(), sd[$"{prefix}weight_hh_l{l}"].ToFloat64Array(),
                    bih.Zip(bhh, (a, b) => a + b).ToArray(), (int)sd[$"{prefix}weight_ih_l{l}"].Shape[1]);
            }
            _h = Enumerable.Range(0, layers).Select(_ => new double[Hidden]).ToArray();
            _c = Enumerable.Range(0, layers).Select(_ => new double[Hidden]).ToArray();
        }

        public int Hidden { get; }

        public List<double[]> Run(List<double[]> xs) => xs.Select(Step).ToList();

        public double[] Step(double[] x)
        {
            int H = Hidden;
            for (int l = 0; l < _layers.Length; l++)
            {
                var (wih, whh, b, inSize) = _layers[l];
                var gates = new double[4 * H];
                for (int r = 0; r < 4 * H; r++)
                {
                    double s = b[r];
                    for (int j = 0; j < inSize; j++) s += wih[r * inSize + j] * x[j];
                    for (int j = 0; j < H; j++) s += whh[r * H + j] * _h[l][j];
                    gates[r] = s;
                }
                var h = new double[H];
                for (int k = 0; k < H; k++)
                {
                    double i = Sigmoid(gates[k]), f = Sigmoid(gates[H + k]), g = Math.Tanh(gates[2 * H + k]), o = Sigmoid(gates[3 * H + k]);
                    _c[l][k] = f * _c[l][k] + i * g;
                    h[k] = o * Math.Tanh(_c[l][k]);
                }
                _h[l] = h;
                x = h;
            }
            return (double[])x.Clone();
        }

        private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
    }

    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data, writable: false)
    {
        public override bool CanSeek => false;
        public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();
        public override long Position { get => base.Position; set => throw new NotSupportedException(); }
        public override long Length => throw new NotSupportedException();
    }
}
