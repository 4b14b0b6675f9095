// The packed packages: their metadata, symbols and Source Link, and a fresh console app that takes Recurrent as a
// PackageReference from the local feed, builds, runs an LSTM forward, and saves and loads a model and a checkpoint.
using System.IO.Compression;
using System.Text;
using System.Xml.Linq;

namespace Recurrent.Deployment.Tests;

[Collection(nameof(DeploymentCollection))]
public sealed class PackageTests(DeploymentFixture fx)
{
    private static XElement Nuspec(string nupkg)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        ZipArchiveEntry entry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/'));
        using var s = entry.Open();
        return XDocument.Load(s).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
    }

    private static string? Get(XElement metadata, string name) => metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;

    private static XElement? Element(XElement metadata, string name) => metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name);

    [Fact]
    public void OnnxPackageDependsOnTheLibraryOfTheSameVersionAndGoogleProtobuf()
    {
        string nupkg = Path.Combine(fx.Feed, $"Recurrent.Onnx.{fx.Version}.nupkg");
        Assert.True(File.Exists(nupkg), string.Join(", ", Directory.GetFiles(fx.Feed)));
        XElement m = Nuspec(nupkg);
        Assert.Equal("Recurrent.Onnx", Get(m, "id"));
        Assert.Equal(fx.Version, Get(m, "version"));
        Assert.Equal("MIT", Get(m, "license"));
        Assert.Equal("README.md", Get(m, "readme"));
        var deps = m.Descendants().Where(e => e.Name.LocalName == "dependency").ToList();
        Assert.Contains(deps, d => d.Attribute("id")!.Value == "Recurrent" && d.Attribute("version")!.Value == fx.Version);
        Assert.Contains(deps, d => d.Attribute("id")!.Value == "Google.Protobuf");
        Assert.DoesNotContain(deps, d => d.Attribute("id")!.Value.StartsWith("Microsoft.ML.OnnxRuntime", StringComparison.Ordinal));
        using var zip = ZipFile.OpenRead(nupkg);
        var names = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("lib/net10.0/Recurrent.Onnx.dll", names);
        Assert.Contains("lib/net10.0/Recurrent.Onnx.xml", names);
    }

    [Fact]
    public void LibraryPackageCarriesMetadataReadmeLicenseSymbolsAndSourceLink()
    {
        string nupkg = Path.Combine(fx.Feed, $"Recurrent.{fx.Version}.nupkg");
        Assert.True(File.Exists(nupkg), string.Join(", ", Directory.GetFiles(fx.Feed)));
        XElement m = Nuspec(nupkg);
        Assert.Equal("Recurrent", Get(m, "id"));
        Assert.Equal(fx.Version, Get(m, "version"));
        Assert.Equal("Recurrent contributors", Get(m, "authors"));
        Assert.Equal("MIT", Get(m, "license"));
        Assert.Equal("expression", Element(m, "license")!.Attribute("type")!.Value);
        Assert.Equal("README.md", Get(m, "readme"));
        Assert.StartsWith("https://", Get(m, "projectUrl"));
        XElement repo = Element(m, "repository")!;
        Assert.Equal("git", repo.Attribute("type")!.Value);
        Assert.StartsWith("https://", repo.Attribute("url")!.Value);
        Assert.Matches("^[0-9a-f]{40}$", repo.Attribute("commit")!.Value);
        Assert.Contains("lstm", Get(m, "tags")!.Split(' '));
        Assert.False(string.IsNullOrWhiteSpace(Get(m, "description")));

        using (var zip = ZipFile.OpenRead(nupkg))
        {
            var names = zip.Entries.Select(e => e.FullName).ToList();
            Assert.Contains("README.md", names);
            Assert.Contains("LICENSE", names);
            Assert.Contains("lib/net10.0/Recurrent.dll", names);
            Assert.Contains("lib/net10.0/Recurrent.xml", names); // IntelliSense docs
            using var readme = new StreamReader(zip.GetEntry("README.md")!.Open());
            Assert.Contains("dotnet add package Recurrent", readme.ReadToEnd());
        }

        // Symbols: a .snupkg whose PDB carries the Source Link map to the repository at the packed commit.
        string snupkg = Path.ChangeExtension(nupkg, ".snupkg");
        Assert.True(File.Exists(snupkg), "no .snupkg");
        using var symbols = ZipFile.OpenRead(snupkg);
        ZipArchiveEntry pdb = symbols.GetEntry("lib/net10.0/Recurrent.pdb") ?? throw new Xunit.Sdk.XunitException("no PDB in the .snupkg");
        using var ms = new MemoryStream();
        using (var s = pdb.Open()) s.CopyTo(ms);
        string text = Encoding.UTF8.GetString(ms.ToArray());
        string repoPath = new Uri(repo.Attribute("url")!.Value).AbsolutePath.Trim('/');
        Assert.Contains($"https://raw.githubusercontent.com/{repoPath}/{repo.Attribute("commit")!.Value}/", text);
    }

    [Fact]
    public void ToolPackageIsADotnetToolNamedRecurrent()
    {
        string nupkg = Path.Combine(fx.Feed, $"Recurrent.Cli.{fx.Version}.nupkg");
        XElement m = Nuspec(nupkg);
        Assert.Equal(fx.Version, Get(m, "version"));
        Assert.Equal("MIT", Get(m, "license"));
        Assert.Contains(Element(m, "packageTypes")!.Elements(), e => e.Attribute("name")?.Value == "DotnetTool");
        using var zip = ZipFile.OpenRead(nupkg);
        ZipArchiveEntry settings = zip.Entries.Single(e => e.FullName.EndsWith("DotnetToolSettings.xml", StringComparison.Ordinal));
        using var s = settings.Open();
        var command = XDocument.Load(s).Descendants("Command").Single();
        Assert.Equal("recurrent", command.Attribute("Name")!.Value);
        Assert.True(File.Exists(Path.ChangeExtension(nupkg, ".snupkg")), "no .snupkg for the tool");
    }

    [Fact]
    public void FreshConsoleAppConsumesThePackage()
    {
        string app = fx.NewFolder("consumer");
        fx.Run("dotnet", ["new", "console", "--name", "Consumer", "--output", app, "--no-restore"], app, TimeSpan.FromMinutes(2))
            .AssertSuccess("dotnet new console");
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{fx.Feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
              </packageSources>
            </configuration>
            """);
        string csproj = Path.Combine(app, "Consumer.csproj");
        XDocument project = XDocument.Load(csproj);
        project.Root!.Add(new XElement("ItemGroup",
            new XElement("PackageReference", new XAttribute("Include", "Recurrent"), new XAttribute("Version", fx.Version))));
        project.Save(csproj);
        File.WriteAllText(Path.Combine(app, "Program.cs"), ConsumerProgram);

        fx.Run("dotnet", ["build", "-c", "Release", "-tl:off", "-v:m"], app, TimeSpan.FromMinutes(5), fx.ConsumerEnvironment)
            .AssertSuccess("dotnet build of the consumer app");
        // The package really came from the local feed into the isolated cache.
        Assert.True(Directory.Exists(Path.Combine(fx.Packages, "recurrent", fx.Version)), "Recurrent was not restored into the isolated packages folder");

        ProcessResult run = fx.Run("dotnet", [Path.Combine(app, "bin", "Release", "net10.0", "Consumer.dll")], app, TimeSpan.FromMinutes(2));
        run.AssertSuccess("the consumer app");
        Assert.Contains("output 7x2x5", run.Output);
        Assert.Contains("state_dict weight_ih_l0 weight_hh_l0 bias_ih_l0 bias_hh_l0", run.Output);
        Assert.Contains("reloaded equal True", run.Output);
        Assert.Contains("checkpoint step 1 equal True", run.Output);
        Assert.True(File.Exists(Path.Combine(app, "lstm.safetensors")));
    }

    /// <summary>The consumer: an LSTM forward, save/load through safetensors, one training step, a checkpoint and a restore.</summary>
    private const string ConsumerProgram = """
        using Recurrent;
        using Recurrent.IO;
        using Recurrent.Nn;
        using Recurrent.Optim;
        using Recurrent.Training;

        var lstm = new Lstm(inputSize: 3, hiddenSize: 5, numLayers: 2, generator: new Generator(1));
        var x = Tensor.Randn(new[] { 7, 2, 3 }, generator: new Generator(2));
        var (output, (hN, cN)) = lstm.Forward(x);
        Console.WriteLine("output " + string.Join("x", output.Shape));
        Console.WriteLine("state_dict " + string.Join(" ", lstm.StateDict().Keys.Take(4)));

        lstm.Save("lstm.safetensors");
        var copy = new Lstm(3, 5, numLayers: 2, generator: new Generator(99));
        copy.Load("lstm.safetensors");
        var (again, _) = copy.Forward(x);
        bool same = output.ToArray<float>().SequenceEqual(again.ToArray<float>());
        Console.WriteLine("reloaded equal " + same);

        var adam = new Adam(lstm.Parameters(), lr: 0.01);
        lstm.Forward(x).Output.Pow(2).Mean().Backward();
        adam.Step();
        new CheckpointStore("checkpoints").Save(1, lstm, adam);
        var restored = new Lstm(3, 5, numLayers: 2, generator: new Generator(7));
        var restoredAdam = new Adam(restored.Parameters(), lr: 0.5);
        var ck = CheckpointStore.Load("checkpoints");
        ck.Restore(restored, restoredAdam);
        bool sameAfter = lstm.Forward(x).Output.ToArray<float>().SequenceEqual(restored.Forward(x).Output.ToArray<float>());
        Console.WriteLine($"checkpoint step {ck.Step} equal {sameAfter}");
        return same && sameAfter ? 0 : 1;
        """;
}
