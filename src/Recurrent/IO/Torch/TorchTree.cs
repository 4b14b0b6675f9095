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

    /// <summary>
    /// Every leaf under <paramref name="node"/> with its dotted name (dict keys and sequence indices joined
    /// by '.'), in file order. With <paramref name="flatten"/> false only direct children are visited.
    /// Set items and dict attributes are not visited; <paramref name="descend"/> can keep further containers
    /// whole. The tree was validated, so recursion depth is bounded.
    /// </summary>
    public static void VisitLeaves(object? node, string prefix, bool flatten, Action<string, object?> visit, Func<object, bool>? descend = null)
    {
        IEnumerable<KeyValuePair<string, object?>> children = node switch
        {
            TorchDict d => d.Select(kv => new KeyValuePair<string, object?>(PythonRepr.KeyName(kv.Key), kv.Value)),
            TorchList or TorchTuple => ((IEnumerable<object?>)node).Select((v, i) => new KeyValuePair<string, object?>(i.ToString(System.Globalization.CultureInfo.InvariantCulture), v)),
            _ => Enumerable.Empty<KeyValuePair<string, object?>>(),
        };
        foreach (var (key, value) in children)
        {
            string name = prefix.Length == 0 ? key : prefix + "." + key;
            if (flatten && value is TorchDict or TorchList or TorchTuple && (descend is null || descend(value)))
                VisitLeaves(value, name, flatten, visit, descend);
            else
                visit(name, value);
        }
    }
}
