// PyTorch's "Translation with a Sequence to Sequence Network and Attention" tutorial, ported: EncoderRNN (Embedding ->
// GRU, batch_first), BahdanauAttention (Va(tanh(Wa(query) + Ua(keys))), softmax, bmm) and AttnDecoderRNN (teacher
// forcing in training, greedy decoding with topk(1) otherwise), trained with NLLLoss and Adam. The task is a toy one
// that needs no download: reversing digit strings of 3 to 6 digits. One addition to the tutorial: the attention
// scores of padded source positions are masked with masked_fill(-inf), so a short input attends to its own steps only.
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Samples;

public sealed class EncoderRnn : Module
{
    public EncoderRnn(int inputSize, int hiddenSize, double dropoutP, Generator gen)
    {
        Embedding = RegisterModule("embedding", new Embedding(inputSize, hiddenSize, generator: gen));
        Gru = RegisterModule("gru", new Gru(hiddenSize, hiddenSize, batchFirst: true, generator: gen));
        Dropout = RegisterModule("dropout", new Dropout(dropoutP, gen));
    }

    public Embedding Embedding { get; }
    public Gru Gru { get; }
    public Dropout Dropout { get; }

    /// <summary>(B, S) token ids -> outputs (B, S, H) and the last hidden state (1, B, H).</summary>
    public (Tensor Output, Tensor Hidden) Forward(Tensor input) => Gru.Forward(Dropout.Forward(Embedding.Forward(input)));
}

public sealed class BahdanauAttention : Module
{
    public BahdanauAttention(int hiddenSize, Generator gen)
    {
        Wa = RegisterModule("Wa", new Linear(hiddenSize, hiddenSize, generator: gen));
        Ua = RegisterModule("Ua", new Linear(hiddenSize, hiddenSize, generator: gen));
        Va = RegisterModule("Va", new Linear(hiddenSize, 1, generator: gen));
    }

    public Linear Wa { get; }
    public Linear Ua { get; }
    public Linear Va { get; }

    /// <summary>query (B, 1, H), keys (B, S, H), padding (B, 1, S): 1 on padded source steps -> context (B, 1, H), weights (B, 1, S).</summary>
    public (Tensor Context, Tensor Weights) Forward(Tensor query, Tensor keys, Tensor padding)
    {
        var scores = Va.Forward(Wa.Forward(query).Add(Ua.Forward(keys)).Tanh());   // (B, S, 1)
        scores = scores.Squeeze(2).Unsqueeze(1).MaskedFill(padding, double.NegativeInfinity);
        var weights = scores.Softmax(-1);
        return (weights.Bmm(keys), weights);
    }
}

public sealed class AttnDecoderRnn : Module
{
    public AttnDecoderRnn(int hiddenSize, int outputSize, double dropoutP, Generator gen)
    {
        Embedding = RegisterModule("embedding", new Embedding(outputSize, hiddenSize, generator: gen));
        Attention = RegisterModule("attention", new BahdanauAttention(hiddenSize, gen));
        Gru = RegisterModule("gru", new Gru(2 * hiddenSize, hiddenSize, batchFirst: true, generator: gen));
        Out = RegisterModule("out", new Linear(hiddenSize, outputSize, generator: gen));
        Dropout = RegisterModule("dropout", new Dropout(dropoutP, gen));
    }

    public Embedding Embedding { get; }
    public BahdanauAttention Attention { get; }
    public Gru Gru { get; }
    public Linear Out { get; }
    public Dropout Dropout { get; }

    /// <summary>
    /// Decodes <paramref name="maxLength"/> steps from SOS: with <paramref name="target"/> (B, maxLength) the next input is
    /// the target token (teacher forcing), else the previous step's argmax (topk(1)). Returns log-probabilities
    /// (B, maxLength, V) and the attention weights (B, maxLength, S).
    /// </summary>
    public (Tensor LogProbs, Tensor Attentions) Forward(Tensor encoderOutputs, Tensor encoderHidden, Tensor padding, int maxLength, Tensor? target = null)
    {
        int batch = encoderOutputs.Size(0);
        var input = Tensor.Full([batch, 1], AttentionSeq2SeqDemo.Sos, DType.Int64);
        var hidden = encoderHidden;
        var outputs = new List<Tensor>();
        var attentions = new List<Tensor>();
        for (int i = 0; i < maxLength; i++)
        {
            var embedded = Dropout.Forward(Embedding.Forward(input));              // (B, 1, H)
            var query = hidden.Permute(1, 0, 2);                                   // (B, 1, H)
            var (context, weights) = Attention.Forward(query, encoderOutputs, padding);
            Tensor output;
            (output, hidden) = Gru.Forward(Tensor.Cat([embedded, context], 2), hidden);
            outputs.Add(Out.Forward(output));
            attentions.Add(weights);
            if (target is not null) input = target[.., i].Unsqueeze(1);
            else
            {
                var (_, topi) = outputs[^1].TopK(1);
                input = topi.Squeeze(-1).Detach();
            }
        }
        return (Tensor.Cat(outputs, 1).LogSoftmax(-1), Tensor.Cat(attentions, 1));
    }
}

public static class AttentionSeq2SeqDemo
{
    public const long Pad = 0, Sos = 1, Eos = 2;
    private const int FirstDigit = 3, Vocabulary = 13, MinDigits = 3, MaxDigits = 6, MaxLength = MaxDigits + 1;

    public sealed record Result(float FirstLoss, float LastLoss, double ExactMatch, string Example, string ExampleOutput);

    // A batch of digit strings (B, MaxDigits) padded with Pad, their reversals + EOS (B, MaxLength), and the padding mask
    // (B, 1, MaxDigits): 1 on padded source steps.
    private static (Tensor Source, Tensor Target, Tensor Padding, long[][] Digits) Batch(Random r, int size)
    {
        var src = new long[size * MaxDigits];
        var tgt = new long[size * MaxLength];
        var pad = new long[size * MaxDigits];
        var digits = new long[size][];
        for (int b = 0; b < size; b++)
        {
            int n = r.Next(MinDigits, MaxDigits + 1);
            digits[b] = new long[n];
            for (int i = 0; i < n; i++) digits[b][i] = FirstDigit + r.Next(10);
            for (int i = 0; i < MaxDigits; i++)
            {
                src[b * MaxDigits + i] = i < n ? digits[b][i] : Pad;
                pad[b * MaxDigits + i] = i < n ? 0 : 1;
            }
            for (int i = 0; i < MaxLength; i++) tgt[b * MaxLength + i] = i < n ? digits[b][n - 1 - i] : i == n ? Eos : Pad;
        }
        return (Tensor.FromArray(src, size, MaxDigits), Tensor.FromArray(tgt, size, MaxLength), Tensor.FromArray(pad, size, 1, MaxDigits), digits);
    }

    private static string Text(IEnumerable<long> tokens) =>
        string.Concat(tokens.TakeWhile(t => t != Eos && t != Pad).Select(t => t >= FirstDigit ? (char)('0' + t - FirstDigit) : '?'));

    public static Result Run(TextWriter log, int steps = 400, int hiddenSize = 32, int batchSize = 32, ulong seed = 1)
    {
        var gen = new Generator(seed);
        var data = new Random((int)seed);
        var encoder = new EncoderRnn(Vocabulary, hiddenSize, 0.1, gen);
        var decoder = new AttnDecoderRnn(hiddenSize, Vocabulary, 0.1, gen);
        var parameters = encoder.Parameters().Concat(decoder.Parameters()).ToList();
        var optimizer = new Adam(parameters, lr: 0.01);
        var criterion = new NLLLoss(ignoreIndex: Pad);
        float first = 0, last = 0;
        for (int step = 1; step <= steps; step++)
        {
            using var scope = Tensor.NewDisposeScope();
            var (source, target, padding, _) = Batch(data, batchSize);
            optimizer.ZeroGrad();
            var (encoderOutputs, encoderHidden) = encoder.Forward(source);
            var (logProbs, _) = decoder.Forward(encoderOutputs, encoderHidden, padding, MaxLength, target);
            var loss = criterion.Forward(logProbs.View(-1, Vocabulary), target.View(-1));
            loss.Backward();
            optimizer.Step();
            float value = loss.Item<float>();
            if (step == 1) first = value;
            last = value;
            if (step % 100 == 0) log.WriteLine($"step {step,4}  loss {value:F4}");
        }

        // Greedy decoding (topk(1) fed back) of new strings, in eval mode.
        encoder.Eval();
        decoder.Eval();
        using var noGrad = new NoGrad();
        var (testSource, _, testPadding, testDigits) = Batch(new Random((int)seed + 1000), 200);
        var (outputs, hidden) = encoder.Forward(testSource);
        var (decoded, _) = decoder.Forward(outputs, hidden, testPadding, MaxLength);
        var predicted = decoded.ArgMax(-1).ToArray<long>();
        int correct = 0;
        for (int b = 0; b < testDigits.Length; b++)
        {
            var expected = Text(testDigits[b].Reverse());
            if (Text(predicted.Skip(b * MaxLength).Take(MaxLength)) == expected) correct++;
        }
        double exact = correct / (double)testDigits.Length;
        string example = Text(testDigits[0]), exampleOut = Text(predicted.Take(MaxLength));
        log.WriteLine($"exact reversals of 200 new strings: {exact:P1}; {example} -> {exampleOut}");
        return new Result(first, last, exact, example, exampleOut);
    }
}
