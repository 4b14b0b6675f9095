// Running the `recurrent` program in-process for tests: captured output, an injectable cancellation token, temp folders.
using System.Text;
using Recurrent.Cli;

namespace Recurrent.Tests.Cli;

/// <summary>The result of one in-process invocation.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error)
{
    /// <summary>The non-empty lines written to standard error.</summary>
    public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>Helpers shared by the CLI tests.</summary>
public static class CliTestSupport
{
    /// <summary>Runs the program with <paramref name="args"/>, output redirected (plain progress lines).</summary>
    public static CliResult Run(params string[] args) => Run(CancellationToken.None, args);

    /// <summary>Runs the program with a cancellation token (a simulated Ctrl+C).</summary>
    public static CliResult Run(CancellationToken token, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CliApp.Run(args, new CliContext(output, error, isTerminal: false, token));
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>A context writing to string writers.</summary>
    public static (CliContext Context, StringWriter Out, StringWriter Error) Context(CancellationToken token = default)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        return (new CliContext(output, error, isTerminal: false, token), output, error);
    }

    /// <summary>A small deterministic English-like corpus of about <paramref name="chars"/> characters.</summary>
    public static string Corpus(int chars = 3000)
    {
        string[] words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "hat", "it", "was"];
        var g = new Generator(99);
        var sb = new StringBuilder();
        while (sb.Length < chars)
        {
            int n = 3 + (int)g.NextLong(6);
            for (int i = 0; i < n; i++) sb.Append(i == 0 ? "" : " ").Append(words[g.NextLong(words.Length)]);
            sb.Append(".\n");
        }
        return sb.ToString();
    }

    /// <summary>Options of a tiny, fast model for tests.</summary>
    public static readonly string[] TinyModel =
        ["--hidden-size", "12", "--embedding-size", "6", "--seq-len", "12", "--batch-size", "4"];
}

/// <summary>A temporary folder removed at dispose.</summary>
public sealed class TempDir : IDisposable
{
    /// <summary>The folder.</summary>
    public string Path { get; } = Directory.CreateTempSubdirectory("recurrent-cli-").FullName;

    /// <summary>A path inside the folder.</summary>
    public string this[string name] => System.IO.Path.Combine(Path, name);

    /// <summary>Writes a text file (UTF-8, no BOM) and returns its path.</summary>
    public string WriteText(string name, string text)
    {
        File.WriteAllText(this[name], text, new UTF8Encoding(false));
        return this[name];
    }

    /// <summary>Every file under the folder with its bytes, for "nothing changed" checks.</summary>
    public Dictionary<string, byte[]> Snapshot() =>
        Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);

    /// <inheritdoc/>
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
