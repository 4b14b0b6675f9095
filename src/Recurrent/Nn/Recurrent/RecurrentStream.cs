// RecurrentStream: stateful step-by-step inference over an Rnn, Lstm or Gru, for serving and streaming
// (one token, frame or sample at a time, carrying (h, c) between calls). It owns its state buffers
// and calls the span kernels (RecurrentKernels.StackForward) directly on the module's flat weight
// buffer, so a step allocates no managed memory once the stream exists: no tensors, no autograd node,
// no dispose-scope bookkeeping. The state is double-buffered: a step reads h/c from one buffer and
// writes the next state into the other, then flips (no copies, and a failed step leaves the state
// as it was). Several steps in one call (Run) are one kernel call with T > 1, exactly as Forward
// over the same sequence: the same bits.
using System.Numerics;
using System.Runtime.InteropServices;
using Recurrent.Kernels;
using Recurrent.Quantization;

namespace Recurrent.Nn;

/// <summary>
/// Stateful, allocation-free step-by-step inference over a unidirectional <see cref="Rnn"/>, <see cref="Lstm"/>
/// or <see cref="Gru"/>: each call advances every sequence of the batch by one step (or several) and carries the
/// state (h, and c for an LSTM) to the next call. Create one with <see cref="RecurrentBase.CreateStream"/>.
/// </summary>
/// <remarks>
/// <para>A step computes exactly what <see cref="RecurrentBase.Forward(Tensor, RecurrentState?)"/> computes on a
/// one-step sequence from the same state, bit for bit: the same kernel on the same weights. <see cref="Run(ReadOnlySpan{float}, Span{float})"/>
/// over T steps equals <c>Forward</c> over those T steps (one input projection for all of them). Outputs are
/// the last layer's h_t (the module's <c>output</c>); spans are time-major and row-major:
/// input (T, B, input_size), output (T, B, H_out), as <c>Forward</c> with <c>batch_first: false</c>.</para>
/// <para>After the first call of a given length, a step allocates no managed memory (the kernels' scratch is
/// native, per thread, and reused). The span overloads are the allocation-free path; the <see cref="Tensor"/>
/// overloads are conveniences that allocate their result.</para>
/// <para>The stream reads the module's weights at every step, so it sees weights loaded or changed in place
/// (<see cref="Module.LoadStateDict"/>) from the next step on; after <see cref="Module.To(DType)"/> it refuses to
/// step (create a new stream). It never records autograd history and never applies dropout: a module in
/// training mode with <c>dropout &gt; 0</c> between layers is refused (call <see cref="Module.Eval"/>).</para>
/// <para>Threads: a stream is one conversation's state and is not thread safe; use each one from one thread
/// at a time. Any number of streams over the same module may step concurrently, with each other and with
/// <c>Forward</c> calls on it (see the thread-safety contract in the README), as long as nothing changes the
/// module meanwhile.</para>
/// <para>A module dynamically quantized to int8 (<c>Quantizer.QuantizeDynamic</c>) streams on float32 spans through the
/// int8 kernel its <c>Forward</c> runs, with the same bits. A bidirectional module cannot stream: its reverse direction
/// reads the sequence from its end.</para>
/// </remarks>
public sealed class RecurrentStream
{
    private readonly RecurrentBase _module;
    private readonly RnnStackSizes _sizes;
    private readonly Array[] _h;   // two (L, B, H_out) buffers: the current state and the next one
    private readonly Array[] _c;   // two (L, B, H) buffers for an LSTM, else empty arrays
    private int _current;          // which of the two buffers holds the state
    private int[] _batchSizes;     // (T) = [B, ..., B], grown on demand

    /// <summary>Creates a stream of <paramref name="batchSize"/> sequences over <paramref name="module"/>, starting from zero state.</summary>
    /// <param name="module">A unidirectional Rnn, Lstm or Gru (float32 or float64).</param>
    /// <param name="batchSize">How many sequences advance together at every step (B).</param>
    /// <exception cref="ArgumentException">The module is bidirectional.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1, or its state would pass one array.</exception>
    public RecurrentStream(RecurrentBase module, int batchSize = 1)
    {
        Guard.NotNull(module, nameof(module));
        if (module.Bidirectional)
            throw new ArgumentException($"{module.TypeName}: a bidirectional module cannot run step by step (its reverse direction reads each sequence from its end). Expected bidirectional: false, got true. Run whole sequences with Forward instead.", nameof(module));
        if (batchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"batchSize must be at least 1. Expected >= 1, got {batchSize}.");
        _module = module;
        _sizes = module.Sizes;
        BatchSize = batchSize;
        DType = module.IsQuantized ? DType.Float32 : module.Flat.DType;   // int8 modules run on float32
        long states = _sizes.NumLayers;
        long hCount = states * batchSize * _sizes.OutSize;
        long cCount = _sizes.Mode == RnnMode.Lstm ? states * batchSize * _sizes.HiddenSize : 0;
        long perSequence = states * Math.Max(_sizes.OutSize, cCount == 0 ? 0 : _sizes.HiddenSize);
        if (Math.Max(hCount, cCount) > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"batchSize: the state takes {perSequence} values per sequence, and {batchSize} sequences pass one array ({Array.MaxLength} values). Expected at most {Array.MaxLength / perSequence}, got {batchSize}.");
        int hLength = (int)hCount, cLength = (int)cCount;
        _h = [Tensor.NewArray(DType, hLength), Tensor.NewArray(DType, hLength)];
        _c = [Tensor.NewArray(DType, cLength), Tensor.NewArray(DType, cLength)];
        _batchSizes = [batchSize];
    }

    /// <summary>The module this stream runs.</summary>
    public RecurrentBase Module => _module;

    /// <summary>The number of sequences that advance together (B).</summary>
    public int BatchSize { get; }

    /// <summary>The element type of inputs, outputs and state (the module's dtype when the stream was created).</summary>
    public DType DType { get; }

    /// <summary>Features of each input row (the module's <c>input_size</c>).</summary>
    public int InputSize => _sizes.InputSize;

    /// <summary>Features of each output row and of h (the module's H_out: <c>proj_size</c> if &gt; 0, else <c>hidden_size</c>).</summary>
    public int OutputSize => _sizes.OutSize;

    /// <summary>Steps taken since the stream was created or last reset (or its state last set).</summary>
    public long Position { get; private set; }

    /// <summary>
    /// The current state, copied into new tensors: h (num_layers, B, H_out) and, for an LSTM, c (num_layers, B, hidden_size),
    /// the shapes <c>Forward</c> returns for batched input. Setting it copies the given tensors in (for B = 1 the unbatched
    /// shapes (num_layers, H_out) / (num_layers, hidden_size) are accepted too) and resets <see cref="Position"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A tensor has the wrong shape or dtype, or c is missing for an LSTM or given for another module.</exception>
    public RecurrentState State
    {
        get
        {
            int[] hShape = [_sizes.NumLayers, BatchSize, _sizes.OutSize];
            var h = Tensor.NewZeroed(DType, hShape);
            Array.Copy(_h[_current], h.Data, _h[_current].Length);
            if (_sizes.Mode != RnnMode.Lstm) return new RecurrentState(h);
            int[] cShape = [_sizes.NumLayers, BatchSize, _sizes.HiddenSize];
            var c = Tensor.NewZeroed(DType, cShape);
            Array.Copy(_c[_current], c.Data, _c[_current].Length);
            return new RecurrentState(h, c);
        }
        set
        {
            bool lstm = _sizes.Mode == RnnMode.Lstm;
            Guard.NotNull(value.H, "value.H");
            if (lstm && value.C is null)
                throw new ArgumentException($"{_module.TypeName}: State.C must be given with State.H (an LSTM carries (h, c)), but got null", nameof(value));
            if (!lstm && value.C is not null)
                throw new ArgumentException($"{_module.TypeName}: State.C must be null ({_module.TypeName} carries only h), but got a tensor of shape {Guard.ShapeText(value.C.ShapeRef)}", nameof(value));
            CheckState(value.H, _sizes.OutSize, "State.H");
            if (lstm) CheckState(value.C!, _sizes.HiddenSize, "State.C");
            CopyIn(value.H, _h[_current]);
            if (lstm) CopyIn(value.C!, _c[_current]);
            Position = 0;
        }
    }

    /// <summary>Sets the state back to zeros (every sequence starts over) and <see cref="Position"/> to 0.</summary>
    public void Reset()
    {
        Array.Clear(_h[_current]);
        Array.Clear(_c[_current]);
        Position = 0;
    }

    /// <summary>Advances every sequence by one step: input (B, input_size) in, output (B, H_out) out.</summary>
    /// <param name="input">B rows of <see cref="InputSize"/> values.</param>
    /// <param name="output">Receives B rows of <see cref="OutputSize"/> values (the last layer's new h).</param>
    /// <exception cref="ArgumentException">A span has the wrong length.</exception>
    /// <exception cref="InvalidOperationException">The stream is float64, or the module can no longer be streamed (see the remarks).</exception>
    public void Step(ReadOnlySpan<float> input, Span<float> output) => Advance(input, output, 1);

    /// <summary>Advances every sequence by one step (float64 streams). See <see cref="Step(ReadOnlySpan{float}, Span{float})"/>.</summary>
    public void Step(ReadOnlySpan<double> input, Span<double> output) => Advance(input, output, 1);

    /// <summary>
    /// Advances every sequence by T steps in one kernel call, exactly as <c>Forward</c> over those steps: inputs
    /// (T, B, input_size) time-major, outputs (T, B, H_out). T is inputs.Length / (B * input_size).
    /// </summary>
    /// <exception cref="ArgumentException">The inputs are empty or not whole steps, or the outputs have the wrong length.</exception>
    /// <exception cref="InvalidOperationException">The stream is float64, or the module can no longer be streamed.</exception>
    public void Run(ReadOnlySpan<float> inputs, Span<float> outputs) => Advance(inputs, outputs, StepsOf(inputs.Length));

    /// <summary>Advances every sequence by T steps (float64 streams). See <see cref="Run(ReadOnlySpan{float}, Span{float})"/>.</summary>
    public void Run(ReadOnlySpan<double> inputs, Span<double> outputs) => Advance(inputs, outputs, StepsOf(inputs.Length));

    /// <summary>
    /// One step from a tensor: input (B, input_size), or (input_size) when B = 1; returns the output (B, H_out), or
    /// (H_out) for a 1-D input. Allocates the result; use the span overload for allocation-free steps.
    /// </summary>
    /// <exception cref="ArgumentException">The input has the wrong shape or dtype.</exception>
    public Tensor Step(Tensor input)
    {
        Guard.NotNull(input, nameof(input));
        CheckDType(input, nameof(input));
        bool unbatched = input.Dim == 1;
        if (!(input.Dim == 2 && input.Size(0) == BatchSize && input.Size(1) == InputSize)
            && !(unbatched && BatchSize == 1 && input.Size(0) == InputSize))
            throw new ArgumentException($"input: expected shape [{BatchSize}, {InputSize}]{(BatchSize == 1 ? $" or [{InputSize}]" : "")} for one step of this stream, got {Guard.ShapeText(input.ShapeRef)}", nameof(input));
        int[] shape = unbatched ? [OutputSize] : [BatchSize, OutputSize];
        var output = Tensor.NewZeroed(DType, shape);
        var x = input.Contiguous();
        if (DType == DType.Float32) Advance(x.AsSpan<float>(), output.AsSpan<float>(), 1);
        else Advance(x.AsSpan<double>(), output.AsSpan<double>(), 1);
        return output;
    }

    /// <summary>
    /// T steps from a tensor, as <c>Forward</c> over the sequence: input (T, B, input_size), or (B, T, input_size) when the
    /// module is <c>batch_first</c>, or (T, input_size) when B = 1; returns the output in the same layout with H_out features.
    /// </summary>
    /// <exception cref="ArgumentException">The input has the wrong shape or dtype, or no steps.</exception>
    public Tensor Run(Tensor input)
    {
        Guard.NotNull(input, nameof(input));
        CheckDType(input, nameof(input));
        bool unbatched = input.Dim == 2;
        bool batchFirst = _module.BatchFirst && !unbatched;
        int timeDim = batchFirst ? 1 : 0;
        bool fits = unbatched
            ? BatchSize == 1 && input.Size(1) == InputSize
            : input.Dim == 3 && input.Size(batchFirst ? 0 : 1) == BatchSize && input.Size(2) == InputSize;
        if (!fits || input.Size(timeDim) == 0)
        {
            string expected = _module.BatchFirst ? $"[{BatchSize}, T, {InputSize}]" : $"[T, {BatchSize}, {InputSize}]";
            throw new ArgumentException($"input: expected shape {expected}{(BatchSize == 1 ? $" or [T, {InputSize}]" : "")} with T >= 1 for this stream, got {Guard.ShapeText(input.ShapeRef)}", nameof(input));
        }
        int steps = input.Size(timeDim);
        var x = (batchFirst ? input.Transpose(0, 1) : input).Contiguous();
        var y = Tensor.NewZeroed(DType, unbatched ? [steps, OutputSize] : [steps, BatchSize, OutputSize]);
        if (DType == DType.Float32) Advance(x.AsSpan<float>(), y.AsSpan<float>(), steps);
        else Advance(x.AsSpan<double>(), y.AsSpan<double>(), steps);
        return batchFirst ? y.Transpose(0, 1).Contiguous() : y;
    }

    // ------------------------------------------------------------------------------------------

    private int StepsOf(int inputLength)
    {
        long row = (long)BatchSize * InputSize;
        if (inputLength == 0 || row == 0 || inputLength % row != 0)
            throw new ArgumentException($"inputs: expected a positive whole number of steps of BatchSize * InputSize = {BatchSize} * {InputSize} = {row} values (a (T, {BatchSize}, {InputSize}) sequence), got {inputLength} values", "inputs");
        return (int)(inputLength / row);
    }

    /// <summary>Runs <paramref name="steps"/> steps: x (T, B, I) -> y (T, B, H_out), state from the current buffer into the other.</summary>
    internal void Advance<T>(ReadOnlySpan<T> x, Span<T> y, int steps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var expected = typeof(T) == typeof(float) ? DType.Float32 : DType.Float64;
        if (expected != DType)
            throw new InvalidOperationException($"this stream is {Tensor.DTypeName(DType)}: expected {(DType == DType.Float32 ? "float" : "double")} spans, got {typeof(T).Name} spans");
        bool quantized = _module.IsQuantized;
        if (quantized)
        {
            if (DType != DType.Float32)
                throw new InvalidOperationException($"{_module.TypeName}: the module was quantized to int8 after this {Tensor.DTypeName(DType)} stream was created; create a new (float32) stream with CreateStream().");
            if (_module.Training) throw QuantizedWeights.InferenceOnly(_module.TypeName, "it is in training mode");
        }
        else
        {
            if (_module.Flat.DType != DType)
                throw new InvalidOperationException($"{_module.TypeName}: the module was converted from {Tensor.DTypeName(DType)} to {Tensor.DTypeName(_module.Flat.DType)} after this stream was created; create a new stream with CreateStream().");
            if (_module.Training && _module.Dropout > 0 && _sizes.NumLayers > 1)
                throw new InvalidOperationException($"{_module.TypeName}: the module is in training mode with dropout={PyFormat.Float(_module.Dropout)} between layers, which a stream does not apply; call Eval() on the module before stepping it.");
        }
        // Counted in long: rows * OutputSize can pass int's range, and a wrapped count must not match a short span.
        int rows = steps * BatchSize;
        long xCount = (long)rows * InputSize, yCount = (long)rows * OutputSize;
        if (x.Length != xCount)
            throw new ArgumentException($"input: expected {rows} rows of {InputSize} values ({xCount}) for {steps} step(s) of batch {BatchSize}, got {x.Length} values", "input");
        if (y.Length != yCount)
            throw new ArgumentException($"output: expected {rows} rows of {OutputSize} values ({yCount}) for {steps} step(s) of batch {BatchSize}, got {y.Length} values", "output");
        if (_batchSizes.Length < steps)
        {
            _batchSizes = new int[Math.Max(steps, 2 * _batchSizes.Length)];
            Array.Fill(_batchSizes, BatchSize);
        }

        int cur = _current;
        T[] h0 = (T[])_h[cur], hN = (T[])_h[cur ^ 1], c0 = (T[])_c[cur], cN = (T[])_c[cur ^ 1];
        var batchSizes = _batchSizes.AsSpan(0, steps);
        if (!quantized)
            RecurrentKernels.StackForward<T>(y, hN, cN, Span<T>.Empty, x, h0, c0, _module.Flat.Buffer.AsSpan<T>(), in _sizes, batchSizes);
        else
        {
            // Dynamically quantized: the int8 kernel its Forward runs (QuantizedStackRunner), on float32 spans.
            var runner = (QuantizedStackRunner)_module.Runner;
            RecurrentKernels.StackForwardQuantized(MemoryMarshal.Cast<T, float>(y), MemoryMarshal.Cast<T, float>(hN.AsSpan()),
                MemoryMarshal.Cast<T, float>(cN.AsSpan()), MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(h0.AsSpan()),
                MemoryMarshal.Cast<T, float>(c0.AsSpan()), runner.Layers, in _sizes, batchSizes);
            runner.KeepAlive();
        }
        _current = cur ^ 1;
        Position += steps;
    }

    private void CheckDType(Tensor t, string name)
    {
        if (t.DType != DType)
            throw new ArgumentException($"{name}: expected dtype {Tensor.DTypeName(DType)} (the stream's), got {Tensor.DTypeName(t.DType)}. Convert it with {name}.To(DType.{DType}).", name);
    }

    private void CheckState(Tensor t, int features, string name)
    {
        int layers = _sizes.NumLayers;
        bool batched = t.Dim == 3 && t.Size(0) == layers && t.Size(1) == BatchSize && t.Size(2) == features;
        bool unbatched = BatchSize == 1 && t.Dim == 2 && t.Size(0) == layers && t.Size(1) == features;
        if (!batched && !unbatched)
            throw new ArgumentException($"{name}: expected shape [{layers}, {BatchSize}, {features}]{(BatchSize == 1 ? $" or [{layers}, {features}]" : "")}, got {Guard.ShapeText(t.ShapeRef)}", "value");
        if (t.DType != DType)
            throw new ArgumentException($"{name}: expected dtype {Tensor.DTypeName(DType)} (the stream's), got {Tensor.DTypeName(t.DType)}", "value");
    }

    private void CopyIn(Tensor t, Array target)
    {
        var c = t.Contiguous();
        if (DType == DType.Float32) c.AsSpan<float>().CopyTo((float[])target);
        else c.AsSpan<double>().CopyTo((double[])target);
    }
}
