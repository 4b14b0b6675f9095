// README:usings
using Recurrent;
using Recurrent.Data;
using Recurrent.IO;
using Recurrent.Nn;
using Recurrent.Optim;
// README:end

// The README's end-to-end example. The code between the README markers is what README.md shows, character for
// character once indentation is removed (ReadmeTests checks it), so the README's example compiles and runs here.
namespace Recurrent.Tests.Docs;

internal static class ReadmeExample
{
    public static (double Accuracy, long[] Parallel, long[] Serial) Run()
    {
        // README:program
        // Sequences of 3 to 12 numbers; the label says whether their sum is positive.
        var g = new Generator(0);
        var samples = new List<(Tensor Sequence, Tensor Target)>();
        for (int i = 0; i < 600; i++)
        {
            var x = Tensor.Randn([3 + (int)g.NextLong(10), 1], DType.Float32, g);   // (L, 1)
            samples.Add((x, Tensor.Scalar(x.Sum().Item<float>() > 0 ? 1 : 0, DType.Int64)));
        }
        var train = samples.Take(500).ToList();
        var test = samples.Skip(500).ToList();

        // Batches of 32 in a new order every epoch, each one packed: the GRU never computes on padding.
        var loader = new DataLoader<(Tensor Sequence, Tensor Target), PackedBatch>(
            train, Collate.PackSequences, batchSize: 32, shuffle: true, generator: new Generator(1));
        var model = new SumSign(hiddenSize: 32);
        var optimizer = new Adam(model.Parameters(), lr: 0.01);
        var criterion = new CrossEntropyLoss();
        for (int epoch = 0; epoch < 8; epoch++)
            foreach (var batch in loader)
            {
                optimizer.ZeroGrad();
                var loss = criterion.Forward(model.Forward(batch.Input), batch.Target);
                loss.Backward();
                optimizer.Step();
            }

        // Accuracy on the held-out sequences; == is elementwise, as in PyTorch.
        model.Eval();
        var held = Collate.PackSequences(test);
        double accuracy;
        using (new NoGrad())
        {
            var predicted = model.Forward(held.Input).ArgMax(1);
            accuracy = (predicted == held.Target).Sum().Item<long>() / (double)test.Count;
        }
        Console.WriteLine($"held-out accuracy: {accuracy:P1}");

        // Save, load into a new model, and predict from many threads at once (eval-mode Forward is thread-safe).
        var path = Path.Combine(Directory.CreateTempSubdirectory().FullName, "sum-sign.safetensors");
        model.Save(path);
        var served = new SumSign(hiddenSize: 32);
        served.Load(path);
        served.Eval();
        long Predict(Tensor sequence)
        {
            using var _ = new NoGrad();                  // grad mode is per thread: each thread opens its own
            return served.Forward(PackedSequence.FromSequences([sequence])).ArgMax(1).Item<long>();
        }
        var predictions = new long[test.Count];
        Parallel.For(0, test.Count, i => predictions[i] = Predict(test[i].Sequence));
        // README:end
        var serial = test.Select(s => Predict(s.Sequence)).ToArray();
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        return (accuracy, predictions, serial);
    }
}

// README:model
// The model: a GRU over the packed batch and a linear head on each sequence's last state.
sealed class SumSign : Module<PackedSequence, Tensor>
{
    private readonly Gru _gru;
    private readonly Linear _head;

    public SumSign(int hiddenSize)
    {
        _gru = RegisterModule("gru", new Gru(inputSize: 1, hiddenSize));
        _head = RegisterModule("head", new Linear(hiddenSize, 2));
    }

    public override Tensor Forward(PackedSequence input)
    {
        var (_, hN) = _gru.Forward(input);               // h_n (1, B, H): each sequence's own last step
        return _head.Forward(hN[0]);                     // (B, 2) logits
    }
}
// README:end
