// Text generation from a trained model: temperature, top-k, and a seeded Generator for reproducible samples.
using Recurrent.Data;

namespace Recurrent.Cli.Model;

/// <summary>Generates characters from a <see cref="CharLanguageModel"/>.</summary>
public static class Sampler
{
    /// <summary>
    /// Reads <paramref name="prompt"/> (token ids, at least one) and then generates <paramref name="length"/> tokens,
    /// each drawn from softmax(logits / temperature) restricted to the <paramref name="topK"/> most likely
    /// (0: all), or the argmax when the temperature is 0. Each new token is passed to <paramref name="onToken"/>; the
    /// tokens are returned only when there is no <paramref name="onToken"/> (a streamed text of any length needs no array).
    /// </summary>
    public static long[] Generate(CharLanguageModel model, long[] prompt, int length, double temperature, int topK,
        Generator generator, Action<long>? onToken = null, CancellationToken cancellation = default)
    {
        if (prompt.Length == 0) throw new ArgumentException("The prompt needs at least one token.", nameof(prompt));
        model.Eval();
        using var _ = new NoGrad();
        int v = model.Config.VocabSize;
        var result = onToken is null ? new long[length] : [];
        var (logits, state) = model.Forward(Tensor.FromArray(prompt, prompt.Length, 1));
        var probs = new double[v];
        var order = new int[v];
        for (int k = 0; k < length; k++)
        {
            cancellation.ThrowIfCancellationRequested();
            float[] last = logits.Select(0, logits.Size(0) - 1).Contiguous().ToArray<float>(); // (1, vocab)
            long next = Pick(last, temperature, topK, generator, probs, order);
            if (onToken is null) result[k] = next;
            else onToken(next);
            if (k + 1 < length) (logits, state) = model.Forward(Tensor.FromArray([next], 1, 1), state);
        }
        return result;
    }

    /// <summary>Draws one token id from <paramref name="logits"/> (one row of vocab size).</summary>
    internal static long Pick(ReadOnlySpan<float> logits, double temperature, int topK, Generator generator, double[] probs, int[] order)
    {
        int v = logits.Length;
        int best = 0;
        for (int j = 1; j < v; j++) if (logits[j] > logits[best]) best = j;
        if (temperature == 0 || topK == 1) return best;

        // Keep the top-k logits (ties broken by id, so the choice is deterministic), then softmax over them.
        int keep = topK <= 0 || topK > v ? v : topK;
        for (int j = 0; j < v; j++) order[j] = j;
        float[] copy = logits.ToArray();
        Array.Sort(order, (a, b) => copy[b] != copy[a] ? copy[b].CompareTo(copy[a]) : a.CompareTo(b));
        double max = logits[best], sum = 0;
        Array.Clear(probs);
        for (int i = 0; i < keep; i++)
        {
            int j = order[i];
            probs[j] = Math.Exp((logits[j] - max) / temperature);
            sum += probs[j];
        }
        double u = generator.NextDouble() * sum, acc = 0;
        for (int i = 0; i < keep; i++)
        {
            int j = order[i];
            acc += probs[j];
            if (u < acc) return j;
        }
        return order[keep - 1];
    }
}
