// Locates the repository root and the shared folders (fixtures, real checkpoints) from tests.
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

    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>RECURRENT_FIXTURES, else ../shared/fixtures/pytorch from the repository root.</summary>
    public static string Fixtures =>
        Environment.GetEnvironmentVariable("RECURRENT_FIXTURES") is { Length: > 0 } p
            ? Path.GetFullPath(p, RepoRoot)
            : Path.Combine(Shared, "fixtures", "pytorch");
}
