// RecurrentBase: everything Rnn, Lstm and Gru share (PyTorch's RNNBase). Construction and
// argument checks, parameter naming (one loop over layer x direction, PyTorch's
// _flat_weights_names order), default initialisation, the flat parameter buffer, and the forward
// semantics: unbatched input, batch_first, packed sequences (sorted_indices permutation of h0 and
// h_n), h0/c0 defaults and checks. The math of the whole stack is one call to an IStackRunner
// (fused kernels, or the composed reference in tests).
using System.Globalization;
using Recurrent.Kernels;
using Recurrent.Quantization;
using Recurrent.Tracing;

namespace Recurrent.Nn;

/// <summary>The parameters of one layer and direction of a recurrent module (views of its flat buffer).</summary>
/// <param name="WeightIh"><c>weight_ih_l{k}</c>: (G*hidden_size, I_k), gate blocks in PyTorch's order (LSTM i,f,g,o; GRU r,z,n).</param>
/// <param name="WeightHh"><c>weight_hh_l{k}</c>: (G*hidden_size, H_out).</param>
/// <param name="BiasIh"><c>bias_ih_l{k}</c>: (G*hidden_size), or null when <c>bias: false</c>.</param>
/// <param name="BiasHh"><c>bias_hh_l{k}</c>: (G*hidden_size), or null when <c>bias: false</c>.</param>
/// <param name="WeightHr"><c>weight_hr_l{k}</c>: (proj_size, hidden_size) for an LSTM with projections, else null.</param>
public sealed record RecurrentLayerWeights(Tensor WeightIh, Tensor WeightHh, Tensor? BiasIh, Tensor? BiasHh, Tensor? WeightHr);

/// <summary>
/// The state a recurrent module carries between calls: h (D*num_layers, N, H_out) and, for an LSTM, c
/// (D*num_layers, N, hidden_size); without the N dimension for unbatched input.
/// </summary>
/// <param name="H">h_0 / h_n.</param>
/// <param name="C">c_0 / c_n for an LSTM, otherwise null.</param>
public readonly record struct RecurrentState(Tensor H, Tensor? C = null);

/// <summary>
/// Base class of the multi-layer recurrent modules <see cref="Rnn"/>, <see cref="Lstm"/> and
/// <see cref="Gru"/>, as <c>torch.nn.RNNBase</c>.
/// </summary>
/// <remarks>
/// The parameters live in one contiguous buffer in PyTorch's <c>_flat_weights</c> order (cuDNN's layout:
/// <see cref="FlatWeightsNames"/>); every parameter is a view of it and the fused kernels read it directly.
/// Their gradients land in one flat gradient buffer the same way: after a backward, each parameter's
/// <see cref="Tensor.Grad"/> is a view of it. After <c>ZeroGrad()</c> the next backward writes into the same
/// storage, unless a dropped gradient was read through <see cref="Tensor.Grad"/>: then it writes a new buffer, so
/// a gradient you kept is never overwritten (as PyTorch).
/// The parameter objects never change, except when <see cref="Module.To(DType)"/> converts them (create
/// optimizers after converting, as PyTorch advises for <c>.to()</c>).
/// </remarks>
public abstract class RecurrentBase : Module, IDynamicQuantizable
{
    private readonly string[] _flatWeightsNames;
    private FlatParameters? _flat;                      // null once dynamically quantized
    private Dictionary<string, QuantizedMatrix>? _quantized;

    /// <summary>
    /// The runner new modules use: the fused kernels. Tests set <see cref="Runner"/> per module to
    /// <see cref="ComposedStackRunner"/> to cross-check both paths.
    /// </summary>
    internal static IStackRunner DefaultRunner { get; set; } = FusedStackRunner.Instance;

    private protected RecurrentBase(RnnMode mode, int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst,
        double dropout, bool bidirectional, int projSize, DType dtype, Generator? generator)
    {
        // Checks in PyTorch's order (RNNBase.__init__), with its messages.
        CheckDropout(dropout, nameof(dropout));
        if (dropout > 0 && numLayers == 1)
            Warnings.Warn($"dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects num_layers greater than 1, but got dropout={PyFormat.Float(dropout)} and num_layers={numLayers}");
        Sizes = new RnnStackSizes(mode, inputSize, hiddenSize, numLayers, bidirectional, projSize, bias);
        Sizes.Validate();
        Guard.Floating(dtype, nameof(dtype));
        BatchFirst = batchFirst;
        _dropout = dropout;
        Generator = generator;

        // One loop over layer x direction names every parameter, in the order of PyTorch's
        // _flat_weights_names (w_ih, w_hh, [b_ih, b_hh], [w_hr] per layer and direction), which is
        // also the order of the flat buffer's slots.
        var names = new List<string>();
        for (int layer = 0; layer < numLayers; layer++)
            for (int direction = 0; direction < NumDirections; direction++)
            {
                string suffix = string.Create(CultureInfo.InvariantCulture, $"_l{layer}{(direction == 1 ? "_reverse" : "")}");
                names.Add("weight_ih" + suffix);
                names.Add("weight_hh" + suffix);
                if (bias) { names.Add("bias_ih" + suffix); names.Add("bias_hh" + suffix); }
                if (projSize > 0) names.Add("weight_hr" + suffix);
            }
        _flatWeightsNames = names.ToArray();

        // reset_parameters(): every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), drawn in name order.
        double k = 1.0 / Math.Sqrt(hiddenSize);
        var g = generator ?? Generator.Default;
        _flat = NewFlatParameters(dtype);
        for (int i = 0; i < names.Count; i++)
        {
            var view = _flat.Views[i];
            using (new NoGrad()) view.Copy_(Tensor.Uniform(view.ShapeRef, -k, k, dtype, g));
            RegisterParameter(names[i], view);
        }
    }

    /// <summary>The recurrence (PyTorch's <c>mode</c>: RNN_TANH, RNN_RELU, LSTM, GRU).</summary>
    public RnnMode Mode => Sizes.Mode;

    /// <summary>The sizes and the flat weight layout, as the kernels see them.</summary>
    public RnnStackSizes Sizes { get; }

    /// <summary>The number of features of the input x (<c>input_size</c>).</summary>
    public int InputSize => Sizes.InputSize;

    /// <summary>The number of features of the hidden state h, or of the cell state c for LSTM (<c>hidden_size</c>).</summary>
    public int HiddenSize => Sizes.HiddenSize;

    /// <summary>The number of stacked recurrent layers (<c>num_layers</c>).</summary>
    public int NumLayers => Sizes.NumLayers;

    /// <summary>Whether the layers have the biases b_ih and b_hh (<c>bias</c>).</summary>
    public bool Bias => Sizes.HasBias;

    /// <summary>
    /// Whether input and output are (batch, seq, feature) instead of (seq, batch, feature)
    /// (<c>batch_first</c>). It does not apply to h_0/h_n/c_0/c_n, nor to unbatched input.
    /// </summary>
    public bool BatchFirst { get; }

    /// <summary>
    /// Probability of zeroing each output of every layer but the last, in training mode only (<c>dropout</c>); settable
    /// between calls, as PyTorch's <c>rnn.dropout = p</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in [0, 1].</exception>
    public double Dropout
    {
        get => _dropout;
        set
        {
            CheckDropout(value, nameof(Dropout));
            _dropout = value;
        }
    }

    private double _dropout;

    // PyTorch's check and message (RNNBase.__init__), with the value it got.
    private static void CheckDropout(double dropout, string paramName)
    {
        if (double.IsNaN(dropout) || dropout < 0 || dropout > 1)
            throw new ArgumentOutOfRangeException(paramName, dropout, $"dropout should be a number in range [0, 1] representing the probability of an element being zeroed, but got {PyFormat.Float(dropout)}");
    }

    /// <summary>Whether every layer also runs in reverse (<c>bidirectional</c>).</summary>
    public bool Bidirectional => Sizes.Bidirectional;

    /// <summary>LSTM projection size, 0 when there is no projection (<c>proj_size</c>).</summary>
    public int ProjSize => Sizes.ProjSize;

    /// <summary>2 when bidirectional, else 1 (PyTorch's D).</summary>
    public int NumDirections => Sizes.Directions;

    /// <summary>Features of h and of each direction's output: proj_size if &gt; 0, else hidden_size (PyTorch's H_out).</summary>
    public int OutputSize => Sizes.OutSize;

    /// <summary>Random source of the inter-layer dropout masks (null: <see cref="Generator.Default"/>).</summary>
    public Generator? Generator { get; set; }

    /// <summary>The parameter names in PyTorch's <c>_flat_weights_names</c> order (also the registration, state_dict and flat buffer order).</summary>
    public IReadOnlyList<string> FlatWeightsNames => _flatWeightsNames;

    /// <summary>The parameters in <see cref="FlatWeightsNames"/> order, as PyTorch's <c>_flat_weights</c>.</summary>
    public IReadOnlyList<Tensor> FlatWeights => FlatOrThrow("FlatWeights").Views;

    /// <summary>The stack runner this module uses (fused kernels by default; tests switch to the composed reference).</summary>
    internal IStackRunner Runner { get; set; } = DefaultRunner;

    /// <summary>The flat buffer and its views, as the runners see them.</summary>
    internal FlatParameters Flat => FlatOrThrow("Flat");

    private FlatParameters FlatOrThrow(string what) =>
        _flat ?? throw QuantizedWeights.InferenceOnly(TypeName, $"{what} reads float weights it no longer has");

    /// <summary>True once <see cref="Quantizer.QuantizeDynamic{TModule}(TModule)"/> turned the weights into int8 (inference only).</summary>
    public bool IsQuantized => _quantized is not null;

    bool IDynamicQuantizable.IsQuantized => IsQuantized;

    IReadOnlyDictionary<string, QuantizedMatrix> IDynamicQuantizable.Quantized =>
        _quantized ?? throw new InvalidOperationException($"{TypeName} is not quantized");

    IReadOnlyList<(string Name, int Rows, int Cols)> IDynamicQuantizable.QuantizableWeights
    {
        get
        {
            var list = new List<(string, int, int)>();
            for (int layer = 0; layer < NumLayers; layer++)
                for (int direction = 0; direction < NumDirections; direction++)
                {
                    string suffix = string.Create(CultureInfo.InvariantCulture, $"_l{layer}{(direction == 1 ? "_reverse" : "")}");
                    list.Add(("weight_ih" + suffix, Sizes.GateRows, Sizes.LayerInputSize(layer)));
                    list.Add(("weight_hh" + suffix, Sizes.GateRows, OutputSize));
                    if (ProjSize > 0) list.Add(("weight_hr" + suffix, ProjSize, HiddenSize));
                }
            return list;
        }
    }

    void IDynamicQuantizable.InstallQuantized(IReadOnlyDictionary<string, QuantizedMatrix> weights)
    {
        var names = ((IDynamicQuantizable)this).QuantizableWeights;
        var matrices = new QuantizedMatrix[names.Count];
        for (int i = 0; i < names.Count; i++)
        {
            var (name, rows, cols) = names[i];
            if (!weights.TryGetValue(name, out var q))
                throw new ArgumentException($"{TypeName}: no int8 weights for {name}", nameof(weights));
            if (q.N != rows || q.K != cols)
                throw new ArgumentException($"{TypeName}: {name} must be ({rows}, {cols}), got ({q.N}, {q.K})", nameof(weights));
            matrices[i] = q;
        }
        // The biases stay float32 parameters, on pinned storage the kernels point into.
        int chains = NumLayers * NumDirections;
        var biases = new Tensor?[2 * chains];
        if (Bias)
            for (int layer = 0, k = 0; layer < NumLayers; layer++)
                for (int direction = 0; direction < NumDirections; direction++, k++)
                {
                    string suffix = string.Create(CultureInfo.InvariantCulture, $"_l{layer}{(direction == 1 ? "_reverse" : "")}");
                    for (int j = 0; j < 2; j++)
                    {
                        string name = (j == 0 ? "bias_ih" : "bias_hh") + suffix;
                        var pinned = QuantizedWeights.PinnedCopy(Param(name)!);
                        ReplaceParameter(name, pinned);
                        biases[2 * k + j] = pinned;
                    }
                }
        foreach (var (name, _, _) in names)
            if (HasParameter(name)) RemoveParameter(name);
        _quantized = new Dictionary<string, QuantizedMatrix>(weights);
        _flat = null;
        Runner = new QuantizedStackRunner(Sizes, matrices, biases);
    }

    /// <summary>The parameters of layer <paramref name="layer"/>, direction <paramref name="direction"/> (1 = reverse).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The layer or direction does not exist.</exception>
    public RecurrentLayerWeights Weights(int layer, int direction = 0)
    {
        if ((uint)layer >= (uint)NumLayers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"layer must be in [0, {NumLayers - 1}], but got {layer}");
        if ((uint)direction >= (uint)NumDirections) throw new ArgumentOutOfRangeException(nameof(direction), direction, $"direction must be in [0, {NumDirections - 1}], but got {direction}");
        return FlatOrThrow("Weights(layer, direction)").Layer(layer, direction);
    }

    private FlatParameters NewFlatParameters(DType dtype)
    {
        var buffer = Tensor.Allocate(dtype, [checked((int)Sizes.WeightCount)], clear: true).DetachFromDisposeScope();
        var views = new Tensor[_flatWeightsNames.Length];
        int i = 0;
        for (int layer = 0; layer < NumLayers; layer++)
            for (int direction = 0; direction < NumDirections; direction++)
            {
                var slots = Sizes.Slots(layer, direction);
                int gh = Sizes.GateRows;
                views[i++] = View(buffer, slots.WeightIh, gh, Sizes.LayerInputSize(layer));
                views[i++] = View(buffer, slots.WeightHh, gh, OutputSize);
                if (Bias) { views[i++] = View(buffer, slots.BiasIh, gh); views[i++] = View(buffer, slots.BiasHh, gh); }
                if (ProjSize > 0) views[i++] = View(buffer, slots.WeightHr, ProjSize, HiddenSize);
            }
        return new FlatParameters(Sizes, buffer, views);

        static Tensor View(Tensor buffer, int offset, params int[] shape) =>
            new Tensor(buffer, offset, shape, Tensor.ContiguousStrides(shape)).DetachFromDisposeScope();
    }

    /// <summary>
    /// Makes every parameter a view of one contiguous buffer in <see cref="FlatWeightsNames"/> order, as
    /// <c>flatten_parameters()</c>. The parameters of a recurrent module are always flat (they are created as
    /// views and values are copied into them), so this only has work to do after <see cref="Module.To(DType)"/>
    /// replaced them, which calls it already; it is safe to call any time.
    /// </summary>
    public void FlattenParameters()
    {
        if (_flat is null) return;                       // quantized: the int8 weights are the kernels' input
        bool flat = true;
        for (int i = 0; i < _flatWeightsNames.Length && flat; i++)
            flat = ReferenceEquals(Param(_flatWeightsNames[i]), _flat.Views[i]);
        if (flat) return;
        var dtype = Param(_flatWeightsNames[0])!.DType;
        var next = NewFlatParameters(dtype);
        for (int i = 0; i < _flatWeightsNames.Length; i++)
        {
            var old = Param(_flatWeightsNames[i])!;
            var view = next.Views[i];
            using (new NoGrad()) view.Copy_(old.Detach());
            view.RequiresGrad = old.RequiresGrad;
            view.KeepGradHooksOf(old);   // PyTorch keeps the Parameter object, and its hooks with it
            ReplaceParameter(_flatWeightsNames[i], view);
        }
        _flat = next;
    }

    /// <inheritdoc/>
    protected override void OnParametersChanged() => FlattenParameters();

    /// <inheritdoc/>
    public override string ExtraRepr()
    {
        var s = string.Create(CultureInfo.InvariantCulture, $"{InputSize}, {HiddenSize}");
        if (ProjSize != 0) s += string.Create(CultureInfo.InvariantCulture, $", proj_size={ProjSize}");
        if (NumLayers != 1) s += string.Create(CultureInfo.InvariantCulture, $", num_layers={NumLayers}");
        if (!Bias) s += ", bias=False";
        if (BatchFirst) s += ", batch_first=True";
        if (Dropout != 0) s += ", dropout=" + PyFormat.Float(Dropout);
        if (Bidirectional) s += ", bidirectional=True";
        return s;
    }

    internal static RnnMode ParseNonlinearity(string nonlinearity) => nonlinearity switch
    {
        "tanh" => RnnMode.RnnTanh,
        "relu" => RnnMode.RnnRelu,
        _ => throw new ArgumentException($"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.", nameof(nonlinearity)),
    };

    /// <summary>
    /// The final state of one layer and direction from an h_n or c_n this module returned:
    /// row <c>layer * D + direction</c> (direction 1 = reverse). Works for batched (D*num_layers, N, ·)
    /// and unbatched (D*num_layers, ·) states.
    /// </summary>
    public Tensor LayerState(Tensor state, int layer, int direction = 0)
    {
        Guard.NotNull(state, nameof(state));
        if (state.Dim is not (2 or 3) || state.Size(0) != NumLayers * NumDirections)
            throw new ArgumentException($"state: expected a tensor of shape ({NumLayers * NumDirections}, ...) as returned by this module, got {Guard.ShapeText(state.ShapeRef)}", nameof(state));
        return state.LayerState(layer, direction, Bidirectional);
    }

    // ------------------------------------------------------------------------------------------
    // Polymorphic forward: the same call for Rnn, Lstm and Gru.
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// Runs the module on a dense input (see the derived class for shapes) from <paramref name="state"/>
    /// (zeros when null; <see cref="RecurrentState.C"/> is required for an LSTM and must be null otherwise).
    /// The same call for every recurrent module; the derived classes also have PyTorch's typed forms.
    /// </summary>
    public (Tensor Output, RecurrentState State) Forward(Tensor input, RecurrentState? state = null)
    {
        var (h0, c0) = SplitState(state);
        var (o, h, c) = ForwardDense(input, h0, c0);
        return (o, new RecurrentState(h, c));
    }

    /// <summary>Runs the module on packed sequences; the states are in the caller's batch order.</summary>
    public (PackedSequence Output, RecurrentState State) Forward(PackedSequence input, RecurrentState? state = null)
    {
        var (h0, c0) = SplitState(state);
        var (o, h, c) = ForwardPacked(input, h0, c0);
        return (o, new RecurrentState(h, c));
    }

    /// <summary>
    /// Runs the module on a padded batch with per-sequence lengths (int64, any order): packs internally,
    /// returns the padded output (zeros at padding, the input's length, batch_first honoured) and the state at
    /// each sequence's own last step.
    /// </summary>
    public (Tensor Output, RecurrentState State) ForwardPadded(Tensor padded, Tensor lengths, RecurrentState? state = null)
    {
        var (h0, c0) = SplitState(state);
        var (o, h, c) = ForwardPaddedCore(padded, lengths, h0, c0);
        return (o, new RecurrentState(h, c));
    }

    /// <summary>
    /// A <see cref="RecurrentStream"/> over this module: stateful, allocation-free step-by-step inference for
    /// <paramref name="batchSize"/> sequences, carrying (h, c) between calls, starting from zeros.
    /// </summary>
    /// <exception cref="ArgumentException">The module is bidirectional (it cannot run step by step).</exception>
    public RecurrentStream CreateStream(int batchSize = 1) => new(this, batchSize);

    private (Tensor? H, Tensor? C) SplitState(RecurrentState? state)
    {
        if (state is not { } s) return (null, null);
        Guard.NotNull(s.H, "state.H");
        if (IsLstm && s.C is null)
            throw new ArgumentException($"{TypeName}: state.C must be given with state.H (an LSTM carries (h, c)), but got null", "state");
        if (!IsLstm && s.C is not null)
            throw new ArgumentException($"{TypeName}: state.C must be null ({TypeName} carries only h), but got a tensor of shape {Guard.ShapeText(s.C.ShapeRef)}", "state");
        return (s.H, s.C);
    }

    // ------------------------------------------------------------------------------------------
    // Forward semantics shared by Rnn, Lstm and Gru.
    // ------------------------------------------------------------------------------------------

    private bool IsLstm => Mode == RnnMode.Lstm;

    /// <summary>
    /// Dense forward: input (L, N, H_in) / (N, L, H_in) when batch_first / (L, H_in) unbatched;
    /// h0 (D*num_layers, N, H_out) or (D*num_layers, H_out); c0 likewise with hidden_size (LSTM).
    /// </summary>
    private protected (Tensor Output, Tensor HN, Tensor? CN) ForwardDense(Tensor input, Tensor? h0, Tensor? c0)
    {
        Guard.NotNull(input, nameof(input));
        using var trace = TraceScope.Begin();
        bool stateGiven = h0 is not null;
        var (h0In, c0In) = (h0, c0);
        if (input.Dim is not (2 or 3))
            throw new ArgumentException(Mode is RnnMode.RnnTanh or RnnMode.RnnRelu
                ? $"RNN: Expected input to be 2D or 3D, got {input.Dim}D tensor instead"
                : $"{TypeName}: Expected input to be 2D or 3D, got {input.Dim}D instead", nameof(input));
        bool batched = input.Dim == 3;
        int batchDim = BatchFirst ? 0 : 1;
        if (stateGiven)
        {
            if (IsLstm)
            {
                int want = batched ? 3 : 2;
                if (h0!.Dim != want || c0!.Dim != want)
                    throw new ArgumentException(batched
                        ? $"For batched 3-D input, hx and cx should also be 3-D but got ({h0.Dim}-D, {c0!.Dim}-D) tensors"
                        : $"For unbatched 2-D input, hx and cx should also be 2-D but got ({h0.Dim}-D, {c0!.Dim}-D) tensors", nameof(h0));
            }
            else if (batched && h0!.Dim != 3)
                throw new ArgumentException($"For batched 3-D input, hx should also be 3-D but got {h0.Dim}-D tensor", nameof(h0));
            else if (!batched && h0!.Dim != 2)
                throw new ArgumentException($"For unbatched 2-D input, hx should also be 2-D but got {h0.Dim}-D tensor", nameof(h0));
        }
        var x = input;
        if (!batched)
        {
            x = x.Unsqueeze(batchDim);
            if (stateGiven) { h0 = h0!.Unsqueeze(1); c0 = c0?.Unsqueeze(1); }
        }
        CheckInput(x, packed: false);
        int batch = x.Size(batchDim);
        (h0, c0) = PrepareState(x, h0, c0, batch);

        // Time-major rows: (T, B, I) -> (T*B, I); every step has the full batch.
        if (BatchFirst) x = x.Transpose(0, 1);
        int steps = x.Size(0);
        if (steps == 0) throw new ArgumentException($"{TypeName}: Expected sequence length to be larger than 0 in RNN, got input of shape {Guard.ShapeText(input.ShapeRef)}", nameof(input));
        var rows = x.Reshape(steps * batch, InputSize);
        var batchSizes = DenseBatchSizes(steps, batch);

        var r = RunStack(rows, batchSizes, h0!, c0, Runner is FusedStackRunner ? InputGroups.TryCreate(input, BatchFirst, steps, batch) : null);

        var output = r.Output.View(steps, batch, NumDirections * OutputSize);
        if (BatchFirst) output = output.Transpose(0, 1);
        var hN = r.HN; var cN = r.CN;
        if (!batched)
        {
            output = output.Squeeze(batchDim);
            hN = hN.Squeeze(1);
            cN = cN?.Squeeze(1);
        }
        trace.End()?.Op("RecurrentDense", (output, hN, cN), [input, h0In, c0In], this);
        return (output, hN, cN);
    }

    /// <summary>
    /// Packed forward: h0/c0 are in the caller's batch order and permuted by sorted_indices;
    /// h_n/c_n are returned in the caller's order (permuted by unsorted_indices).
    /// </summary>
    private protected (PackedSequence Output, Tensor HN, Tensor? CN) ForwardPacked(PackedSequence input, Tensor? h0, Tensor? c0)
    {
        Guard.NotNull(input, nameof(input));
        using var trace = TraceScope.Begin();
        var (h0In, c0In) = (h0, c0);
        var data = input.Data;
        CheckInput(data, packed: true);
        var batchSizes = input.BatchSizesArray;
        int batch = batchSizes[0];
        if (h0 is not null && IsLstm)
        {
            if (h0.Dim != 3 || c0!.Dim != 3)
                throw new ArgumentException($"For batched 3-D input, hx and cx should also be 3-D but got ({h0.Dim}-D, {c0!.Dim}-D) tensors", nameof(h0));
        }
        else if (h0 is not null && h0.Dim != 3)
            throw new ArgumentException($"For batched 3-D input, hx should also be 3-D but got {h0.Dim}-D tensor", nameof(h0));
        (h0, c0) = PrepareState(data, h0, c0, batch, permute: input.SortedIndices);
        var r = RunStack(data, batchSizes, h0!, c0);
        var hN = r.HN; var cN = r.CN;
        if (input.UnsortedIndices is { } unsorted)
        {
            hN = hN.IndexSelect(1, unsorted);
            cN = cN?.IndexSelect(1, unsorted);
        }
        var output = new PackedSequence(r.Output, input.BatchSizes, input.SortedIndices, input.UnsortedIndices, validate: false);
        trace.End()?.Op("RecurrentPacked", (output, hN, cN), [input.Data, h0In, c0In], this, input);
        return (output, hN, cN);
    }

    /// <summary>
    /// Padded forward with lengths: packs (enforce_sorted = false), runs, and pads back to the
    /// input's own length with zeros; h_n/c_n are at each sequence's real last step.
    /// </summary>
    private protected (Tensor Output, Tensor HN, Tensor? CN) ForwardPaddedCore(Tensor padded, Tensor lengths, Tensor? h0, Tensor? c0)
    {
        Guard.NotNull(padded, nameof(padded));
        if (padded.Dim != 3)
            throw new ArgumentException($"{TypeName}: Expected padded input with lengths to be 3D, got {padded.Dim}D instead", nameof(padded));
        int total = padded.Size(BatchFirst ? 1 : 0);
        using var trace = TraceScope.Begin();
        var packed = RnnUtils.PackPaddedSequence(padded, lengths, BatchFirst, enforceSorted: false);
        var (outPacked, hN, cN) = ForwardPacked(packed, h0, c0);
        var (output, _) = RnnUtils.PadPackedSequence(outPacked, BatchFirst, 0.0, total);
        trace.End()?.Op("RecurrentPadded", (output, hN, cN), [padded, lengths, h0, c0], this);
        return (output, hN, cN);
    }

    /// <summary>PyTorch's check_input: dtype, rank (3 dense / 2 packed data) and feature size.</summary>
    private void CheckInput(Tensor x, bool packed)
    {
        var wdt = _flat?.DType ?? DType.Float32;
        if (x.DType != wdt)
            throw new ArgumentException($"{TypeName} input dtype ({Tensor.DTypeName(x.DType)}) does not match weight dtype ({Tensor.DTypeName(wdt)}). {(x.DType == DType.Int64 ? "Token ids go through an Embedding first; or convert the input with input.To(DType." + wdt + ")." : $"Convert the input with input.To(DType.{wdt}), or the model with model.To(DType.{x.DType}).")}", "input");
        int expected = packed ? 2 : 3;
        if (x.Dim != expected)
            throw new ArgumentException($"input must have {expected} dimensions, got {x.Dim}", "input");
        if (x.Size(-1) != InputSize)
            throw new ArgumentException($"input.size(-1) must be equal to input_size. Expected {InputSize}, got {x.Size(-1)}", "input");
    }

    // The batch sizes of a dense call (every step the full batch), kept for the next call of the same shape. Never
    // written after it is made (the kernels and the backward node only read batch sizes), so calls share it; two
    // threads replacing it at once each use their own.
    private int[]? _denseBatchSizes;

    private int[] DenseBatchSizes(int steps, int batch)
    {
        var sizes = _denseBatchSizes;
        if (sizes is null || sizes.Length != steps || sizes[0] != batch)
        {
            sizes = new int[steps];
            Array.Fill(sizes, batch);
            _denseBatchSizes = sizes;
        }
        return sizes;
    }

    /// <summary>Zeros for a missing state; otherwise PyTorch's check_hidden_size and the sorted_indices permutation.</summary>
    private (Tensor H, Tensor? C) PrepareState(Tensor x, Tensor? h0, Tensor? c0, int batch, Tensor? permute = null)
    {
        int rows = NumLayers * NumDirections;
        var hShape = new[] { rows, batch, OutputSize };
        var cShape = new[] { rows, batch, HiddenSize };
        if (h0 is null)
            return (Tensor.Zeros(hShape, x.DType), IsLstm ? Tensor.Zeros(cShape, x.DType) : null);
        CheckHidden(h0, hShape, IsLstm ? "Expected hidden[0] size {0}, got {1}" : "Expected hidden size {0}, got {1}", "h0");
        if (IsLstm) CheckHidden(c0!, cShape, "Expected hidden[1] size {0}, got {1}", "c0");
        if (h0.DType != x.DType)
            throw new ArgumentException($"{TypeName}: expected the initial state h0 to have the input's dtype {Tensor.DTypeName(x.DType)}, but got {Tensor.DTypeName(h0.DType)}", nameof(h0));
        if (c0 is not null && c0.DType != x.DType)
            throw new ArgumentException($"{TypeName}: expected the initial state c0 to have the input's dtype {Tensor.DTypeName(x.DType)}, but got {Tensor.DTypeName(c0.DType)}", nameof(c0));
        if (permute is not null)
        {
            h0 = h0.IndexSelect(1, permute);
            c0 = c0?.IndexSelect(1, permute);
        }
        return (h0, IsLstm ? c0 : null);
    }

    private static void CheckHidden(Tensor t, int[] expected, string format, string name)
    {
        if (!t.ShapeRef.AsSpan().SequenceEqual(expected))
            throw new ArgumentException(string.Format(CultureInfo.InvariantCulture, format,
                "(" + string.Join(", ", expected) + ")", Guard.ShapeText(t.ShapeRef)), name);
    }

    /// <summary>Hands the stack to the runner: x (N, I), h0 (L*D, B, H_out), c0 (L*D, B, H).</summary>
    private StackResult RunStack(Tensor x, int[] batchSizes, Tensor h0, Tensor? c0, InputGroups? groups = null) =>
        IsQuantized && Training ? throw QuantizedWeights.InferenceOnly(TypeName, "it is in training mode") : Runner.Run(new StackCall(Sizes, _flat, x, batchSizes, h0, c0, NumLayers > 1 && Training ? Dropout : 0,
            Generator ?? Generator.Default, groups));
}
