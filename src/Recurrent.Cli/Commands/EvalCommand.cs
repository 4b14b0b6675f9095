// `recurrent eval`: validation loss of a checkpoint on a text file, in nats and bits per character.
using System.CommandLine;
using System.Globalization;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Model;
using Recurrent.Data;

namespace Recurrent.Cli.Commands;

/// <summary>The <c>eval</c> command.</summary>
public static class EvalCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext ctx)
    {
        var checkpoint = new Argument<string>("CHECKPOINT") { Description = "A checkpoint folder or a run folder (its latest checkpoint)." };
        var data = new Option<string>("--data") { Description = "UTF-8 text file to evaluate on.", HelpName = "FILE", Required = true };
        var seqLen = new Option<int?>("--seq-len") { Description = "Characters per window, each from a zero state (default: the training --seq-len).", HelpName = "N" };
        var batch = new Option<int>("--batch-size") { Description = "Windows evaluated at once (default: 64).", HelpName = "N", DefaultValueFactory = _ => 64 };
        var cmd = new Command("eval", "Loss of a checkpoint on a text file: nats and bits per character.") { checkpoint, data, seqLen, batch };
        cmd.SetAction(pr => Run(ctx, pr.GetValue(checkpoint)!, pr.GetValue(data)!, pr.GetValue(seqLen), pr.GetValue(batch)));
        return cmd;
    }

    /// <summary>Runs the command.</summary>
    public static int Run(CliContext ctx, string checkpoint, string dataPath, int? seqLen, int batchSize)
    {
        if (seqLen is < 1) throw new UsageException($"--seq-len must be at least 1, got {seqLen}.");
        if (batchSize < 1) throw new UsageException($"--batch-size must be at least 1, got {batchSize}.");
        LoadedCheckpoint ck = CharLmCheckpoint.Load(checkpoint);
        string text;
        try { text = TextCorpus.ReadFile(dataPath); }
        catch (FileNotFoundException) { throw new CliException($"--data: the file '{dataPath}' does not exist."); }
        catch (TextDataException e) { throw new CliException($"--data: {e.Message}"); }
        long[] tokens;
        try { tokens = ck.Vocabulary.Encode(text, $"'{dataPath}'"); }
        catch (TextDataException e) { throw new CliException($"{e.Message} The checkpoint can only score text made of its own characters."); }
        if (tokens.Length < 2) throw new CliException($"--data: '{dataPath}' has {tokens.Length} character; evaluation needs at least 2.");
        CharLanguageModel model = ck.BuildModel();
        int len = seqLen ?? ck.Config.Training.SeqLen;
        var (loss, count) = Evaluation.Loss(model, tokens, len, batchSize, ctx.Cancellation);
        ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{dataPath}: {count:N0} characters predicted, loss {loss:0.0000} nats/char, {loss / Math.Log(2):0.0000} bits/char, perplexity {Math.Exp(loss):0.00}"));
        return ExitCodes.Success;
    }
}
