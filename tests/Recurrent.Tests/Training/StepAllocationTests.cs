// The managed bytes one training step allocates once warm (DECISIONS 45, 47): the README's char-LM step (embedding,
// 2-layer LSTM, linear head, cross-entropy, clipping, Adam, one dispose scope) on a small model, on one thread so
// every allocation is the calling thread's. What is left is bookkeeping: the step's tensor objects, autograd nodes
// and their closures; no gradient, lease, scope list or walk collection is made again. The bound sits above what
// the step takes today (9,439 bytes on .NET 10, the recipe's own step 9,343) and far below what it took before stop 34
// (15,882; the recipe's 15,915): a change that brings back the scope's list (~1.1 KB a step) or the strides arrays
// (~1.3 KB) fails it alone; the gradient views (~0.7 KB) and the leases (~0.6 KB), which it would catch only
// together, have their own tests (GradientReuseTests, StoragePoolTests).
using Recurrent.Kernels;
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Training;

[Collection(Serial.Name)]   // the storage pool's limits, which StoragePoolTests change, decide what a step allocates
public class StepAllocationTests
{
    private const long MaxBytesPerStep = 10_400;
    private const int V = 65, E = 32, H = 64, T = 32, B = 32;

    [Fact]
    public void AWarmCharLmStepAllocatesOnlyItsBookkeeping()
    {
        var gen = new Generator(11);
        // 32 steps of 32 rows: every per-row array (ids, targets, the loss's row statistics) and the table's gradient
        // are 4 KB or more, so they come from the dispose scope's pool, as the recipe's do.
        var embed = new Embedding(V, E, generator: gen);
        var lstm = new Lstm(E, H, numLayers: 2, generator: gen);
        var head = new Linear(H, V, generator: gen);
        var parameters = embed.Parameters().Concat(lstm.Parameters()).Concat(head.Parameters()).ToArray();
        var opt = new Adam(parameters, 2e-3);
        var criterion = new CrossEntropyLoss();
        var ids = new long[T * B];
        var targets = new long[T * B];
        var rng = new Random(5);

        void Step()
        {
            for (int i = 0; i < ids.Length; i++) { ids[i] = rng.Next(V); targets[i] = rng.Next(V); }
            using var scope = Tensor.NewDisposeScope();
            opt.ZeroGrad();
            var (h, _) = lstm.Forward(embed.Forward(Tensor.FromArray(ids, T, B)));
            var loss = criterion.Forward(head.Forward(h).Reshape(-1, V), Tensor.FromArray(targets, T * B));
            loss.Backward();
            ClipGrad.ClipGradNorm(parameters, 5.0);
            opt.Step();
        }

        using (Parallelism.SingleThreaded())
        {
            for (int i = 0; i < 5; i++) Step();
            const int steps = 20;
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < steps; i++) Step();
            long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / steps;
            Assert.True(perStep <= MaxBytesPerStep, $"a warm step allocated {perStep} bytes; expected at most {MaxBytesPerStep}");
            Assert.True(perStep > 0);   // the measurement sees the step at all
        }
    }
}
