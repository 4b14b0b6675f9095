// Walking the object tree of a PyTorch file: validation, key paths, tensor flattening.
namespace Recurrent.IO.Torch;

/// <summary>Operations over the inert object tree the unpickler builds.</summary>
internal static class TorchTree
{
    public static bool IsContainer(object? o) => o is TorchDict or TorchList or TorchTuple or TorchSet;

    /// <summary>
    /// Checks the finished tree once, without recursion: no container contains itself, nesting stays within
    /// <see cref="TorchReaderOptions.MaxDepth"/>, and the tree, with shared references counted each time
    /// they are reached, has at most <see cref="TorchReaderOptions.MaxTreeNodes"/> nodes. Linear in the
    /// distinct containers and their edges. After this, recursive walks of the tree are safe.
    /// </summary>
    public static void Validate(object? root, TorchReaderOptions options, string context)
    {
        if (!IsContainer(root))
            return;
        const long InProgress = -1;
        var done = new Dictionary<object, long>(ReferenceEqualityComparer.Instance); // container -> expanded node count
        var frames = new List<Frame> { new(root!, Children(root!).GetEnumerator()) };
        done[root!] = InProgress;
        while (frames.Count > 0)
        {
            var frame = frames[^1];
            if (frame.Children.MoveNext())
            {
                object? child = frame.Children.Current;
                if (!IsContainer(child))
                {
                    frame.Count = SaturatingAdd(frame.Count, 1);
                    continue;
                }
                if (done.TryGetValue(child!, out long count))
                {
                    if (count == InProgress)
                        throw new TorchFormatException($"{context}: recursive structure: a {PythonRepr.TypeName(child)} contains itself.");
                    frame.Count = SaturatingAdd(frame.Count, count);
                    CheckCount(frame.Count, options, context);
                    continue;
                }
                if (frames.Count >= options.MaxDepth)
                    throw new TorchFormatException($"{context}: containers nested deeper than {options.MaxDepth} levels.");
                done[child!] = InProgress;
                frames.Add(new Frame(child!, Children(child!).GetEnumerator()));
                continue;
            }
            frames.RemoveAt(frames.Count - 1);
            CheckCount(frame.Count, options, context);
            done[frame.Node] = frame.Count;
            if (frames.Count > 0)
                frames[^1].Count = SaturatingAdd(frames[^1].Count, frame.Count);
        }
    }

    private static void CheckCount(long count, TorchReaderOptions options, string context)
    {
        if (count > options.MaxTreeNodes)
            throw new TorchFormatException(
                $"{context}: the object tree expands to more than {options.MaxTreeNodes} nodes through shared references.");
    }

    private static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    private sealed class Frame(object node, IEnumerator<object?> children)
    {
        public object Node { get; } = node;
        public IEnumerator<object?> Children { get; } = children;
        public long Count { get; set; } = 1;
    }

    /// <summary>Direct children of a container: dict keys, values and attribute dict; sequence and set items.</summary>
    public static IEnumerable<object?> Children(object container)
    {
        switch (container)
        {
            case TorchDict d:
                foreach (var kv in d)
                {
                    yield return kv.Key;
                    yield return kv.Value;
                }
                if (d.Attributes is not null)
                    yield return d.Attributes;
                break;
            case IEnumerable<object?> items:
                foreach (var item in items)
                    yield return item;
                break;
        }
    }

    /// <summary>The child of <paramref name="node"/> named <paramref name="segment"/> (a dict key, or an index into a list or tuple).</summary>
    public static bool TryGetChild(object? node, string segment, out object? child)
    {
        switch (node)
        {
            case TorchDict d:
                if (d.TryGetValue(segment, out child))
                    return true;
                if (long.TryParse(segment, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long k) && d.TryGetValue(k, out child))
                    return true;
                foreach (var kv in d) // keys of other types (None, True, tuples) by their printed name
                {
                    if (kv.Key is not string && PythonRepr.KeyName(kv.Key) == segment)
                    {
                        child = kv.Value;
                        return true;
                    }
                }
                break;
            case IReadOnlyList<object?> list when node is TorchList or TorchTuple:
                if (int.TryParse(segment, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int i) && i < list.Count)
                {
                    child = list[i];
                    return true;
                }
                break;
        }
        child = null;
        return false;
    }

    /// <summary>
    /// Resolves a dotted key path. Keys may themselves contain dots (state_dict keys do), so at each level
    /// the longest run of segments that names a child wins.
    /// </summary>
    public static bool TryResolve(object? root, string? keyPath, out object? node, out string? error)
    {
        node = root;
        error = null;
        if (string.IsNullOrEmpty(keyPath))
            return true;
        string rest = keyPath;
        string walked = "";
        while (rest.Length > 0)
        {
            bool matched = false;
            int end = rest.Length;
            while (end > 0)
            {
                string candidate = rest[..end];
                if (TryGetChild(node, candidate, out var child))
                {
                    node = child;
                    walked = walked.Length == 0 ? candidate : walked + "." + candidate;
                    rest = end < rest.Length ? rest[(end + 1)..] : "";
                    matched = true;
                    break;
                }
                end = candidate.LastIndexOf('.');
            }
            if (!matched)
            {
                string at = walked.Length == 0 ? "the top level" : $"'{walked}'";
                error = $"key path '{keyPath}': nothing named '{rest.Split('.')[0]}' at {at} ({DescribeChildren(node)}).";
                return false;
            }
        }
        return true;
    }

    private static string DescribeChildren(object? node) => node switch
    {
        TorchDict d => d.Count == 0 ? "an empty dict" :
            "keys: " + string.Join(", ", d.Keys.Take(20).Select(k => PythonRepr.Format(k, 60))) + (d.Count > 20 ? $", ... ({d.Count} in all)" : ""),
        TorchList or TorchTuple => $"a {PythonRepr.TypeName(node)} of {((IReadOnlyCollection<object?>)node).Count} items",
        _ => $"a {PythonRepr.TypeName(node)}, which has no children",
    };

    /// <summary>Whether a flattening walk descends into <paramref name="o"/>: dicts, lists and tuples (sets and scalars are leaves).</summary>
    public static bool IsWalkable(object? o) => o is TorchDict or TorchList or TorchTuple;

    /// <summary>Number of direct children a walk sees: dict entries, or sequence items.</summary>
    private static int ChildCount(object container) => container switch
    {
        TorchDict d => d.Count,
        TorchList l => l.Count,
        TorchTuple t => t.Count,
        _ => 0,
    };

    private static object? ChildAt(object container, int index) => container switch
    {
        TorchDict d => d.ItemAt(index).Value,
        TorchList l => l[index],
        TorchTuple t => t[index],
        _ => null,
    };

    /// <summary>The name segment of child <paramref name="index"/>: its dict key's name, or its index.</summary>
    public static string KeyAt(object container, int index) => container is TorchDict d
        ? PythonRepr.KeyName(d.ItemAt(index).Key)
        : index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static long KeyLength(object container, int index) => container is TorchDict d
        ? (d.ItemAt(index).Key is string s ? s.Length : PythonRepr.KeyName(d.ItemAt(index).Key).Length)
        : index < 10 ? 1 : (long)Math.Floor(Math.Log10(index)) + 1;

    /// <summary>A dotted name: <paramref name="prefix"/> (may be empty) then <paramref name="key"/>.</summary>
    public static string Join(string prefix, string key) => prefix.Length == 0 ? key : prefix + "." + key;

    /// <summary>What flattening a container yields, with shared containers counted each time they are reached.</summary>
    public readonly record struct LeafStats(long Tensors, long Values, long TensorNameChars, long TensorBytes, long Elements);

    /// <summary>
    /// Counts the leaves a flattening walk would visit under each container without visiting them: the
    /// numbers are memoized per distinct container, so the cost is linear in the file even when shared
    /// references make the flattened tree exponentially large ("billion laughs" through the memo).
    /// </summary>
    public sealed class LeafCounter(Func<object, bool> descend, Func<TorchTensor, long> tensorBytes)
    {
        private readonly Dictionary<object, LeafStats> _memo = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<object, bool> _descends = new(ReferenceEqualityComparer.Instance);

        /// <summary>Whether the walk goes into <paramref name="child"/> (a walkable container the predicate accepts; asked once per container).</summary>
        public bool Descends(object? child)
        {
            if (!IsWalkable(child))
                return false;
            if (!_descends.TryGetValue(child!, out bool d))
                _descends[child!] = d = descend(child!);
            return d;
        }

        /// <summary>The statistics of the leaves under <paramref name="container"/>, names relative to it.</summary>
        public LeafStats Of(object container)
        {
            if (_memo.TryGetValue(container, out var known))
                return known;
            // Iterative post-order walk of the distinct containers (the tree was validated acyclic).
            var stack = new List<(object Node, int Next, long Tensors, long Values, long Chars, long Bytes, long Elements)> { (container, 0, 0, 0, 0, 0, 0) };
            while (true)
            {
                var f = stack[^1];
                if (f.Next < ChildCount(f.Node))
                {
                    int i = f.Next;
                    object? child = ChildAt(f.Node, i);
                    LeafStats c = default;
                    bool descends = Descends(child);
                    if (descends && !_memo.TryGetValue(child!, out c))
                    {
                        stack.Add((child!, 0, 0, 0, 0, 0, 0)); // count the child first, then come back to it
                        continue;
                    }
                    f.Next++;
                    if (descends)
                    {
                        long key = KeyLength(f.Node, i) + 1;
                        f.Tensors = Add(f.Tensors, c.Tensors);
                        f.Values = Add(f.Values, c.Values);
                        f.Chars = Add(f.Chars, Add(Mul(c.Tensors, key), c.TensorNameChars));
                        f.Bytes = Add(f.Bytes, c.TensorBytes);
                        f.Elements = Add(f.Elements, c.Elements);
                    }
                    else if (child is TorchTensor t)
                    {
                        f.Tensors = Add(f.Tensors, 1);
                        f.Chars = Add(f.Chars, KeyLength(f.Node, i));
                        f.Bytes = Add(f.Bytes, tensorBytes(t));
                        f.Elements = Add(f.Elements, t.ElementCount);
                    }
                    else
                        f.Values = Add(f.Values, 1);
                    stack[^1] = f;
                    continue;
                }
                var stats = new LeafStats(f.Tensors, f.Values, f.Chars, f.Bytes, f.Elements);
                _memo[f.Node] = stats;
                stack.RemoveAt(stack.Count - 1);
                if (stack.Count == 0)
                    return stats;
            }
        }

        private static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

        private static long Mul(long a, long b) => b != 0 && a > long.MaxValue / b ? long.MaxValue : a * b;
    }

    /// <summary>What a walk does with a container it meets.</summary>
    public enum Step
    {
        /// <summary>Go into it: its children are visited.</summary>
        Enter,

        /// <summary>Visit it as one leaf (kept whole).</summary>
        Leaf,

        /// <summary>Neither enter nor visit it (nothing wanted inside).</summary>
        Skip,
    }

    /// <summary>
    /// Walks the leaves under <paramref name="node"/> in file order, without recursion. <paramref name="step"/>
    /// decides for each dict, list or tuple met whether it is entered, visited whole or skipped. For each leaf,
    /// <paramref name="visit"/> gets the dotted prefix of its container, the container and the leaf's index in it
    /// (so that it builds the name, <c>Join(prefix, KeyAt(container, index))</c>, only when it needs it) and the
    /// value, and returns false to stop the walk. Set items and dict attributes are not walked.
    /// <paramref name="meter"/> is checked every 256 steps.
    /// </summary>
    public static void Walk(object node, Func<object, Step> step, Func<string, object, int, object?, bool> visit, AllocationMeter? meter = null)
    {
        var stack = new List<(object Node, int Next, string Prefix)> { (node, 0, "") };
        for (long steps = 1; stack.Count > 0; steps++)
        {
            var f = stack[^1];
            if (f.Next >= ChildCount(f.Node))
            {
                stack.RemoveAt(stack.Count - 1);
                continue;
            }
            int i = f.Next++;
            stack[^1] = f;
            if ((steps & 255) == 0) // a step allocates at most a name: check now and then
                meter?.Check("flattening the tensors' names");
            object? child = ChildAt(f.Node, i);
            Step s = IsWalkable(child) ? step(child!) : Step.Leaf;
            if (s == Step.Enter)
                stack.Add((child!, 0, Join(f.Prefix, KeyAt(f.Node, i))));
            else if (s == Step.Leaf && !visit(f.Prefix, f.Node, i, child))
                return;
        }
    }
}
