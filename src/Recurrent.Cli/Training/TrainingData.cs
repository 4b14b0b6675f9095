// The text a run trains and validates on, prepared once from its data source: the built-in addition task (generated)
// or a UTF-8 file (read, checked against the checkpoint's SHA-256 when resuming, split into training and validation).
using System.Security.Cryptography;
using Recurrent.Cli.Tasks;
using Recurrent.Data;

namespace Recurrent.Cli.Training;

/// <summary>Token streams, vocabulary and (for the built-in task) held-out problems of a run.</summary>
internal sealed class TrainingData
{
    /// <summary>The vocabulary (built from the text, or the checkpoint's when resuming).</summary>
    public required CharVocabulary Vocab { get; init; }

    /// <summary>The training tokens.</summary>
    public required long[] TrainTokens { get; init; }

    /// <summary>The validation tokens, at most --val-chars of them.</summary>
    public required long[] ValTokens { get; init; }

    /// <summary>Built-in task: the held-out problems (exact-match accuracy); null for a text file.</summary>
    public IReadOnlyList<SkillProblem>? Problems { get; init; }

    /// <summary>Built-in task: the length of one problem line; null for a text file.</summary>
    public int? LineLength { get; init; }

    /// <summary>What the data is, for the run's first line.</summary>
    public required string Description { get; init; }

    /// <summary>The data source as recorded in config.json (with the held-out count or the file's SHA-256 filled in).</summary>
    public required DataSource Source { get; init; }

    /// <summary>
    /// Prepares the data of <paramref name="source"/>. A new run passes a source without a SHA-256 and no vocabulary
    /// (one is built from the text); a resumed run passes the checkpoint's source and vocabulary, and the file must be
    /// the one it was trained on.
    /// </summary>
    /// <param name="source">"addition" (with its digits) or "file".</param>
    /// <param name="path">For a file: the path to read (as the user gave it, for messages).</param>
    /// <param name="vocab">The checkpoint's vocabulary, or null for a new run.</param>
    /// <param name="training">The split fraction, the validation cap and the window length.</param>
    /// <exception cref="CliException">The file is missing, unreadable, not UTF-8, or not the checkpoint's text.</exception>
    /// <exception cref="UsageException">The windows are longer than the training text.</exception>
    public static TrainingData Prepare(DataSource source, string? path, CharVocabulary? vocab, TrainingConfig training)
    {
        TrainingData data = source.Kind == AdditionTask.TaskName ? Task(source, vocab) : File(source, path!, vocab, training);
        CheckSeqLen(training.SeqLen, data.TrainTokens.Length, data.Problems is not null);
        return data.ValTokens.Length <= training.ValChars ? data : new TrainingData
        {
            Vocab = data.Vocab, TrainTokens = data.TrainTokens, ValTokens = data.ValTokens[..training.ValChars],
            Problems = data.Problems, LineLength = data.LineLength, Description = data.Description, Source = data.Source,
        };
    }

    private static TrainingData Task(DataSource source, CharVocabulary? vocab)
    {
        var task = new AdditionTask(source.Digits ?? 2, source.HeldOut);
        var (trainText, valText, heldOut) = task.Generate();
        vocab ??= CharVocabulary.Build(AdditionTask.Alphabet);
        return new TrainingData
        {
            Vocab = vocab,
            TrainTokens = vocab.Encode("\n" + trainText),
            ValTokens = vocab.Encode("\n" + valText),
            Problems = heldOut,
            LineLength = task.LineLength,
            Description = $"the built-in {task.Description} task ({heldOut.Count} held-out problems)",
            Source = new DataSource { Kind = AdditionTask.TaskName, Digits = task.Digits, HeldOut = task.HeldOutCount },
        };
    }

    private static TrainingData File(DataSource source, string path, CharVocabulary? vocab, TrainingConfig training)
    {
        string text = ReadText(path);
        string sha = Sha256(path);
        if (source.Sha256 is { } expected && sha != expected)
            throw new CliException($"'{path}' is not the text the checkpoint was trained on (its SHA-256 differs); give the file it was trained on as --data.");
        long[] all = vocab is null ? (vocab = CharVocabulary.Build(text)).Encode(text) : vocab.Encode(text, $"'{path}'");
        long[] train, val;
        try { (train, val) = TrainValidationSplit.Split(all, training.ValFraction, minTrainTokens: 2); }
        catch (TextDataException e) { throw new CliException($"--data: {e.Message}"); }
        return new TrainingData
        {
            Vocab = vocab, TrainTokens = train, ValTokens = val, Description = $"'{path}'",
            Source = new DataSource { Kind = "file", Path = source.Path ?? Path.GetFullPath(path), Sha256 = sha },
        };
    }

    private static string ReadText(string path)
    {
        try { return TextCorpus.ReadFile(path); }
        catch (FileNotFoundException) { throw new CliException($"--data: the file '{path}' does not exist."); }
        catch (DirectoryNotFoundException) { throw new CliException($"--data: the file '{path}' does not exist."); }
        catch (TextDataException e) { throw new CliException($"--data: {e.Message}"); }
        catch (UnauthorizedAccessException) { throw new CliException($"--data: no permission to read '{path}'."); }
    }

    private static void CheckSeqLen(int seqLen, int trainTokens, bool builtin)
    {
        if (trainTokens < (long)seqLen + 1)
            throw new UsageException(builtin
                ? $"--seq-len {seqLen} is longer than the task's training text ({trainTokens} characters); use a smaller --seq-len."
                : $"--seq-len {seqLen} is longer than the training part of the text ({trainTokens} characters after holding out the validation part); use --seq-len {Math.Max(1, trainTokens - 1)} or less, or a longer file.");
    }

    /// <summary>SHA-256 of a file, lower-case hex.</summary>
    internal static string Sha256(string path)
    {
        using var fs = System.IO.File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
