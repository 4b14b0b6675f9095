// The sampler runs on a LanguageModelStream; it draws exactly the tokens that the model's Forward (the whole
// prompt, then one token at a time with the state carried) and a straightforward top-k/temperature draw give.
using Recurrent.Cli.Model;

namespace Recurrent.Tests.Cli;

public class SamplerTests
{
    // The reference sampler: the model's Forward over tensors and a plain sort with a comparer.
    private static long[] Reference(CharLanguageModel model, long[] prompt, int length, double temperature, int topK, Generator generator)
    {
        using var _ = new NoGrad();
        var result = new long[length];
        var (logits, state) = model.Forward(Tensor.FromArray(prompt, prompt.Length, 1));
        for (int k = 0; k < length; k++)
        {
            float[] last = logits.Select(0, logits.Size(0) - 1).Contiguous().ToArray<float>();
            int v = last.Length, best = 0;
            for (int j = 1; j < v; j++) if (last[j] > last[best]) best = j;
            long next = best;
            if (temperature != 0 && topK != 1)
            {
                int keep = topK <= 0 || topK > v ? v : topK;
                var order = Enumerable.Range(0, v).ToArray();
                Array.Sort(order, (a, b) => last[b] != last[a] ? last[b].CompareTo(last[a]) : a.CompareTo(b));
                var probs = new double[v];
                double sum = 0;
                for (int i = 0; i < keep; i++) { probs[order[i]] = Math.Exp((last[order[i]] - last[best]) / temperature); sum += probs[order[i]]; }
                double u = generator.NextDouble() * sum, acc = 0;
                next = order[keep - 1];
                for (int i = 0; i < keep; i++)
                {
                    acc += probs[order[i]];
                    if (u < acc) { next = order[i]; break; }
                }
            }
            result[k] = next;
            (logits, state) = model.Forward(Tensor.FromArray([next], 1, 1), state);
        }
        return result;
    }

    [Theory]
    [InlineData("lstm", 2, 0.8, 0)]
    [InlineData("lstm", 1, 1.3, 5)]
    [InlineData("gru", 2, 0.5, 0)]
    [InlineData("rnn", 1, 0.0, 0)]
    [InlineData("int8 lstm", 2, 0.8, 0)]
    public void Generate_DrawsTheTokensOfTheForwardPath(string kind, int layers, double temperature, int topK)
    {
        bool int8 = kind.StartsWith("int8 ", StringComparison.Ordinal);
        var config = new ModelConfig { Kind = int8 ? kind[5..] : kind, VocabSize = 30, EmbeddingSize = 8, HiddenSize = 24, NumLayers = layers, Dropout = 0.2 };
        var model = new CharLanguageModel(config, new Generator(4), new Generator(5));   // training mode: Generate switches to eval
        if (int8) Recurrent.Quantization.Quantizer.QuantizeDynamic(model.Eval());
        long[] prompt = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8];
        long[] got = Sampler.Generate(model, prompt, 60, temperature, topK, new Generator(77));
        Assert.False(model.Training);
        long[] expected = Reference(model, prompt, 60, temperature, topK, new Generator(77));
        Assert.Equal(expected, got);
        if (temperature > 0) Assert.True(got.Distinct().Count() > 3, "a warm sample draws several tokens");

        var streamed = new List<long>();
        Sampler.Generate(model, prompt, 60, temperature, topK, new Generator(77), streamed.Add);
        Assert.Equal(expected, streamed);
    }
}
