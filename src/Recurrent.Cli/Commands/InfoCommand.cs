// `recurrent info FILE`: the tensors (name, dtype, shape) of a weight file or of a checkpoint folder.
using System.CommandLine;
using System.Globalization;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Inspection;
using Recurrent.Training;

namespace Recurrent.Cli.Commands;

/// <summary>The <c>info</c> command.</summary>
public static class InfoCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext ctx)
    {
        var path = new Argument<string>("PATH")
        {
            Description = "A .safetensors file, a checkpoint folder, or a run folder (its LATEST checkpoint).",
        }.NonEmptyPath();
        var cmd = new Command("info", "List the tensors (name, dtype, shape) of a weight file or checkpoint.") { path };
        cmd.SetAction(pr => Run(ctx, pr.GetValue(path)!));
        return cmd;
    }

    /// <summary>Runs the command.</summary>
    public static int Run(CliContext ctx, string path)
    {
        if (Directory.Exists(path))
        {
            string folder = CheckpointStore.Resolve(path);
            CheckpointManifest manifest = CheckpointStore.Verify(folder);
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"checkpoint {folder} (step {manifest.Step}, format {manifest.FormatVersion}, written {manifest.Created})"));
            string? summary = CharLmCheckpoint.TryDescribe(folder);
            if (summary is not null) ctx.Out.WriteLine(summary);
            var files = manifest.Files.Select(f => f.Name)
                .Where(n => n.EndsWith(".safetensors", StringComparison.Ordinal))
                .OrderBy(n => n == "model.safetensors" ? 0 : 1).ThenBy(n => n, StringComparer.Ordinal);
            foreach (string file in files)
            {
                ctx.Out.WriteLine();
                Print(ctx.Out, TensorFileFormats.List(Path.Combine(folder, file)), file);
            }
            return ExitCodes.Success;
        }
        Print(ctx.Out, TensorFileFormats.List(path), path);
        return ExitCodes.Success;
    }

    /// <summary>Writes a listing as an aligned table with a parameter count.</summary>
    public static void Print(TextWriter w, TensorListing listing, string title)
    {
        w.WriteLine($"{title} ({listing.Format}, {listing.Tensors.Count} tensor{(listing.Tensors.Count == 1 ? "" : "s")})");
        int nameWidth = Math.Max(4, listing.Tensors.Select(t => t.Name.Length).DefaultIfEmpty(0).Max());
        int dtypeWidth = Math.Max(5, listing.Tensors.Select(t => t.DType.Length).DefaultIfEmpty(0).Max());
        w.WriteLine($"  {"name".PadRight(nameWidth)}  {"dtype".PadRight(dtypeWidth)}  shape");
        foreach (TensorInfo t in listing.Tensors)
            w.WriteLine($"  {t.Name.PadRight(nameWidth)}  {t.DType.PadRight(dtypeWidth)}  [{string.Join(", ", t.Shape)}]");
        long total = listing.Tensors.Sum(t => t.ElementCount);
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {total:N0} elements"));
        foreach (var kv in listing.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            w.WriteLine($"  metadata {kv.Key}: {Shorten(kv.Value)}");
    }

    private static string Shorten(string s)
    {
        s = s.ReplaceLineEndings(" ");
        return s.Length <= 120 ? s : s[..117] + "...";
    }
}
