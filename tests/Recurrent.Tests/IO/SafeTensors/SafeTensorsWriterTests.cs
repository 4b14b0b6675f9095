using Recurrent.IO;
using static Recurrent.Tests.IO.SafeTensors.SafeTensorsTestSupport;

namespace Recurrent.Tests.IO.SafeTensors;

public class SafeTensorsWriterTests
{
    [Fact]
    public void RefusesBadInput()
    {
        var w = new SafeTensorsWriter().Add("a", [2], new float[2]);
        Assert.Contains("Duplicate tensor name 'a'", Assert.Throws<ArgumentException>(() => w.Add("a", [1], new float[1])).Message);
        Assert.Contains("reserved for the metadata", Assert.Throws<ArgumentException>(() => w.Add("__metadata__", [1], new float[1])).Message);
        Assert.Contains("negative dimension -2", Assert.Throws<ArgumentException>(() => w.Add("n", [3, -2], new float[0])).Message);
        Assert.Contains("shape [2, 3] has 6 element(s), but the data has 5",
            Assert.Throws<ArgumentException>(() => w.Add("m", [2, 3], new double[5])).Message);
        Assert.Contains("dtype I16 with shape [3] needs 6 byte(s), but the data has 4",
            Assert.Throws<ArgumentException>(() => w.Add("r", SafeTensorsDType.I16, [3], new byte[4])).Message);
        Assert.Contains("too many elements",
            Assert.Throws<ArgumentException>(() => w.Add("o", [1L << 40, 1L << 40], new long[0])).Message);
        Assert.Contains("whole bytes",
            Assert.Throws<ArgumentException>(() => w.Add("s", SafeTensorsDType.F4, [3], new byte[2])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => w.Add("u", (SafeTensorsDType)99, [1], new byte[1]));
        Assert.Throws<ArgumentNullException>(() => w.Add(null!, [1], new float[1]));
        Assert.Throws<ArgumentNullException>(() => w.Add("z", null!, new float[1]));
        Assert.Contains("unpaired surrogate", Assert.Throws<ArgumentException>(() => w.Add("bad\uD800", [1], new float[1])).Message);
        Assert.Contains("unpaired surrogate", Assert.Throws<ArgumentException>(() => w.AddMetadata("k", "\uDC00")).Message);
        Assert.Throws<ArgumentNullException>(() => w.AddMetadata("k", null!));
        Assert.Equal(1, w.Count); // nothing half-added
    }

    [Fact]
    public void StaticWriteValidatesEverythingBeforeTouchingTheDisk()
    {
        using var dir = new TempDir();
        string path = dir.File("out.safetensors");
        Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(path, new[]
        {
            ("ok", new long[] { 2 }, new float[] { 1, 2 }),
            ("bad", new long[] { 3 }, new float[] { 1, 2 }),
        }));
        Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(path, new[]
        {
            ("dup", new long[] { 1 }, new long[] { 1 }),
            ("dup", new long[] { 1 }, new long[] { 1 }),
        }));
        Assert.Empty(dir.Listing());

        // A failed save leaves an existing file untouched.
        SafeTensorsFile.Write(path, new[] { ("x", new long[] { 1 }, new float[] { 5 }) });
        byte[] before = File.ReadAllBytes(path);
        Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(path, new[] { ("x", new long[] { 2 }, new float[] { 5 }) }));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["out.safetensors"], dir.Listing());
    }

    [Fact]
    public void AtomicSaveLeavesNoTemporaryFile()
    {
        using var dir = new TempDir();
        string path = dir.File("model.safetensors");
        var w = new SafeTensorsWriter().Add("w", [2, 2], new float[] { 1, 2, 3, 4 });
        w.Save(path);
        Assert.Equal(["model.safetensors"], dir.Listing());

        // Overwrite an existing file.
        new SafeTensorsWriter().Add("v", [1], new double[] { 9 }).Save(path);
        Assert.Equal(["model.safetensors"], dir.Listing());
        var f = SafeTensorsFile.Read(path);
        Assert.Equal(["v"], f.Names);

        // A long file name still gets a valid temporary name.
        string longName = new string('n', 200) + ".safetensors";
        w.Save(dir.File(longName));
        Assert.Equal(["w"], SafeTensorsFile.Read(dir.File(longName)).Names);
        File.Delete(dir.File(longName));

        // Relative path.
        string cwd = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = dir.Path;
            w.Save("relative.safetensors");
        }
        finally { Environment.CurrentDirectory = cwd; }
        Assert.Equal(["model.safetensors", "relative.safetensors"], dir.Listing().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void FailedSaveCleansUp()
    {
        using var dir = new TempDir();
        string sub = dir.File("a-directory");
        Directory.CreateDirectory(sub);
        var w = new SafeTensorsWriter().Add("w", [1], new float[] { 1 });
        Assert.ThrowsAny<IOException>(() => w.Save(sub));
        Assert.Equal(["a-directory"], dir.Listing());
        Assert.Empty(Directory.GetFileSystemEntries(sub));
        Assert.ThrowsAny<IOException>(() => w.Save(Path.Combine(dir.Path, "missing-dir", "x.safetensors")));
        Assert.Equal(["a-directory"], dir.Listing());
    }

    [Fact]
    public void RawAndTypedWritesAgree()
    {
        float[] v = [1, 2, 3];
        byte[] raw = new byte[12];
        Buffer.BlockCopy(v, 0, raw, 0, 12);
        byte[] a = new SafeTensorsWriter().Add("x", [3], v).ToArray();
        byte[] b = new SafeTensorsWriter().Add("x", SafeTensorsDType.F32, [3], raw).ToArray();
        Assert.Equal(a, b);
        // Slices of larger arrays are accepted.
        byte[] c = new SafeTensorsWriter().Add("x", [3], new float[] { 0, 1, 2, 3, 0 }.AsMemory(1, 3)).ToArray();
        Assert.Equal(a, c);
    }
}
