// Seed tutorial 002: learn "hello" -> "ohlol" three ways, with CrossEntropyLoss and Adam, 15 epochs:
// RNNCell on one-hot input, RNN on one-hot input, and Embedding -> 2-layer batch_first RNN -> Linear.
// Each trainer can start from given initial weights (the fixtures' train_hello_* files hold PyTorch's)
// and then reproduces PyTorch's loss of every epoch.
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Samples;

public static class HelloOhlol
{
    public static readonly char[] Idx2Char = { 'e', 'h', 'l', 'o' };
    public static readonly long[] XData = { 1, 0, 2, 2, 3 };   // "hello"
    public static readonly long[] YData = { 3, 1, 2, 3, 2 };   // "ohlol"

    public sealed record Result(float[] Losses, string[] Predictions, IReadOnlyDictionary<string, Tensor> FinalParameters);

    /// <summary>One-hot rows of "hello": (5, 1, 4).</summary>
    public static Tensor OneHotInputs()
    {
        var x = Tensor.Zeros(5, 1, 4);
        for (int t = 0; t < 5; t++) x[t, 0].Select(0, (int)XData[t]).Fill_(1);
        return x;
    }

    /// <summary>nn.RNNCell(4, 4); loss summed over the 5 steps; lr 0.1.</summary>
    public sealed class RnnCellModel : Module
    {
        public RnnCellModel() => RegisterModule("rnncell", new RnnCell(4, 4));
        public RnnCell Cell => (RnnCell)NamedChildren().First().Module;
    }

    public static Result TrainRnnCell(TextWriter log, IReadOnlyDictionary<string, Tensor>? initial = null, int epochs = 15)
    {
        var net = new RnnCellModel();
        if (initial is not null) net.LoadStateDict(initial);
        var inputs = OneHotInputs();
        var criterion = new CrossEntropyLoss();
        var optimizer = new Adam(net.Parameters(), lr: 0.1);
        var losses = new List<float>(); var preds = new List<string>();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            optimizer.ZeroGrad();
            var hidden = Tensor.Zeros(1, 4);
            Tensor? loss = null;
            var predicted = new System.Text.StringBuilder();
            for (int t = 0; t < 5; t++)
            {
                hidden = net.Cell.Forward(inputs[t], hidden);
                var l = criterion.Forward(hidden, Tensor.FromArray(new[] { YData[t] }, 1));
                loss = loss is null ? l : loss + l;
                predicted.Append(Idx2Char[hidden.ArgMax(1).Item<long>()]);
            }
            loss!.Backward();
            optimizer.Step();
            losses.Add(loss.Item<float>());
            preds.Add(predicted.ToString());
            log.WriteLine($"Predicted string: {predicted}, Epoch [{epoch + 1}/{epochs}] loss={loss.Item<float>():F4}");
        }
        return new Result(losses.ToArray(), preds.ToArray(), net.StateDict());
    }

    /// <summary>nn.RNN(4, 4, 1) over the whole sequence; lr 0.1.</summary>
    public sealed class RnnModel : Module
    {
        public RnnModel() => RegisterModule("rnn", new Rnn(4, 4, numLayers: 1));
        public Rnn Rnn => (Rnn)NamedChildren().First().Module;
        public Tensor Forward(Tensor input)
        {
            var hidden = Tensor.Zeros(1, 1, 4);
            var (output, _) = Rnn.Forward(input, hidden);
            return output.View(-1, 4);
        }
    }

    public static Result TrainRnn(TextWriter log, IReadOnlyDictionary<string, Tensor>? initial = null, int epochs = 15)
    {
        var net = new RnnModel();
        if (initial is not null) net.LoadStateDict(initial);
        var inputs = OneHotInputs();
        var labels = Tensor.FromArray(YData);
        return TrainWhole(log, net, () => net.Forward(inputs), labels, new Adam(net.Parameters(), lr: 0.1), epochs);
    }

    /// <summary>Embedding(4, 10) -> RNN(10, 8, num_layers=2, batch_first=True) -> Linear(8, 4); lr 0.05.</summary>
    public sealed class EmbeddingRnnModel : Module
    {
        public EmbeddingRnnModel()
        {
            RegisterModule("emb", new Embedding(4, 10));
            RegisterModule("rnn", new Rnn(10, 8, numLayers: 2, batchFirst: true));
            RegisterModule("fc", new Linear(8, 4));
        }

        private T Child<T>(string name) where T : Module => (T)NamedChildren().First(c => c.Name == name).Module;

        public Tensor Forward(Tensor x)
        {
            var hidden = Tensor.Zeros(2, x.Size(0), 8);
            var e = Child<Embedding>("emb").Forward(x);
            var (o, _) = Child<Rnn>("rnn").Forward(e, hidden);
            return Child<Linear>("fc").Forward(o).View(-1, 4);
        }
    }

    public static Result TrainEmbeddingRnn(TextWriter log, IReadOnlyDictionary<string, Tensor>? initial = null, int epochs = 15)
    {
        var net = new EmbeddingRnnModel();
        if (initial is not null) net.LoadStateDict(initial);
        var inputs = Tensor.FromArray(XData, 1, 5);
        var labels = Tensor.FromArray(YData);
        return TrainWhole(log, net, () => net.Forward(inputs), labels, new Adam(net.Parameters(), lr: 0.05), epochs);
    }

    private static Result TrainWhole(TextWriter log, Module net, Func<Tensor> forward, Tensor labels, Optimizer optimizer, int epochs)
    {
        var criterion = new CrossEntropyLoss();
        var losses = new List<float>(); var preds = new List<string>();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            optimizer.ZeroGrad();
            var outputs = forward();
            var loss = criterion.Forward(outputs, labels);
            loss.Backward();
            optimizer.Step();
            var idx = outputs.Max(1).Indices.ToArray<long>();
            var s = new string(idx.Select(i => Idx2Char[i]).ToArray());
            losses.Add(loss.Item<float>());
            preds.Add(s);
            log.WriteLine($"Predicted: {s}, Epoch [{epoch + 1}/{epochs}] loss={loss.Item<float>():F4}");
        }
        return new Result(losses.ToArray(), preds.ToArray(), net.StateDict());
    }
}
