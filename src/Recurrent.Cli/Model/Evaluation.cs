// Measuring a model: mean next-character loss over a token stream, and exact-match accuracy of greedy completions.
using Recurrent.Cli.Tasks;
using Recurrent.Data;
using Recurrent.Nn;

namespace Recurrent.Cli.Model;

/// <summary>Evaluation of a <see cref="CharLanguageModel"/> (eval mode, no gradient; the mode is restored after).</summary>
public static class Evaluation
{
    /// <summary>
    /// Mean cross-entropy in nats per predicted character over <paramref name="tokens"/>, cut into consecutive windows
    /// of <paramref name="seqLen"/> (each starting from a zero state, as in training), <paramref name="batchSize"/> at a time.
    /// </summary>
    /// <param name="model">The model (its mode is restored after).</param>
    /// <param name="tokens">The token stream.</param>
    /// <param name="seqLen">Window length.</param>
    /// <param name="batchSize">Windows evaluated at once.</param>
    /// <param name="cancellation">Stops between batches.</param>
    /// <param name="progress">Called after each batch with the characters predicted so far and in all.</param>
    /// <returns>The mean loss and the number of predicted characters.</returns>
    public static (double Loss, long Count) Loss(CharLanguageModel model, long[] tokens, int seqLen, int batchSize,
        CancellationToken cancellation = default, Action<long, long>? progress = null)
    {
        if (tokens.Length < 2) throw new TextDataException($"Evaluation needs at least 2 characters, got {tokens.Length}.");
        bool wasTraining = model.Training;
        model.Eval();
        try
        {
            using var _ = new NoGrad();
            var batcher = new SequenceBatcher(tokens, Math.Min(seqLen, tokens.Length - 1), batchSize);
            double sum = 0;
            long count = 0;
            foreach (TokenBatch batch in batcher.Sequential())
            {
                cancellation.ThrowIfCancellationRequested();
                var (logits, _) = model.Forward(batch.Input);
                Tensor loss = Functional.CrossEntropy(logits.Reshape(-1, model.Config.VocabSize), batch.Target.Reshape(-1),
                    reduction: Reduction.Sum);
                sum += loss.ToDouble();
                count += batch.TokenCount;
                progress?.Invoke(count, tokens.Length - 1);
            }
            return (sum / count, count);
        }
        finally
        {
            model.Train(wasTraining);
        }
    }

    /// <summary>
    /// The fraction of <paramref name="problems"/> whose answer the model completes exactly by greedy decoding
    /// (argmax at each step) after reading the prompt from a zero state.
    /// </summary>
    public static (double Accuracy, int Correct) GreedyAccuracy(CharLanguageModel model, CharVocabulary vocab,
        IReadOnlyList<SkillProblem> problems, int chunk = 512, CancellationToken cancellation = default)
    {
        if (problems.Count == 0) return (0, 0);
        bool wasTraining = model.Training;
        model.Eval();
        try
        {
            using var _ = new NoGrad();
            int correct = 0;
            // Problems with prompts and answers of equal lengths decode together.
            foreach (var group in problems.GroupBy(p => (CharVocabulary.CountRunes(p.Prompt), CharVocabulary.CountRunes(p.Answer))))
            {
                var list = group.ToList();
                for (int first = 0; first < list.Count; first += chunk)
                {
                    cancellation.ThrowIfCancellationRequested();
                    var part = list.GetRange(first, Math.Min(chunk, list.Count - first));
                    string[] completions = GreedyComplete(model, vocab, part.Select(p => p.Prompt).ToList(), group.Key.Item2);
                    for (int i = 0; i < part.Count; i++)
                        if (completions[i] == part[i].Answer) correct++;
                }
            }
            return ((double)correct / problems.Count, correct);
        }
        finally
        {
            model.Train(wasTraining);
        }
    }

    /// <summary>Greedy completions of <paramref name="length"/> characters for prompts of one common length.</summary>
    public static string[] GreedyComplete(CharLanguageModel model, CharVocabulary vocab, IReadOnlyList<string> prompts, int length)
    {
        int batch = prompts.Count;
        long[][] encoded = prompts.Select(p => vocab.Encode(p, "the prompt")).ToArray();
        int promptLen = encoded[0].Length;
        if (encoded.Any(e => e.Length != promptLen)) throw new ArgumentException("Prompts must have equal lengths.", nameof(prompts));
        var input = new long[promptLen * batch];                // (promptLen, batch)
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < promptLen; t++) input[t * batch + b] = encoded[b][t];
        var outputs = new long[batch][];
        for (int b = 0; b < batch; b++) outputs[b] = new long[length];
        using var _ = new NoGrad();
        var (logits, state) = model.Forward(Tensor.FromArray(input, promptLen, batch));
        for (int k = 0; k < length; k++)
        {
            float[] last = logits.Select(0, logits.Size(0) - 1).Contiguous().ToArray<float>(); // (batch, vocab)
            var next = new long[batch];
            int v = model.Config.VocabSize;
            for (int b = 0; b < batch; b++)
            {
                int best = 0;
                for (int j = 1; j < v; j++) if (last[b * v + j] > last[b * v + best]) best = j;
                next[b] = best;
                outputs[b][k] = best;
            }
            if (k + 1 < length) (logits, state) = model.Forward(Tensor.FromArray(next, 1, batch), state);
        }
        return outputs.Select(o => vocab.Decode(o)).ToArray();
    }
}
