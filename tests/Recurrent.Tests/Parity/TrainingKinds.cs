// Parity for the "hello" -> "ohlol" training fixtures: the ported tutorial programs (samples/),
// started from PyTorch's initial weights, must reproduce every epoch's loss, the predictions and
// the final parameters.
using Recurrent.Samples;

namespace Recurrent.Tests.Parity;

public sealed class TrainingKinds : IParityHandler
{
    public IEnumerable<string> Kinds => new[] { "train_hello_rnncell", "train_hello_rnn", "train_hello_embedding_rnn" };

    public void Run(Fixture f)
    {
        var initial = f.TensorNames.Where(n => n.StartsWith("param.", StringComparison.Ordinal))
            .ToDictionary(n => n["param.".Length..], n => f[n]);
        int epochs = f["out.losses"].Numel;
        var r = f.Kind switch
        {
            "train_hello_rnncell" => HelloOhlol.TrainRnnCell(TextWriter.Null, initial, epochs),
            "train_hello_rnn" => HelloOhlol.TrainRnn(TextWriter.Null, initial, epochs),
            _ => HelloOhlol.TrainEmbeddingRnn(TextWriter.Null, initial, epochs),
        };
        f.AssertClose("out.losses", Tensor.FromArray(r.Losses));
        var preds = f["out.predictions"].ToArray<long>();
        for (int e = 0; e < epochs; e++)
            Assert.Equal(string.Concat(Enumerable.Range(0, 5).Select(i => HelloOhlol.Idx2Char[preds[e * 5 + i]])), r.Predictions[e]);
        foreach (var n in f.TensorNames.Where(n => n.StartsWith("final.param.", StringComparison.Ordinal)))
            f.AssertClose(n, r.FinalParameters[n["final.param.".Length..]]);
    }
}
