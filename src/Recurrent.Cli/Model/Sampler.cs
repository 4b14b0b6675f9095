// Text generation from a trained model: temperature, top-k, and a seeded Generator for reproducible samples.
// The model runs on a LanguageModelStream (the prompt in one call, then one token per step, the state carried
// between steps): the same logits as the model's Forward, with no allocation per generated token.
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
    /// <remarks>
    /// Safe to call from many threads at once on one model in eval mode (each call has its own stream and state; the
    /// model is only read). A model in training mode is switched to eval mode first.
    /// </remarks>
    public static long[] Generate(CharLanguageModel model, long[] prompt, int length, double temperature, int topK,
        Generator generator, Action<long>? onToken = null, CancellationToken cancellation = default)
    {
        if (prompt.Length == 0) throw new ArgumentException("The prompt needs at least one token.", nameof(prompt));
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, $"length: expected a number of tokens >= 0, got {length}.");
        if (model.Training) model.Eval();
        int v = model.Config.VocabSize;
        var result = onToken is null ? new long[length] : [];
        var stream = model.CreateStream();
        var logits = new float[v];
        stream.Run(prompt, logits);                              // the whole prompt; logits of its last step
        var scratch = new SamplerScratch(v);
        var token = new long[1];
        for (int k = 0; k < length; k++)
        {
            cancellation.ThrowIfCancellationRequested();
            long next = Pick(logits, temperature, topK, generator, scratch);
            if (onToken is null) result[k] = next;
            else onToken(next);
            if (k + 1 < length)
            {
                token[0] = next;
                stream.Step(token, logits);
            }
        }
        return result;
    }

    /// <summary>Draws one token id from <paramref name="logits"/> (one row of vocab size); allocates nothing.</summary>
    internal static long Pick(ReadOnlySpan<float> logits, double temperature, int topK, Generator generator, SamplerScratch scratch)
    {
        int v = logits.Length;
        int best = 0;
        for (int j = 1; j < v; j++) if (logits[j] > logits[best]) best = j;
        if (temperature == 0 || topK == 1) return best;

        // Keep the top-k logits (ties broken by id, so the choice is deterministic), then softmax over them. The order
        // comes from sorting keys that hold (logit descending, id ascending) in one integer: no comparer, no allocation.
        int keep = topK <= 0 || topK > v ? v : topK;
        var keys = scratch.Keys.AsSpan(0, v);
        for (int j = 0; j < v; j++) keys[j] = ((ulong)DescendingKey(logits[j]) << 32) | (uint)j;
        keys.Sort();
        var order = scratch.Order.AsSpan(0, v);
        for (int i = 0; i < v; i++) order[i] = (int)(uint)keys[i];
        var probs = scratch.Probs;
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

    /// <summary>A key that sorts larger logits first (-0 and +0 equal).</summary>
    private static uint DescendingKey(float logit)
    {
        uint bits = BitConverter.SingleToUInt32Bits(logit + 0f);
        uint ascending = (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
        return ~ascending;
    }
}

/// <summary>Reused buffers of <see cref="Sampler.Pick"/> for one vocabulary size.</summary>
internal sealed class SamplerScratch(int vocab)
{
    public double[] Probs { get; } = new double[vocab];
    public int[] Order { get; } = new int[vocab];
    public ulong[] Keys { get; } = new ulong[vocab];
}
