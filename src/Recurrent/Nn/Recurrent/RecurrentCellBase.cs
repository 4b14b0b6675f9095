// The shared base of RnnCell, LstmCell and GruCell (PyTorch's RNNCellBase): parameters
// weight_ih, weight_hh, bias_ih, bias_hh with PyTorch's shapes and default initialisation,
// batched/unbatched handling, the input and hidden-state checks of ATen's RNN.cpp, and the
// printed form.
using System.Globalization;

namespace Recurrent.Nn;

/// <summary>Base class of the single-step recurrent cells, as <c>torch.nn.RNNCellBase</c>.</summary>
public abstract class RecurrentCellBase : Module
{
    private protected RecurrentCellBase(RecurrentMode mode, int inputSize, int hiddenSize, bool bias, DType dtype, Generator? generator)
    {
        if (inputSize < 0) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, $"input_size must be non-negative, but got {inputSize}");
        if (hiddenSize < 0) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, $"hidden_size must be non-negative, but got {hiddenSize}");
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

    internal RecurrentMode Mode { get; }

    /// <summary>The number of features of the input x (<c>input_size</c>).</summary>
    public int InputSize { get; }

    /// <summary>The number of features of the hidden state h (<c>hidden_size</c>).</summary>
    public int HiddenSize { get; }

    /// <summary>Whether the cell has the biases b_ih and b_hh (<c>bias</c>).</summary>
    public bool Bias { get; }

    /// <summary>(G*hidden_size, input_size), gate blocks stacked in PyTorch's order.</summary>
    public Tensor WeightIh => Param("weight_ih")!;
    /// <summary>(G*hidden_size, hidden_size).</summary>
    public Tensor WeightHh => Param("weight_hh")!;
    /// <summary>(G*hidden_size), or null when <c>bias=False</c>.</summary>
    public Tensor? BiasIh => Param("bias_ih");
    /// <summary>(G*hidden_size), or null when <c>bias=False</c>.</summary>
    public Tensor? BiasHh => Param("bias_hh");

    /// <inheritdoc/>
    public override string ExtraRepr()
    {
        var s = string.Create(CultureInfo.InvariantCulture, $"{InputSize}, {HiddenSize}");
        if (!Bias) s += ", bias=False";
        if (Mode == RecurrentMode.RnnRelu) s += ", nonlinearity=relu";
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
        if (x.DType != WeightIh.DType)
            throw new ArgumentException($"{TypeName}: input dtype ({Tensor.DTypeName(x.DType)}) does not match weight dtype ({Tensor.DTypeName(WeightIh.DType)})", nameof(input));
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
            result[i] = s;
        }
        return (x, result, batched);
    }

    /// <summary>One step of the recurrence on batched (N, ·) tensors.</summary>
    private protected (Tensor H, Tensor? C) StepBatched(Tensor x, Tensor h, Tensor? c)
    {
        var gi = CellMath.InputProjection(x, WeightIh, BiasIh);
        return CellMath.Step(Mode, gi, h, c, WeightHh, BiasHh, null);
    }
}

/// <summary>
/// An Elman RNN cell with tanh or ReLU non-linearity, as <c>torch.nn.RNNCell</c>:
/// <code>h' = tanh(W_ih x + b_ih + W_hh h + b_hh)</code> (ReLU in place of tanh when
/// <c>nonlinearity = "relu"</c>). Parameters <c>weight_ih</c> (hidden_size, input_size),
/// <c>weight_hh</c> (hidden_size, hidden_size), <c>bias_ih</c>, <c>bias_hh</c> (hidden_size), all
/// initialised from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
/// </summary>
public sealed class RnnCell : RecurrentCellBase
{
    /// <summary>Creates the cell.</summary>
    /// <param name="inputSize">features of x.</param>
    /// <param name="hiddenSize">features of h.</param>
    /// <param name="bias">false: no b_ih, b_hh.</param>
    /// <param name="nonlinearity"><c>"tanh"</c> (default) or <c>"relu"</c>.</param>
    /// <param name="dtype">parameter dtype (float32 or float64).</param>
    /// <param name="generator">random source of the initialisation (default: <see cref="Generator.Default"/>).</param>
    public RnnCell(int inputSize, int hiddenSize, bool bias = true, string nonlinearity = "tanh", DType dtype = DType.Float32, Generator? generator = null)
        : base(RecurrentBase.ParseNonlinearity(nonlinearity), inputSize, hiddenSize, bias, dtype, generator) { }

    /// <inheritdoc/>
    public override string TypeName => "RNNCell";

    /// <summary><c>"tanh"</c> or <c>"relu"</c>.</summary>
    public string Nonlinearity => Mode == RecurrentMode.RnnRelu ? "relu" : "tanh";

    /// <summary>
    /// One step, as <c>cell(input, hx)</c>: input (N, input_size) or (input_size); hx of the same
    /// batching with hidden_size features, zeros when null. Returns h' (N, hidden_size) or (hidden_size).
    /// </summary>
    public Tensor Forward(Tensor input, Tensor? hx = null)
    {
        var (x, s, batched) = Prepare(input, hx is null ? null : new[] { hx }, new[] { "hx" });
        var (h, _) = StepBatched(x, s[0], null);
        return batched ? h : h.Squeeze(0);
    }
}

/// <summary>
/// A long short-term memory cell, as <c>torch.nn.LSTMCell</c>:
/// <code>
/// i = σ(W_ii x + b_ii + W_hi h + b_hi)
/// f = σ(W_if x + b_if + W_hf h + b_hf)
/// g = tanh(W_ig x + b_ig + W_hg h + b_hg)
/// o = σ(W_io x + b_io + W_ho h + b_ho)
/// c' = f * c + i * g
/// h' = o * tanh(c')
/// </code>
/// <c>weight_ih</c> (4*hidden_size, input_size) and <c>weight_hh</c> (4*hidden_size, hidden_size)
/// stack the gate blocks in the order i, f, g, o; biases (4*hidden_size).
/// </summary>
public sealed class LstmCell : RecurrentCellBase
{
    /// <summary>Creates the cell.</summary>
    public LstmCell(int inputSize, int hiddenSize, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
        : base(RecurrentMode.Lstm, inputSize, hiddenSize, bias, dtype, generator) { }

    /// <inheritdoc/>
    public override string TypeName => "LSTMCell";

    /// <summary>
    /// One step, as <c>cell(input, (hx, cx))</c>: input (N, input_size) or (input_size); the state
    /// (h, c) of the same batching with hidden_size features, zeros when null. Returns (h', c').
    /// </summary>
    public (Tensor H, Tensor C) Forward(Tensor input, (Tensor H, Tensor C)? state = null)
    {
        var (x, s, batched) = Prepare(input, state is { } st ? new[] { st.H, st.C } : null, new[] { "hx", "cx" });
        var (h, c) = StepBatched(x, s[0], s[1]);
        return batched ? (h, c!) : (h.Squeeze(0), c!.Squeeze(0));
    }
}

/// <summary>
/// A gated recurrent unit cell, as <c>torch.nn.GRUCell</c>:
/// <code>
/// r = σ(W_ir x + b_ir + W_hr h + b_hr)
/// z = σ(W_iz x + b_iz + W_hz h + b_hz)
/// n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
/// h' = (1 - z) * n + z * h
/// </code>
/// <c>weight_ih</c> (3*hidden_size, input_size), <c>weight_hh</c> (3*hidden_size, hidden_size), gate
/// blocks in the order r, z, n; note that b_hn sits inside the reset-gate product.
/// </summary>
public sealed class GruCell : RecurrentCellBase
{
    /// <summary>Creates the cell.</summary>
    public GruCell(int inputSize, int hiddenSize, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
        : base(RecurrentMode.Gru, inputSize, hiddenSize, bias, dtype, generator) { }

    /// <inheritdoc/>
    public override string TypeName => "GRUCell";

    /// <summary>One step, as <c>cell(input, hx)</c>; shapes as <see cref="RnnCell.Forward"/>.</summary>
    public Tensor Forward(Tensor input, Tensor? hx = null)
    {
        var (x, s, batched) = Prepare(input, hx is null ? null : new[] { hx }, new[] { "hx" });
        var (h, _) = StepBatched(x, s[0], null);
        return batched ? h : h.Squeeze(0);
    }
}
