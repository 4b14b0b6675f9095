// The shared base of RnnCell, LstmCell and GruCell (PyTorch's RNNCellBase): parameters
// weight_ih, weight_hh, bias_ih, bias_hh with PyTorch's shapes and default initialisation,
// batched/unbatched handling, the input and hidden-state checks of ATen's RNN.cpp, and the
// printed form.
using System.Globalization;

using Recurrent.Kernels;
using Recurrent.Quantization;

namespace Recurrent.Nn;

/// <summary>Base class of the single-step recurrent cells, as <c>torch.nn.RNNCellBase</c>.</summary>
public abstract class RecurrentCellBase : Module, IDynamicQuantizable
{
    private Dictionary<string, QuantizedMatrix>? _quantized;
    private QuantizedMatrix? _qIh, _qHh;
    private protected RecurrentCellBase(RnnMode mode, int inputSize, int hiddenSize, bool bias, DType dtype, Generator? generator)
    {
        if (inputSize < 0) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, $"input_size must be non-negative, but got {inputSize}");
        if (hiddenSize < 0) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, $"hidden_size must be non-negative, but got {hiddenSize}");
        if ((long)mode.GateCount() * hiddenSize > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize,
                $"hidden_size is too large: the weights have {mode.GateCount()} * hidden_size rows. Expected {mode.GateCount()} * hidden_size at most {Array.MaxLength}, got hidden_size {hiddenSize}.");
        Guard.Floating(Tensor.Scalar(0, dtype), nameof(dtype));
        Mode = mode;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        Bias = bias;
        int gates = mode.GateCount() * hiddenSize;
        // reset_parameters(): every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), in registration order.
        double k = hiddenSize > 0 ? 1.0 / Math.Sqrt(hiddenSize) : 0;
        var g = generator ?? Generator.Default;
        RegisterParameter("weight_ih", Tensor.Uniform(new[] { gates, inputSize }, -k, k, dtype, g));
        RegisterParameter("weight_hh", Tensor.Uniform(new[] { gates, hiddenSize }, -k, k, dtype, g));
        RegisterParameter("bias_ih", bias ? Tensor.Uniform(new[] { gates }, -k, k, dtype, g) : null);
        RegisterParameter("bias_hh", bias ? Tensor.Uniform(new[] { gates }, -k, k, dtype, g) : null);
    }

    /// <summary>The recurrence (RNN_TANH, RNN_RELU, LSTM or GRU).</summary>
    public RnnMode Mode { get; }

    /// <summary>The number of features of the input x (<c>input_size</c>).</summary>
    public int InputSize { get; }

    /// <summary>The number of features of the hidden state h (<c>hidden_size</c>).</summary>
    public int HiddenSize { get; }

    /// <summary>Whether the cell has the biases b_ih and b_hh (<c>bias</c>).</summary>
    public bool Bias { get; }

    /// <summary>(G*hidden_size, input_size), gate blocks stacked in PyTorch's order.</summary>
    public Tensor WeightIh => _quantized is null ? Param("weight_ih")! : throw QuantizedWeights.InferenceOnly(TypeName, "its float weight_ih was replaced by int8 weights");
    /// <summary>(G*hidden_size, hidden_size).</summary>
    public Tensor WeightHh => _quantized is null ? Param("weight_hh")! : throw QuantizedWeights.InferenceOnly(TypeName, "its float weight_hh was replaced by int8 weights");

    /// <summary>True once <see cref="Quantizer.QuantizeDynamic{TModule}(TModule)"/> turned the weights into int8 (inference only).</summary>
    public bool IsQuantized => _quantized is not null;

    bool IDynamicQuantizable.IsQuantized => IsQuantized;

    IReadOnlyDictionary<string, QuantizedMatrix> IDynamicQuantizable.Quantized =>
        _quantized ?? throw new InvalidOperationException($"{TypeName} is not quantized");

    IReadOnlyList<(string Name, int Rows, int Cols)> IDynamicQuantizable.QuantizableWeights =>
        [("weight_ih", Mode.GateCount() * HiddenSize, InputSize), ("weight_hh", Mode.GateCount() * HiddenSize, HiddenSize)];

    void IDynamicQuantizable.InstallQuantized(IReadOnlyDictionary<string, QuantizedMatrix> weights)
    {
        int gates = Mode.GateCount() * HiddenSize;
        var ih = weights.TryGetValue("weight_ih", out var a) && a.N == gates && a.K == InputSize ? a
            : throw new ArgumentException($"{TypeName}: weight_ih must be int8 ({gates}, {InputSize})", nameof(weights));
        var hh = weights.TryGetValue("weight_hh", out var b) && b.N == gates && b.K == HiddenSize ? b
            : throw new ArgumentException($"{TypeName}: weight_hh must be int8 ({gates}, {HiddenSize})", nameof(weights));
        foreach (var name in new[] { "bias_ih", "bias_hh" })
            if (Param(name) is { } bias) ReplaceParameter(name, QuantizedWeights.PinnedCopy(bias));
        // Already gone when the cell was quantized before (LoadQuantized into a quantized model).
        if (HasParameter("weight_ih")) RemoveParameter("weight_ih");
        if (HasParameter("weight_hh")) RemoveParameter("weight_hh");
        (_qIh, _qHh) = (ih, hh);
        _quantized = new Dictionary<string, QuantizedMatrix>(weights);
    }
    /// <summary>(G*hidden_size), or null when <c>bias=False</c>.</summary>
    public Tensor? BiasIh => Param("bias_ih");
    /// <summary>(G*hidden_size), or null when <c>bias=False</c>.</summary>
    public Tensor? BiasHh => Param("bias_hh");

    /// <inheritdoc/>
    public override string ExtraRepr()
    {
        var s = string.Create(CultureInfo.InvariantCulture, $"{InputSize}, {HiddenSize}");
        if (!Bias) s += ", bias=False";
        if (Mode == RnnMode.RnnRelu) s += ", nonlinearity=relu";
        return s;
    }

    /// <summary>
    /// Validates the input (and optional states), adds the batch dim to unbatched input, and
    /// returns the batched input with its states (zeros where not given).
    /// </summary>
    private protected (Tensor X, Tensor[] States, bool Batched) Prepare(Tensor input, Tensor?[]? states, string[] stateNames)
    {
        Guard.NotNull(input, nameof(input));
        if (input.Dim is not (1 or 2))
            throw new ArgumentException($"{TypeName}: Expected input to be 1D or 2D, got {input.Dim}D instead", nameof(input));
        if (states is not null)
            for (int i = 0; i < states.Length; i++)
            {
                var s = states[i];
                if (s is null) throw new ArgumentNullException(stateNames[i], $"{stateNames[i]} must not be null");
                if (s.Dim is not (1 or 2))
                    throw new ArgumentException(states.Length == 1
                        ? $"{TypeName}: Expected hidden to be 1D or 2D, got {s.Dim}D instead"
                        : $"{TypeName}: Expected hx[{i}] to be 1D or 2D, got {s.Dim}D instead", stateNames[i]);
                if (s.Dim != input.Dim)
                    throw new ArgumentException(input.Dim == 1
                        ? $"{TypeName}: For unbatched 1-D input, {stateNames[i]} should also be 1-D but got {s.Dim}-D tensor"
                        : $"{TypeName}: For batched 2-D input, {stateNames[i]} should also be 2-D but got {s.Dim}-D tensor", stateNames[i]);
            }
        bool batched = input.Dim == 2;
        var x = batched ? input : input.Unsqueeze(0);
        var wdt = _quantized is null ? WeightIh.DType : DType.Float32;
        if (x.DType != wdt)
            throw new ArgumentException($"{TypeName}: input dtype ({Tensor.DTypeName(x.DType)}) does not match weight dtype ({Tensor.DTypeName(wdt)}). Convert the input with input.To(DType.{wdt}).", nameof(input));
        // ATen's check_rnn_cell_forward_input / check_rnn_cell_forward_hidden.
        if (x.Size(1) != InputSize)
            throw new ArgumentException($"input has inconsistent input_size: got {x.Size(1)} expected {InputSize}", nameof(input));
        int n = stateNames.Length;
        var result = new Tensor[n];
        for (int i = 0; i < n; i++)
        {
            if (states is null) { result[i] = Tensor.Zeros(new[] { x.Size(0), HiddenSize }, x.DType); continue; }
            var s = batched ? states[i]! : states[i]!.Unsqueeze(0);
            if (s.Size(0) != x.Size(0))
                throw new ArgumentException($"Input batch size {x.Size(0)} doesn't match hidden{i} batch size {s.Size(0)}", stateNames[i]);
            if (s.Size(1) != HiddenSize)
                throw new ArgumentException($"hidden{i} has inconsistent hidden_size: got {s.Size(1)}, expected {HiddenSize}", stateNames[i]);
            // As the multi-layer modules: the state in the input's dtype (a float64 cx promoted an LSTM cell's output).
            if (s.DType != x.DType)
                throw new ArgumentException($"{TypeName}: expected {stateNames[i]} to have the input's dtype {Tensor.DTypeName(x.DType)}, but got {Tensor.DTypeName(s.DType)}. Convert it with {stateNames[i]}.To(DType.{x.DType}).", stateNames[i]);
            result[i] = s;
        }
        return (x, result, batched);
    }

    /// <summary>One step of the recurrence on batched (N, ·) tensors.</summary>
    private protected (Tensor H, Tensor? C) StepBatched(Tensor x, Tensor h, Tensor? c)
    {
        if (_qIh is not null)
        {
            // int8 products (quantizing x and h row by row), float gate arithmetic; no autograd.
            if (Training) throw QuantizedWeights.InferenceOnly(TypeName, "it is in training mode");
            using var _ = new NoGrad();
            var gi = QuantizedLinear.Apply(x, _qIh, BiasIh);
            var gh = QuantizedLinear.Apply(h, _qHh!, BiasHh);
            return CellMath.Gates(Mode, gi, gh, h, c, null);
        }
        var giF = CellMath.InputProjection(x, WeightIh, BiasIh);
        return CellMath.Step(Mode, giF, h, c, WeightHh, BiasHh, null);
    }
}
