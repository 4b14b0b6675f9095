// The Tensor: a strided view (offset, shape, strides) over a flat typed array, plus the
// autograd fields (RequiresGrad, Grad, GradFn). Views share the array; ops live in the
// other Tensor.*.cs partial files.
using System.Globalization;
using System.Runtime.CompilerServices;
using Recurrent.Autograd;
using Recurrent.Tracing;

namespace Recurrent;

/// <summary>
/// An n-dimensional array of float32 (default), float64 or int64 values with reverse-mode
/// automatic differentiation, as <c>torch.Tensor</c>. Row-major; views share storage.
/// </summary>
public sealed partial class Tensor
{
    private readonly Array _data;       // float[] | double[] | long[]
    internal readonly int Offset;       // element offset of [0, 0, ...] in Data
    internal readonly int[] ShapeRef;   // never mutated
    private int[]? _strides;            // in elements, never mutated; null: contiguous, made on first use (StridesRef)
    private bool _requiresGrad;

    /// <summary>The autograd node that produced this tensor (null for leaves).</summary>
    internal Node? GradFn;
    /// <summary>Which output of <see cref="GradFn"/> this tensor is.</summary>
    internal int OutputNr;
    private Extras? _extras;

    // The fields few tensors set, out of line: a leaf's gradient and accumulator, a retained gradient, an embedding's
    // lookup, a module's replacement mark. Most tensors of a training step are intermediate results that set none of
    // them, and each is 32 bytes smaller for it (DECISIONS 47).
    private sealed class Extras
    {
        public Tensor? Grad, SpareGrad;
        public bool GradSeen, GradIsOwnCopy, DroppedGradSeen, RetainsGrad, ReplacedInModule;
        public int ModuleOwners;
        public AccumulateGrad? Accumulator;
        public Nn.EmbeddingLookup? Lookup;
        public GradientHooks? GradHooks;
    }

    // Made once, atomically (GetAccumulator may run on several threads at once).
    private Extras Extra => Volatile.Read(ref _extras) ?? Interlocked.CompareExchange(ref _extras, new Extras(), null) ?? _extras!;

    /// <summary>True once <see cref="RetainGrad"/> was called on this non-leaf.</summary>
    internal bool RetainsGrad => _extras?.RetainsGrad ?? false;

    /// <summary>Set when the last module registration holding this parameter tensor replaced it by another (To(dtype), re-flattening, quantization, an assignment).</summary>
    internal bool ReplacedInModule
    {
        get => _extras?.ReplacedInModule ?? false;
        set { if (value || _extras is not null) Extra.ReplacedInModule = value; }
    }

    /// <summary>How many module registrations hold this tensor as a parameter (a tied weight: one per module).</summary>
    internal int ModuleOwners
    {
        get => _extras?.ModuleOwners ?? 0;
        set { if (value != 0 || _extras is not null) Extra.ModuleOwners = value; }
    }

    /// <summary>The lookup this tensor is the output of (<see cref="Nn.Functional.Embedding"/>), for a recurrent stack that reads it; else null.</summary>
    internal Nn.EmbeddingLookup? Lookup
    {
        get => _extras?.Lookup;
        set { if (value is not null || _extras is not null) Extra.Lookup = value; }
    }

    // A tensor over a fresh array (never one that another tensor uses: views go through the
    // constructor below, which carries the pool lease along).
    internal Tensor(Array data, int[] shape) : this(data, 0, shape, null, null) { }

    /// <summary>A view of <paramref name="source"/>'s storage (shares its array and pool lease); null <paramref name="strides"/>: contiguous.</summary>
    internal Tensor(Tensor source, int offset, int[] shape, int[]? strides) : this(source.Data, offset, shape, strides, source.Lease) { }

    private Tensor(Array data, int offset, int[] shape, int[]? strides, StorageLease? lease)
    {
        _data = data;
        Offset = offset;
        ShapeRef = shape;
        _strides = strides;
        DType = data switch
        {
            float[] => DType.Float32,
            double[] => DType.Float64,
            long[] => DType.Int64,
            _ => throw new ArgumentException($"unsupported storage type {data.GetType()}"),
        };
        Lease = lease;
        JoinScope();
        TraceRecorder.Current?.Created(this);
    }

    /// <summary>The storage array (float[] | double[] | long[]); throws once the tensor is disposed.</summary>
    internal Array Data
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (_disposed != 0) ThrowDisposed();
            return _data;
        }
    }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>The sizes of each dimension, as <c>tensor.shape</c> (no copy).</summary>
    public TensorShape Shape => new(ShapeRef);

    /// <summary>The strides of each dimension in elements (a copy), as <c>tensor.stride()</c>.</summary>
    public int[] Strides => (int[])StridesRef.Clone();

    /// <summary>Number of dimensions, as <c>tensor.dim()</c>.</summary>
    public int Dim => ShapeRef.Length;

    /// <summary>Number of elements, as <c>tensor.numel()</c>.</summary>
    public int Numel => ShapeUtil.Numel(ShapeRef);

    /// <summary>The size of one dimension (negative counts from the end), as <c>tensor.size(dim)</c>.</summary>
    public int Size(int dim) =>
        Dim == 0 ? throw new ArgumentOutOfRangeException(nameof(dim), dim, $"dimension specified as {dim} but tensor has no dimensions")
        : ShapeRef[Guard.Dim(dim, Dim)];

    /// <summary>True when the elements are laid out row-major without gaps.</summary>
    public bool IsContiguous => _strides is null || ShapeUtil.IsContiguous(ShapeRef, _strides);

    /// <summary>
    /// The strides in elements (never mutate). A tensor made contiguous has none until they are first asked for: most
    /// intermediate results of a step are only ever read whole, and so allocate no strides array.
    /// </summary>
    internal int[] StridesRef
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _strides ?? MakeStrides();
    }

    /// <summary>
    /// True when <paramref name="other"/> reads the same elements of the same storage the same way (the same tensor, or
    /// an equal view of it: a tied weight under two state_dict keys).
    /// </summary>
    internal bool IsSameView(Tensor other) =>
        ReferenceEquals(_data, other._data) && Offset == other.Offset && ShapeRef.AsSpan().SequenceEqual(other.ShapeRef)
        && StridesRef.AsSpan().SequenceEqual(other.StridesRef);

    /// <summary>True when this tensor is all of its storage, in order (not a slice, a transpose or a part of a flat buffer).</summary>
    internal bool OwnsStorage => Offset == 0 && IsContiguous && Numel == _data.Length;

    // Two threads may both make them: equal arrays, and either one kept is right.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int[] MakeStrides() => _strides = ContiguousStrides(ShapeRef);

    /// <summary>True for float32 and float64 tensors.</summary>
    public bool IsFloatingPoint => DType != DType.Int64;

    /// <summary>
    /// Whether autograd records operations on this tensor. Only leaves (tensors not produced by
    /// a differentiable op) may change it, as in PyTorch.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (GradFn is not null && !value)
                throw new InvalidOperationException("you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use varNoGrad = var.Detach().");
            if (value && DType == DType.Int64)
                throw new InvalidOperationException("only Tensors of floating point dtype can require gradients");
            _requiresGrad = value;
        }
    }

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this tensor (as <c>requires_grad_()</c>).</summary>
    public Tensor RequiresGrad_(bool value = true) { RequiresGrad = value; return this; }

    /// <summary>Accumulated gradient of a leaf after <see cref="Backward"/>; null until then.</summary>
    /// <remarks>
    /// A tensor stored here lives as long as this tensor: for a tensor in no dispose scope (a parameter) it
    /// leaves its scope; for a tensor created inside a scope (a leaf made per iteration, such as
    /// <c>h.Detach().RequiresGrad_()</c>) it joins that scope, unless it already belongs to one that
    /// outlives it, so a loop with one scope per iteration reuses the gradient's storage too.
    /// <para>A gradient returned or set here is the caller's: no later backward writes into it after
    /// <c>ZeroGrad()</c> drops it (as PyTorch). A gradient nobody read here is reused instead: <c>ZeroGrad()</c>
    /// keeps its storage and the next backward writes into it, so a training loop allocates no gradients after its
    /// first step. Setting <c>Grad = null</c> releases the storage. Like the rest of training, reading this
    /// property while another thread runs a backward or <c>ZeroGrad()</c> on the same tensor is not supported.</para>
    /// </remarks>
    public Tensor? Grad
    {
        get
        {
            if (_extras is not { Grad: { } g } x) return null;
            x.GradSeen = true;
            return g;
        }
        set
        {
            if (value is null && _extras is null) return;
            var x = Extra;
            if (x.Grad is not null && x.GradSeen) x.DroppedGradSeen = true;
            x.Grad = value is null ? null : KeepWithThis(value);
            x.GradSeen = true;
            x.GradIsOwnCopy = false;
            x.SpareGrad = null;      // p.Grad = null frees the gradient's memory, as in PyTorch
        }
    }

    // Gradient storage reuse across zero_grad(set_to_none=True), invisible to callers. A gradient that
    // AccumulateGrad allocated itself (GradIsOwnCopy) and that no caller ever read or set through the public
    // Grad property (GradSeen false: library code reads it through GradUnseen) can be referenced by no one
    // else; when ZeroGrad drops it, it is kept as SpareGrad and the next backward copies into it
    // instead of allocating, so a training loop makes no new gradient arrays after its first step (no
    // large-object churn, no gen-2 collections). A gradient a caller has seen is simply dropped, as PyTorch,
    // and DroppedGradSeen tells a recurrent module's flat gradient buffer (whose views the parameters
    // adopt) that the caller may hold its storage, so its next backward writes a new buffer.

    /// <summary>True when a gradient this tensor dropped (ZeroGrad or the <see cref="Grad"/> setter) had been read or set by a caller.</summary>
    internal bool DroppedGradSeen => _extras?.DroppedGradSeen ?? false;

    /// <summary>Forgets <see cref="DroppedGradSeen"/> (its storage is no longer reused).</summary>
    internal void ClearDroppedGradSeen()
    {
        if (_extras is { } x) x.DroppedGradSeen = false;
    }

    /// <summary><see cref="Grad"/> for library code that keeps no reference to it beyond the call: reading it does not stop the storage reuse.</summary>
    internal Tensor? GradUnseen => _extras?.Grad;

    /// <summary>Sets a gradient the library just allocated for this tensor and references nowhere else.</summary>
    internal void SetOwnGrad(Tensor grad)
    {
        var x = Extra;
        x.Grad = KeepWithThis(grad);
        x.GradSeen = false;
        x.GradIsOwnCopy = true;
    }

    /// <summary>Sets a gradient from a backward node (a view of a module's flat gradient buffer): not reused by this tensor.</summary>
    internal void SetAdoptedGrad(Tensor grad)
    {
        var x = Extra;
        x.Grad = KeepWithThis(grad);
        x.GradSeen = false;
        x.GradIsOwnCopy = false;
        x.SpareGrad = null;
    }

    /// <summary>
    /// Sets <see cref="Grad"/> to null, as <c>zero_grad(set_to_none=True)</c>, keeping the dropped gradient's storage
    /// for the next backward when no caller can hold it (see <see cref="TakeSpareGrad"/>).
    /// </summary>
    internal void DropGrad()
    {
        if (_extras is not { } x) return;
        if (x.Grad is { } g)
        {
            if (x.GradSeen) x.DroppedGradSeen = true;
            else if (x.GradIsOwnCopy && Scope is null && g.Scope is null && !g.IsDisposed) x.SpareGrad = g;
        }
        x.Grad = null;
        x.GradSeen = x.GradIsOwnCopy = false;
    }

    /// <summary>The storage of a gradient <see cref="DropGrad"/> kept, when it still fits this tensor; null otherwise. Contents undefined.</summary>
    internal Tensor? TakeSpareGrad()
    {
        if (_extras is not { } x) return null;
        var s = x.SpareGrad;
        x.SpareGrad = null;
        return s is not null && s.DType == DType && s.SameShape(this) && s.IsContiguous && !s.IsDisposed ? s : null;
    }

    /// <summary>True when this tensor was not produced by a differentiable operation.</summary>
    public bool IsLeaf => GradFn is null;

    /// <summary>The name of the backward node, e.g. <c>AddBackward0</c>, or null for leaves.</summary>
    public string? GradFnName => GradFn?.Name;

    /// <summary>Makes a non-leaf keep its gradient in <see cref="Grad"/> during backward, as <c>retain_grad()</c>.</summary>
    public void RetainGrad()
    {
        if (!RequiresGrad) throw new InvalidOperationException("can't retain_grad on Tensor that has requires_grad=False (RequiresGrad is false: call RequiresGrad_() on the leaves it is computed from)");
        if (GradFn is not null && !RetainsGrad) { Extra.RetainsGrad = true; GradFn.Retain(OutputNr, this); }
    }

    /// <summary>A leaf's gradient hooks (<see cref="RegisterHook(Func{Tensor, Tensor?})"/>), or null when none was ever registered.</summary>
    internal GradientHooks? GradHooks => _extras?.GradHooks;

    /// <summary>Gives this leaf the gradient hooks of <paramref name="replaced"/>, the parameter it takes the place of
    /// (a conversion or re-flattening makes a new tensor where PyTorch keeps the Parameter object): the same list, so the
    /// handles still remove them.</summary>
    internal void KeepGradHooksOf(Tensor replaced)
    {
        if (replaced.GradHooks is { } hooks) Extra.GradHooks = hooks;
    }

    /// <summary>Whether this tensor's gradient passes through a hook now: a leaf's own hooks, or a non-leaf's on its node.</summary>
    internal bool HasGradHooks => GradFn is { } fn ? fn.HasHooksOn(OutputNr) : _extras?.GradHooks is { IsEmpty: false };

    /// <summary>
    /// Registers a backward hook, as PyTorch's <c>register_hook</c>: every time a gradient with respect to this tensor is
    /// computed, <paramref name="hook"/> receives it and may return a new gradient of the same shape and dtype to use in
    /// its place (null keeps it). The hook must not change its argument in place. Hooks run in registration order, with
    /// grad mode off; a leaf's before the gradient is added to <see cref="Grad"/>, a non-leaf's before the gradient flows on
    /// (and before <see cref="RetainGrad"/> stores it). Returns a handle whose <c>Remove()</c> (or <c>Dispose()</c>)
    /// removes the hook.
    /// </summary>
    /// <example><code>
    /// var h = embedding.Weight.RegisterHook(g => g * rowMask);   // train only some rows of a table
    /// ...
    /// h.Remove();
    /// </code></example>
    /// <exception cref="InvalidOperationException">This tensor does not require gradients.</exception>
    public RemovableHandle RegisterHook(Func<Tensor, Tensor?> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        ThrowIfDisposed();
        if (!RequiresGrad)
            throw new InvalidOperationException("cannot register a hook on a tensor that doesn't require gradient (RequiresGrad is false)");
        if (GradFn is { } fn)
        {
            var handle = fn.HooksFor(OutputNr).Add(hook);
            // A recurrent stack that already read this embedding output sends its share of the gradient straight to the
            // table; from now on it hands it to this tensor, so the hook sees the whole gradient.
            Lookup?.StopRouting();
            return handle;
        }
        var x = Extra;
        var hooks = Volatile.Read(ref x.GradHooks) ?? Interlocked.CompareExchange(ref x.GradHooks, new GradientHooks(), null) ?? x.GradHooks!;
        return hooks.Add(hook);
    }

    /// <summary>Registers a backward hook that only looks at the gradient (for example to log its norm); see
    /// <see cref="RegisterHook(Func{Tensor, Tensor?})"/>.</summary>
    public RemovableHandle RegisterHook(Action<Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return RegisterHook(g => { hook(g); return null; });
    }

    // Created once, atomically: graphs recorded on several threads at once (concurrent Forward calls on a shared
    // module without NoGrad) all reach a parameter through the same sink.
    internal AccumulateGrad GetAccumulator()
    {
        var x = Extra;
        return Volatile.Read(ref x.Accumulator) ?? Interlocked.CompareExchange(ref x.Accumulator, new AccumulateGrad(this), null) ?? x.Accumulator!;
    }

    /// <summary>
    /// Set by a backward node on a gradient nothing else references (a view of a module's flat gradient
    /// buffer): AccumulateGrad may keep it as a leaf's <see cref="Grad"/> instead of copying it.
    /// </summary>
    internal bool AdoptableAsGrad;

    /// <summary>Makes this tensor output <paramref name="outputNr"/> of <paramref name="node"/> (a multi-output op's result).</summary>
    internal void SetGradFn(Node node, int outputNr)
    {
        GradFn = node;
        OutputNr = outputNr;
        _requiresGrad = true;
    }

    internal static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    internal static int ElementSize(DType t) => t == DType.Float32 ? 4 : 8;

    internal static string DTypeName(DType t) => t switch
    {
        DType.Float32 => "torch.float32",
        DType.Float64 => "torch.float64",
        _ => "torch.int64",
    };

    internal static Array NewArray(DType t, int n) => t switch
    {
        DType.Float32 => new float[n],
        DType.Float64 => new double[n],
        _ => new long[n],
    };

    /// <summary>A new array whose contents are undefined (the GC skips zeroing large ones).</summary>
    internal static Array NewUninitializedArray(DType t, int n) => t switch
    {
        DType.Float32 => GC.AllocateUninitializedArray<float>(n),
        DType.Float64 => GC.AllocateUninitializedArray<double>(n),
        _ => GC.AllocateUninitializedArray<long>(n),
    };

    /// <summary>A new contiguous tensor of zeros with this dtype and the given shape (no autograd).</summary>
    internal static Tensor NewZeroed(DType t, int[] shape) => Allocate(t, shape, clear: true);

    internal T[] Arr<T>() => (T[])Data;

    /// <summary>The elements of a contiguous tensor as a span over its storage (writes are visible to every view).</summary>
    public Span<T> AsSpan<T>() where T : unmanaged
    {
        if (!IsContiguous) throw new InvalidOperationException("AsSpan requires a contiguous tensor; call Contiguous() first");
        if (Data is not T[] arr) throw new InvalidOperationException($"AsSpan<{typeof(T).Name}>: tensor has dtype {DTypeName(DType)}");
        return arr.AsSpan(Offset, Numel);
    }

    /// <summary>
    /// Copies the elements, row-major, into a new array of <typeparamref name="T"/> (float, double or long),
    /// converting from this tensor's dtype when they differ (as <c>tensor.tolist()</c> does to Python numbers:
    /// float to long truncates toward zero).
    /// </summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, double or long.</exception>
    public T[] ToArray<T>() where T : unmanaged
    {
        TraceRecorder.Current?.ReadValues("ToArray", this);
        if (Data is T[]) return Contiguous().AsSpan<T>().ToArray();
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double) && typeof(T) != typeof(long))
            throw new NotSupportedException($"ToArray<{typeof(T).Name}>: expected float, double or long, got {typeof(T).Name}");
        using (new NoGrad()) return Detach().To(DTypeOf<T>()).AsSpan<T>().ToArray();
    }

    /// <summary>The element type whose storage is <typeparamref name="T"/>[] (float, double or long).</summary>
    internal static DType DTypeOf<T>() => typeof(T) == typeof(float) ? DType.Float32 : typeof(T) == typeof(double) ? DType.Float64 : DType.Int64;

    /// <summary>The value of a one-element tensor, as <c>tensor.item()</c>.</summary>
    public T Item<T>() where T : unmanaged
    {
        TraceRecorder.Current?.ReadValues("Item", this);
        if (Numel != 1)
            throw new InvalidOperationException($"a Tensor with {Numel} elements cannot be converted to Scalar");
        // A floating value read as an integer type truncates toward zero, as int(t.item()) and t.long() do
        // (Convert.ChangeType alone would round half to even); NaN or out of range throws OverflowException.
        bool integral = typeof(T) == typeof(long) || typeof(T) == typeof(int) || typeof(T) == typeof(short) || typeof(T) == typeof(sbyte)
            || typeof(T) == typeof(ulong) || typeof(T) == typeof(uint) || typeof(T) == typeof(ushort) || typeof(T) == typeof(byte);
        return DType switch
        {
            DType.Float32 => (T)Convert.ChangeType(integral ? Math.Truncate((double)Arr<float>()[Offset]) : Arr<float>()[Offset], typeof(T), CultureInfo.InvariantCulture),
            DType.Float64 => (T)Convert.ChangeType(integral ? Math.Truncate(Arr<double>()[Offset]) : Arr<double>()[Offset], typeof(T), CultureInfo.InvariantCulture),
            _ => (T)Convert.ChangeType(Arr<long>()[Offset], typeof(T), CultureInfo.InvariantCulture),
        };
    }

    /// <summary>The value of a one-element tensor as a double.</summary>
    public double ToDouble() => Item<double>();

    /// <summary>Reads one element by its full index (no autograd).</summary>
    public double GetDouble(params int[] index)
    {
        int off = ElementOffset(index);
        return DType switch
        {
            DType.Float32 => Arr<float>()[off],
            DType.Float64 => Arr<double>()[off],
            _ => Arr<long>()[off],
        };
    }

    internal int ElementOffset(ReadOnlySpan<int> index)
    {
        if (index.Length != Dim) throw new ArgumentException($"index: expected {Dim} indices, got {index.Length}");
        int off = Offset;
        for (int d = 0; d < index.Length; d++)
        {
            int i = index[d];
            if (i < -ShapeRef[d] || i >= ShapeRef[d])
                throw new IndexOutOfRangeException($"index {i} is out of bounds for dimension {d} with size {ShapeRef[d]}");
            if (i < 0) i += ShapeRef[d];
            off += i * StridesRef[d];
        }
        return off;
    }

    /// <summary>
    /// Indexes and slices the leading dimensions, as Python's <c>x[i, j]</c> and <c>x[1:, :-1]</c>, written
    /// <c>x[i, j]</c> and <c>x[1.., ..^1]</c> (a view, differentiable): an index selects and removes its dimension
    /// (<c>^1</c> is the last element), a range keeps it. Dimensions past the last argument are kept whole.
    /// </summary>
    /// <exception cref="ArgumentException">More indices than dimensions, or a range outside a dimension.</exception>
    [IndexerName("Index")]
    public Tensor this[params TensorIndex[] indices]
    {
        get
        {
            Guard.NotNull(indices, nameof(indices));
            using var trace = TraceScope.Begin();
            if (indices.Length > Dim)
                throw new ArgumentException($"too many indices for tensor of dimension {Dim}: got {indices.Length}", nameof(indices));
            var t = this;
            int d = 0;
            foreach (var ix in indices)
            {
                int size = t.ShapeRef[d];
                if (ix.IsRange)
                {
                    var (start, length) = ix.Range.GetOffsetAndLength(size);
                    // Only a range that is whole as written (.., 0.., ..^0) is no step: x[..3] on a dimension of 3 is
                    // still a slice of 3 (a trace must see it, since the same code at another length keeps 3).
                    var r = ix.Range;
                    bool whole = !r.Start.IsFromEnd && r.Start.Value == 0 && r.End.IsFromEnd && r.End.Value == 0;
                    if (!whole) t = t.Narrow(d, start, length);
                    d++;
                }
                else
                {
                    int i = ix.Index.GetOffset(size);
                    if (i < 0 || i >= size)
                        throw new IndexOutOfRangeException($"index {(ix.Index.IsFromEnd ? "^" : "")}{ix.Index.Value} is out of bounds for dimension {d} with size {size}");
                    t = t.Select(d, i);
                }
            }
            trace.End()?.Op("Index", t, [this], indices);
            return t;
        }
    }

    /// <summary>A view sharing storage without autograd history, as <c>tensor.detach()</c>.</summary>
    public Tensor Detach()
    {
        var r = new Tensor(this, Offset, ShapeRef, _strides);
        TraceRecorder.Current?.Op("Identity", r, [this]);
        return r;
    }

    /// <summary>A contiguous copy (differentiable), as <c>tensor.clone()</c>.</summary>
    public Tensor Clone()
    {
        var r = NewZeroed(DType, ShapeRef);
        StridedCopy.Copy(this, r);
        return Record(r, "CloneBackward0", g => new[] { g }, false, this);
    }

    /// <summary>Returns this tensor if it is contiguous, else a contiguous copy (differentiable).</summary>
    public Tensor Contiguous()
    {
        if (IsContiguous) return this;
        var r = NewZeroed(DType, ShapeRef);
        StridedCopy.Copy(this, r);
        return Record(r, "CloneBackward0", g => new[] { g }, false, this);
    }

    /// <summary>Converts to another dtype (a copy unless it already has it), as <c>tensor.to(dtype)</c>.</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return this;
        var src = Contiguous();
        int n = Numel;
        var r = NewZeroed(dtype, ShapeRef);
        for (int i = 0; i < n; i++)
        {
            double v = src.DType switch
            {
                DType.Float32 => src.Arr<float>()[src.Offset + i],
                DType.Float64 => src.Arr<double>()[src.Offset + i],
                _ => src.Arr<long>()[src.Offset + i],
            };
            switch (dtype)
            {
                case DType.Float32: r.Arr<float>()[i] = (float)v; break;
                case DType.Float64: r.Arr<double>()[i] = v; break;
                default: r.Arr<long>()[i] = (long)v; break;
            }
        }
        TraceRecorder.Current?.Op("Cast", r, [this], dtype);
        if (dtype == DType.Int64) return r;
        var srcType = DType;
        return Record(r, "ToCopyBackward0", g => new[] { g.To(srcType) }, false, this);
    }

    /// <summary>Float32 copy, as <c>tensor.float()</c>.</summary>
    public Tensor Float() => To(DType.Float32);
    /// <summary>Float64 copy, as <c>tensor.double()</c>.</summary>
    public Tensor Double() => To(DType.Float64);
    /// <summary>Int64 copy (truncating), as <c>tensor.long()</c>.</summary>
    public Tensor Long() => To(DType.Int64);

    /// <summary>
    /// Records an autograd node for a single-output op if grad mode is on and any input requires grad.
    /// </summary>
    internal static Tensor Record(Tensor result, string name, Func<Tensor, Tensor?[]> backward, bool savesTensors, params Tensor?[] inputs)
    {
        TraceRecorder.Current?.Autograd(name, [result], inputs);
        if (!GradMode.IsEnabled) return result;
        bool any = false;
        foreach (var t in inputs) if (t is not null && t.RequiresGrad) { any = true; break; }
        if (!any) return result;
        var node = new FunctionNode(name, backward, savesTensors, inputs);
        result.GradFn = node;
        result.OutputNr = 0;
        result._requiresGrad = true;
        return result;
    }

    /// <summary>Records one autograd node with several outputs (e.g. a fused recurrent layer).</summary>
    internal static void RecordMulti(Tensor[] results, string name, Func<Tensor?[], Tensor?[]> backward, params Tensor?[] inputs)
    {
        TraceRecorder.Current?.Autograd(name, results, inputs);
        if (!GradMode.IsEnabled) return;
        bool any = false;
        foreach (var t in inputs) if (t is not null && t.RequiresGrad) { any = true; break; }
        if (!any) return;
        var node = new FunctionNode(name, results.Length, backward, true, inputs);
        for (int i = 0; i < results.Length; i++)
        {
            if (results[i].DType == DType.Int64) continue;
            results[i].GradFn = node;
            results[i].OutputNr = i;
            results[i]._requiresGrad = true;
        }
    }

    /// <summary>
    /// Computes the gradient of this tensor with respect to the graph leaves, as <c>tensor.backward()</c>.
    /// A non-scalar tensor needs <paramref name="gradient"/>.
    /// </summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false)
    {
        ThrowIfDisposed();
        if (!RequiresGrad)
            throw new InvalidOperationException("element 0 of tensors does not require grad and does not have a grad_fn");
        if (gradient is null)
        {
            if (Numel != 1) throw new InvalidOperationException("grad can be implicitly created only for scalar outputs");
            gradient = OnesLike(this);
        }
        else
        {
            gradient.ThrowIfDisposed();
            if (!gradient.ShapeRef.AsSpan().SequenceEqual(ShapeRef))
                throw new ArgumentException($"gradient: Mismatch in shape: grad_output[0] has a shape of {Guard.ShapeText(gradient.ShapeRef)} and output[0] has a shape of {Guard.ShapeText(ShapeRef)}.", nameof(gradient));
            // As the autograd engine's validate_outputs: a gradient of another dtype is cast to the output's.
            if (gradient.DType != DType)
                using (new NoGrad()) gradient = gradient.To(DType);
        }
        Engine.Run(new[] { this }, new[] { gradient }, retainGraph);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool SameShape(Tensor other) => ShapeRef.AsSpan().SequenceEqual(other.ShapeRef);
}
