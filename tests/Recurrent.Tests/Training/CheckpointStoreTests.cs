// Tests of crash-safe checkpoint folders: round trip, verification, and a failure at every point of a save.
using System.Text;
using Recurrent.Tests.Cli;
using Recurrent.Training;

namespace Recurrent.Tests.Training;

public sealed class CheckpointStoreTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static CheckpointFile[] Files(string tag) =>
    [
        new("a.bin", s => s.Write(Encoding.UTF8.GetBytes("alpha " + tag))),
        new("b.json", s => s.Write(Encoding.UTF8.GetBytes($"{{\"tag\":\"{tag}\"}}"))),
        new("c.txt", s => s.Write(Encoding.UTF8.GetBytes(new string('c', 10_000) + tag))),
    ];

    [Fact]
    public void SaveWritesFilesManifestAndPointer()
    {
        var store = new CheckpointStore(_tmp.Path);
        string folder = store.SaveFiles(12, Files("one"));
        Assert.Equal("checkpoint-000000012", Path.GetFileName(folder));
        Assert.Equal(folder, CheckpointStore.Resolve(_tmp.Path));
        Assert.Equal(folder, CheckpointStore.Resolve(folder));
        CheckpointManifest m = CheckpointStore.Verify(folder);
        Assert.Equal(12, m.Step);
        Assert.Equal(CheckpointStore.FormatVersion, m.FormatVersion);
        Assert.Equal(["a.bin", "b.json", "c.txt"], m.Files.Select(f => f.Name));
        Assert.Equal("alpha one", File.ReadAllText(Path.Combine(folder, "a.bin")));
        Assert.Equal("checkpoint-000000012", File.ReadAllText(_tmp["LATEST"]).Trim());
        // No temporaries are left behind.
        Assert.Empty(Directory.EnumerateFileSystemEntries(_tmp.Path, ".*", SearchOption.AllDirectories));
    }

    [Fact]
    public void NewerCheckpointReplacesOlderOne()
    {
        var store = new CheckpointStore(_tmp.Path);
        string first = store.SaveFiles(10, Files("one"));
        string second = store.SaveFiles(20, Files("two"));
        Assert.Equal(second, CheckpointStore.Resolve(_tmp.Path));
        Assert.False(Directory.Exists(first));
        Assert.Equal("alpha two", File.ReadAllText(Path.Combine(second, "a.bin")));
    }

    [Fact]
    public void SavingTheSameStepAgainKeepsAValidCheckpoint()
    {
        var store = new CheckpointStore(_tmp.Path);
        store.SaveFiles(10, Files("one"));
        string again = store.SaveFiles(10, Files("again"));
        Assert.Equal(again, CheckpointStore.Resolve(_tmp.Path));
        CheckpointStore.Verify(again);
        Assert.Equal("alpha again", File.ReadAllText(Path.Combine(again, "a.bin")));
        Assert.Single(Directory.GetDirectories(_tmp.Path, "checkpoint-*"));
    }

    public static TheoryData<string> FailurePoints => new() { "a.bin", "b.json", "c.txt", "manifest.json", "LATEST" };

    [Theory]
    [MemberData(nameof(FailurePoints))]
    public void FailureMidSaveLeavesThePreviousCheckpointIntact(string failAt)
    {
        var store = new CheckpointStore(_tmp.Path);
        string first = store.SaveFiles(10, Files("one"));
        var before = _tmp.Snapshot();

        store.BeforeWrite = name => { if (name == failAt) throw new IOException("simulated crash"); };
        var e = Assert.Throws<IOException>(() => store.SaveFiles(20, Files("two")));
        Assert.Equal("simulated crash", e.Message);

        // LATEST still names the first checkpoint, which verifies and is byte-for-byte unchanged.
        Assert.Equal(first, CheckpointStore.Resolve(_tmp.Path));
        CheckpointStore.Verify(first);
        Assert.Equal(before.Keys.Order(), _tmp.Snapshot().Keys.Order());
        foreach (var (path, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Fact]
    public void FailureInAFileWriterMidStreamLeavesNoPartialFile()
    {
        var store = new CheckpointStore(_tmp.Path);
        string first = store.SaveFiles(1, Files("one"));
        CheckpointFile[] broken =
        [
            new("a.bin", s => s.Write(new byte[1000])),
            new("b.json", s => { s.Write(new byte[500]); throw new InvalidOperationException("writer failed"); }),
        ];
        Assert.Throws<InvalidOperationException>(() => store.SaveFiles(2, broken));
        Assert.Equal(first, CheckpointStore.Resolve(_tmp.Path));
        Assert.Single(Directory.GetDirectories(_tmp.Path));
    }

    [Fact]
    public void LeftoverTemporaryFolderFromACrashIsIgnoredAndCleanedUp()
    {
        var store = new CheckpointStore(_tmp.Path);
        string first = store.SaveFiles(1, Files("one"));
        string crashed = Path.Combine(_tmp.Path, ".tmp-checkpoint-000000002-deadbeef");
        Directory.CreateDirectory(crashed);
        File.WriteAllText(Path.Combine(crashed, "a.bin"), "half");
        Assert.Equal(first, CheckpointStore.Resolve(_tmp.Path));
        store.SaveFiles(3, Files("three"));
        Assert.False(Directory.Exists(crashed));
    }

    [Fact]
    public void PruningDeletesOnlyThisStoresOwnFolders()
    {
        // Another tool's checkpoints in the same folder (a HuggingFace Trainer's checkpoint-500), a folder of our name
        // pattern without our manifest, and look-alike temporaries were deleted by the prune after every save.
        string[] foreign = ["checkpoint-500", "checkpoint-000000001", "checkpoint-best", ".tmp-checkpoint-notes", ".tmp-checkpoint-000000002-XYZ"];
        foreach (var name in foreign) File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(_tmp.Path, name)).FullName, "weights.bin"), "theirs");
        var store = new CheckpointStore(_tmp.Path, keep: 1);
        store.SaveFiles(1, Files("one"));                 // checkpoint-000000001 is taken by a folder without a manifest
        string second = store.SaveFiles(2, Files("two"));
        string third = store.SaveFiles(3, Files("three"));
        foreach (var name in foreign) Assert.True(File.Exists(Path.Combine(_tmp.Path, name, "weights.bin")), name);
        Assert.Equal(third, CheckpointStore.Resolve(_tmp.Path));
        Assert.False(Directory.Exists(second));          // ours beyond Keep still go
    }

    [Fact]
    public void MissingFileIsReportedByName()
    {
        string folder = new CheckpointStore(_tmp.Path).SaveFiles(5, Files("x"));
        File.Delete(Path.Combine(folder, "b.json"));
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Verify(folder));
        Assert.Contains("missing b.json", e.Message);
        Assert.Equal(CheckpointProblem.Incomplete, e.Problem);
        Assert.Equal(folder, e.Path);
    }

    [Fact]
    public void ModifiedFileFailsTheChecksum()
    {
        string folder = new CheckpointStore(_tmp.Path).SaveFiles(5, Files("x"));
        string file = Path.Combine(folder, "c.txt");
        byte[] bytes = File.ReadAllBytes(file);
        bytes[100] ^= 1;
        File.WriteAllBytes(file, bytes);
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Verify(folder));
        Assert.Contains("SHA-256", e.Message);
        Assert.Equal(CheckpointProblem.Damaged, e.Problem);
        File.WriteAllBytes(file, bytes[..^1]);
        Assert.Contains("bytes", Assert.Throws<CheckpointException>(() => CheckpointStore.Verify(folder)).Message);
    }

    [Fact]
    public void NewerFormatVersionIsRefusedWithAHint()
    {
        string folder = new CheckpointStore(_tmp.Path).SaveFiles(5, Files("x"));
        string manifest = Path.Combine(folder, "manifest.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("\"format_version\": 2", "\"format_version\": 99"));
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Verify(folder));
        Assert.Equal(CheckpointProblem.Incompatible, e.Problem);
        Assert.Contains("newer version", e.Message);
        Assert.Contains("99", e.Message);
    }

    [Fact]
    public void FolderWithoutManifestOrPointerIsNotACheckpoint()
    {
        Assert.Null(CheckpointStore.TryResolve(_tmp.Path));
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Resolve(_tmp.Path));
        Assert.Contains("holds no checkpoint", e.Message);
        Assert.Equal(CheckpointProblem.NotFound, e.Problem);
        Assert.Contains("does not exist", Assert.Throws<CheckpointException>(() => CheckpointStore.Resolve(_tmp["nope"])).Message);
        File.WriteAllText(_tmp["LATEST"], "checkpoint-000000001\n");
        Assert.Contains("missing", Assert.Throws<CheckpointException>(() => CheckpointStore.Resolve(_tmp.Path)).Message);
        File.WriteAllText(_tmp["LATEST"], "../../etc\n");
        Assert.Equal(CheckpointProblem.Damaged, Assert.Throws<CheckpointException>(() => CheckpointStore.Resolve(_tmp.Path)).Problem);
        Assert.Contains("damaged", Assert.Throws<CheckpointException>(() => CheckpointStore.Resolve(_tmp.Path)).Message);
    }

    [Fact]
    public void KeepHoldsTheNewestCheckpoints()
    {
        var store = new CheckpointStore(_tmp.Path, keep: 2);
        string a = store.SaveFiles(1, Files("1"));
        string b = store.SaveFiles(2, Files("2"));
        string c = store.SaveFiles(3, Files("3"));
        Assert.False(Directory.Exists(a));
        Assert.True(Directory.Exists(b));
        Assert.Equal(c, store.LatestFolder);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CheckpointStore(_tmp.Path, keep: 0));
    }

    [Theory]
    [InlineData("manifest.json")]
    [InlineData(".hidden")]
    [InlineData("sub/file")]
    [InlineData("")]
    public void BadFileNamesAreRefusedBeforeAnythingIsWritten(string name)
    {
        var store = new CheckpointStore(_tmp["store"]);
        Assert.Throws<ArgumentException>(() => store.SaveFiles(1, [new CheckpointFile(name, s => s.WriteByte(1))]));
        Assert.Throws<ArgumentException>(() => store.SaveFiles(1, [CheckpointFile.FromText("a", "x"), CheckpointFile.FromText("a", "y")]));
        Assert.False(Directory.Exists(_tmp["store"]));
    }
}
