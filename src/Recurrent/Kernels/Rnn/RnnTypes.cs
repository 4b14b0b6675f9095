// The vocabulary of the fused recurrent kernels: the cell mode, the sizes of a stack (with the one
// size check every caller uses), and the flat weight layout — cuDNN's contract: every parameter of
// a stack lives in one buffer, in PyTorch's _flat_weights order, and the kernels read it (and
// write its gradient, in the same layout) by offsets.
//
// Flat order: for layer l = 0..L-1, for direction d = 0..D-1 (1 = reverse):
//   weight_ih (G*H, I_l), weight_hh (G*H, H_out), [bias_ih (G*H), bias_hh (G*H)], [weight_hr (P, H)]
// with G = 4 (LSTM i,f,g,o), 3 (GRU r,z,n), 1 (RNN); I_0 = input size, I_l = D*H_out for l > 0;
// H_out = P if P > 0 else H. Every block is contiguous and row-major, exactly PyTorch's shapes.
namespace Recurrent.Kernels;

/// <summary>The recurrent cell a kernel runs, with PyTorch's mode names.</summary>
public enum RnnMode
{
    /// <summary><c>RNN_TANH</c>: <c>h' = tanh(W_ih x + b_ih + W_hh h + b_hh)</c>.</summary>
    RnnTanh,
    /// <summary><c>RNN_RELU</c>: <c>h' = relu(W_ih x + b_ih + W_hh h + b_hh)</c>.</summary>
    RnnRelu,
    /// <summary>LSTM, gates i,f,g,o; optional projection <c>h = W_hr (o * tanh(c))</c>.</summary>
    Lstm,
    /// <summary>GRU, gates r,z,n; <c>n = tanh(W_in x + b_in + r * (W_hn h + b_hn))</c>.</summary>
    Gru,
}

/// <summary>Facts about <see cref="RnnMode"/>.</summary>
public static class RnnModeExtensions
{
    /// <summary>Gate blocks stacked in the rows of <c>weight_ih</c> / <c>weight_hh</c>: 4 (LSTM), 3 (GRU), 1 (RNN).</summary>
    public static int GateCount(this RnnMode mode) => mode switch { RnnMode.Lstm => 4, RnnMode.Gru => 3, _ => 1 };

    /// <summary>PyTorch's name of the mode (<c>RNN_TANH</c>, <c>RNN_RELU</c>, <c>LSTM</c>, <c>GRU</c>).</summary>
    public static string PyTorchName(this RnnMode mode) => mode switch
    {
        RnnMode.RnnTanh => "RNN_TANH",
        RnnMode.RnnRelu => "RNN_RELU",
        RnnMode.Lstm => "LSTM",
        _ => "GRU",
    };
}

/// <summary>Where one layer's and direction's parameters start in a flat weight buffer (element offsets; -1 when absent).</summary>
/// <param name="WeightIh"><c>weight_ih</c> (G*H, I_l).</param>
/// <param name="WeightHh"><c>weight_hh</c> (G*H, H_out).</param>
/// <param name="BiasIh"><c>bias_ih</c> (G*H), or -1 without bias.</param>
/// <param name="BiasHh"><c>bias_hh</c> (G*H), or -1 without bias.</param>
/// <param name="WeightHr"><c>weight_hr</c> (P, H), or -1 without projection.</param>
public readonly record struct RnnLayerSlots(int WeightIh, int WeightHh, int BiasIh, int BiasHh, int WeightHr);

/// <summary>Sizes of a whole stack: layers x directions of one mode, and its flat weight layout.</summary>
/// <param name="Mode">The cell.</param>
/// <param name="InputSize">Features of the stack input, at least 1.</param>
/// <param name="HiddenSize">Hidden size of every layer (the cell state size for LSTM), at least 1.</param>
/// <param name="NumLayers">Layers, at least 1.</param>
/// <param name="Bidirectional">Two directions per layer; layer outputs concatenate (forward, reverse) features.</param>
/// <param name="ProjSize">LSTM projection size, or 0 for none.</param>
/// <param name="HasBias">Whether <c>b_ih</c> and <c>b_hh</c> exist.</param>
public readonly record struct RnnStackSizes(RnnMode Mode, int InputSize, int HiddenSize, int NumLayers = 1, bool Bidirectional = false,
    int ProjSize = 0, bool HasBias = true)
{
    /// <summary>1 or 2.</summary>
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>Width of <c>h</c> per direction: <c>ProjSize</c> if set, else <c>HiddenSize</c> (PyTorch's H_out).</summary>
    public int OutSize => ProjSize > 0 ? ProjSize : HiddenSize;

    /// <summary>Rows of <c>weight_ih</c> / <c>weight_hh</c>: gates x hidden size.</summary>
    public int GateRows => Mode.GateCount() * HiddenSize;

    /// <summary>Input features of layer <paramref name="layer"/>: <c>InputSize</c> for layer 0, <c>Directions * OutSize</c> above.</summary>
    public int LayerInputSize(int layer) => layer == 0 ? InputSize : Directions * OutSize;

    /// <summary>Elements of the parameters of one layer and direction.</summary>
    public long LayerWeightCount(int layer) =>
        (long)GateRows * LayerInputSize(layer) + (long)GateRows * OutSize + (HasBias ? 2L * GateRows : 0) + (long)ProjSize * HiddenSize;

    /// <summary>Elements of the whole flat weight buffer (and of its gradient).</summary>
    public long WeightCount => Directions * (LayerWeightCount(0) + (NumLayers - 1) * LayerWeightCount(1));

    /// <summary>Where the parameters of layer <paramref name="layer"/>, direction <paramref name="direction"/> start in the flat buffer.</summary>
    public RnnLayerSlots Slots(int layer, int direction)
    {
        if ((uint)layer >= (uint)NumLayers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"layer must be in [0, {NumLayers - 1}], but got {layer}");
        if ((uint)direction >= (uint)Directions) throw new ArgumentOutOfRangeException(nameof(direction), direction, $"direction must be in [0, {Directions - 1}], but got {direction}");
        long at = layer == 0 ? direction * LayerWeightCount(0) : Directions * LayerWeightCount(0) + ((layer - 1L) * Directions + direction) * LayerWeightCount(1);
        long gh = GateRows;
        long wih = at, whh = wih + gh * LayerInputSize(layer), next = whh + gh * OutSize;
        long bih = -1, bhh = -1, whr = -1;
        if (HasBias) { bih = next; bhh = bih + gh; next = bhh + gh; }
        if (ProjSize > 0) whr = next;
        return new RnnLayerSlots(checked((int)wih), checked((int)whh), checked((int)bih), checked((int)bhh), checked((int)whr));
    }

    /// <summary>
    /// Checks the sizes, with PyTorch's messages (<c>nn.RNNBase</c>) naming the argument, the expected and the actual
    /// value; also that the flat buffer fits one array.
    /// </summary>
    /// <exception cref="ArgumentException">A size is out of range.</exception>
    public void Validate()
    {
        // A pattern, not Enum.IsDefined: that reads the enum's metadata from a cache the GC may collect, so a kernel call
        // after a collection would allocate it again (about 200 B on the calling thread per GC, per call site).
        if (Mode is not (RnnMode.RnnTanh or RnnMode.RnnRelu or RnnMode.Lstm or RnnMode.Gru)) throw new ArgumentOutOfRangeException("mode", Mode, $"Unknown recurrent mode {Mode}. Expected one of RnnTanh, RnnRelu, Lstm, Gru.");
        if (InputSize <= 0) throw new ArgumentOutOfRangeException("inputSize", InputSize, $"input_size must be greater than zero, but got {InputSize}");
        if (HiddenSize <= 0) throw new ArgumentOutOfRangeException("hiddenSize", HiddenSize, $"hidden_size must be greater than zero, but got {HiddenSize}");
        if (NumLayers <= 0) throw new ArgumentOutOfRangeException("numLayers", NumLayers, $"num_layers must be greater than zero, but got {NumLayers}");
        if (ProjSize < 0) throw new ArgumentOutOfRangeException("projSize", ProjSize, $"proj_size should be a positive integer or zero to disable projections, but got {ProjSize}");
        if (ProjSize >= HiddenSize) throw new ArgumentOutOfRangeException("projSize", ProjSize, $"proj_size has to be smaller than hidden_size. Expected < {HiddenSize}, got {ProjSize}");
        if (ProjSize != 0 && Mode != RnnMode.Lstm) throw new ArgumentException($"proj_size argument is only supported for LSTM, not RNN or GRU (mode {Mode.PyTorchName()}).", "projSize");
        // GateRows and the upper layers' input width are int properties: check them in long first, or a hidden size
        // near 2^30 wraps them (to 0 or below) and the parameter count below would pass on the wrapped value.
        long gateRows = (long)Mode.GateCount() * HiddenSize, upperInput = (long)Directions * OutSize;
        if (gateRows > Array.MaxLength || upperInput > Array.MaxLength)
            throw new ArgumentOutOfRangeException("hiddenSize", HiddenSize,
                $"hidden_size is too large for one parameter buffer. Expected {Mode.GateCount()} * hidden_size (and {Directions} * the output size) at most {Array.MaxLength}, got hidden_size {HiddenSize}.");
        long count;
        try { count = checked(Directions * (LayerWeightCount(0) + (NumLayers - 1) * LayerWeightCount(1))); }
        catch (OverflowException) { count = long.MaxValue; }
        if (count > Array.MaxLength)
            throw new ArgumentException($"The stack has too many parameters for one buffer. Expected at most {Array.MaxLength} elements, got {(count == long.MaxValue ? "more than 2^63" : count.ToString(System.Globalization.CultureInfo.InvariantCulture))}.", TooLargeParam());
    }

    // The argument to name when the parameter count is too large: one layer too large on its own is its input or hidden
    // size (whichever weight dominates); layers that fit one by one are too many.
    private string TooLargeParam()
    {
        // In double: a size this large can take long's products past their range.
        double first = (double)GateRows * ((double)InputSize + OutSize) * Directions;
        double upper = NumLayers > 1 ? (double)GateRows * ((double)Directions * OutSize + OutSize) * Directions : 0;
        if (Math.Max(first, upper) <= Array.MaxLength) return NumLayers > 1 ? "numLayers" : "hiddenSize";
        return upper > first || InputSize <= HiddenSize ? "hiddenSize" : "inputSize";
    }

    /// <summary>Sizes of one layer and direction.</summary>
    internal RnnLayerSizes Layer(int layer, int direction) =>
        new(Mode, LayerInputSize(layer), HiddenSize, ProjSize, HasBias, direction == 1);
}

/// <summary>Sizes of one layer and direction, as the layer kernels see them.</summary>
internal readonly record struct RnnLayerSizes(RnnMode Mode, int InputSize, int HiddenSize, int ProjSize, bool HasBias, bool Reverse)
{
    /// <summary>Gates per hidden unit: 4 (LSTM), 3 (GRU), 1 (RNN).</summary>
    public int Gates => Mode.GateCount();

    /// <summary>Width of the output and of <c>h</c>: <c>ProjSize</c> if set, else <c>HiddenSize</c>.</summary>
    public int OutSize => ProjSize > 0 ? ProjSize : HiddenSize;
}
