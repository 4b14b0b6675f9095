// `recurrent export RUN_DIR model.onnx`: the run's latest checkpoint as an ONNX model (Recurrent.Onnx), with the
// recurrent state as inputs and outputs so that a server can carry it between calls (ONNX Runtime, Triton's sequence
// batcher with implicit state), and the vocabulary in the model's metadata.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Model;
using Recurrent.Onnx;

namespace Recurrent.Cli.Commands;

/// <summary>The <c>export</c> command.</summary>
public static class ExportCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext ctx)
    {
        var checkpoint = new Argument<string>("RUN_DIR") { Description = "A checkpoint folder or a run folder (its latest checkpoint)." }.NonEmptyPath();
        var output = new Argument<string>("OUTPUT") { Description = "The .onnx file to write." }.NonEmptyPath();
        var stateless = new Option<bool>("--stateless") { Description = "Only tokens in, logits out (no h0/c0 inputs, no h_n/c_n outputs)." };
        var opset = new Option<int>("--opset")
        {
            Description = $"ONNX opset version, {OnnxExportOptions.MinOpset} to {OnnxExportOptions.MaxOpset} (default: {OnnxExportOptions.DefaultOpset}).",
            HelpName = "N",
            DefaultValueFactory = _ => OnnxExportOptions.DefaultOpset,
        };
        var cmd = new Command("export", "Export a trained checkpoint as an ONNX model (for ONNX Runtime, Triton, ML.NET, browsers).")
        {
            checkpoint, output, stateless, opset,
        };
        cmd.SetAction(pr => Run(ctx, pr.GetValue(checkpoint)!, pr.GetValue(output)!, pr.GetValue(stateless), pr.GetValue(opset)));
        return cmd;
    }

    /// <summary>Runs the command: writes the model and prints its inputs and outputs.</summary>
    public static int Run(CliContext ctx, string checkpoint, string output, bool stateless, int opset)
    {
        if (opset < OnnxExportOptions.MinOpset || opset > OnnxExportOptions.MaxOpset)
            throw new UsageException($"--opset must be between {OnnxExportOptions.MinOpset} and {OnnxExportOptions.MaxOpset}, got {opset}.");
        if (Directory.Exists(output)) throw new UsageException($"OUTPUT '{output}' is a folder; give the path of the .onnx file to write.");
        PathArguments.RefuseCheckpointFiles(output, "OUTPUT");
        LoadedCheckpoint ck = CharLmCheckpoint.Load(checkpoint);
        CharLanguageModel model = ck.BuildModel();               // eval mode: dropout off
        ModelConfig config = ck.Config.Model;
        bool lstm = config.ParsedKind == ModelKind.Lstm;

        // Example sizes that differ from each other and from the model's own sizes, so that no size is mistaken for another.
        int batch = 2, seq = 3;
        while (IsModelSize(batch, config) || batch == seq) batch++;
        while (IsModelSize(seq, config) || seq == batch) seq++;
        var gen = new Generator(0);
        var tokens = Tensor.RandInt(0, config.VocabSize, [seq, batch], gen);
        var h0 = Tensor.Zeros(config.NumLayers, batch, config.HiddenSize);
        var c0 = Tensor.Zeros(config.NumLayers, batch, config.HiddenSize);
        var batchAxis = new Dictionary<int, string> { [1] = "batch" };
        var axes = new Dictionary<string, IReadOnlyDictionary<int, string>>
        {
            ["tokens"] = new Dictionary<int, string> { [0] = "seq", [1] = "batch" },
        };
        Tensor[] inputs;
        string[] inNames, outNames;
        if (stateless)
        {
            inputs = [tokens];
            inNames = ["tokens"];
            outNames = ["logits"];
        }
        else
        {
            inputs = lstm ? [tokens, h0, c0] : [tokens, h0];
            inNames = lstm ? ["tokens", "h0", "c0"] : ["tokens", "h0"];
            outNames = lstm ? ["logits", "h_n", "c_n"] : ["logits", "h_n"];
            axes["h0"] = batchAxis;
            if (lstm) axes["c0"] = batchAxis;
        }
        var metadata = new Dictionary<string, string>
        {
            ["recurrent.vocabulary"] = JsonSerializer.Serialize(ck.Vocabulary.Symbols.ToArray(), ExportJsonContext.Default.StringArray),
            ["recurrent.model"] = string.Create(CultureInfo.InvariantCulture,
                $"{config.Kind} vocab={config.VocabSize} embedding={config.EmbeddingSize} hidden={config.HiddenSize} layers={config.NumLayers}"),
            ["recurrent.checkpoint"] = ck.Folder,
        };
        var options = new OnnxExportOptions
        {
            InputNames = inNames,
            OutputNames = outNames,
            DynamicAxes = axes,
            Opset = opset,
            Module = model,
            GraphName = "CharLanguageModel",
            Metadata = metadata,
        };
        OnnxExportResult result;
        try
        {
            result = OnnxExport.Export(xs =>
            {
                var state = stateless ? (Model.RecurrentState?)null : new Model.RecurrentState(xs[1], lstm ? xs[2] : null);
                var (logits, next) = model.Forward(xs[0], state);
                return stateless ? [logits] : lstm ? [logits, next.H, next.C!] : [logits, next.H];
            }, inputs, output, options);
        }
        catch (OnnxExportException e)
        {
            throw new CliException($"cannot export '{ck.Folder}': {e.Message}", e);
        }
        ctx.Out.WriteLine($"wrote {output} (opset {result.Opset}, {string.Join(", ", result.NodeCounts.Select(kv => $"{kv.Value} {kv.Key}"))})");
        foreach (var i in result.Inputs) ctx.Out.WriteLine($"  input  {i}");
        foreach (var o in result.Outputs) ctx.Out.WriteLine($"  output {o}");
        return ExitCodes.Success;
    }

    private static bool IsModelSize(int n, ModelConfig c) =>
        n == c.VocabSize || n == c.EmbeddingSize || n == c.HiddenSize || n == c.NumLayers;
}

/// <summary>Source-generated JSON for the export's metadata (no reflection: NativeAOT).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class ExportJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
