// Evaluation during training: the validation loss, and for the built-in task the held-out exact-match accuracy.
using System.Globalization;
using Recurrent.Cli.Model;

namespace Recurrent.Cli.Training;

/// <summary>Measures a model on a run's validation data.</summary>
internal static class RunEvaluator
{
    /// <summary>Windows evaluated at once during training (and by default by <c>eval --split validation</c>).</summary>
    public static int BatchSize(TrainingConfig cfg) => Math.Max(cfg.BatchSize, 64);

    /// <summary>The window length of validation: for the built-in task whole lines, each starting at a newline as in training.</summary>
    public static int SeqLen(TrainingConfig cfg, int? lineLength) =>
        lineLength is { } line ? Math.Max(line, cfg.SeqLen / line * line) : cfg.SeqLen;

    /// <summary>Validation loss (and accuracy) after <paramref name="step"/>.</summary>
    public static EvalRecord Evaluate(CharLanguageModel model, TrainingData data, TrainingConfig cfg, long step, CancellationToken cancellation = default)
    {
        double loss = data.ValTokens.Length >= 2
            ? Evaluation.Loss(model, data.ValTokens, SeqLen(cfg, data.LineLength), BatchSize(cfg), cancellation).Loss
            : double.NaN;
        double? accuracy = data.Problems is { } p ? Evaluation.GreedyAccuracy(model, data.Vocab, p, cancellation: cancellation).Accuracy : null;
        return new EvalRecord { Step = step, Loss = loss, Accuracy = accuracy };
    }

    /// <summary>"validation loss 1.2345 nats/char (1.7810 bits/char)[, held-out exact-match accuracy 99.0 %]".</summary>
    public static string Describe(EvalRecord e) =>
        string.Create(CultureInfo.InvariantCulture, $"validation loss {e.Loss:0.0000} nats/char ({e.Loss / Math.Log(2):0.0000} bits/char)")
        + (e.Accuracy is { } acc ? string.Create(CultureInfo.InvariantCulture, $", held-out exact-match accuracy {acc:P1}") : "");
}
