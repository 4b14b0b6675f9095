// A recurrent case of the grid (FORMAT.md 1.1) and its FLOP model (section 5). The case itself
// (model, input, the timed forward / forward+backward) is RecurrentCase, made by CaseFactory.
using System.Text.Json;

namespace Recurrent.Bench;

internal sealed record RecurrentCaseSpec(
    string Name, string Mode, int InputSize, int HiddenSize, int NumLayers, bool Bidirectional, bool BatchFirst,
    int SeqLen, int Batch, IReadOnlyList<string> Phases, int MinIters)
{
    public static RecurrentCaseSpec Parse(JsonElement e)
    {
        var phases = new List<string>();
        foreach (var p in e.GetProperty("phases").EnumerateArray()) phases.Add(p.GetString()!);
        int minIters = e.TryGetProperty("min_iters", out var mi) ? Math.Max(3, mi.GetInt32()) : 5;
        return new RecurrentCaseSpec(
            e.GetProperty("name").GetString()!, e.GetProperty("mode").GetString()!,
            e.GetProperty("input_size").GetInt32(), e.GetProperty("hidden_size").GetInt32(),
            e.GetProperty("num_layers").GetInt32(), e.GetProperty("bidirectional").GetBoolean(),
            e.GetProperty("batch_first").GetBoolean(), e.GetProperty("seq_len").GetInt32(),
            e.GetProperty("batch").GetInt32(), phases, minIters);
    }

    /// <summary>Gates per unit: 4 (LSTM), 3 (GRU), 1 (RNN_TANH, RNN_RELU).</summary>
    public int Gates => Mode switch
    {
        "LSTM" => 4,
        "GRU" => 3,
        "RNN_TANH" or "RNN_RELU" => 1,
        _ => throw new ArgumentException($"case {Name}: unknown mode. Expected LSTM, GRU, RNN_TANH or RNN_RELU, got \"{Mode}\"."),
    };

    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>F_fwd = sum_l dirs * 2 * T * B * (G * H) * (I_l + H), I_0 = input_size, I_l = H * dirs.</summary>
    public double ForwardFlops
    {
        get
        {
            double f = 0;
            for (int l = 0; l < NumLayers; l++)
            {
                int inputWidth = l == 0 ? InputSize : HiddenSize * Directions;
                f += Directions * 2.0 * SeqLen * Batch * (Gates * (double)HiddenSize) * (inputWidth + HiddenSize);
            }
            return f;
        }
    }

    /// <summary>FLOPs of one iteration of <paramref name="phase"/>: F_fwd for inference, 3 F_fwd for training.</summary>
    public double Flops(string phase) => phase == "training" ? 3 * ForwardFlops : ForwardFlops;
}

/// <summary>Builds the measurable workload for a recurrent case and phase.</summary>
internal static class CaseFactory
{
    /// <summary>The prepared case (model, x and G built; see <see cref="RecurrentCase"/>), or null when this build cannot run it.</summary>
    public static IBenchCase? CreateRecurrent(RecurrentCaseSpec spec, string phase, bool int8 = false) =>
        int8 && phase != "inference" ? null : new RecurrentCase(spec, phase, int8: int8);
}
