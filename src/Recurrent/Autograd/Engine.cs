// The backward engine: an iterative topological walk (no recursion: long sequences make
// deep graphs) that sums the gradients reaching each node and calls its backward rule.
namespace Recurrent.Autograd;

internal static class Engine
{
    private static long s_passes;
    [ThreadStatic] private static long t_pass;

    /// <summary>An id of the backward pass running on this thread (unique per pass, process-wide).</summary>
    public static long CurrentPass => t_pass;

    public static void Run(Tensor[] roots, Tensor[] grads, bool retainGraph)
    {
        using var _ = new NoGrad();
        long outerPass = t_pass;
        t_pass = Interlocked.Increment(ref s_passes);
        // The walk's collections are reused by the thread's next pass (a training loop's backward would otherwise
        // allocate them, and grow them, every step); a pass inside a pass (a backward rule that runs one) gets its own.
        var state = t_spare ?? new PassState();
        t_spare = null;
        try { RunPass(state, roots, grads, retainGraph); }
        finally
        {
            t_pass = outerPass;
            // A walk over a very large graph (a long sequence through the per-step ops) is not kept: its tables would
            // stay that large for the thread's life and make every later Clear sweep them.
            if (state.Deps.Count <= MaxKeptNodes) { state.Clear(); t_spare = state; }
        }
    }

    /// <summary>The most graph nodes whose walk collections a thread keeps for its next pass.</summary>
    internal const int MaxKeptNodes = 1 << 14;

    /// <summary>Whether this thread holds walk collections for its next pass (tests).</summary>
    internal static bool HasSpareState => t_spare is not null;

    /// <summary>The collections of one backward walk; empty between passes, so they hold no tensor or node.</summary>
    private sealed class PassState
    {
        public readonly Dictionary<Node, int> Deps = new(ReferenceEqualityComparer.Instance);
        public readonly Stack<Node> Stack = new();
        public readonly Dictionary<Node, Tensor?[]> Buffers = new(ReferenceEqualityComparer.Instance);
        public readonly PriorityQueue<Node, long> Ready = new();
        public readonly List<Node> Executed = new();
        // Emptied one-slot gradient arrays of nodes whose rule keeps no reference to the array (AccumulateGrad and
        // one-output functions, which take the gradient itself), for the next nodes' gradients.
        public readonly Stack<Tensor?[]> SpareOnes = new();

        public Tensor?[] NewBuffer(int length) => length == 1 && SpareOnes.TryPop(out var a) ? a : new Tensor?[length];

        public void Clear()
        {
            Deps.Clear();
            Stack.Clear();
            Buffers.Clear();
            Ready.Clear();
            Executed.Clear();
        }
    }

    [ThreadStatic] private static PassState? t_spare;

    private static void RunPass(PassState state, Tensor[] roots, Tensor[] grads, bool retainGraph)
    {
        // 1. Count, for every reachable node, how many edges point at it.
        var deps = state.Deps;
        var stack = state.Stack;
        foreach (var r in roots)
        {
            var e = Node.EdgeOf(r);
            if (e.Node is not null && !deps.ContainsKey(e.Node)) { deps[e.Node] = 0; stack.Push(e.Node); }
        }
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            foreach (var e in n.NextEdges)
            {
                if (e.Node is null) continue;
                if (deps.TryGetValue(e.Node, out int c)) deps[e.Node] = c + 1;
                else { deps[e.Node] = 1; stack.Push(e.Node); }
            }
        }

        // 2. Seed the root gradients.
        var buffers = state.Buffers;
        var ready = state.Ready;
        for (int i = 0; i < roots.Length; i++)
        {
            var e = Node.EdgeOf(roots[i]);
            if (e.Node is null) continue;
            AddTo(state, e, grads[i]);
        }
        foreach (var r in roots)
        {
            var e = Node.EdgeOf(r);
            if (e.Node is not null && deps[e.Node] == 0 && !IsQueued(ready, e.Node))
                ready.Enqueue(e.Node, -e.Node.SequenceNr);
        }

        // 3. Run nodes whose every consumer has delivered its gradient, latest-created first.
        var executed = state.Executed;
        while (ready.Count > 0)
        {
            var node = ready.Dequeue();
            // A node no gradient reached (a routed stack's idle edge to its input, an output nobody used) only passes
            // its turn on to the nodes it points at.
            var gout = Array.Empty<Tensor?>();
            if (buffers.Remove(node, out var gin))
            {
                if (node.HasHooks) node.RunHooks(gin);
                var retained = node.Retained;
                for (int k = 0; k < retained.Count; k++)
                    if (gin[retained[k].OutputNr] is { } rg) AccumulateGrad.Accumulate(retained[k].Tensor, rg);
                bool anyGrad = false;
                foreach (var g in gin) if (g is not null) { anyGrad = true; break; }
                if (anyGrad) gout = Apply(node, gin);
            }
            executed.Add(node);
            for (int i = 0; i < node.NextEdges.Length; i++)
            {
                var e = node.NextEdges[i];
                if (e.Node is null) continue;
                if (i < gout.Length && gout[i] is { } g) AddTo(state, e, g);
                int left = deps[e.Node] - 1;
                deps[e.Node] = left;
                if (left == 0) ready.Enqueue(e.Node, -e.Node.SequenceNr);
            }
            if (gin is { Length: 1 } && !ReferenceEquals(gin, gout) && node is AccumulateGrad or FunctionNode { TakesGradientOnly: true })
            {
                gin[0] = null;
                state.SpareOnes.Push(gin);
            }
        }
        if (!retainGraph) foreach (var n in executed) n.Release();
    }

    /// <summary>
    /// Runs a node's backward rule. A tensor it saved in the forward that has since been disposed (it belonged to a
    /// dispose scope that ended before this backward) is reported in terms of what the caller can change: the order
    /// of Backward() and the scope's end. The tensor's own message names MoveToOuterDisposeScope, which a caller
    /// cannot apply to a tensor an operation saved. (A disposed gradient passed to Backward() is refused before the
    /// walk starts, so it is not reported as a saved tensor.)
    /// </summary>
    private static Tensor?[] Apply(Node node, Tensor?[] gin)
    {
        try { return node.Apply(gin); }
        catch (ObjectDisposedException e) when (e.ObjectName == nameof(Tensor) && node is not AccumulateGrad)
        {
            throw new InvalidOperationException(
                $"Backward() through {node.Name} needs a tensor that its forward saved, and that tensor was disposed " +
                "with the dispose scope it belonged to (Tensor.NewDisposeScope()). Call Backward() before that scope " +
                "is disposed, or create the tensors the graph needs outside it.", e);
        }
    }

    private static bool IsQueued(PriorityQueue<Node, long> ready, Node node)
    {
        foreach (var (element, _) in ready.UnorderedItems)
            if (ReferenceEquals(element, node)) return true;
        return false;
    }

    private static void AddTo(PassState state, Edge e, Tensor g)
    {
        var buffers = state.Buffers;
        if (!buffers.TryGetValue(e.Node!, out var buf))
        {
            buf = state.NewBuffer(e.Node!.NumOutputs);
            buffers[e.Node] = buf;
        }
        buf[e.InputNr] = buf[e.InputNr] is { } prev ? prev.Add(g) : g;
    }
}
