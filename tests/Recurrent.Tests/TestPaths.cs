// Locates the repository root and the shared folders (fixtures, real checkpoints) from tests. The one place that
// knows where ../shared is: a test that needs it asks here and is skipped, with one reason, when it is not there.
namespace Recurrent.Tests;

public static class TestPaths
{
    public static string RepoRoot
    {
        get
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "Recurrent.slnx"))) d = d.Parent;
            return d?.FullName ?? throw new InvalidOperationException("repository root (Recurrent.slnx) not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>../shared beside the repository root (it may not exist).</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>The skip reason of every test that needs ../shared and cannot find it.</summary>
    public static string MissingSharedReason =>
        $"needs ../shared (PyTorch fixtures and real checkpoints) beside the repository, not found at {Shared}; " +
        "put the shared folder there (or set RECURRENT_FIXTURES for the fixtures) to run it";

    /// <summary>RECURRENT_FIXTURES, else ../shared/fixtures/pytorch from the repository root (it may not exist).</summary>
    public static string Fixtures =>
        Environment.GetEnvironmentVariable("RECURRENT_FIXTURES") is { Length: > 0 } p
            ? Path.GetFullPath(p, RepoRoot)
            : Path.Combine(Shared, "fixtures", "pytorch");

    /// <summary>../shared/real-checkpoints (it may not exist).</summary>
    public static string RealCheckpoints => Path.Combine(Shared, "real-checkpoints");

    /// <summary>
    /// The fixture folder; skips the calling test (a SkippableFact/SkippableTheory) when ../shared is missing. A
    /// RECURRENT_FIXTURES that names no folder is a configuration error and fails instead.
    /// </summary>
    public static string RequireFixtures()
    {
        var dir = Fixtures;
        if (Environment.GetEnvironmentVariable("RECURRENT_FIXTURES") is { Length: > 0 } p)
            Assert.True(Directory.Exists(dir), $"RECURRENT_FIXTURES='{p}' is not a directory.");
        else
            Skip.IfNot(Directory.Exists(dir), MissingSharedReason);
        return dir;
    }

    /// <summary>../shared/real-checkpoints, or a file in it; skips the calling test when ../shared is missing.</summary>
    public static string RequireRealCheckpoints(string? file = null)
    {
        Skip.IfNot(Directory.Exists(RealCheckpoints), MissingSharedReason);
        return file is null ? RealCheckpoints : Path.Combine(RealCheckpoints, file);
    }
}
