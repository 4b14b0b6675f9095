// What the protocol runner measures: one prepared workload whose Iterate() is one timed
// iteration (FORMAT.md section 3). Construction (weights, inputs, output buffers) is untimed.
namespace Recurrent.Bench;

/// <summary>One (name, phase) workload of the grid, prepared and ready to iterate.</summary>
internal interface IBenchCase : IDisposable
{
    /// <summary>The grid entry's name (e.g. <c>charlm_lstm</c>, <c>gemm_512x512x512</c>).</summary>
    string Name { get; }

    /// <summary><c>inference</c> or <c>training</c> for recurrent cases; null for gemm entries (no phase field).</summary>
    string? Phase { get; }

    /// <summary>FLOPs of one iteration by the FLOP model of FORMAT.md section 5.</summary>
    double Flops { get; }

    /// <summary>Minimum number of timed iterations (5, or the entry's <c>min_iters</c>, never below 3).</summary>
    int MinIters { get; }

    /// <summary>One iteration: everything FORMAT.md section 3 says is timed.</summary>
    void Iterate();
}
