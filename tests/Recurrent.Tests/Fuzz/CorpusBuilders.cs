// The hand-made files of the fuzz corpus: small valid seeds for each reader, and one regression input for
// every class of failure issue 14 found (plus what the fuzzer found since). The stored files under
// tests/Recurrent.Fuzz/corpus are these bytes; CorpusTests checks that they still are.
using Recurrent.Fuzz;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Recurrent.IO;
using Recurrent.Tests.IO.Torch;

namespace Recurrent.Tests.Fuzz;

internal static class CorpusBuilders
{
    /// <summary>(target folder, file name, bytes) of every built seed file.</summary>
    public static IEnumerable<(string Target, string Name, byte[] Bytes)> Seeds()
    {
        // safetensors: every dtype Recurrent reads, metadata, a scalar and an empty tensor.
        yield return ("safetensors", "typed.safetensors", TensorIO.Serialize(new Dictionary<string, Tensor>
        {
            ["weight"] = Tensor.FromArray(new float[] { 1, -2, 3.5f, 0, 1e-3f, 7 }, 2, 3),
            ["steps"] = Tensor.FromArray(new long[] { 1, 2, long.MaxValue, -1 }, 4),
            ["scale"] = Tensor.FromArray(new double[] { Math.PI }, []),   // an explicitly empty shape: 0-dim
        }, new Dictionary<string, string> { ["format"] = "pt", ["kind"] = "LSTM" }));
        yield return ("safetensors", "half.safetensors", SafeTensorsFile.Serialize(new (string, SafeTensorsDType, long[], ReadOnlyMemory<byte>)[]
        {
            ("h", SafeTensorsDType.F16, new long[] { 2, 2 }, new byte[] { 0, 0x3C, 0, 0xC0, 0xFF, 0x7B, 1, 0 }),
            ("b", SafeTensorsDType.BF16, new long[] { 3 }, new byte[] { 0x80, 0x3F, 0, 0xC0, 0x80, 0x7F }),
            ("empty", SafeTensorsDType.F32, new long[] { 4, 0 }, ReadOnlyMemory<byte>.Empty),
        }));
        var many = new Dictionary<string, Tensor>();
        for (int i = 0; i < 8; i++)
            many[$"rnn.weight_ih_l{i}"] = Tensor.FromArray(Enumerable.Range(0, 6).Select(k => k * 0.25f - i).ToArray(), 3, 2);
        yield return ("safetensors", "many.safetensors", TensorIO.Serialize(many));

        // .pt zip: a flat state dict; the same deflated; a checkpoint with nested dicts, shared storages,
        // parameters, several dtypes, protocol-4 opcodes; a big-endian archive; an untyped storage.
        byte[] flat = PickleBuilder.ZipStateDict(("lstm.weight_ih_l0", "FloatStorage", "0", new long[] { 4, 2 }),
            ("lstm.bias_ih_l0", "FloatStorage", "1", new long[] { 4 }), ("steps", "LongStorage", "2", new long[] { 2 }));
        var flatStorages = new[] { ("0", Floats(8)), ("1", Floats(4)), ("2", new byte[16]) };
        yield return ("pt-zip", "state-dict.pt", TorchFiles.Zip(flat, flatStorages));
        yield return ("pt-zip", "state-dict-deflated.pt", TorchFiles.Zip(flat, flatStorages, level: CompressionLevel.Optimal));
        yield return ("pt-zip", "checkpoint.pt", TorchFiles.Zip(CheckpointPickle(), new[] { ("0", Floats(12)), ("1", new byte[] { 0, 0x3C, 0, 0xC0 }), ("2", new byte[] { 1, 0, 1 }), ("3", new byte[24]) }));
        var be = new byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(be, 2.5);
        byte[] bigEndian = new PickleBuilder().Proto().OrderedDict().Str("d")
            .TensorV2(b => b.ZipStorage("DoubleStorage", "0", 1), 0, Array.Empty<long>(), Array.Empty<long>()).SetItem().Stop().ToArray();
        yield return ("pt-zip", "big-endian.pt", TorchFiles.Zip(bigEndian, new[] { ("0", be) }, byteorder: "big"));
        byte[] untyped = new PickleBuilder().Proto().OrderedDict().Str("u").Global("torch._utils", "_rebuild_tensor_v3").Mark()
            .ZipStorage("UntypedStorage", "0", 6).Int(1).IntTuple(2).IntTuple(1).False().OrderedDict().Global("torch", "float16").Tuple().Reduce()
            .SetItem().Stop().ToArray();
        yield return ("pt-zip", "untyped.pt", TorchFiles.Zip(untyped, new[] { ("0", new byte[] { 9, 0, 0x3C, 0, 0xC0, 7 }) }, prefix: "my_model"));

        // legacy: storages with a view, nested containers.
        var legacy = new PickleBuilder().Proto().OrderedDict().Mark()
            .Str("w").TensorV2(b => b.LegacyStorage("FloatStorage", "140", 6), 0, new long[] { 2, 3 }, new long[] { 3, 1 })
            .Str("wt").TensorV2(b => b.LegacyStorage("FloatStorage", "140", 6), 0, new long[] { 3, 2 }, new long[] { 1, 3 })
            .Str("tail").TensorV2(b => b.LegacyStorage("FloatStorage", "140", 6, ("141", 2, 4)), 1, new long[] { 2 }, new long[] { 2 })
            .Str("n").TensorV2(b => b.LegacyStorage("LongStorage", "142", 2), 0, new long[] { 2 }, new long[] { 1 })
            .SetItems().Stop().ToArray();
        yield return ("pt-legacy", "state-dict.pt", TorchFiles.Legacy(legacy, new[] { ("140", 6L, Floats(6)), ("142", 2L, new byte[16]) }));
        var nested = new PickleBuilder().Proto().EmptyDict().Mark()
            .Str("epoch").Int(7).Str("opt").EmptyDict().Mark().Str("lr").Float(0.01).Str("betas").Float(0.9).Float(0.999).Tuple2().SetItems()
            .Str("model").OrderedDict().Mark()
                .Str("h").TensorV2(b => b.LegacyStorage("HalfStorage", "7", 2), 0, new long[] { 2 }, new long[] { 1 })
                .Str("scalar").TensorV2(b => b.LegacyStorage("DoubleStorage", "8", 1), 0, Array.Empty<long>(), Array.Empty<long>())
            .SetItems()
            .SetItems().Stop().ToArray();
        yield return ("pt-legacy", "checkpoint.pt", TorchFiles.Legacy(nested, new[] { ("7", 2L, new byte[] { 0, 0x3C, 0, 0x40 }), ("8", 1L, new byte[8]) }));

        // Training checkpoint folders (Recurrent.Training), carried as stored zips: with an Adam state, and weights only.
        foreach (var (name, bytes) in CheckpointTarget.Seeds())
            yield return ("checkpoint", name, bytes);
    }

    private static byte[] CheckpointPickle()
    {
        var p = new PickleBuilder().Proto(4).EmptyDict().Op(0x94).Mark()
            .ShortStr("epoch").Int(3)
            .ShortStr("hparams").EmptyDict().Op(0x94).Mark().ShortStr("lr").Float(0.1).ShortStr("name").ShortStr("char-lstm")
                .ShortStr("sizes").IntTuple(4, 8).SetItems()
            .ShortStr("state_dict").OrderedDict().Op(0x94).Mark()
                .ShortStr("embed.weight").Global("torch._utils", "_rebuild_parameter").Mark()
                    .TensorV2(b => b.ZipStorage("FloatStorage", "0", 12), 0, new long[] { 3, 4 }, new long[] { 4, 1 }).True().OrderedDict().Tuple().Reduce()
                .ShortStr("decoder.weight_t").TensorV2(b => b.ZipStorage("FloatStorage", "0", 12), 0, new long[] { 4, 3 }, new long[] { 1, 4 })
                .ShortStr("row").TensorV2(b => b.ZipStorage("FloatStorage", "0", 12), 8, new long[] { 4 }, new long[] { 1 })
                .ShortStr("half").TensorV2(b => b.ZipStorage("HalfStorage", "1", 2), 0, new long[] { 2 }, new long[] { 1 })
                .ShortStr("mask").TensorV2(b => b.ZipStorage("BoolStorage", "2", 3), 0, new long[] { 3 }, new long[] { 1 })
                .ShortStr("lengths").TensorV2(b => b.ZipStorage("LongStorage", "3", 3), 0, new long[] { 3 }, new long[] { 1 })
            .SetItems()
            .SetItems().Stop();
        return p.ToArray();
    }

    private static byte[] Floats(int n) => TorchFiles.Floats(Enumerable.Range(0, n).Select(i => i * 0.5f - 1).ToArray());

    /// <summary>(target folder, file name, bytes) of every built regression input.</summary>
    public static IEnumerable<(string Target, string Name, byte[] Bytes)> Regressions()
    {
        // Class 1: empty tensors whose dimensions multiply past an array before the 0.
        yield return ("safetensors", "c1-empty-2147483647x0.safetensors", SafeTensorsHeader("{\"t\":{\"dtype\":\"F32\",\"shape\":[2147483647,0],\"data_offsets\":[0,0]}}"));
        yield return ("safetensors", "c1-empty-65536x65536x0.safetensors", SafeTensorsHeader("{\"t\":{\"dtype\":\"F32\",\"shape\":[65536,65536,0],\"data_offsets\":[0,0]}}"));
        yield return ("pt-zip", "c1-empty-2147483647x0.pt", OneTensorZip(new long[] { 2147483647, 0 }, new long[] { 1, 1 }));
        yield return ("pt-zip", "c1-empty-65536x65536x0.pt", OneTensorZip(new long[] { 65536, 65536, 0 }, new long[] { 1, 1, 1 }));
        yield return ("pt-legacy", "c1-empty-2147483647x0.pt", TorchFiles.Legacy(new PickleBuilder().Proto().OrderedDict().Str("t")
            .TensorV2(b => b.LegacyStorage("FloatStorage", "1", 0), 0, new long[] { 2147483647, 0 }, new long[] { 1, 1 }).SetItem().Stop().ToArray(),
            new[] { ("1", 0L, Array.Empty<byte>()) }));

        // Class 2: a \UFFFFFFFF escape in a protocol-0 UNICODE string.
        byte[] unicode = new PickleBuilder().Proto().EmptyDict().Str("name").Op('V').Ascii("abc\\UFFFFFFFF\n").SetItem().Stop().ToArray();
        yield return ("pt-zip", "c2-unicode-escape-UFFFFFFFF.pt", TorchFiles.Zip(unicode));
        yield return ("pt-legacy", "c2-unicode-escape-UFFFFFFFF.pt", TorchFiles.Legacy(unicode, Array.Empty<(string, long, byte[])>()));

        // Class 3: zip64 sizes of 2^63 and more.
        yield return ("pt-zip", "c3-zip64-size-2pow63.pt", Zip64("archive/data.pkl", "\u0080\u0002}q\u0000."u8.ToArray(), uncompressed: 1UL << 63, compressed: null));
        yield return ("pt-zip", "c3-zip64-compressed-2pow64-1.pt", Zip64("archive/data.pkl", "\u0080\u0002}q\u0000."u8.ToArray(), uncompressed: null, compressed: ulong.MaxValue));

        // Class 4: one broadcast view of 2^24 elements on a 1-element storage, reached under many names.
        yield return ("pt-zip", "c4-shared-view-20-names.pt", SharedView(names: 20, distinctTensors: false));
        yield return ("pt-zip", "c4-shared-view-200-names.pt", SharedView(names: 200, distinctTensors: false));
        yield return ("pt-zip", "c4-shared-view-500-distinct-tensors.pt", SharedView(names: 500, distinctTensors: true));
        yield return ("pt-legacy", "c4-shared-view-200-names.pt", SharedView(names: 200, distinctTensors: false, legacy: true));

        // Class 5: a memo bomb under the node limit: 14^6 = 7,529,536 leaves from a few hundred bytes.
        yield return ("pt-zip", "c5-memo-bomb-ints.pt", TorchFiles.Zip(MemoBomb(tensorLeaf: false)));
        yield return ("pt-zip", "c5-memo-bomb-tensors.pt", TorchFiles.Zip(MemoBomb(tensorLeaf: true), new[] { ("0", Floats(1)) }));
        yield return ("pt-legacy", "c5-memo-bomb-ints.pt", TorchFiles.Legacy(MemoBomb(tensorLeaf: false), Array.Empty<(string, long, byte[])>()));

        // Class 6: a storage byte changed after writing (the CRC-32 no longer matches), and a single CRC zeroed.
        yield return ("pt-zip", "c6-crc-corrupted-storage.pt", CrcCorrupted(zeroOneCrc: false));
        yield return ("pt-zip", "c6-crc-zeroed-one-record.pt", CrcCorrupted(zeroOneCrc: true));
    }

    public static byte[] SafeTensorsHeader(string json)
    {
        byte[] h = Encoding.UTF8.GetBytes(json);
        var b = new byte[8 + h.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)h.Length);
        h.CopyTo(b, 8);
        return b;
    }

    private static byte[] OneTensorZip(long[] shape, long[] strides) =>
        TorchFiles.Zip(new PickleBuilder().Proto().OrderedDict().Str("t")
            .TensorV2(b => b.ZipStorage("FloatStorage", "0", 0), 0, shape, strides).SetItem().Stop().ToArray(), new[] { ("0", Array.Empty<byte>()) });

    /// <summary>A dict whose values are one stride-0 view of 2^24 float32 elements (64 MiB once converted).</summary>
    private static byte[] SharedView(int names, bool distinctTensors, bool legacy = false)
    {
        var p = new PickleBuilder().Proto().EmptyDict().Mark();
        // memo 0: the rebuild function; memo 1: its argument tuple; memo 2: the first tensor.
        p.Str("t0").Global("torch._utils", "_rebuild_tensor_v2").Put(0).Mark();
        if (legacy) p.LegacyStorage("FloatStorage", "9", 1); else p.ZipStorage("FloatStorage", "0", 1);
        p.Int(0).IntTuple(1 << 24).IntTuple(0).False().OrderedDict().Tuple().Put(1).Reduce().Put(2);
        for (int i = 1; i < names; i++)
        {
            p.Str("t" + i);
            if (distinctTensors) p.Get(0).Get(1).Reduce();
            else p.Get(2);
        }
        byte[] pickle = p.SetItems().Stop().ToArray();
        return legacy ? TorchFiles.Legacy(pickle, new[] { ("9", 1L, Floats(1)) }) : TorchFiles.Zip(pickle, new[] { ("0", Floats(1)) });
    }

    /// <summary>{"x": L6} where L0 = [leaf] * 14 and L(k+1) = [Lk] * 14, each list stored once and fetched from the memo.</summary>
    private static byte[] MemoBomb(bool tensorLeaf)
    {
        var p = new PickleBuilder().Proto().EmptyDict().Str("x");
        p.Mark();
        if (tensorLeaf)
        {
            p.TensorV2(b => b.ZipStorage("FloatStorage", "0", 1), 0, new long[] { 1 }, new long[] { 1 }).Put(100);
            for (int i = 1; i < 14; i++) p.Get(100);
        }
        else
            for (int i = 0; i < 14; i++) p.Int(1);
        p.Op('l').Put(0).Op('0'); // LIST, PUT, POP: only the memo keeps it
        for (int level = 1; level <= 5; level++)
        {
            p.Mark();
            for (int i = 0; i < 14; i++) p.Get(level - 1);
            p.Op('l').Put(level);
            if (level < 5) p.Op('0');
        }
        return p.SetItem().Stop().ToArray();
    }

    /// <summary>A valid single-tensor archive with one storage byte changed, or with one record's CRC set to 0.</summary>
    private static byte[] CrcCorrupted(bool zeroOneCrc)
    {
        byte[] file = TorchFiles.Zip(PickleBuilder.ZipStateDict(("w", "FloatStorage", "0", new long[] { 4 })), new[] { ("0", TorchFiles.Floats(1, 2, 3, 4)) });
        var b = (byte[])file.Clone();
        if (zeroOneCrc)
        {
            // The central directory record of data.pkl (the first entry) declares CRC 0; the others keep theirs.
            int central = IndexOf(b, new byte[] { 0x50, 0x4b, 0x01, 0x02 });
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(central + 16), 0);
            int local = IndexOf(b, new byte[] { 0x50, 0x4b, 0x03, 0x04 });
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(local + 14), 0);
            return b;
        }
        int at = IndexOf(b, TorchFiles.Floats(1, 2, 3, 4));
        b[at + 4 + 3] ^= 0x01; // the second element, 2.0f, becomes 8.0f
        return b;
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);

    /// <summary>
    /// A one-record zip whose central directory gives the record's size (or compressed size) in a zip64 extra field;
    /// the other size is the true one.
    /// </summary>
    private static byte[] Zip64(string name, byte[] data, ulong? uncompressed, ulong? compressed)
    {
        var ms = new MemoryStream();
        var w = new BinaryWriter(ms);
        byte[] nameBytes = Encoding.ASCII.GetBytes(name);
        uint crc = System.IO.Hashing.Crc32.HashToUInt32(data);
        // local header: stored, true sizes
        w.Write(0x04034b50u); w.Write((ushort)45); w.Write((ushort)0); w.Write((ushort)0); w.Write(0u); w.Write(crc);
        w.Write((uint)data.Length); w.Write((uint)data.Length); w.Write((ushort)nameBytes.Length); w.Write((ushort)0);
        w.Write(nameBytes); w.Write(data);
        long central = ms.Position;
        var extra = new MemoryStream();
        var x = new BinaryWriter(extra);
        if (uncompressed is { } u) x.Write(u);
        if (compressed is { } c) x.Write(c);
        byte[] extraBytes = extra.ToArray();
        w.Write(0x02014b50u); w.Write((ushort)45); w.Write((ushort)45); w.Write((ushort)0); w.Write((ushort)0); w.Write(0u); w.Write(crc);
        w.Write(compressed is null ? (uint)data.Length : 0xFFFFFFFFu);
        w.Write(uncompressed is null ? (uint)data.Length : 0xFFFFFFFFu);
        w.Write((ushort)nameBytes.Length); w.Write((ushort)(4 + extraBytes.Length)); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)0);
        w.Write(0u); w.Write(0u); w.Write(nameBytes);
        w.Write((ushort)1); w.Write((ushort)extraBytes.Length); w.Write(extraBytes);
        long centralSize = ms.Position - central;
        w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)1); w.Write((ushort)1);
        w.Write((uint)centralSize); w.Write((uint)central); w.Write((ushort)0);
        return ms.ToArray();
    }
}
