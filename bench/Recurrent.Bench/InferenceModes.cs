// Eval-mode inference with and without NoGrad, and from two callers at once (issue 14: inference that forgives a
// forgotten NoGrad). One shared 2-layer LSTM(64, 128) in eval mode, input (20, 16, 64); each call is one Forward
// inside its own dispose scope, as a server's request handler would run it.
//   nograd      10,000 calls under NoGrad on one thread
//   recorded    10,000 calls with autograd recording on (the graph is built and never backpropagated)
//   recorded-2  the same 10,000 recorded calls split over two threads calling the shared module at once
// Kernel threads are 1 (--threads is ignored here): a caller is one thread, and two callers use the two cores.
// Prints one JSON line per mode: calls per second, managed bytes per call, gen-2 collections during the mode.
//
//   dotnet bench/Recurrent.Bench/bin/Release/net10.0/Recurrent.Bench.dll --inference-modes [--calls N]
using System.Diagnostics;
using System.Globalization;
using Recurrent.Kernels;
using Recurrent.Nn;

namespace Recurrent.Bench;

internal static class InferenceModes
{
    public static int Run(string[] args)
    {
        int calls = 10_000;
        for (int i = 0; i < args.Length; i++)
            if (args[i] == "--calls" && i + 1 < args.Length) calls = int.Parse(args[++i], CultureInfo.InvariantCulture);
        Parallelism.MaxThreads = 1;
        var model = new Lstm(64, 128, numLayers: 2, generator: new Generator(1));
        model.Eval();
        var x = Tensor.Randn([20, 16, 64], DType.Float32, new Generator(2));

        void Call(bool noGrad)
        {
            using var scope = Tensor.NewDisposeScope();
            using var _ = noGrad ? new NoGrad() : default;
            model.Forward(x);
        }

        // Warm up both paths (JIT, pools).
        for (int i = 0; i < 200; i++) { Call(true); Call(false); }

        Report("nograd", Measure(calls, 1, () => Call(true)), calls);
        Report("recorded", Measure(calls, 1, () => Call(false)), calls);
        Report("recorded-2", Measure(calls, 2, () => Call(false)), calls);
        Report("nograd", Measure(calls, 1, () => Call(true)), calls);
        Report("recorded", Measure(calls, 1, () => Call(false)), calls);
        Report("recorded-2", Measure(calls, 2, () => Call(false)), calls);
        return 0;
    }

    private static (double Seconds, long Bytes, int Gen2) Measure(int calls, int callers, Action call)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        int gen2 = GC.CollectionCount(2);
        long bytes = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        var threads = Enumerable.Range(0, callers).Select(c => new Thread(() =>
        {
            for (int i = c; i < calls; i += callers) call();
        })).ToList();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        sw.Stop();
        return (sw.Elapsed.TotalSeconds, GC.GetTotalAllocatedBytes(precise: true) - bytes, GC.CollectionCount(2) - gen2);
    }

    private static void Report(string mode, (double Seconds, long Bytes, int Gen2) r, int calls) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"mode\":\"{mode}\",\"calls\":{calls},\"calls_per_s\":{calls / r.Seconds:F1},\"bytes_per_call\":{r.Bytes / (double)calls:F0},\"gen2_collections\":{r.Gen2}}}"));
}
