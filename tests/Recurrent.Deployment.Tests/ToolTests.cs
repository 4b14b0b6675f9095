// The `recurrent` .NET tool installed from the packed folder: --help and a short training run.
namespace Recurrent.Deployment.Tests;

[Collection(nameof(DeploymentCollection))]
public sealed class ToolTests(DeploymentFixture fx)
{
    [Fact]
    public void InstalledToolShowsHelpAndTrains()
    {
        string tools = fx.NewFolder("tools");
        fx.Run("dotnet", ["tool", "install", "Recurrent.Cli", "--tool-path", tools, "--add-source", fx.Feed, "--version", fx.Version],
            fx.Root, TimeSpan.FromMinutes(3), fx.ConsumerEnvironment).AssertSuccess("dotnet tool install");
        string recurrent = Path.Combine(tools, OperatingSystem.IsWindows() ? "recurrent.exe" : "recurrent");
        Assert.True(File.Exists(recurrent), $"the tool did not install a 'recurrent' command in {tools}");

        ProcessResult help = fx.Run(recurrent, ["--help"], fx.Root, TimeSpan.FromMinutes(1)).AssertSuccess("recurrent --help");
        foreach (string command in new[] { "train", "sample", "eval", "info", "convert" }) Assert.Contains(command, help.Output);
        ProcessResult version = fx.Run(recurrent, ["--version"], fx.Root, TimeSpan.FromMinutes(1)).AssertSuccess("recurrent --version");
        Assert.StartsWith(fx.Version, version.Output.Trim());

        string work = fx.NewFolder("tool-run");
        ProcessResult train = fx.Run(recurrent,
            ["train", "--steps", "6", "--hidden-size", "8", "--embedding-size", "4", "--batch-size", "4", "--eval-every", "3",
                "--target-accuracy", "0", "--threads", "1", "--out", "run"],
            work, TimeSpan.FromMinutes(3)).AssertSuccess("recurrent train");
        Assert.Contains("reached step 6 of 6", train.Output);
        Assert.True(File.Exists(Path.Combine(work, "run", "LATEST")), train.Output);
        Assert.True(Directory.Exists(Path.Combine(work, "run", "checkpoint-000000006")), train.Output);
    }
}
