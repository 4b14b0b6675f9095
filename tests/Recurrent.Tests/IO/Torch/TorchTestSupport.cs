// Test support for the PyTorch reader: locating the real checkpoints, and building pickles, zip
// archives and legacy files byte by byte.
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Text;
using Recurrent.IO.Torch;

namespace Recurrent.Tests.IO.Torch;

internal static class RealCheckpoints
{
    private static readonly Dictionary<string, byte[]> Cache = new();

    /// <summary>The folder (<see cref="TestPaths.RequireRealCheckpoints"/>: skips the test without ../shared).</summary>
    public static string Directory => TestPaths.RequireRealCheckpoints();

    public const string BiLstm = "Foxbabe1q__Name-Nation-classification__bilstm.pt";
    public const string LegacyGru = "RWDavid__rnn-instrument-recognition__gru.pt";
    public const string Lightning = "beenlanced__ltsm_project_pytorch__epoch=299-step=600.ckpt";
    public const string CharLstm = "daewook1004__DeepLearning_LangugeModel__best_lstm_model.pth";
    public const string LegacyCharRnn = "infiniteoverflow__Char-RNN__rnn_20_epoch.net";
    public const string GruFlat = "ohovey1__sequence_classification_deep_nn__gru_model.pth";

    public static readonly string[] All = { BiLstm, LegacyGru, Lightning, CharLstm, LegacyCharRnn, GruFlat };

    public static IEnumerable<object[]> Names => All.Select(n => new object[] { n });

    public static string PathOf(string name) => Path.Combine(Directory, name);

    public static byte[] Bytes(string name)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(name, out var bytes))
                Cache[name] = bytes = File.ReadAllBytes(PathOf(name));
            return bytes;
        }
    }
}

/// <summary>Writes pickle opcodes (CPython's Lib/pickle.py numbering) for hand-built test inputs.</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream _ms = new();

    public PickleBuilder Proto(int protocol = 2) => Op(0x80).Byte(protocol);
    public PickleBuilder Op(int opcode) { _ms.WriteByte((byte)opcode); return this; }
    public PickleBuilder Byte(int b) { _ms.WriteByte((byte)b); return this; }
    public PickleBuilder Bytes(ReadOnlySpan<byte> bytes) { _ms.Write(bytes); return this; }
    public PickleBuilder Ascii(string s) => Bytes(Encoding.ASCII.GetBytes(s));
    public PickleBuilder UInt32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return Bytes(b); }
    public PickleBuilder UInt64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return Bytes(b); }

    public PickleBuilder Mark() => Op('(');
    public PickleBuilder Stop() => Op('.');
    public PickleBuilder None() => Op('N');
    public PickleBuilder True() => Op(0x88);
    public PickleBuilder False() => Op(0x89);
    public PickleBuilder EmptyTuple() => Op(')');
    public PickleBuilder EmptyList() => Op(']');
    public PickleBuilder EmptyDict() => Op('}');
    public PickleBuilder Tuple() => Op('t');
    public PickleBuilder Tuple1() => Op(0x85);
    public PickleBuilder Tuple2() => Op(0x86);
    public PickleBuilder Tuple3() => Op(0x87);
    public PickleBuilder Append() => Op('a');
    public PickleBuilder Appends() => Op('e');
    public PickleBuilder SetItem() => Op('s');
    public PickleBuilder SetItems() => Op('u');
    public PickleBuilder Reduce() => Op('R');
    public PickleBuilder Build() => Op('b');
    public PickleBuilder BinPersId() => Op('Q');
    public PickleBuilder Put(int i) => i < 256 ? Op('q').Byte(i) : Op('r').UInt32((uint)i);
    public PickleBuilder Get(int i) => i < 256 ? Op('h').Byte(i) : Op('j').UInt32((uint)i);

    public PickleBuilder Global(string module, string name) => Op('c').Ascii(module + "\n" + name + "\n");

    public PickleBuilder Str(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        return Op('X').UInt32((uint)bytes.Length).Bytes(bytes);
    }

    /// <summary>SHORT_BINUNICODE (protocol 4) followed by MEMOIZE.</summary>
    public PickleBuilder ShortStr(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        return Op(0x8c).Byte(bytes.Length).Bytes(bytes).Op(0x94);
    }

    public PickleBuilder Int(long v)
    {
        if (v is >= 0 and < 256) return Op('K').Byte((int)v);
        if (v is >= 0 and < 65536) return Op('M').Byte((int)(v & 0xFF)).Byte((int)(v >> 8));
        if (v is >= int.MinValue and <= int.MaxValue) return Op('J').UInt32((uint)(int)v);
        return BigInt(v);
    }

    public PickleBuilder BigInt(BigInteger v)
    {
        var bytes = v.ToByteArray(isUnsigned: false, isBigEndian: false);
        return Op(0x8a).Byte(bytes.Length).Bytes(bytes);
    }

    public PickleBuilder Float(double d)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(b, d);
        return Op('G').Bytes(b);
    }

    /// <summary>A tuple of ints, e.g. a shape.</summary>
    public PickleBuilder IntTuple(params long[] values)
    {
        Mark();
        foreach (var v in values) Int(v);
        return Tuple();
    }

    public PickleBuilder OrderedDict() => Global("collections", "OrderedDict").EmptyTuple().Reduce();

    /// <summary>The zip format's persistent id: ('storage', torch.&lt;type&gt;, key, location, numel), then BINPERSID.</summary>
    public PickleBuilder ZipStorage(string storageType, string key, long numel, string location = "cpu") =>
        Mark().Str("storage").Global("torch", storageType).Str(key).Str(location).Int(numel).Tuple().BinPersId();

    /// <summary>The legacy format's persistent id, with optional view metadata (view_key, offset, size).</summary>
    public PickleBuilder LegacyStorage(string storageType, string key, long numel, (string Key, long Offset, long Size)? view = null, string location = "cpu")
    {
        Mark().Str("storage").Global("torch", storageType).Str(key).Str(location).Int(numel);
        if (view is { } v) Str(v.Key).Int(v.Offset).Int(v.Size).Tuple3();
        else None();
        return Tuple().BinPersId();
    }

    /// <summary>
    /// <c>_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())</c>; the storage
    /// persistent id is written by <paramref name="storage"/>.
    /// </summary>
    public PickleBuilder TensorV2(Action<PickleBuilder> storage, long offset, long[] shape, long[] stride, bool requiresGrad = false)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        storage(this);
        Int(offset).IntTuple(shape).IntTuple(stride);
        if (requiresGrad) True(); else False();
        OrderedDict();
        return Tuple().Reduce();
    }

    public byte[] ToArray() => _ms.ToArray();

    /// <summary>A protocol-2 pickle of a dict {name: tensor} using zip-format storages, one per tensor, contiguous.</summary>
    public static byte[] ZipStateDict(params (string Name, string StorageType, string Key, long[] Shape)[] tensors)
    {
        var p = new PickleBuilder().Proto().OrderedDict().Mark();
        foreach (var (name, type, key, shape) in tensors)
        {
            long numel = shape.Aggregate(1L, (a, b) => a * b);
            p.Str(name).TensorV2(b => b.ZipStorage(type, key, numel), 0, shape, ContiguousStrides(shape));
        }
        return p.SetItems().Stop().ToArray();
    }

    public static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
        return strides;
    }
}

/// <summary>Builds torch.save containers around hand-made pickles.</summary>
internal static class TorchFiles
{
    /// <summary>A zip-format file: &lt;prefix&gt;/data.pkl, optional byteorder/version records, and data/&lt;key&gt; storages (stored, uncompressed).</summary>
    public static byte[] Zip(byte[] dataPkl, IEnumerable<(string Key, byte[] Data)>? storages = null, string prefix = "archive",
        string? byteorder = "little", CompressionLevel level = CompressionLevel.NoCompression, bool dataPklFirst = true)
    {
        var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] data)
            {
                var e = zip.CreateEntry(prefix.Length == 0 ? name : prefix + "/" + name, level);
                e.LastWriteTime = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero); // the same bytes on every run
                using var s = e.Open();
                s.Write(data);
            }
            if (dataPklFirst) Add("data.pkl", dataPkl);
            if (byteorder is not null) Add("byteorder", Encoding.ASCII.GetBytes(byteorder));
            foreach (var (key, data) in storages ?? Enumerable.Empty<(string, byte[])>())
                Add("data/" + key, data);
            Add("version", "3\n"u8.ToArray());
            if (!dataPklFirst) Add("data.pkl", dataPkl);
        }
        return ms.ToArray();
    }

    /// <summary>A legacy-format file: magic, protocol 1001, sys_info, the object pickle, the key list, then each storage as int64 count + bytes.</summary>
    public static byte[] Legacy(byte[] objectPickle, IEnumerable<(string Key, long Numel, byte[] Data)> storages, bool littleEndian = true)
    {
        var list = storages.ToList();
        var ms = new MemoryStream();
        ms.Write(new PickleBuilder().Proto().BigInt(BigInteger.Parse("01950a86a20f9469cfc6c", System.Globalization.NumberStyles.HexNumber)).Stop().ToArray());
        ms.Write(new PickleBuilder().Proto().Int(1001).Stop().ToArray());
        var sys = new PickleBuilder().Proto().EmptyDict().Mark().Str("protocol_version").Int(1001).Str("little_endian");
        if (littleEndian) sys.True(); else sys.False();
        sys.Str("type_sizes").EmptyDict().Mark().Str("short").Int(2).Str("int").Int(4).Str("long").Int(4).SetItems().SetItems().Stop();
        ms.Write(sys.ToArray());
        ms.Write(objectPickle);
        var keys = new PickleBuilder().Proto().EmptyList().Mark();
        foreach (var s in list) keys.Str(s.Key);
        ms.Write(keys.Appends().Stop().ToArray());
        foreach (var (_, numel, data) in list)
        {
            Span<byte> n = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(n, numel);
            ms.Write(n);
            ms.Write(data);
        }
        return ms.ToArray();
    }

    public static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    /// <summary>Runs the restricted unpickler alone on one pickle (no storages).</summary>
    public static object? Unpickle(byte[] pickle, TorchReaderOptions? options = null)
    {
        using var ms = new MemoryStream(pickle);
        var value = new RestrictedUnpickler(new PickleInput(ms, pickle.Length, "test.pkl"), options ?? TorchReaderOptions.Default, null).Load();
        TorchTree.Validate(value, options ?? TorchReaderOptions.Default, "test.pkl");
        return value;
    }
}
