// `recurrent convert FILE OUT.safetensors`: a PyTorch .pt/.pth/.ckpt state_dict to safetensors, keys and dtypes kept.
using System.CommandLine;
using System.Globalization;
using Recurrent.IO;
using Recurrent.IO.Torch;

namespace Recurrent.Cli.Commands;

/// <summary>The <c>convert</c> command.</summary>
public static class ConvertCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext ctx)
    {
        var input = new Argument<string>("FILE") { Description = "A PyTorch file written by torch.save (.pt, .pth, .ckpt)." }.NonEmptyPath();
        var output = new Argument<string>("OUT") { Description = "The safetensors file to write (replaced atomically)." }.NonEmptyPath();
        var key = new Option<string?>("--key") { Description = "Dotted key path of the dict to convert (default: the state_dict found in the file).", HelpName = "PATH" };
        var cmd = new Command("convert", "Convert the tensors of a PyTorch file to safetensors (names, dtypes and shapes kept).") { input, output, key };
        cmd.SetAction(pr => Run(ctx, pr.GetValue(input)!, pr.GetValue(output)!, pr.GetValue(key)));
        return cmd;
    }

    /// <summary>Runs the command.</summary>
    public static int Run(CliContext ctx, string input, string output, string? key)
    {
        if (!File.Exists(input)) throw new CliException($"'{input}' does not exist.");
        if (!output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"the output '{output}' should end in .safetensors.");
        if (Path.GetFullPath(input) == Path.GetFullPath(output)) throw new UsageException("the output must be a different file than the input.");
        string outputFull = Path.GetFullPath(output);
        if (Directory.Exists(outputFull)) throw new UsageException($"the output '{output}' is a folder; give a .safetensors file name.");
        PathArguments.RefuseCheckpointFiles(output, "the output");
        string outputFolder = Path.GetDirectoryName(outputFull)!;
        if (!Directory.Exists(outputFolder))
            throw new CliException($"the output folder '{outputFolder}' does not exist; create it first (nothing was written).");
        var progress = new TaskProgress(ctx, "convert", "tensors");
        progress.Status($"reading {input} ...");
        TorchCheckpoint ck = TorchCheckpoint.Load(input);
        IReadOnlyDictionary<string, TorchTensor> tensors;
        try { tensors = key is null ? ck.StateDict() : ck.Tensors(key); }
        catch (KeyNotFoundException e) { throw new UsageException($"--key: {e.Message}"); }
        if (tensors.Count == 0) throw new CliException($"'{input}' holds no tensors{(key is null ? "" : $" under '{key}'")}.");

        var writer = new SafeTensorsWriter();
        int widened = 0;
        int done = 0;
        foreach (var (name, t) in tensors)
        {
            progress.Report(done++, tensors.Count);
            long[] shape = t.GetShape();
            if (t.TryGetContiguousData(out ReadOnlyMemory<byte> bytes))
                writer.Add(name, ToSafeTensors(t.DType), shape, bytes);
            else if (t.DType == TorchDType.Float64)
                writer.Add(name, shape, t.ToFloat64Array());
            else if (t.DType.IsFloatingPoint())
            {
                writer.Add(name, shape, t.ToFloat32Array());
                if (t.DType != TorchDType.Float32) widened++;
            }
            else
            {
                writer.Add(name, shape, t.ToInt64Array());
                if (t.DType != TorchDType.Int64) widened++;
            }
        }
        writer.AddMetadata("format", "pt");
        progress.Status($"writing {output} ...");
        // The writer saves under a temporary name and renames; report failures with the output's name (the system's
        // reason, last, may name the temporary file).
        try { writer.Save(output); }
        catch (UnauthorizedAccessException) { throw new CliException($"no permission to write '{output}' (nothing was written)."); }
        catch (DirectoryNotFoundException) { throw new CliException($"the output folder '{outputFolder}' does not exist; create it first (nothing was written)."); }
        catch (IOException e) when (e is not SafeTensorsFormatException)
        {
            // The system's reason ("No space left on device", ...); its path may be the writer's temporary name.
            throw new CliException($"could not write '{output}' (nothing was written): {e.Message}");
        }
        progress.Finish();
        ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {tensors.Count} tensor{(tensors.Count == 1 ? "" : "s")} ({tensors.Values.Sum(t => t.ElementCount):N0} elements) to {output}"));
        if (widened > 0)
            ctx.Error.WriteLine($"{CliApp.Name}: warning: {widened} non-contiguous tensor(s) of a narrow dtype were widened to F32/I64.");
        return ExitCodes.Success;
    }

    private static SafeTensorsDType ToSafeTensors(TorchDType d) => d switch
    {
        TorchDType.Float32 => SafeTensorsDType.F32,
        TorchDType.Float64 => SafeTensorsDType.F64,
        TorchDType.Float16 => SafeTensorsDType.F16,
        TorchDType.BFloat16 => SafeTensorsDType.BF16,
        TorchDType.Int64 => SafeTensorsDType.I64,
        TorchDType.Int32 => SafeTensorsDType.I32,
        TorchDType.Int16 => SafeTensorsDType.I16,
        TorchDType.Int8 => SafeTensorsDType.I8,
        TorchDType.UInt8 => SafeTensorsDType.U8,
        TorchDType.Bool => SafeTensorsDType.BOOL,
        _ => throw new CliException($"the dtype {d} has no safetensors equivalent."),
    };
}
