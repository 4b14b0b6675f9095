// The tracing hook: while a recorder is installed on the current thread (an exporter such as Recurrent.Onnx runs a
// forward once under it), every tensor op reports what it did. Outside a trace each hook costs one thread-static
// null check (`TraceRecorder.Current?.X(...)` evaluates no argument when there is no recorder).
//
// What reports what:
// - every Tensor constructor reports the new tensor (Created), so a tensor that no op accounts for is detectable;
// - the factories (Zeros, FromArray, Scalar, ...) mark their results as constants (Constant);
// - Tensor.Record / RecordMulti (every differentiable op) report the autograd name and inputs (Autograd), which
//   names an op the exporter does not know and, for ops without attributes (Add, Tanh, View, Mm, ...), is the
//   whole report;
// - ops with attributes (Transpose, Narrow, Softmax, ...) and composite ops (Linear, Embedding, the recurrent
//   layers and cells, packing) report themselves (Op). A composite runs inside a TraceScope, so the ops it is built
//   from are not reported one by one: only the composite's own report counts.
// - in-place ops (InPlace) and reads of element values into .NET (ReadValues) report too, so the recorder can refuse
//   what a graph cannot express (a data-dependent branch, an in-place update of a traced value).
// The core library knows nothing of ONNX: it only reports; the recorder decides.
using System.Runtime.CompilerServices;

namespace Recurrent.Tracing;

/// <summary>Receives the reports of tensor ops while a trace runs on this thread (see the file header).</summary>
internal abstract class TraceRecorder
{
    [ThreadStatic] private static TraceRecorder? t_current;

    /// <summary>The recorder of the current thread, or null when no trace is running (the common case).</summary>
    internal static TraceRecorder? Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_current;
    }

    /// <summary>Installs <paramref name="recorder"/> on the current thread (null removes it); returns the previous one.</summary>
    internal static TraceRecorder? Install(TraceRecorder? recorder)
    {
        var previous = t_current;
        t_current = recorder;
        return previous;
    }

    /// <summary>Greater than zero while a composite op runs (its inner ops are not reported individually).</summary>
    internal int Depth;

    /// <summary>A tensor object was constructed (fresh storage or a view).</summary>
    internal abstract void Created(Tensor tensor);

    /// <summary>A factory made <paramref name="tensor"/> from .NET values (no tensor input).</summary>
    internal abstract void Constant(Tensor tensor);

    /// <summary>An op recorded (or would record) an autograd node <paramref name="name"/> for <paramref name="results"/>.</summary>
    internal abstract void Autograd(string name, Tensor[] results, Tensor?[] inputs);

    /// <summary>
    /// An op with attributes, or a composite op, produced <paramref name="result"/> (a Tensor, a Tensor[], a tuple of
    /// tensors or a PackedSequence, as the op returns) from <paramref name="inputs"/>; <paramref name="args"/> are its
    /// other arguments in the order of its signature.
    /// </summary>
    internal abstract void Op(string kind, object result, Tensor?[] inputs, params object?[] args);

    /// <summary>An in-place op (<c>add_</c>, <c>copy_</c>, ...) is about to change <paramref name="target"/>.</summary>
    internal abstract void InPlace(string op, Tensor target, Tensor? other);

    /// <summary>.NET code is about to read the element values of <paramref name="tensor"/> (<c>Item</c>, <c>ToArray</c>).</summary>
    internal abstract void ReadValues(string api, Tensor tensor);

    /// <summary>A factory result: reports it as a constant and returns it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Tensor MarkConstant(Tensor t)
    {
        t_current?.Constant(t);
        return t;
    }
}

/// <summary>
/// The scope of a composite op (<c>using var trace = TraceScope.Begin();</c> ... <c>trace.End()?.Op(...)</c>): the
/// ops it is built from are not reported one by one. <see cref="End"/> returns the recorder to report the composite
/// to, or null when there is no trace or the composite runs inside another one.
/// </summary>
internal readonly struct TraceScope : IDisposable
{
    private readonly TraceRecorder? _recorder;
    private readonly int _depth;

    private TraceScope(TraceRecorder recorder, int depth)
    {
        _recorder = recorder;
        _depth = depth;
    }

    /// <summary>Enters a composite op (a no-op without a trace).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TraceScope Begin()
    {
        var r = TraceRecorder.Current;
        return r is null ? default : Enter(r);
    }

    private static TraceScope Enter(TraceRecorder r) => new(r, ++r.Depth);

    /// <summary>Leaves the scope; returns the recorder when this composite is to be reported (outermost), else null.</summary>
    internal TraceRecorder? End()
    {
        if (_recorder is null) return null;
        _recorder.Depth = _depth - 1;
        return _recorder.Depth == 0 ? _recorder : null;
    }

    /// <summary>Leaves the scope if <see cref="End"/> was not reached (an exception).</summary>
    public void Dispose()
    {
        if (_recorder is not null && _recorder.Depth >= _depth) _recorder.Depth = _depth - 1;
    }
}
