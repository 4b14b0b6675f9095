// The vocabulary of the fused recurrent kernels: the cell mode, the sizes of one layer and
// direction, of a whole stack, and the weight / gradient bundles the kernels read and accumulate.
// Shapes follow PyTorch's parameters exactly (gate order LSTM i,f,g,o; GRU r,z,n).
namespace Recurrent.Kernels;

/// <summary>The recurrent cell a kernel runs, with PyTorch's mode names.</summary>
public enum RnnMode
{
    /// <summary><c>h' = tanh(W_ih x + b_ih + W_hh h + b_hh)</c>.</summary>
    RnnTanh,
    /// <summary><c>h' = relu(W_ih x + b_ih + W_hh h + b_hh)</c>.</summary>
    RnnRelu,
    /// <summary>LSTM, gates i,f,g,o; optional projection <c>h = W_hr (o * tanh(c))</c>.</summary>
    Lstm,
    /// <summary>GRU, gates r,z,n; <c>n = tanh(W_in x + b_in + r * (W_hn h + b_hn))</c>.</summary>
    Gru,
}

/// <summary>Sizes of one layer and direction of a recurrent network.</summary>
/// <param name="Mode">The cell.</param>
/// <param name="InputSize">Features of the layer input, <c>I</c>.</param>
/// <param name="HiddenSize">Hidden size <c>H</c> (the cell state size for LSTM).</param>
/// <param name="ProjSize">LSTM projection size <c>P</c>, or 0 for none (must be 0 for other modes).</param>
/// <param name="HasBias">Whether <c>b_ih</c> and <c>b_hh</c> exist.</param>
/// <param name="Reverse">Walk time from the last step to the first (the reverse direction).</param>
public readonly record struct RnnLayerSizes(RnnMode Mode, int InputSize, int HiddenSize, int ProjSize = 0, bool HasBias = true,
    bool Reverse = false)
{
    /// <summary>Gates per hidden unit: 4 (LSTM), 3 (GRU), 1 (RNN).</summary>
    public int Gates => GatesOf(Mode);

    /// <summary>Width of the output and of <c>h</c>: <c>ProjSize</c> if set, else <c>HiddenSize</c>.</summary>
    public int OutSize => ProjSize > 0 ? ProjSize : HiddenSize;

    /// <summary>Gates per hidden unit of <paramref name="mode"/>.</summary>
    public static int GatesOf(RnnMode mode) => mode switch { RnnMode.Lstm => 4, RnnMode.Gru => 3, _ => 1 };

    internal void Validate()
    {
        if (!Enum.IsDefined(Mode)) throw new ArgumentOutOfRangeException(nameof(Mode), Mode, $"Unknown RNN mode {Mode}.");
        if (InputSize < 0) throw new ArgumentOutOfRangeException(nameof(InputSize), InputSize, $"input_size must be non-negative, but got {InputSize}");
        if (HiddenSize <= 0) throw new ArgumentOutOfRangeException(nameof(HiddenSize), HiddenSize, $"hidden_size must be greater than zero, but got {HiddenSize}");
        if (ProjSize < 0) throw new ArgumentOutOfRangeException(nameof(ProjSize), ProjSize, $"proj_size should be a positive integer or zero to disable projections, but got {ProjSize}");
        if (ProjSize > 0 && Mode != RnnMode.Lstm) throw new ArgumentException($"proj_size argument is only supported for LSTM, not RNN or GRU (mode {Mode}).", nameof(ProjSize));
        if (ProjSize >= HiddenSize) throw new ArgumentException($"proj_size has to be smaller than hidden_size. Expected < {HiddenSize}, got {ProjSize}.", nameof(ProjSize));
    }
}

/// <summary>Sizes of a whole stack: layers x directions of one mode.</summary>
/// <param name="Mode">The cell.</param>
/// <param name="InputSize">Features of the stack input.</param>
/// <param name="HiddenSize">Hidden size of every layer.</param>
/// <param name="NumLayers">Layers, at least 1.</param>
/// <param name="Bidirectional">Two directions per layer; layer outputs concatenate (forward, reverse) features.</param>
/// <param name="ProjSize">LSTM projection size or 0.</param>
/// <param name="HasBias">Whether the biases exist.</param>
public readonly record struct RnnStackSizes(RnnMode Mode, int InputSize, int HiddenSize, int NumLayers = 1, bool Bidirectional = false,
    int ProjSize = 0, bool HasBias = true)
{
    /// <summary>1 or 2.</summary>
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>Width of <c>h</c> per direction.</summary>
    public int OutSize => ProjSize > 0 ? ProjSize : HiddenSize;

    /// <summary>Parameters per layer and direction in PyTorch's flat order: w_ih, w_hh, [b_ih, b_hh], [w_hr].</summary>
    public int WeightsPerLayer => 2 + (HasBias ? 2 : 0) + (ProjSize > 0 ? 1 : 0);

    /// <summary>Sizes of layer <paramref name="layer"/>, direction <paramref name="direction"/> (1 = reverse).</summary>
    public RnnLayerSizes Layer(int layer, int direction) =>
        new(Mode, layer == 0 ? InputSize : OutSize * Directions, HiddenSize, ProjSize, HasBias, direction == 1);

    internal void Validate()
    {
        if (NumLayers < 1) throw new ArgumentOutOfRangeException(nameof(NumLayers), NumLayers, $"num_layers must be greater than zero, but got {NumLayers}");
        Layer(0, 0).Validate();
    }
}

/// <summary>The parameters of one layer and direction (read only). Absent ones are empty spans.</summary>
public readonly ref struct RnnLayerWeights<T>
{
    /// <summary><c>weight_ih</c>: (G*H, I).</summary>
    public ReadOnlySpan<T> WeightIh { get; init; }
    /// <summary><c>weight_hh</c>: (G*H, OutSize).</summary>
    public ReadOnlySpan<T> WeightHh { get; init; }
    /// <summary><c>bias_ih</c>: (G*H), or empty without bias.</summary>
    public ReadOnlySpan<T> BiasIh { get; init; }
    /// <summary><c>bias_hh</c>: (G*H), or empty without bias.</summary>
    public ReadOnlySpan<T> BiasHh { get; init; }
    /// <summary><c>weight_hr</c>: (P, H), LSTM with projection only, else empty.</summary>
    public ReadOnlySpan<T> WeightHr { get; init; }
}

/// <summary>
/// Gradients of the parameters of one layer and direction; the backward kernels add into them
/// (<c>+=</c>). An empty span means "no gradient wanted" and is skipped.
/// </summary>
public readonly ref struct RnnLayerGrads<T>
{
    /// <summary>d <c>weight_ih</c>: (G*H, I).</summary>
    public Span<T> WeightIh { get; init; }
    /// <summary>d <c>weight_hh</c>: (G*H, OutSize).</summary>
    public Span<T> WeightHh { get; init; }
    /// <summary>d <c>bias_ih</c>: (G*H).</summary>
    public Span<T> BiasIh { get; init; }
    /// <summary>d <c>bias_hh</c>: (G*H).</summary>
    public Span<T> BiasHh { get; init; }
    /// <summary>d <c>weight_hr</c>: (P, H).</summary>
    public Span<T> WeightHr { get; init; }
}
