// RecurrentBase: everything Rnn, Lstm and Gru share (PyTorch's RNNBase). Construction and
// argument checks, parameter naming (one loop over layer x direction, PyTorch's
// _flat_weights_names order), default initialisation, FlattenParameters, and the forward
// semantics: unbatched input, batch_first, packed sequences (sorted_indices permutation of h0 and
// h_n), h0/c0 defaults and checks, the layer stack with inter-layer dropout. The math of one
// layer and direction is delegated to an IRecurrentScan (composed tensor ops or fused kernels).
using System.Globalization;

namespace Recurrent.Nn;

/// <summary>
/// Base class of the multi-layer recurrent modules <see cref="Rnn"/>, <see cref="Lstm"/> and
/// <see cref="Gru"/>, as <c>torch.nn.RNNBase</c>.
/// </summary>
public abstract class RecurrentBase : Module
{
    private readonly string[] _flatWeightsNames;
    private readonly Dictionary<DType, Tensor> _flatBuffers = new();

    /// <summary>
    /// The scan new modules use: the fused kernels (<see cref="FusedScan"/>). Tests set
    /// <see cref="Scan"/> per module to <see cref="ComposedScan"/> to cross-check both paths.
    /// </summary>
    internal static IRecurrentScan DefaultScan { get; set; } = FusedScan.Instance;

    private protected RecurrentBase(RecurrentMode mode, int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst,
        double dropout, bool bidirectional, int projSize, DType dtype, Generator? generator)
    {
        // Checks in PyTorch's order (RNNBase.__init__), with its messages.
        if (double.IsNaN(dropout) || dropout < 0 || dropout > 1)
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout should be a number in range [0, 1] representing the probability of an element being zeroed");
        if (inputSize <= 0) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "input_size must be greater than zero");
        if (hiddenSize <= 0) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, "hidden_size must be greater than zero");
        if (numLayers <= 0) throw new ArgumentOutOfRangeException(nameof(numLayers), numLayers, "num_layers must be greater than zero");
        if (projSize < 0) throw new ArgumentOutOfRangeException(nameof(projSize), projSize, "proj_size should be a positive integer or zero to disable projections");
        if (projSize >= hiddenSize) throw new ArgumentOutOfRangeException(nameof(projSize), projSize, "proj_size has to be smaller than hidden_size");
        if (projSize != 0 && mode != RecurrentMode.Lstm)
            throw new ArgumentException("proj_size argument is only supported for LSTM, not RNN or GRU", nameof(projSize));
        Guard.Floating(Tensor.Scalar(0, dtype), nameof(dtype));

        Mode = mode;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        NumLayers = numLayers;
        Bias = bias;
        BatchFirst = batchFirst;
        Dropout = dropout;
        Bidirectional = bidirectional;
        ProjSize = projSize;
        Generator = generator;

        // One loop over layer x direction names and creates every parameter, in the order of
        // PyTorch's _flat_weights_names: w_ih, w_hh, [b_ih, b_hh], [w_hr] per layer and direction.
        int gateSize = mode.GateCount() * hiddenSize;
        int realHidden = OutputSize;
        var names = new List<string>();
        var shapes = new List<int[]>();
        for (int layer = 0; layer < numLayers; layer++)
            for (int direction = 0; direction < NumDirections; direction++)
            {
                int layerInput = layer == 0 ? inputSize : realHidden * NumDirections;
                string suffix = direction == 1 ? "_reverse" : "";
                void Add(string stem, params int[] shape)
                {
                    names.Add(string.Create(CultureInfo.InvariantCulture, $"{stem}_l{layer}{suffix}"));
                    shapes.Add(shape);
                }
                Add("weight_ih", gateSize, layerInput);
                Add("weight_hh", gateSize, realHidden);
                if (bias) { Add("bias_ih", gateSize); Add("bias_hh", gateSize); }
                if (projSize > 0) Add("weight_hr", projSize, hiddenSize);
            }
        _flatWeightsNames = names.ToArray();

        // reset_parameters(): every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
        double k = 1.0 / Math.Sqrt(hiddenSize);
        var g = generator ?? Generator.Default;
        for (int i = 0; i < names.Count; i++)
            RegisterParameter(names[i], Tensor.Uniform(shapes[i], -k, k, dtype, g));
        FlattenParameters();
    }

    internal RecurrentMode Mode { get; }

    /// <summary>The number of features of the input x (<c>input_size</c>).</summary>
    public int InputSize { get; }

    /// <summary>The number of features of the hidden state h, or of the cell state c for LSTM (<c>hidden_size</c>).</summary>
    public int HiddenSize { get; }

    /// <summary>The number of stacked recurrent layers (<c>num_layers</c>).</summary>
    public int NumLayers { get; }

    /// <summary>Whether the layers have the biases b_ih and b_hh (<c>bias</c>).</summary>
    public bool Bias { get; }

    /// <summary>
    /// Whether input and output are (batch, seq, feature) instead of (seq, batch, feature)
    /// (<c>batch_first</c>). It does not apply to h_0/h_n/c_0/c_n, nor to unbatched input.
    /// </summary>
    public bool BatchFirst { get; }

    /// <summary>Probability of zeroing each output of every layer but the last, in training mode only (<c>dropout</c>).</summary>
    public double Dropout { get; }

    /// <summary>Whether every layer also runs in reverse (<c>bidirectional</c>).</summary>
    public bool Bidirectional { get; }

    /// <summary>LSTM projection size, 0 when there is no projection (<c>proj_size</c>).</summary>
    public int ProjSize { get; }

    /// <summary>2 when bidirectional, else 1 (PyTorch's D).</summary>
    public int NumDirections => Bidirectional ? 2 : 1;

    /// <summary>Features of h and of each direction's output: proj_size if &gt; 0, else hidden_size (PyTorch's H_out).</summary>
    public int OutputSize => ProjSize > 0 ? ProjSize : HiddenSize;

    /// <summary>Random source of the inter-layer dropout masks (null: <see cref="Generator.Default"/>).</summary>
    public Generator? Generator { get; set; }

    /// <summary>The parameter names in PyTorch's <c>_flat_weights_names</c> order (also the registration and state_dict order).</summary>
    public IReadOnlyList<string> FlatWeightsNames => _flatWeightsNames;

    /// <summary>The implementation of the per-layer math this module uses (composed reference or fused).</summary>
    internal IRecurrentScan Scan { get; set; } = DefaultScan;

    /// <summary>The parameters of one layer and direction (read now; never cache them).</summary>
    internal LayerWeights Weights(int layer, int direction)
    {
        string suffix = string.Create(CultureInfo.InvariantCulture, $"_l{layer}{(direction == 1 ? "_reverse" : "")}");
        return new LayerWeights(
            Param("weight_ih" + suffix)!,
            Param("weight_hh" + suffix)!,
            Bias ? Param("bias_ih" + suffix) : null,
            Bias ? Param("bias_hh" + suffix) : null,
            ProjSize > 0 ? Param("weight_hr" + suffix) : null);
    }

    /// <summary>The parameters in <see cref="FlatWeightsNames"/> order, as PyTorch's <c>_flat_weights</c>.</summary>
    public IReadOnlyList<Tensor> FlatWeights => _flatWeightsNames.Select(n => Param(n)!).ToArray();

    /// <summary>
    /// The contiguous buffer holding every parameter of <paramref name="dtype"/> after
    /// <see cref="FlattenParameters"/> (in <see cref="FlatWeightsNames"/> order), or null.
    /// </summary>
    internal Tensor? FlatBuffer(DType dtype) => _flatBuffers.TryGetValue(dtype, out var b) ? b : null;

    /// <summary>
    /// Puts all weights of the stack into one contiguous buffer per dtype (in
    /// <see cref="FlatWeightsNames"/> order) and makes every parameter a view of it, keeping the
    /// current values and gradients. Safe to call any number of times (a no-op when already
    /// flat); re-done automatically after <c>To(dtype)</c> and <c>LoadStateDict</c>. Replaces the
    /// parameter tensors when it has work to do, so call it before creating an optimizer.
    /// </summary>
    public void FlattenParameters()
    {
        var parameters = _flatWeightsNames.Select(n => (Name: n, Value: Param(n)!)).ToList();
        _flatBuffers.Clear();
        foreach (var group in parameters.GroupBy(p => p.Value.DType))
        {
            var items = group.ToList();
            int total = items.Sum(p => p.Value.Numel);
            if (IsFlat(items.Select(p => p.Value).ToList(), total, out var existing))
            {
                _flatBuffers[group.Key] = existing!;
                continue;
            }
            var buffer = Tensor.Empty(group.Key, new[] { total }).DetachFromDisposeScope();
            int offset = 0;
            foreach (var (name, value) in items)
            {
                var shape = value.Shape;
                var view = new Tensor(buffer, offset, shape, Tensor.ContiguousStrides(shape));
                StridedCopy.Copy(value, view);
                offset += value.Numel;
                bool requiresGrad = value.RequiresGrad;
                var grad = value.Grad;
                ReplaceParameter(name, view);
                view.RequiresGrad = requiresGrad;
                view.Grad = grad;
            }
            _flatBuffers[group.Key] = buffer;
        }
    }

    private static bool IsFlat(List<Tensor> ps, int total, out Tensor? buffer)
    {
        buffer = null;
        var data = ps[0].Data;
        if (data.Length != total) return false;
        int offset = 0;
        foreach (var p in ps)
        {
            if (!ReferenceEquals(p.Data, data) || p.Offset != offset || !p.IsContiguous || !p.IsLeaf) return false;
            offset += p.Numel;
        }
        buffer = new Tensor(ps[0], 0, new[] { total }, new[] { 1 }).DetachFromDisposeScope();
        return true;
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
        if (Dropout != 0) s += ", dropout=" + PyFloat(Dropout);
        if (Bidirectional) s += ", bidirectional=True";
        return s;
    }

    /// <summary>Python's repr of a float (0.5, 1.0, 1e-05).</summary>
    internal static string PyFloat(double v)
    {
        if (v == Math.Floor(v) && Math.Abs(v) < 1e16) return v.ToString("F1", CultureInfo.InvariantCulture);
        var s = v.ToString("R", CultureInfo.InvariantCulture);
        int e = s.IndexOf('E');
        if (e < 0) return s;
        string mant = s[..e], exp = s[(e + 1)..];
        string sign = exp.StartsWith('-') ? "-" : "+";
        exp = exp.TrimStart('+', '-');
        if (exp.Length < 2) exp = "0" + exp;
        return mant + "e" + sign + exp;
    }

    internal static RecurrentMode ParseNonlinearity(string nonlinearity) => nonlinearity switch
    {
        "tanh" => RecurrentMode.RnnTanh,
        "relu" => RecurrentMode.RnnRelu,
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
    // Forward semantics shared by Rnn, Lstm and Gru.
    // ------------------------------------------------------------------------------------------

    /// <summary>The result of the stack on time-major rows: output (N, D*H_out), h_n (L*D, B, H_out), c_n (L*D, B, H) or null.</summary>
    private protected readonly record struct StackResult(Tensor Output, Tensor HN, Tensor? CN);

    private bool IsLstm => Mode == RecurrentMode.Lstm;

    /// <summary>
    /// Dense forward: input (L, N, H_in) / (N, L, H_in) when batch_first / (L, H_in) unbatched;
    /// h0 (D*num_layers, N, H_out) or (D*num_layers, H_out); c0 likewise with hidden_size (LSTM).
    /// </summary>
    private protected (Tensor Output, Tensor HN, Tensor? CN) ForwardDense(Tensor input, Tensor? h0, Tensor? c0)
    {
        Guard.NotNull(input, nameof(input));
        bool stateGiven = h0 is not null;
        if (input.Dim is not (2 or 3))
            throw new ArgumentException(Mode is RecurrentMode.RnnTanh or RecurrentMode.RnnRelu
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
        if (steps == 0) throw new ArgumentException($"{TypeName}: Expected sequence length to be larger than 0, got input of shape {Guard.ShapeText(input.ShapeRef)}", nameof(input));
        if (batch == 0) throw new ArgumentException($"{TypeName}: Expected batch size to be larger than 0, got input of shape {Guard.ShapeText(input.ShapeRef)}", nameof(input));
        var rows = x.Reshape(steps * batch, InputSize);
        var batchSizes = new int[steps];
        Array.Fill(batchSizes, batch);

        var r = RunStack(rows, batchSizes, h0!, c0);

        var output = r.Output.View(steps, batch, NumDirections * OutputSize);
        if (BatchFirst) output = output.Transpose(0, 1);
        var hN = r.HN; var cN = r.CN;
        if (!batched)
        {
            output = output.Squeeze(batchDim);
            hN = hN.Squeeze(1);
            cN = cN?.Squeeze(1);
        }
        return (output, hN, cN);
    }

    /// <summary>
    /// Packed forward: h0/c0 are in the caller's batch order and permuted by sorted_indices;
    /// h_n/c_n are returned in the caller's order (permuted by unsorted_indices).
    /// </summary>
    private protected (PackedSequence Output, Tensor HN, Tensor? CN) ForwardPacked(PackedSequence input, Tensor? h0, Tensor? c0)
    {
        Guard.NotNull(input, nameof(input));
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
        return (new PackedSequence(r.Output, input.BatchSizes, input.SortedIndices, input.UnsortedIndices, validate: false), hN, cN);
    }

    /// <summary>
    /// Padded forward with lengths: packs (enforce_sorted = false), runs, and pads back to the
    /// input's own length with zeros; h_n/c_n are at each sequence's real last step.
    /// </summary>
    private protected (Tensor Output, Tensor HN, Tensor? CN) ForwardPadded(Tensor padded, Tensor lengths, Tensor? h0, Tensor? c0)
    {
        Guard.NotNull(padded, nameof(padded));
        if (padded.Dim != 3)
            throw new ArgumentException($"{TypeName}: Expected padded input with lengths to be 3D, got {padded.Dim}D instead", nameof(padded));
        int total = padded.Size(BatchFirst ? 1 : 0);
        var packed = RnnUtils.PackPaddedSequence(padded, lengths, BatchFirst, enforceSorted: false);
        var (outPacked, hN, cN) = ForwardPacked(packed, h0, c0);
        var (output, _) = RnnUtils.PadPackedSequence(outPacked, BatchFirst, 0.0, total);
        return (output, hN, cN);
    }

    /// <summary>PyTorch's check_input: dtype, rank (3 dense / 2 packed data) and feature size.</summary>
    private void CheckInput(Tensor x, bool packed)
    {
        var wdt = Param(_flatWeightsNames[0])!.DType;
        if (x.DType != wdt)
            throw new ArgumentException($"{TypeName} input dtype ({Tensor.DTypeName(x.DType)}) does not match weight dtype ({Tensor.DTypeName(wdt)}). Convert input: input.to({Tensor.DTypeName(wdt)}), or convert model: model.to({Tensor.DTypeName(x.DType)})", "input");
        int expected = packed ? 2 : 3;
        if (x.Dim != expected)
            throw new ArgumentException($"input must have {expected} dimensions, got {x.Dim}", "input");
        if (x.Size(-1) != InputSize)
            throw new ArgumentException($"input.size(-1) must be equal to input_size. Expected {InputSize}, got {x.Size(-1)}", "input");
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
        if (h0.DType != x.DType || (c0 is not null && c0.DType != x.DType))
            throw new ArgumentException($"{TypeName}: expected the initial state to have the input's dtype {Tensor.DTypeName(x.DType)}, but got {Tensor.DTypeName(h0.DType)}", nameof(h0));
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

    /// <summary>
    /// The stack: layer l's input is the concatenated (forward, reverse) output of layer l-1,
    /// with dropout between layers in training mode. x (N, I), h0 (L*D, B, H_out), c0 (L*D, B, H).
    /// </summary>
    private StackResult RunStack(Tensor x, int[] batchSizes, Tensor h0, Tensor? c0)
    {
        // The fused kernels run the whole stack (dropout included) as one autograd node.
        if (Scan is FusedScan fused)
        {
            var (output, hN, cN) = fused.RunStack(this, x, batchSizes, h0, c0);
            return new StackResult(output, hN, cN);
        }
        int dirs = NumDirections;
        var h0s = h0.Unbind(0);
        var c0s = c0?.Unbind(0);
        var hs = new List<Tensor>(NumLayers * dirs);
        var cs = new List<Tensor>(NumLayers * dirs);
        var scan = Scan;
        var layerInput = x;
        for (int layer = 0; layer < NumLayers; layer++)
        {
            var outs = new Tensor[dirs];
            for (int direction = 0; direction < dirs; direction++)
            {
                int idx = layer * dirs + direction;
                var r = scan.Scan(Mode, Weights(layer, direction), layerInput, batchSizes, direction == 1, h0s[idx], c0s?[idx]);
                outs[direction] = r.Output;
                hs.Add(r.HN);
                if (r.CN is { } cn) cs.Add(cn);
            }
            var layerOutput = dirs == 1 ? outs[0] : Tensor.Cat(outs, 1);
            if (layer < NumLayers - 1 && Dropout > 0 && Training)
                layerOutput = ApplyDropout(layerOutput);
            layerInput = layerOutput;
        }
        return new StackResult(layerInput, Tensor.Stack(hs, 0), IsLstm ? Tensor.Stack(cs, 0) : null);
    }

    /// <summary>Inverted dropout with probability <see cref="Dropout"/>: zero with p, scale the rest by 1/(1-p).</summary>
    private Tensor ApplyDropout(Tensor x)
    {
        var gen = Generator ?? Generator.Default;
        var mask = Tensor.Empty(x.DType, x.Shape);
        double p = Dropout, scale = p >= 1 ? 0 : 1.0 / (1.0 - p);
        int n = mask.Numel;
        if (x.DType == DType.Float32)
        {
            var m = mask.Arr<float>();
            for (int i = 0; i < n; i++) m[i] = gen.NextDouble() >= p ? (float)scale : 0f;
        }
        else
        {
            var m = mask.Arr<double>();
            for (int i = 0; i < n; i++) m[i] = gen.NextDouble() >= p ? scale : 0.0;
        }
        return x.Mul(mask);
    }
}
