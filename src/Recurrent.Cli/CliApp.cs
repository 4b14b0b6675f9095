// The command tree of the `recurrent` program and its one error policy: a one-line message and an exit code,
// never a stack trace (unless RECURRENT_DEBUG=1).
using System.CommandLine;
using System.CommandLine.Help;
using Recurrent.Cli.Commands;
using Recurrent.Data;
using Recurrent.IO;

namespace Recurrent.Cli;

/// <summary>Builds and runs the <c>recurrent</c> command line.</summary>
public static class CliApp
{
    /// <summary>The program's name as shown in help and messages.</summary>
    public const string Name = "recurrent";

    /// <summary>The root command with every subcommand, bound to <paramref name="context"/>.</summary>
    public static Command BuildRoot(CliContext context)
    {
        // A plain Command named "recurrent" rather than RootCommand, whose name would be the assembly's file name.
        var root = new Command(Name,
            "Recurrent: PyTorch's RNN/LSTM/GRU in C#. Train a character-level language model, sample from it, evaluate it, export it to ONNX, inspect weight files.")
        {
            new HelpOption { Recursive = true },
            new VersionOption(),
        };
        root.Subcommands.Add(TrainCommand.Create(context));
        root.Subcommands.Add(SampleCommand.Create(context));
        root.Subcommands.Add(EvalCommand.Create(context));
        root.Subcommands.Add(InfoCommand.Create(context));
        root.Subcommands.Add(DemoCommand.Create(context));
        root.Subcommands.Add(ConvertCommand.Create(context));
        root.Subcommands.Add(QuantizeCommand.Create(context));
        root.Subcommands.Add(ExportCommand.Create(context));
        root.SetAction(pr =>
        {
            // No subcommand: show the overview instead of an error.
            return root.Parse(["--help"]).Invoke(Invocation(context));
        });
        return root;
    }

    /// <summary>
    /// Parses and runs <paramref name="args"/>. Returns the exit code (see <see cref="ExitCodes"/>); every failure is
    /// reported as one line on <see cref="CliContext.Error"/>.
    /// </summary>
    public static int Run(string[] args, CliContext context)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(context);
        Command root = BuildRoot(context);
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            string command = CommandPath(parsed);
            return Fail(context, ExitCodes.Usage,
                $"{Friendly(parsed.Errors[0].Message).TrimEnd('.')}. See '{command} --help'.");
        }
        try
        {
            return parsed.Invoke(Invocation(context));
        }
        catch (Exception e)
        {
            return Report(context, e);
        }
    }

    /// <summary>Invocation settings: our writers, our own Ctrl+C handling, exceptions left to <see cref="Report"/>.</summary>
    private static InvocationConfiguration Invocation(CliContext context) => new()
    {
        Output = context.Out,
        Error = context.Error,
        EnableDefaultExceptionHandler = false,
        ProcessTerminationTimeout = null,
    };

    private static string CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var r = parsed.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Add(r.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>Parse errors name .NET types ("System.Nullable`1[System.Int32]"); say what a user should type instead.</summary>
    private static string Friendly(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, @" as expected type '([^']*)'", m =>
        {
            string type = m.Groups[1].Value;
            string what = type.Contains("UInt64") ? "a whole number >= 0"
                : type.Contains("Int32") || type.Contains("Int64") ? "a whole number"
                : type.Contains("Double") ? "a number"
                : "a value of type " + type;
            return $": expected {what}";
        });

    /// <summary>Maps an exception to its exit code and writes its one-line message.</summary>
    internal static int Report(CliContext context, Exception e)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } agg) e = agg.InnerExceptions[0];
        int code = e switch
        {
            UsageException => ExitCodes.Usage,
            OperationCanceledException => ExitCodes.Interrupted,
            _ => ExitCodes.Failure,
        };
        string message = e switch
        {
            UsageException or CliException or TextDataException or Recurrent.Training.CheckpointException => e.Message,
            FileNotFoundException or DirectoryNotFoundException => e.Message,
            SafeTensorsFormatException => $"not a valid safetensors file: {e.Message}",
            Recurrent.IO.Torch.TorchFormatException => $"cannot read the PyTorch file: {e.Message}",
            UnauthorizedAccessException => $"permission denied: {e.Message}",
            IOException => $"I/O error: {e.Message}",
            OperationCanceledException => "interrupted",
            OutOfMemoryException => "out of memory: use a smaller model, batch size or sequence length",
            _ => $"internal error ({e.GetType().Name}): {e.Message}",
        };
        int rc = Fail(context, code, message);
        if (Environment.GetEnvironmentVariable("RECURRENT_DEBUG") == "1") context.Error.WriteLine(e.ToString());
        return rc;
    }

    private static int Fail(CliContext context, int code, string message)
    {
        // One line, always: collapse any line breaks a nested message may carry.
        string line = string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        if (context.IsErrorTerminal) context.Error.Write("\r\x1b[K"); // over a progress line left by the failed command
        context.Error.WriteLine($"{Name}: error: {line}");
        context.Error.Flush();
        return code;
    }
}
