// `recurrent eval`: the loss of a checkpoint in nats and bits per character, on the run's own validation split (the
// default, the same characters and windows as training's evaluations), its training split, or a whole text file.
using System.CommandLine;
using System.Globalization;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Model;
using Recurrent.Cli.Tasks;
using Recurrent.Cli.Training;
using Recurrent.Data;

namespace Recurrent.Cli.Commands;

/// <summary>The part of the text <c>eval</c> scores.</summary>
public enum EvalSplit
{
    /// <summary>The run's held-out part, as training evaluated it (the default for the run's own data).</summary>
    Validation,

    /// <summary>The run's training part.</summary>
    Train,

    /// <summary>The whole file (the default for any other text).</summary>
    All,
}

/// <summary>The <c>eval</c> command.</summary>
public static class EvalCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext ctx)
    {
        var checkpoint = new Argument<string>("CHECKPOINT") { Description = "A checkpoint folder or a run folder (its latest checkpoint)." }.NonEmptyPath();
        var data = new Option<string?>("--data") { Description = "UTF-8 text file to evaluate on (default: the run's own data file, or the built-in task).", HelpName = "FILE" }.NonEmptyPath();
        var split = new Option<string?>("--split")
        {
            Description = "validation, train or all: the run's held-out part (the same characters and windows as training's evaluations), its training part, or the whole file (default: validation for the run's own data, all for any other file).",
            HelpName = "PART",
        };
        split.AcceptOnlyFromAmong("validation", "train", "all");
        var seqLen = new Option<int?>("--seq-len") { Description = "Characters per window, each from a zero state (default: as in training).", HelpName = "N" };
        var batch = new Option<int?>("--batch-size") { Description = "Windows evaluated at once (default: as in training's evaluations, at least 64).", HelpName = "N" };
        var cmd = new Command("eval", "Loss of a checkpoint on its validation data or a text file: nats and bits per character.") { checkpoint, data, split, seqLen, batch };
        cmd.SetAction(pr => Run(ctx, pr.GetValue(checkpoint)!, pr.GetValue(data), ParseSplit(pr.GetValue(split)), pr.GetValue(seqLen), pr.GetValue(batch)));
        return cmd;
    }

    private static EvalSplit? ParseSplit(string? s) => s switch
    {
        null => null,
        "validation" => EvalSplit.Validation,
        "train" => EvalSplit.Train,
        _ => EvalSplit.All,
    };

    /// <summary>Runs the command.</summary>
    public static int Run(CliContext ctx, string checkpoint, string? dataPath, EvalSplit? split, int? seqLen, int? batchSize)
    {
        if (seqLen is < 1) throw new UsageException($"--seq-len must be at least 1, got {seqLen}.");
        if (batchSize is < 1) throw new UsageException($"--batch-size must be at least 1, got {batchSize}.");
        LoadedCheckpoint ck = CharLmCheckpoint.Load(checkpoint);
        TrainingConfig cfg = ck.Config.Training;
        DataSource source = cfg.Data;
        bool builtin = source.Kind == AdditionTask.TaskName;

        // Is the text the run's own data? Then it has the run's split; any other file is scored whole.
        string? path = dataPath ?? (builtin ? null : source.Path);
        if (path is null && !builtin) throw new UsageException("the checkpoint does not record its data file; give --data.");
        if (dataPath is null && !builtin && !File.Exists(path))
            throw new CliException($"the checkpoint's data file '{path}' no longer exists; give --data.");
        if (dataPath is not null && !File.Exists(dataPath))
            throw new CliException(Directory.Exists(dataPath) ? $"--data: '{dataPath}' is a folder; give a text file." : $"--data: the file '{dataPath}' does not exist.");
        bool own = dataPath is null || (!builtin && TrainingData.Sha256(dataPath) == source.Sha256);
        EvalSplit part = split ?? (own ? EvalSplit.Validation : EvalSplit.All);
        if (part != EvalSplit.All && !own)
            throw new UsageException(builtin
                ? $"--split {Name(part)}: the checkpoint was trained on the built-in task, not on '{dataPath}'; drop --data to score the task's {Name(part)} split, or use --split all."
                : $"--split {Name(part)}: '{dataPath}' is not the text the checkpoint was trained on (its SHA-256 differs), so it has no {Name(part)} split; use --split all.");

        long[] tokens;
        int defaultSeqLen = cfg.SeqLen;
        string what;
        IReadOnlyList<SkillProblem>? problems = null;
        if (own)
        {
            TrainingData data = TrainingData.Prepare(source, path, ck.Vocabulary, cfg);
            string name = builtin ? data.Description : $"'{path}'";
            (tokens, what) = part switch
            {
                EvalSplit.Validation => (data.ValTokens, $"{name}, validation split"),
                EvalSplit.Train => (data.TrainTokens, $"{name}, training split"),
                _ => ([.. data.TrainTokens, .. FullValidation(data, source, path, ck.Vocabulary, cfg)], $"{name}, all of it"),
            };
            if (part == EvalSplit.Validation)
            {
                defaultSeqLen = RunEvaluator.SeqLen(cfg, data.LineLength);
                problems = data.Problems;
            }
        }
        else
        {
            string text;
            try { text = TextCorpus.ReadFile(dataPath!); }
            catch (FileNotFoundException) { throw new CliException($"--data: the file '{dataPath}' does not exist."); }
            catch (TextDataException e) { throw new CliException($"--data: {e.Message}"); }
            catch (UnauthorizedAccessException) { throw new CliException($"--data: no permission to read '{dataPath}'."); }
            try { tokens = ck.Vocabulary.Encode(text, $"'{dataPath}'"); }
            catch (TextDataException e) { throw new CliException($"{e.Message} The checkpoint can only score text made of its own characters."); }
            what = $"'{dataPath}'";
        }
        if (tokens.Length < 2) throw new CliException($"{what} has {tokens.Length} character; evaluation needs at least 2.");

        int len = seqLen ?? defaultSeqLen;
        int batch = batchSize ?? RunEvaluator.BatchSize(cfg);
        // The batches hold at most as many windows as the text has (a --batch-size past that is not refused for it).
        int windowLen = Math.Min(len, tokens.Length - 1);
        int windows = (int)(((long)tokens.Length - 1 + windowLen - 1) / windowLen);
        batch = Math.Min(batch, windows);
        ResourceLimits.CheckEvaluation(ck.Config.Model, windowLen, batch);
        CharLanguageModel model = ck.BuildModel();
        var progress = new TaskProgress(ctx, "eval", "characters");
        double loss; long count;
        using (ctx.ObserveCancellation())
            (loss, count) = Evaluation.Loss(model, tokens, len, batch, ctx.Cancellation, progress.Report);
        progress.Finish();
        ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what}: {count:N0} characters predicted, loss {loss:0.0000} nats/char, {loss / Math.Log(2):0.0000} bits/char, perplexity {Math.Exp(loss):0.00}"));
        if (problems is { Count: > 0 })
        {
            var (accuracy, correct) = Evaluation.GreedyAccuracy(model, ck.Vocabulary, problems);
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"held-out exact-match accuracy {accuracy:P1} ({correct} of {problems.Count} problems)"));
        }
        return ExitCodes.Success;
    }

    private static string Name(EvalSplit s) => s.ToString().ToLowerInvariant();

    /// <summary>The whole validation part (training's evaluations use its head, up to --val-chars).</summary>
    private static long[] FullValidation(TrainingData data, DataSource source, string? path, CharVocabulary vocab, TrainingConfig cfg) =>
        data.ValTokens.Length < cfg.ValChars ? data.ValTokens
            : TrainingData.Prepare(source, path, vocab, cfg with { ValChars = int.MaxValue }).ValTokens;
}
