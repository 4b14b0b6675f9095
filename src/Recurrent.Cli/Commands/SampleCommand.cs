// `recurrent sample`: generate text from a checkpoint (prompt, length, temperature, top-k, seed).
using System.CommandLine;
using System.Text;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Model;
using Recurrent.Data;

namespace Recurrent.Cli.Commands;

/// <summary>The <c>sample</c> command.</summary>
public static class SampleCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext ctx)
    {
        var checkpoint = new Argument<string>("CHECKPOINT") { Description = "A checkpoint folder or a run folder (its latest checkpoint)." }.NonEmptyPath();
        var prompt = new Option<string?>("--prompt") { Description = "Text to start from (default: a newline, if the vocabulary has one).", HelpName = "TEXT" };
        var length = new Option<int>("--length") { Description = "Characters to generate (default: 200).", HelpName = "N", DefaultValueFactory = _ => 200 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature; 0 = always the most likely character (default: 0.8).", HelpName = "T", DefaultValueFactory = _ => 0.8 };
        var topK = new Option<int>("--top-k") { Description = "Sample only among the K most likely characters; 0 = all (default: 0).", HelpName = "K", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the sampling (default: 1). Same seed, same text.", HelpName = "N", DefaultValueFactory = _ => 1 };
        var cmd = new Command("sample", "Generate text from a trained checkpoint.") { checkpoint, prompt, length, temperature, topK, seed };
        cmd.SetAction(pr => Run(ctx, pr.GetValue(checkpoint)!, pr.GetValue(prompt), pr.GetValue(length), pr.GetValue(temperature),
            pr.GetValue(topK), pr.GetValue(seed)));
        return cmd;
    }

    /// <summary>Runs the command: writes the prompt and its continuation to the output.</summary>
    public static int Run(CliContext ctx, string checkpoint, string? prompt, int length, double temperature, int topK, ulong seed)
    {
        if (length < 0) throw new UsageException($"--length must be zero or positive, got {length}.");
        if (!(temperature >= 0 && double.IsFinite(temperature))) throw new UsageException($"--temperature must be zero or positive, got {temperature}.");
        if (topK < 0) throw new UsageException($"--top-k must be zero (all) or positive, got {topK}.");
        LoadedCheckpoint ck = CharLmCheckpoint.Load(checkpoint);
        CharVocabulary vocab = ck.Vocabulary;
        long[] ids;
        bool echo = true;
        if (string.IsNullOrEmpty(prompt))
        {
            if (vocab.IndexOf("\n") < 0)
                throw new UsageException("the checkpoint's vocabulary has no newline to start from; give --prompt.");
            ids = [vocab.IndexOf("\n")];
            echo = false;
        }
        else
        {
            try { ids = vocab.Encode(prompt, "--prompt"); }
            catch (TextDataException e) { throw new UsageException(e.Message + " Use only characters the model was trained on."); }
        }
        CharLanguageModel model = ck.BuildModel();
        if (echo) ctx.Out.Write(prompt);
        var pending = new StringBuilder();
        bool endsWithNewline = echo ? prompt!.EndsWith('\n') : true;
        using var observing = ctx.ObserveCancellation();
        Sampler.Generate(model, ids, length, temperature, topK, new Generator(seed), id =>
        {
            pending.Append(vocab[(int)id]);
            endsWithNewline = vocab[(int)id] == "\n";
            if (pending.Length >= 64 || vocab[(int)id] == "\n")
            {
                ctx.Out.Write(pending.ToString());
                ctx.Out.Flush();
                pending.Clear();
            }
        }, ctx.Cancellation);
        ctx.Out.Write(pending.ToString());
        if (!endsWithNewline) ctx.Out.WriteLine();
        ctx.Out.Flush();
        return ExitCodes.Success;
    }
}
