// Seed tutorial 001 (LSTMTagger): part-of-speech tagging with Embedding -> LSTM -> Linear -> log_softmax,
// trained with NLLLoss and SGD(lr = 0.1) on a toy tagged corpus, as in PyTorch's sequence-models tutorial.
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Samples;

public sealed class LstmTaggerModel : Module
{
    public LstmTaggerModel(int embeddingDim, int hiddenDim, int vocabSize, int tagsetSize, Generator? gen = null)
    {
        WordEmbeddings = RegisterModule("word_embeddings", new Embedding(vocabSize, embeddingDim, generator: gen));
        Lstm = RegisterModule("lstm", new Lstm(embeddingDim, hiddenDim, generator: gen));
        Hidden2Tag = RegisterModule("hidden2tag", new Linear(hiddenDim, tagsetSize, generator: gen));
    }

    public Embedding WordEmbeddings { get; }
    public Lstm Lstm { get; }
    public Linear Hidden2Tag { get; }
    public override string TypeName => "LSTMTagger";

    /// <summary>Tag scores (log-probabilities) for each word: (len, tagset).</summary>
    public Tensor Forward(Tensor sentence)
    {
        var embeds = WordEmbeddings.Forward(sentence);
        var (lstmOut, _) = Lstm.Forward(embeds.View(sentence.Size(0), 1, -1));
        var tagSpace = Hidden2Tag.Forward(lstmOut.View(sentence.Size(0), -1));
        return tagSpace.LogSoftmax(1);
    }
}

public static class LstmTaggerDemo
{
    public static readonly (string[] Words, string[] Tags)[] TrainingData =
    {
        ("The dog ate the apple".Split(' '), new[] { "DET", "NN", "V", "DET", "NN" }),
        ("Everybody read that book".Split(' '), new[] { "NN", "V", "DET", "NN" }),
    };

    public sealed record Result(float FirstLoss, float LastLoss, string[][] Predicted, string[][] Expected);

    public static Result Run(TextWriter log, int epochs = 300, ulong seed = 1)
    {
        var wordToIx = new Dictionary<string, long>();
        foreach (var (words, _) in TrainingData)
            foreach (var w in words) wordToIx.TryAdd(w, wordToIx.Count);
        string[] tags = { "DET", "NN", "V" };
        var tagToIx = tags.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => (long)p.i);
        Tensor Seq(IEnumerable<string> items, Dictionary<string, long> ix) => Tensor.FromArray(items.Select(w => ix[w]).ToArray());

        var gen = new Generator(seed);
        var model = new LstmTaggerModel(embeddingDim: 6, hiddenDim: 6, wordToIx.Count, tags.Length, gen);
        var lossFn = new NLLLoss();
        var optimizer = new Sgd(model.Parameters(), lr: 0.1);
        float first = 0, last = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            float total = 0;
            foreach (var (words, wordTags) in TrainingData)
            {
                model.ZeroGrad();
                var scores = model.Forward(Seq(words, wordToIx));
                var loss = lossFn.Forward(scores, Seq(wordTags, tagToIx));
                loss.Backward();
                optimizer.Step();
                total += loss.Item<float>();
            }
            if (epoch == 0) first = total;
            last = total;
            if (epoch % 100 == 0 || epoch == epochs - 1) log.WriteLine($"epoch {epoch + 1}: loss {total:F4}");
        }
        var predicted = new List<string[]>();
        using (new NoGrad())
            foreach (var (words, _) in TrainingData)
            {
                var idx = model.Forward(Seq(words, wordToIx)).ArgMax(1).ToArray<long>();
                predicted.Add(idx.Select(i => tags[i]).ToArray());
                log.WriteLine($"{string.Join(' ', words)} -> {string.Join(' ', predicted[^1])}");
            }
        return new Result(first, last, predicted.ToArray(), TrainingData.Select(d => d.Tags).ToArray());
    }
}
