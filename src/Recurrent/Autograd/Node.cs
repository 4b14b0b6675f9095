// Autograd graph nodes: a backward rule, the edges to the nodes of its inputs, and the
// AccumulateGrad sink for leaves. Kept micrograd-small: a fused layer is just one more node.
namespace Recurrent.Autograd;

/// <summary>An edge to input <see cref="InputNr"/> of a node (output slot of the producer).</summary>
internal readonly record struct Edge(Node? Node, int InputNr);

/// <summary>A backward function in the graph.</summary>
internal abstract class Node
{
    private static long _sequence;

    protected Node(int numOutputs)
    {
        NumOutputs = numOutputs;
        SequenceNr = Interlocked.Increment(ref _sequence);
    }

    /// <summary>PyTorch's name for the node, e.g. <c>AddBackward0</c>.</summary>
    public abstract string Name { get; }

    /// <summary>How many forward outputs (and so gradient inputs) this node has.</summary>
    public int NumOutputs { get; }

    /// <summary>Creation order, used to run later nodes first when several are ready.</summary>
    public long SequenceNr { get; }

    /// <summary>One edge per forward input; Node null when that input needs no gradient.</summary>
    public Edge[] NextEdges { get; protected init; } = Array.Empty<Edge>();

    // What few nodes have, out of line (one field on every node of every step): outputs that retain their gradient,
    // and gradient hooks per output.
    private sealed class Extras
    {
        public List<(int OutputNr, Tensor Tensor)>? Retained;
        public GradientHooks?[]? Hooks;
    }

    private Extras? _extras;

    private Extras Extra => Volatile.Read(ref _extras) ?? Interlocked.CompareExchange(ref _extras, new Extras(), null) ?? _extras!;

    /// <summary>Non-leaf outputs that asked for <c>retain_grad()</c> (empty for almost every node, so made on first use).</summary>
    public IReadOnlyList<(int OutputNr, Tensor Tensor)> Retained => (IReadOnlyList<(int, Tensor)>?)_extras?.Retained ?? Array.Empty<(int, Tensor)>();

    /// <summary>Records an output that asked for <c>retain_grad()</c>.</summary>
    public void Retain(int outputNr, Tensor tensor)
    {
        var x = Extra;
        lock (x) (x.Retained ??= new()).Add((outputNr, tensor));
    }

    /// <summary>Whether any output of this node has gradient hooks (<see cref="Tensor.RegisterHook(Func{Tensor, Tensor?})"/> on a non-leaf).</summary>
    public bool HasHooks => Volatile.Read(ref _extras) is { Hooks: not null };

    /// <summary>The hooks of output <paramref name="outputNr"/>'s gradient, made on first use.</summary>
    public GradientHooks HooksFor(int outputNr)
    {
        var x = Extra;
        var all = Volatile.Read(ref x.Hooks) ?? Interlocked.CompareExchange(ref x.Hooks, new GradientHooks?[NumOutputs], null) ?? x.Hooks!;
        return Volatile.Read(ref all[outputNr]) ?? Interlocked.CompareExchange(ref all[outputNr], new GradientHooks(), null) ?? all[outputNr]!;
    }

    /// <summary>Whether output <paramref name="outputNr"/>'s gradient has a hook registered now.</summary>
    public bool HasHooksOn(int outputNr) => _extras?.Hooks is { } all && all[outputNr] is { IsEmpty: false };

    /// <summary>Passes each gradient in <paramref name="gradOutputs"/> through its output's hooks (the engine, before <see cref="Apply"/>).</summary>
    public void RunHooks(Tensor?[] gradOutputs)
    {
        var all = _extras!.Hooks!;
        for (int i = 0; i < all.Length && i < gradOutputs.Length; i++)
            if (all[i] is { } hooks && gradOutputs[i] is { } g) gradOutputs[i] = hooks.Run(g);
    }

    /// <summary>Gradients of the forward inputs from gradients of the outputs (null = zero).</summary>
    public abstract Tensor?[] Apply(Tensor?[] gradOutputs);

    /// <summary>Frees saved tensors after a backward pass without retain_graph.</summary>
    public virtual void Release() { }

    internal static Edge EdgeOf(Tensor? t)
    {
        if (t is null || !t.RequiresGrad) return new Edge(null, 0);
        return t.GradFn is not null ? new Edge(t.GradFn, t.OutputNr) : new Edge(t.GetAccumulator(), 0);
    }
}

/// <summary>A node whose backward rule is a closure over the saved tensors.</summary>
internal sealed class FunctionNode : Node
{
    // Exactly one of the two is set: the rule of a multi-output node, or of a one-output node (its gradient
    // passed as it is, so recording an op does not wrap its rule in one more closure).
    private Func<Tensor?[], Tensor?[]>? _backward;
    private Func<Tensor, Tensor?[]>? _backward1;
    private readonly bool _savesTensors;
    private readonly string _name;

    public FunctionNode(string name, int numOutputs, Func<Tensor?[], Tensor?[]> backward, bool savesTensors, Tensor?[] inputs)
        : this(name, numOutputs, savesTensors, inputs) => _backward = backward;

    /// <summary>A one-output node; its rule is never called without a gradient (the engine skips a node that gets none).</summary>
    public FunctionNode(string name, Func<Tensor, Tensor?[]> backward, bool savesTensors, Tensor?[] inputs)
        : this(name, 1, savesTensors, inputs) => _backward1 = backward;

    private FunctionNode(string name, int numOutputs, bool savesTensors, Tensor?[] inputs)
        : base(numOutputs)
    {
        _name = name;
        _savesTensors = savesTensors;
        var edges = new Edge[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) edges[i] = EdgeOf(inputs[i]);
        NextEdges = edges;
    }

    public override string Name => _name;

    /// <summary>True for a one-output node: its rule is given the gradient, never the array that holds it.</summary>
    public bool TakesGradientOnly => _backward1 is not null;

    public override Tensor?[] Apply(Tensor?[] gradOutputs)
    {
        // Each field read once: a Release() on another thread between a check and the call would otherwise be a null call.
        var one = _backward1;
        if (one is not null) return one(gradOutputs[0]!);
        var many = _backward;
        if (many is null)
            throw new InvalidOperationException("Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .Backward(). Specify retainGraph: true (Backward(retainGraph: true)) if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.");
        return many(gradOutputs);
    }

    public override void Release()
    {
        if (_savesTensors) { _backward = null; _backward1 = null; }
    }
}

/// <summary>The sink of a leaf tensor: adds incoming gradients into <c>leaf.Grad</c>.</summary>
internal sealed class AccumulateGrad : Node
{
    public AccumulateGrad(Tensor leaf) : base(1) => Leaf = leaf;

    public Tensor Leaf { get; }

    public override string Name => "AccumulateGrad";

    public override Tensor?[] Apply(Tensor?[] gradOutputs)
    {
        var g = gradOutputs[0];
        if (g is null) return Array.Empty<Tensor?>();
        if (Leaf.GradHooks is { IsEmpty: false } hooks)
        {
            // The hooks may keep the gradient they were given: .Grad never shares its storage (PyTorch does not steal a
            // gradient that is referenced elsewhere).
            g.AdoptableAsGrad = false;
            g = hooks.Run(g);
            g.AdoptableAsGrad = false;
        }
        Accumulate(Leaf, g);
        return Array.Empty<Tensor?>();
    }

    internal static void Accumulate(Tensor target, Tensor g)
    {
        using var _ = new NoGrad();
        if (!g.SameShape(target))
            throw new InvalidOperationException($"gradient of shape {Guard.ShapeText(g.ShapeRef)} does not match tensor of shape {Guard.ShapeText(target.ShapeRef)}");
        var current = target.GradUnseen;
        if (current is null && g.AdoptableAsGrad && g.DType == target.DType && g.IsContiguous)
        {
            g.AdoptableAsGrad = false;
            target.SetAdoptedGrad(g);
        }
        else if (current is null)
        {
            // Every element is written: the storage a ZeroGrad kept, else a new tensor.
            var copy = target.TakeSpareGrad() ?? Tensor.Allocate(target.DType, target.ShapeRef, clear: false);
            StridedCopy.Copy(g.DType == target.DType ? g : g.To(target.DType), copy);
            target.SetOwnGrad(copy);
        }
        else current.Add_(g);
    }
}
