// `recurrent quantize RUN_DIR OUT_DIR`: an int8 copy of a trained model (dynamic quantization:
// int8 weights per output row, activations quantized per call) that `sample` and `eval` run.
using System.CommandLine;
using System.Globalization;
using Recurrent.Cli.Checkpoints;
using Recurrent.Quantization;
using Recurrent.Training;

namespace Recurrent.Cli.Commands;

/// <summary>The <c>quantize</c> command.</summary>
public static class QuantizeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext ctx)
    {
        var input = new Argument<string>("CHECKPOINT") { Description = "A checkpoint folder or a run folder (its latest checkpoint)." }.NonEmptyPath();
        var output = new Argument<string>("OUT_DIR") { Description = "The folder to write the int8 checkpoint into (created; must not hold another run)." }.NonEmptyPath();
        var cmd = new Command("quantize", "Write an int8 (dynamically quantized) copy of a trained model for faster, smaller inference.") { input, output };
        cmd.SetAction(pr => Run(ctx, pr.GetValue(input)!, pr.GetValue(output)!));
        return cmd;
    }

    /// <summary>Runs the command.</summary>
    public static int Run(CliContext ctx, string input, string output)
    {
        LoadedCheckpoint ck = CharLmCheckpoint.Load(input);
        if (ck.IsQuantized) throw new UsageException($"'{ck.Folder}' is already an int8 checkpoint.");
        string outFull = Path.GetFullPath(output);
        if (File.Exists(outFull)) throw new UsageException($"OUT_DIR '{output}' is a file; give a folder.");
        if (Directory.Exists(outFull) && Directory.EnumerateFileSystemEntries(outFull).Any())
            throw new UsageException($"OUT_DIR '{output}' is not empty; give a new or empty folder (nothing was written).");
        string? parent = Path.GetDirectoryName(outFull);
        if (parent is not null && !Directory.Exists(parent))
            throw new CliException($"the parent folder '{parent}' does not exist; create it first (nothing was written).");

        var model = ck.BuildModel();
        long floatBytes = new FileInfo(Path.Combine(ck.Folder, CheckpointStore.ModelFileName)).Length;
        Quantizer.QuantizeDynamic(model).Eval();
        string folder = CharLmCheckpoint.SaveQuantized(new CheckpointStore(outFull), ck.Checkpoint.Step, model, ck.Vocabulary, ck.Config.Training);
        long intBytes = new FileInfo(Path.Combine(folder, CheckpointStore.ModelFileName)).Length;
        ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {folder}: model {intBytes:N0} bytes (float: {floatBytes:N0}, {floatBytes / (double)intBytes:F2}x smaller). Run it with '{CliApp.Name} sample {output}' or '{CliApp.Name} eval {output}'."));
        return ExitCodes.Success;
    }
}
