// Path arguments and options: an empty or blank path is a usage error at parse time (exit 2, with the argument's
// name), not an ArgumentException from System.IO deep inside a command after a model was loaded.
using System.CommandLine;
using Recurrent.Training;

namespace Recurrent.Cli;

internal static class PathArguments
{
    /// <summary>Refuses an empty or blank value of <paramref name="argument"/>.</summary>
    public static Argument<string> NonEmptyPath(this Argument<string> argument)
    {
        argument.Validators.Add(result =>
        {
            if (string.IsNullOrWhiteSpace(result.GetValueOrDefault<string>()))
                result.AddError($"{argument.Name}: the path is empty; give a file or folder path.");
        });
        return argument;
    }

    /// <summary>
    /// Refuses an output file that would replace part of a checkpoint: any file inside a checkpoint folder (its
    /// manifest covers every file there) or a run folder's <c>LATEST</c> pointer.
    /// </summary>
    /// <exception cref="UsageException">The output is such a file.</exception>
    public static void RefuseCheckpointFiles(string output, string what)
    {
        string full = Path.GetFullPath(output);
        string folder = Path.GetDirectoryName(full) ?? full;
        bool inCheckpoint = File.Exists(Path.Combine(folder, CheckpointStore.ManifestFileName));
        bool pointer = string.Equals(Path.GetFileName(full), CheckpointStore.PointerFileName, StringComparison.OrdinalIgnoreCase)
            && File.Exists(Path.Combine(folder, CheckpointStore.PointerFileName));   // a run folder's pointer, on any file system
        if (inCheckpoint || pointer)
            throw new UsageException($"{what} '{output}' would replace {(inCheckpoint ? "a file of the checkpoint" : "the run's LATEST pointer")} in '{folder}'; write it elsewhere (nothing was written).");
    }

    /// <summary>Refuses an empty or blank value of <paramref name="option"/> when it is given.</summary>
    public static Option<string?> NonEmptyPath(this Option<string?> option)
    {
        option.Validators.Add(result =>
        {
            if (string.IsNullOrWhiteSpace(result.GetValueOrDefault<string?>()))
                result.AddError($"{option.Name}: the path is empty; give a file or folder path, or leave the option out.");
        });
        return option;
    }
}
