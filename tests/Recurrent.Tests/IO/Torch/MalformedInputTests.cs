// Hostile and corrupt inputs: each must end in the reader's own TorchFormatException with a clear
// message, never a crash, hang, stack overflow or an allocation sized by an unchecked number.
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using Recurrent.IO.Torch;

namespace Recurrent.Tests.IO.Torch;

public class MalformedInputTests
{
    private static TorchFormatException Rejects(byte[] file, string? messagePart = null)
    {
        var e = Assert.ThrowsAny<TorchFormatException>(() => TorchCheckpoint.Load(file));
        Assert.False(e.IsInternalError, e.ToString());
        if (messagePart is not null)
            Assert.Contains(messagePart, e.Message);
        return e;
    }

    private static byte[] InZip(byte[] pickle, params (string Key, byte[] Data)[] storages) => TorchFiles.Zip(pickle, storages);

    private static byte[] InLegacy(byte[] pickle, params (string Key, long Numel, byte[] Data)[] storages) => TorchFiles.Legacy(pickle, storages);

    // ---- globals ---------------------------------------------------------------------------------

    [Theory]
    [InlineData("os", "system", "os.system")]
    [InlineData("posix", "system", "posix.system")]
    [InlineData("nt", "system", "nt.system")]
    [InlineData("subprocess", "Popen", "subprocess.Popen")]
    [InlineData("builtins", "eval", "builtins.eval")]
    [InlineData("__builtin__", "eval", "builtins.eval")]
    [InlineData("builtins", "exec", "builtins.exec")]
    [InlineData("builtins", "getattr", "builtins.getattr")]
    [InlineData("builtins", "__import__", "builtins.__import__")]
    [InlineData("torch", "load", "torch.load")]
    [InlineData("torch.storage", "_load_from_bytes", "torch.storage._load_from_bytes")]
    [InlineData("numpy.core.multiarray", "_reconstruct", "numpy.core.multiarray._reconstruct")]
    [InlineData("argparse", "Namespace", "argparse.Namespace")]
    [InlineData("torch._utils", "_rebuild_qtensor", "torch._utils._rebuild_qtensor")]
    public void ForbiddenGlobalIsRefusedByName(string module, string name, string fullName)
    {
        var pickle = new PickleBuilder().Proto().Global(module, name).Str("echo pwned").Tuple1().Reduce().Stop().ToArray();
        foreach (var file in new[] { InZip(pickle), InLegacy(pickle) })
        {
            var e = Assert.IsType<TorchUnsupportedGlobalException>(Rejects(file));
            Assert.Equal(fullName, e.GlobalName);
            Assert.Contains($"Unsupported global: GLOBAL {fullName}", e.Message);
            Assert.Contains("never executes", e.Message);
        }
    }

    [Fact]
    public void StackGlobalEvalIsRefused()
    {
        // Protocol 4 names globals with two strings and STACK_GLOBAL.
        var pickle = new PickleBuilder().Proto(4)
            .Op(0x8c).Byte(8).Ascii("builtins").Op(0x94)
            .Op(0x8c).Byte(4).Ascii("eval").Op(0x94)
            .Op(0x93).Str("__import__('os').system('echo pwned')").Tuple1().Reduce().Stop().ToArray();
        var e = Assert.IsType<TorchUnsupportedGlobalException>(Rejects(InZip(pickle)));
        Assert.Equal("builtins.eval", e.GlobalName);
        Assert.Contains("STACK_GLOBAL builtins.eval", e.Message);
    }

    [Fact]
    public void GlobalIsRefusedEvenWhenNeverCalled()
    {
        var pickle = new PickleBuilder().Proto().Global("os", "system").Stop().ToArray();
        Assert.IsType<TorchUnsupportedGlobalException>(Rejects(InZip(pickle)));
    }

    [Fact]
    public void InstAndObjOpcodesAreRefused()
    {
        var inst = new PickleBuilder().Proto().Mark().Str("x").Op('i').Ascii("os\nsystem\n").Stop().ToArray();
        Assert.Equal("os.system", Assert.IsType<TorchUnsupportedGlobalException>(Rejects(InZip(inst))).GlobalName);
        var obj = new PickleBuilder().Proto().Mark().Global("collections", "OrderedDict").Op('o').Stop().ToArray();
        Rejects(InZip(obj), "OBJ");
        var ext = new PickleBuilder().Proto().Op(0x82).Byte(1).Stop().ToArray();
        Rejects(InZip(ext), "extension-registry");
    }

    [Fact]
    public void AllowedGlobalsCannotBeMisused()
    {
        // A storage class or dtype is not callable; BUILD only restores OrderedDict attributes; a
        // _rebuild_from_type_v2 may only produce a plain Tensor or Parameter.
        Rejects(InZip(new PickleBuilder().Proto().Global("torch", "FloatStorage").Int(10).Tuple1().Reduce().Stop().ToArray()), "cannot be called");
        Rejects(InZip(new PickleBuilder().Proto().Global("torch", "float32").EmptyTuple().Reduce().Stop().ToArray()), "not callable");
        Rejects(InZip(new PickleBuilder().Proto().EmptyList().EmptyDict().Build().Stop().ToArray()), "BUILD on a list");
        Rejects(InZip(new PickleBuilder().Proto().OrderedDict().EmptyDict().Build().EmptyDict().Build().Stop().ToArray()), "BUILD applied twice");
        var subclass = new PickleBuilder().Proto().Global("torch._tensor", "_rebuild_from_type_v2")
            .Mark().Global("torch._utils", "_rebuild_tensor_v2").Global("collections", "OrderedDict")
            .Mark().ZipStorage("FloatStorage", "0", 1).Int(0).IntTuple(1).IntTuple(1).False().OrderedDict().Tuple()
            .EmptyDict().Tuple().Reduce().Stop().ToArray();
        Rejects(InZip(subclass, ("0", new byte[4])), "tensor subclasses are refused");
        var nested = new PickleBuilder().Proto().Global("torch._tensor", "_rebuild_from_type_v2")
            .Mark().Global("torch._tensor", "_rebuild_from_type_v2").Global("torch", "Tensor").EmptyTuple().EmptyDict().Tuple().Reduce().Stop().ToArray();
        Rejects(InZip(nested), "must wrap a tensor rebuild function");
    }

    // ---- structure -------------------------------------------------------------------------------

    private const int Deep = 100_000;

    [Fact]
    public void ListsNested100kDeepAreRefused()
    {
        var p = new PickleBuilder().Proto();
        for (int i = 0; i <= Deep; i++) p.EmptyList();
        for (int i = 0; i < Deep; i++) p.Append();
        var pickle = p.Stop().ToArray();
        Rejects(InZip(pickle), "nested deeper than 1000 levels");
        Rejects(InLegacy(pickle), "nested deeper than 1000 levels");
    }

    [Fact]
    public void TuplesNested100kDeepAreRefused()
    {
        var p = new PickleBuilder().Proto();
        for (int i = 0; i < Deep; i++) p.Mark();
        p.EmptyTuple();
        for (int i = 0; i < Deep; i++) p.Tuple();
        Rejects(InZip(p.Stop().ToArray()), "nested deeper than 1000 levels");
    }

    [Fact]
    public void DictsNested100kDeepAreRefused()
    {
        var p = new PickleBuilder().Proto().EmptyDict();
        for (int i = 0; i < Deep; i++) p.Int(1).EmptyDict();
        for (int i = 0; i < Deep; i++) p.SetItem();
        Rejects(InZip(p.Stop().ToArray()), "nested deeper than 1000 levels");
    }

    [Fact]
    public void MarksPiled100kDeepWithoutContainersAreHarmless()
    {
        var p = new PickleBuilder().Proto();
        for (int i = 0; i < Deep; i++) p.Mark();
        var value = TorchFiles.Unpickle(p.Int(7).Stop().ToArray());
        Assert.Equal(7L, value);
    }

    [Fact]
    public void RecursiveStructuresAreRefused()
    {
        var list = new PickleBuilder().Proto().EmptyList().Put(0).Get(0).Append().Stop().ToArray();
        Rejects(InZip(list), "recursive structure");
        var dict = new PickleBuilder().Proto().EmptyDict().Put(0).Str("self").EmptyList().Get(0).Append().SetItem().Stop().ToArray();
        Rejects(InZip(dict), "recursive structure");
        var attr = new PickleBuilder().Proto().OrderedDict().Put(0).Get(0).Build().Stop().ToArray();
        Rejects(InZip(attr), "recursive structure");
    }

    [Fact]
    public void SharedReferenceExplosionIsRefused()
    {
        // "Billion laughs": list_i = [list_{i-1}, list_{i-1}], 2^60 nodes when expanded.
        var p = new PickleBuilder().Proto().EmptyList().Put(0);
        for (int i = 1; i <= 60; i++)
            p.Mark().Get(i - 1).Get(i - 1).Op('l').Put(i);
        Rejects(InZip(p.Stop().ToArray()), "expands to more than 10000000 nodes");
    }

    [Fact]
    public void UnhashableAndOversizedKeysAreRefused()
    {
        Rejects(InZip(new PickleBuilder().Proto().EmptyDict().EmptyList().Int(1).SetItem().Stop().ToArray()), "unhashable type");
        Rejects(InZip(new PickleBuilder().Proto().EmptyDict().Str(new string('k', 5000)).Int(1).SetItem().Stop().ToArray()), "limit 1024");
        var deepKey = new PickleBuilder().Proto().EmptyDict();
        for (int i = 0; i < 100; i++) deepKey.Mark();
        deepKey.EmptyTuple();
        for (int i = 0; i < 100; i++) deepKey.Tuple();
        Rejects(InZip(deepKey.Int(1).SetItem().Stop().ToArray()), "more than 64 values");
    }

    // ---- pickle machine --------------------------------------------------------------------------

    [Fact]
    public void BrokenPicklesAreRefused()
    {
        Rejects(InZip(new PickleBuilder().Proto().Append().Stop().ToArray()), "stack underflow");
        Rejects(InZip(new PickleBuilder().Proto().Get(7).Stop().ToArray()), "memo entry 7 was never stored");
        Rejects(InZip(new PickleBuilder().Proto().Op(0xEE).Stop().ToArray()), "unknown pickle opcode 0xEE");
        Rejects(InZip(new PickleBuilder().Proto().Int(1).ToArray()), "unexpected end of data");
        Rejects(InZip(new PickleBuilder().Proto().EmptyDict().Mark().Int(1).SetItems().Stop().ToArray()), "odd number");
        Rejects(InZip(new PickleBuilder().Proto().Appends().Stop().ToArray()), "no MARK");
        Rejects(InZip(new PickleBuilder().Proto(9).None().Stop().ToArray()), "unsupported pickle protocol 9");
        Rejects(InZip(new PickleBuilder().Proto(5).Op(0x97).Stop().ToArray()), "out-of-band");
        Rejects(InZip(new PickleBuilder().Proto().Op('P').Ascii("x\n").Stop().ToArray()), "PERSID");
        Rejects(InZip(new PickleBuilder().Proto().Str("x").BinPersId().Stop().ToArray()), "persistent id must be a tuple");
        Rejects(InZip(new PickleBuilder().Proto().Op('I').Ascii("12ab\n").Stop().ToArray()), "bad integer text");
        Rejects(InZip(new PickleBuilder().Proto().Op('c').Ascii(new string('m', 5000)).Stop().ToArray()), "longer than 1024");
    }

    [Fact]
    public void HugeDeclaredLengthsAreRefusedBeforeAllocating()
    {
        Rejects(InZip(new PickleBuilder().Proto().Op('X').UInt32(uint.MaxValue).Ascii("abc").Stop().ToArray()),
            "declares 4294967295 bytes");
        Rejects(InZip(new PickleBuilder().Proto(4).Op(0x8e).UInt64(1UL << 62).Ascii("abc").Stop().ToArray()),
            $"declares {1L << 62} bytes");
        Rejects(InZip(new PickleBuilder().Proto(4).Op(0x8d).UInt64(ulong.MaxValue).Stop().ToArray()), "out of range");
        Rejects(InZip(new PickleBuilder().Proto().Op(0x8b).UInt32(int.MaxValue).Stop().ToArray()), "exceeds the limit of 1024 bytes");
        Rejects(InZip(new PickleBuilder().Proto(4).Op(0x95).UInt64(1UL << 40).Stop().ToArray()), "frame of");
    }

    [Fact]
    public void TerabyteStorageInZipIsRefused()
    {
        long numel = 1L << 40;
        var pickle = new PickleBuilder().Proto().TensorV2(b => b.ZipStorage("FloatStorage", "0", numel), 0, new[] { numel }, new[] { 1L }).Stop().ToArray();
        Rejects(InZip(pickle, ("0", new byte[16])), $"holds 16 bytes but its storage declares {numel} x float32 = {numel * 4} bytes");
    }

    [Fact]
    public void TerabyteStorageInLegacyFileIsRefused()
    {
        long numel = 1_000_000_000_000;
        var pickle = new PickleBuilder().Proto().TensorV2(b => b.LegacyStorage("FloatStorage", "k", numel), 0, new[] { 4L }, new[] { 1L }).Stop().ToArray();
        Rejects(InLegacy(pickle, ("k", numel, new byte[16])), $"declares {numel * 4} bytes");
    }

    [Fact]
    public void StorageSizeOverflowIsRefused()
    {
        long numel = 1L << 62;
        var pickle = new PickleBuilder().Proto().TensorV2(b => b.ZipStorage("DoubleStorage", "0", numel), 0, new[] { 1L }, new[] { 1L }).Stop().ToArray();
        Rejects(InZip(pickle, ("0", new byte[8])), "overflows 64 bits");
        Rejects(InLegacy(new PickleBuilder().Proto().TensorV2(b => b.LegacyStorage("DoubleStorage", "k", numel), 0, new[] { 1L }, new[] { 1L }).Stop().ToArray(),
            ("k", numel, new byte[8])), "overflows 64 bits");
    }

    [Fact]
    public void PickleSizeLimitApplies()
    {
        var options = new TorchReaderOptions { MaxPickleBytes = 100 };
        var pickle = new PickleBuilder().Proto().Str(new string('x', 200)).Stop().ToArray();
        Assert.Contains("more than the limit of 100", Assert.ThrowsAny<TorchFormatException>(() => TorchCheckpoint.Load(InZip(pickle), options)).Message);
        Assert.Contains("only", Assert.ThrowsAny<TorchFormatException>(() => TorchCheckpoint.Load(InLegacy(pickle), options)).Message);
        Assert.Equal(new string('x', 200), TorchCheckpoint.Load(InLegacy(pickle)).Root);
    }

    // ---- tensors ---------------------------------------------------------------------------------

    private static byte[] TensorFile(long storageNumel, long offset, long[] shape, long[] stride, int storageBytes = -1)
    {
        var pickle = new PickleBuilder().Proto().TensorV2(b => b.ZipStorage("FloatStorage", "0", storageNumel), offset, shape, stride).Stop().ToArray();
        return InZip(pickle, ("0", new byte[storageBytes < 0 ? storageNumel * 4 : storageBytes]));
    }

    [Fact]
    public void TensorsOutsideTheirStorageAreRefused()
    {
        Rejects(TensorFile(4, 0, new[] { 3L, 2 }, new[] { 2L, 1 }), "needs 24 bytes but the storage holds 16 bytes");
        Rejects(TensorFile(4, 10, new[] { 2L }, new[] { 1L }), "needs 48 bytes");
        Rejects(TensorFile(4, 0, new[] { 2L, 2 }, new[] { 3L, 1 }), "needs 20 bytes");
    }

    [Fact]
    public void ShapesAndOffsetsThatOverflowAreRefused()
    {
        Rejects(TensorFile(4, 0, new[] { 1L << 40, 1L << 40 }, new[] { 1L, 1 }), "overflows 64 bits");
        Rejects(TensorFile(4, 0, new[] { 2L, 2 }, new[] { 1L << 62, 1L << 62 }), "overflows 64 bits");
        Rejects(TensorFile(4, long.MaxValue, new[] { 2L }, new[] { 1L }), "overflows 64 bits");
        Rejects(TensorFile(4, 0, new[] { (long)int.MaxValue + 1 }, new[] { 0L }), "a .NET array can hold");
        Rejects(TensorFile(4, 0, new[] { 1L << 30 }, new[] { 0L }), "overlapping views");
        var bigInt = new PickleBuilder().Proto().TensorV2(b => b.ZipStorage("FloatStorage", "0", 4), 0, new[] { 4L }, new[] { 1L }).Stop().ToArray();
        // A shape element beyond 64 bits arrives as a Python big int.
        var hugeDim = new PickleBuilder().Proto().Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .ZipStorage("FloatStorage", "0", 4).Int(0).Mark().BigInt(BigInteger.One << 70).Tuple().IntTuple(1).False().OrderedDict().Tuple().Reduce().Stop().ToArray();
        Rejects(InZip(hugeDim, ("0", new byte[16])), "ints in 64-bit range");
        TorchCheckpoint.Load(InZip(bigInt, ("0", new byte[16]))); // the same file with sane numbers loads
    }

    [Fact]
    public void NegativeOrMismatchedGeometryIsRefused()
    {
        Rejects(TensorFile(4, 0, new[] { -1L }, new[] { 1L }), "negative size");
        Rejects(TensorFile(4, 0, new[] { 2L }, new[] { -1L }), "negative stride");
        Rejects(TensorFile(4, -1, new[] { 2L }, new[] { 1L }), "negative storage offset");
        Rejects(TensorFile(4, 0, new[] { 2L, 2 }, new[] { 1L }), "shape has 2 dimensions but stride has 1");
        Rejects(TensorFile(4, 0, Enumerable.Repeat(1L, 65).ToArray(), Enumerable.Repeat(1L, 65).ToArray()), "limit of 64");
    }

    // ---- zip container ---------------------------------------------------------------------------

    [Fact]
    public void ZipEntryShorterThanItsStorageIsRefused()
    {
        var pickle = new PickleBuilder().Proto().TensorV2(b => b.ZipStorage("FloatStorage", "0", 10), 0, new[] { 10L }, new[] { 1L }).Stop().ToArray();
        Rejects(InZip(pickle, ("0", new byte[16])), "zip entry 'archive/data/0' holds 16 bytes but its storage declares 10 x float32 = 40 bytes");
    }

    [Fact]
    public void MissingStorageRecordIsRefused()
    {
        var pickle = new PickleBuilder().Proto().TensorV2(b => b.ZipStorage("FloatStorage", "7", 1), 0, new[] { 1L }, new[] { 1L }).Stop().ToArray();
        Rejects(InZip(pickle), "storage record 'archive/data/7' is missing");
    }

    [Fact]
    public void ConflictingStorageDeclarationsAreRefused()
    {
        var pickle = new PickleBuilder().Proto().Mark()
            .TensorV2(b => b.ZipStorage("FloatStorage", "0", 4), 0, new[] { 4L }, new[] { 1L })
            .TensorV2(b => b.ZipStorage("LongStorage", "0", 2), 0, new[] { 2L }, new[] { 1L })
            .Tuple().Stop().ToArray();
        Rejects(InZip(pickle, ("0", new byte[16])), "referenced as 4 x float32 and as 2 x int64");
    }

    [SkippableFact]
    public void TruncatedZipIsRefusedAtEveryCut()
    {
        var file = RealCheckpoints.Bytes(RealCheckpoints.Lightning);
        for (int cut = 0; cut < file.Length; cut += 37)
            Rejects(file.AsSpan(0, cut).ToArray());
    }

    [SkippableFact]
    public void TruncatedLegacyFileIsRefusedAtEveryCut()
    {
        var file = RealCheckpoints.Bytes(RealCheckpoints.LegacyGru);
        for (int cut = 0; cut < file.Length; cut += 13)
            Rejects(file.AsSpan(0, cut).ToArray());
    }

    [SkippableFact]
    public void CorruptZipDirectoryIsRefused()
    {
        var file = (byte[])RealCheckpoints.Bytes(RealCheckpoints.Lightning).Clone();
        int eocd = LastIndexOf(file, new byte[] { 0x50, 0x4b, 0x05, 0x06 });
        int cd = LastIndexOf(file, new byte[] { 0x50, 0x4b, 0x01, 0x02 });
        Assert.True(eocd > 0 && cd > 0);

        var badOffset = (byte[])file.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(badOffset.AsSpan(eocd + 16), 0x7FFFFFF0); // central directory offset
        BinaryPrimitives.WriteUInt32LittleEndian(badOffset.AsSpan(LastIndexOf(badOffset, new byte[] { 0x50, 0x4b, 0x06, 0x06 }) + 48), 0x7FFFFFF0);
        Rejects(badOffset);

        var badSignature = (byte[])file.Clone();
        badSignature[cd + 2] = 0x7F;
        Rejects(badSignature);

        var garbage = (byte[])file.Clone();
        new Random(1).NextBytes(garbage.AsSpan(cd - 300, file.Length - (cd - 300)));
        Rejects(garbage);
    }

    [Fact]
    public void ZipBombIsRefused()
    {
        // A deflated storage entry whose central directory claims 4 GB; the pickle asks for all of it.
        long numel = 1L << 30;
        var pickle = new PickleBuilder().Proto().TensorV2(b => b.ZipStorage("FloatStorage", "0", numel), 0, new[] { 4L }, new[] { 1L }).Stop().ToArray();
        var file = TorchFiles.Zip(pickle, new[] { ("0", new byte[100_000]) }, level: CompressionLevel.Optimal);
        int cd = IndexOf(file, "PK\u0001\u0002"u8.ToArray(), LastIndexOf(file, "archive/data/0"u8.ToArray()) - 46 - 10);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(cd + 24), uint.MaxValue); // uncompressed size
        Rejects(file);
    }

    [Fact]
    public void ZipWithoutDataPickleIsRefused()
    {
        var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            zip.CreateEntry("model/constants.pkl").Open().Dispose();
            zip.CreateEntry("model/code/__torch__.py").Open().Dispose();
        }
        Rejects(ms.ToArray(), "TorchScript");
        Rejects(TorchFiles.Zip(Array.Empty<byte>(), prefix: "a/b"), "no '<prefix>/data.pkl'"); // PyTorch's prefix is one folder
        Rejects(TorchFiles.Zip(Array.Empty<byte>()), "unexpected end of data");
        var empty = new MemoryStream();
        new ZipArchive(empty, ZipArchiveMode.Create, leaveOpen: true).Dispose();
        Rejects(empty.ToArray(), "empty");
    }

    [Fact]
    public void BadByteOrderRecordIsRefused() =>
        Rejects(TorchFiles.Zip(new PickleBuilder().Proto().None().Stop().ToArray(), byteorder: "middle"), "must be 'little' or 'big'");

    // ---- legacy container ------------------------------------------------------------------------

    [Fact]
    public void LegacyStorageBookkeepingIsChecked()
    {
        var pickle = new PickleBuilder().Proto().TensorV2(b => b.LegacyStorage("FloatStorage", "k", 4), 0, new[] { 4L }, new[] { 1L }).Stop().ToArray();
        Rejects(InLegacy(pickle), "its data is not in the file");
        Rejects(InLegacy(pickle, ("k", 4, new byte[16]), ("other", 1, new byte[4])), "no tensor references it");
        Rejects(InLegacy(pickle, ("k", 4, new byte[16]), ("k", 4, new byte[16])), "listed twice");
        Rejects(InLegacy(pickle, ("k", 3, new byte[12])), "record holds 3 elements but the pickle declared 4");
        var view = new PickleBuilder().Proto().TensorV2(b => b.LegacyStorage("FloatStorage", "k", 4, ("v", 3, 2)), 0, new[] { 2L }, new[] { 1L }).Stop().ToArray();
        Rejects(InLegacy(view, ("k", 4, new byte[16])), "runs past its storage");
        Rejects(TorchFiles.Legacy(pickle, new[] { ("k", 4L, new byte[16]) }, littleEndian: false), "big-endian");
    }

    [SkippableFact]
    public void LegacyHeaderIsChecked()
    {
        var file = (byte[])RealCheckpoints.Bytes(RealCheckpoints.LegacyGru).Clone();
        var badMagic = (byte[])file.Clone();
        badMagic[5] ^= 0x40;
        Rejects(badMagic, "magic number");
        var badProtocol = (byte[])file.Clone();
        badProtocol[18] = 0xEA; // 1001 -> 1002
        Rejects(badProtocol, "protocol version 1002");
        var module = new PickleBuilder().Proto().Mark().Str("module").Global("torch", "FloatStorage").Str("src.py").Str("class M: ...").Tuple().BinPersId().Stop().ToArray();
        Rejects(InLegacy(module), "whole nn.Module");
    }

    // ---- not PyTorch at all ----------------------------------------------------------------------

    [Fact]
    public void OtherFilesAreRefused()
    {
        Rejects(Array.Empty<byte>(), "empty");
        Rejects("hello, world"u8.ToArray(), "not a PyTorch file");
        var tar = new byte[1024];
        "ustar"u8.CopyTo(tar.AsSpan(257));
        "model.pt"u8.CopyTo(tar);
        Rejects(tar, "tar-based");
        var random = new byte[4096];
        new Random(7).NextBytes(random);
        random[0] = 0x80;
        Rejects(random);
    }

    private static int LastIndexOf(byte[] data, byte[] pattern) => data.AsSpan().LastIndexOf(pattern);

    private static int IndexOf(byte[] data, byte[] pattern, int start) => start + data.AsSpan(start).IndexOf(pattern);
}
