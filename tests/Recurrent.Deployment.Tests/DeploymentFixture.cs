// What every deployment test shares: the repository, a temporary folder, the packages packed once into a local feed,
// the NativeAOT binary published once (on first use), and a runner for child processes with captured output.
using System.Diagnostics;
using System.Text;
using System.Xml.Linq;

namespace Recurrent.Deployment.Tests;

/// <summary>The output of a finished child process.</summary>
public sealed record ProcessResult(int ExitCode, string Output, TimeSpan Elapsed)
{
    /// <summary>Fails the test with the command's output unless it exited with 0.</summary>
    public ProcessResult AssertSuccess(string what)
    {
        Assert.True(ExitCode == 0, $"{what} failed with exit code {ExitCode}:\n{Tail(Output)}");
        return this;
    }

    /// <summary>The last part of a long output, for failure messages.</summary>
    public static string Tail(string s, int chars = 6000) => s.Length <= chars ? s : "...\n" + s[^chars..];
}

/// <summary>Packs once, publishes on demand, removes everything at the end.</summary>
public sealed class DeploymentFixture : IDisposable
{
    private readonly Lazy<(ProcessResult Publish, string Binary)> _native;

    public DeploymentFixture()
    {
        RepoRoot = FindRepoRoot();
        Version = XDocument.Load(Path.Combine(RepoRoot, "Directory.Build.props")).Descendants("Version").Single().Value;
        Root = Directory.CreateTempSubdirectory("recurrent-deploy-").FullName;
        Feed = Directory.CreateDirectory(Path.Combine(Root, "feed")).FullName;
        Packages = Directory.CreateDirectory(Path.Combine(Root, "packages")).FullName;
        Artifacts = Path.Combine(Root, "artifacts");
        // Builds of the repository go to our own artifacts folder (--artifacts-path), so nothing in the work tree changes.
        foreach (string project in new[] { "src/Recurrent", "src/Recurrent.Onnx", "src/Recurrent.Cli" })
            Run("dotnet", ["pack", project, "-c", "Release", "--artifacts-path", Artifacts, "-o", Feed, "-tl:off", "-v:m"],
                RepoRoot, TimeSpan.FromMinutes(8)).AssertSuccess($"dotnet pack {project}");
        _native = new(PublishNative);
    }

    /// <summary>The repository (where Recurrent.slnx is).</summary>
    public string RepoRoot { get; }

    /// <summary>The packages' version (Directory.Build.props).</summary>
    public string Version { get; }

    /// <summary>The temporary folder of this run.</summary>
    public string Root { get; }

    /// <summary>The local feed the packages were packed into.</summary>
    public string Feed { get; }

    /// <summary>
    /// The NuGet global packages folder of the consumers (a fresh console app, the tool install): empty at the start, so
    /// they take the packages just packed, never an older build of the same version cached on the machine.
    /// </summary>
    public string Packages { get; }

    /// <summary>Build outputs of the repository's projects.</summary>
    public string Artifacts { get; }

    /// <summary>The published NativeAOT binary and the publish command's result (published on first use).</summary>
    public (ProcessResult Publish, string Binary) Native => _native.Value;

    /// <summary>../shared/real-checkpoints, or null when the folder is not beside the repository.</summary>
    public string? RealCheckpoints =>
        Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "real-checkpoints")) is var d && Directory.Exists(d) ? d : null;

    /// <summary>A new folder under <see cref="Root"/>.</summary>
    public string NewFolder(string name) => Directory.CreateDirectory(Path.Combine(Root, name)).FullName;

    /// <summary>
    /// Runs <paramref name="file"/> with <paramref name="args"/> in <paramref name="workingDirectory"/>, stdout and
    /// stderr captured together, killed (and failed) after <paramref name="timeout"/>.
    /// </summary>
    public ProcessResult Run(string file, IEnumerable<string> args, string workingDirectory, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        psi.Environment["MSBUILDTERMINALLOGGER"] = "off";
        // A test host's own settings must not leak into the child (the SDK resolves its own MSBuild).
        foreach (string v in new[] { "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "MSBuildExtensionsPath", "DOTNET_HOST_PATH" })
            psi.Environment.Remove(v);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;

        var output = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within {timeout}:\n{ProcessResult.Tail(output.ToString())}");
        }
        p.WaitForExit(); // drains the asynchronous readers
        lock (output) return new ProcessResult(p.ExitCode, output.ToString(), clock.Elapsed);
    }

    /// <summary>Environment of a consumer: the isolated global packages folder.</summary>
    public IReadOnlyDictionary<string, string> ConsumerEnvironment => new Dictionary<string, string> { ["NUGET_PACKAGES"] = Packages };

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private (ProcessResult, string) PublishNative()
    {
        // The command the README gives, with -tl:off -clp:Summary so that the warning count is printed.
        ProcessResult r = Run("dotnet",
            ["publish", "src/Recurrent.Cli", "-c", "Release", "-r", "linux-x64", "-p:PublishAot=true", "--artifacts-path", Artifacts,
                "-tl:off", "-clp:Summary", "-v:m"],
            RepoRoot, TimeSpan.FromMinutes(10)).AssertSuccess("dotnet publish -p:PublishAot=true");
        string binary = Path.Combine(Artifacts, "publish", "Recurrent.Cli", "release_linux-x64", "recurrent");
        Assert.True(File.Exists(binary), $"no native binary at {binary}:\n{ProcessResult.Tail(r.Output)}");
        return (r, binary);
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Recurrent.slnx"))) return d.FullName;
        throw new InvalidOperationException("repository root (Recurrent.slnx) not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>All deployment tests share one fixture and run one after another.</summary>
[CollectionDefinition(nameof(DeploymentCollection))]
public sealed class DeploymentCollection : ICollectionFixture<DeploymentFixture>;
