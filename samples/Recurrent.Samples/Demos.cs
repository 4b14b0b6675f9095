// The registry of tutorial demos that `recurrent demo [NAME]` runs.
namespace Recurrent.Samples;

public static class Demos
{
    public sealed record Demo(string Name, string Description, Action<TextWriter> Run);

    public static IReadOnlyList<Demo> All { get; } = new[]
    {
        new Demo("relu-rnn", "The hand-computed ReLU RNN (RNNCell and RNN): outputs 5, 8, 16, 18", w => ReluRnnWorkedExample.Run(w)),
        new Demo("hello-rnncell", "\"hello\" -> \"ohlol\" with RNNCell on one-hot input (Adam, 15 epochs)", w => HelloOhlol.TrainRnnCell(w)),
        new Demo("hello-rnn", "\"hello\" -> \"ohlol\" with RNN on one-hot input", w => HelloOhlol.TrainRnn(w)),
        new Demo("hello-embedding", "\"hello\" -> \"ohlol\" with Embedding -> 2-layer batch_first RNN -> Linear", w => HelloOhlol.TrainEmbeddingRnn(w)),
        new Demo("hand-built-cells", "RNN of Linear layers (i2h, i2o, LogSoftmax); LSTM and GRU cells from one Linear per gate, checked against LSTMCell and GRUCell", w => HandBuiltCellsDemo.Run(w)),
        new Demo("lstm-tagger", "LSTM part-of-speech tagger on a toy tagged corpus", w => LstmTaggerDemo.Run(w)),
        new Demo("seq2seq-attention", "GRU encoder and Bahdanau-attention decoder (PyTorch's translation tutorial) learning to reverse digit strings; greedy decoding with topk(1)", w => AttentionSeq2SeqDemo.Run(w)),
        new Demo("shapes", "Shape walk-through: RNN(1027, 256); RNN/LSTM/GRU(20, 50, 2) on (100, 32, 20)", w => ShapeWalkthrough.Run(w)),
    };

    public static Demo? Find(string name) => All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));
}
