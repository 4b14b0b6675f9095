// The inert values the restricted unpickler builds: Python containers and a few torch objects as data.
using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Recurrent.IO.Torch;

// The object tree of a PyTorch file holds only these .NET values:
//   null (None), bool, long (int), BigInteger (int beyond 64 bits), double (float), Complex (complex),
//   string (str), byte[] (bytes, bytearray), TorchDType (torch.float32 ...), TorchDevice (torch.device),
//   TorchDict (dict, OrderedDict, Counter), TorchList (list), TorchTuple (tuple, torch.Size),
//   TorchSet (set, frozenset), TorchTensor, TorchStorage, and TorchGlobal (an allowed class or function
//   left in the tree as a name, e.g. torch.Tensor).

/// <summary>A Python dict, <c>collections.OrderedDict</c> or <c>collections.Counter</c>, in insertion order.</summary>
public sealed class TorchDict : IReadOnlyCollection<KeyValuePair<object?, object?>>
{
    private readonly Dictionary<object, int> _index = new(PythonKeyComparer.Instance);
    private readonly List<KeyValuePair<object?, object?>> _items = new();

    internal TorchDict(string pythonType = "dict") => PythonType = pythonType;

    /// <summary><c>dict</c>, <c>collections.OrderedDict</c> or <c>collections.Counter</c>.</summary>
    public string PythonType { get; }

    /// <summary>Number of entries.</summary>
    public int Count => _items.Count;

    /// <summary>Keys in insertion order (strings, ints, tuples...; null is Python's None).</summary>
    public IEnumerable<object?> Keys => _items.Select(kv => kv.Key);

    /// <summary>Values in insertion order.</summary>
    public IEnumerable<object?> Values => _items.Select(kv => kv.Value);

    /// <summary>
    /// Instance attributes restored by the pickle's BUILD (e.g. a state_dict's <c>_metadata</c>), as the
    /// dict the file stored; null when there were none.
    /// </summary>
    public TorchDict? Attributes { get; private set; }

    /// <summary>The value for <paramref name="key"/>; throws <see cref="KeyNotFoundException"/> when absent.</summary>
    public object? this[object? key] => TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"key {PythonRepr.Format(key)} not found.");

    /// <summary>Whether the dict has <paramref name="key"/> (Python equality: 1, 1.0 and True are one key).</summary>
    public bool ContainsKey(object? key) => TryGetValue(key, out _);

    /// <summary>Looks <paramref name="key"/> up with Python's key equality; false when absent.</summary>
    public bool TryGetValue(object? key, out object? value)
    {
        object k = key ?? NoneKey.Instance;
        if (!PythonKeyComparer.IsHashable(k) || !_index.TryGetValue(k, out int i))
        {
            value = null;
            return false;
        }
        value = _items[i].Value;
        return true;
    }

    internal void Set(object? key, object? value)
    {
        object k = key ?? NoneKey.Instance;
        PythonKeyComparer.CheckHashable(k);
        if (_index.TryGetValue(k, out int i))
            _items[i] = new KeyValuePair<object?, object?>(_items[i].Key, value); // Python keeps the first key and its position
        else
        {
            _index.Add(k, _items.Count);
            _items.Add(new KeyValuePair<object?, object?>(key, value));
        }
    }

    internal void SetAttributes(TorchDict attributes) => Attributes = attributes;

    /// <summary>The entry at position <paramref name="index"/> in insertion order.</summary>
    internal KeyValuePair<object?, object?> ItemAt(int index) => _items[index];

    /// <summary>The entries in insertion order, as Python dicts keep them.</summary>
    public IEnumerator<KeyValuePair<object?, object?>> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The Python type and the entry count, e.g. <c>collections.OrderedDict(12 entries)</c>.</summary>
    public override string ToString() => $"{PythonType}({Count} entries)";
}

/// <summary>A Python list.</summary>
public sealed class TorchList : IReadOnlyList<object?>
{
    private readonly List<object?> _items = new();

    internal TorchList() { }

    /// <summary>Item <paramref name="index"/>.</summary>
    public object? this[int index] => _items[index];

    /// <summary>The number of items.</summary>
    public int Count => _items.Count;

    internal void Add(object? item) => _items.Add(item);

    /// <summary>The items in order.</summary>
    public IEnumerator<object?> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The item count, e.g. <c>list(3 items)</c>.</summary>
    public override string ToString() => $"list({Count} items)";
}

/// <summary>A Python tuple (or a <c>torch.Size</c>, which is a tuple of ints).</summary>
public sealed class TorchTuple : IReadOnlyList<object?>
{
    private readonly object?[] _items;

    internal TorchTuple(object?[] items, bool isTorchSize = false)
    {
        _items = items;
        IsTorchSize = isTorchSize;
    }

    internal static readonly TorchTuple Empty = new(Array.Empty<object?>());

    /// <summary>True when the file built it as <c>torch.Size</c>.</summary>
    public bool IsTorchSize { get; }

    /// <summary>Item <paramref name="index"/>.</summary>
    public object? this[int index] => _items[index];

    /// <summary>The number of items.</summary>
    public int Count => _items.Length;

    /// <summary>The items in order.</summary>
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The kind and the item count, e.g. <c>tuple(2 items)</c> or <c>torch.Size(3 items)</c>.</summary>
    public override string ToString() => $"{(IsTorchSize ? "torch.Size" : "tuple")}({Count} items)";
}

/// <summary>A Python set or frozenset.</summary>
public sealed class TorchSet : IReadOnlyCollection<object?>
{
    private readonly HashSet<object> _seen = new(PythonKeyComparer.Instance);
    private readonly List<object?> _items = new();

    internal TorchSet(bool isFrozen) => IsFrozen = isFrozen;

    /// <summary>True for a frozenset.</summary>
    public bool IsFrozen { get; }

    /// <summary>The number of distinct items.</summary>
    public int Count => _items.Count;

    internal void Add(object? item)
    {
        object k = item ?? NoneKey.Instance;
        PythonKeyComparer.CheckHashable(k);
        if (_seen.Add(k))
            _items.Add(item);
    }

    /// <summary>Whether <paramref name="item"/> is in the set (Python equality).</summary>
    public bool Contains(object? item)
    {
        object k = item ?? NoneKey.Instance;
        return PythonKeyComparer.IsHashable(k) && _seen.Contains(k);
    }

    /// <summary>The items in insertion order.</summary>
    public IEnumerator<object?> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The kind and the item count, e.g. <c>set(2 items)</c>.</summary>
    public override string ToString() => $"{(IsFrozen ? "frozenset" : "set")}({Count} items)";
}

/// <summary>A <c>torch.device</c>, e.g. <c>cuda:0</c>. Data only.</summary>
public sealed record TorchDevice(string Type, long? Index)
{
    /// <summary>PyTorch's spelling of the device, e.g. <c>cpu</c> or <c>cuda:0</c>.</summary>
    public override string ToString() => Index is { } i ? $"{Type}:{i}" : Type;
}

/// <summary>
/// An allowed Python class or function that the file referenced as a value (e.g. <c>torch.Tensor</c> in a
/// <c>_rebuild_from_type_v2</c> call). A name only: nothing is imported or called.
/// </summary>
public sealed record TorchGlobal(string Module, string Name)
{
    /// <summary><c>module.name</c>, e.g. <c>torch._utils._rebuild_tensor_v2</c>.</summary>
    public string FullName => Module + "." + Name;

    /// <summary>The same as <see cref="FullName"/>.</summary>
    public override string ToString() => FullName;
}

/// <summary>Python's None used as a dict key or set item (stands in for null, which .NET hash tables refuse).</summary>
internal sealed class NoneKey
{
    public static readonly NoneKey Instance = new();
    private NoneKey() { }
}

/// <summary>
/// Python's equality and hashing for dict keys and set items: 1 == 1.0 == True, strings by value, tuples
/// element by element, bytes by value; tensors and other objects by identity; lists, dicts and mutable
/// sets are unhashable. Keys read from a file are capped in size (<see cref="MaxKeyChars"/>,
/// <see cref="MaxKeyNodes"/>) so that hashing and comparing them stays cheap however often the pickle
/// reuses them.
/// </summary>
internal sealed class PythonKeyComparer : IEqualityComparer<object>
{
    public static readonly PythonKeyComparer Instance = new();

    /// <summary>Longest str or bytes accepted as a dict key or set item.</summary>
    public const int MaxKeyChars = 1024;

    /// <summary>Most values a tuple key may hold, counting nested tuples' items.</summary>
    public const int MaxKeyNodes = 64;

    public static bool IsHashable(object o) => o is not (TorchList or TorchDict or TorchSet { IsFrozen: false });

    /// <summary>Refuses unhashable keys and keys too large to hash cheaply.</summary>
    public static void CheckHashable(object o)
    {
        int budget = MaxKeyNodes;
        Check(o, ref budget);
    }

    private static void Check(object? o, ref int budget)
    {
        if (--budget < 0)
            throw new TorchFormatException($"dict key or set item holds more than {MaxKeyNodes} values.");
        switch (o)
        {
            case TorchList or TorchDict or TorchSet { IsFrozen: false }:
                throw new TorchFormatException($"unhashable type used as a dict key or set item: {PythonRepr.TypeName(o)}.");
            case string s when s.Length > MaxKeyChars:
                throw new TorchFormatException($"str of {s.Length} characters used as a dict key or set item (limit {MaxKeyChars}).");
            case byte[] b when b.Length > MaxKeyChars:
                throw new TorchFormatException($"bytes of {b.Length} bytes used as a dict key or set item (limit {MaxKeyChars}).");
            case TorchTuple t:
                foreach (var item in t)
                    Check(item, ref budget);
                break;
            case TorchSet { IsFrozen: true } fs:
                foreach (var item in fs)
                    Check(item, ref budget);
                break;
        }
    }

    public new bool Equals(object? x, object? y)
    {
        if (ReferenceEquals(x, y))
            return true;
        if (x is null || y is null)
            return false;
        if (TryNumber(x, out var nx))
            return TryNumber(y, out var ny) && nx.Equals(ny);
        switch (x)
        {
            case string s:
                return y is string t && string.Equals(s, t, StringComparison.Ordinal);
            case byte[] a:
                return y is byte[] b && a.AsSpan().SequenceEqual(b);
            case TorchTuple ta:
                if (y is not TorchTuple tb || ta.Count != tb.Count)
                    return false;
                for (int i = 0; i < ta.Count; i++)
                    if (!Equals(ta[i] ?? NoneKey.Instance, tb[i] ?? NoneKey.Instance))
                        return false;
                return true;
            case TorchDType or TorchDevice or TorchGlobal:
                return x.Equals(y);
            default:
                return false; // identity, already compared
        }
    }

    public int GetHashCode(object obj)
    {
        if (TryNumber(obj, out var n))
            return n.GetHashCode();
        switch (obj)
        {
            case string s:
                return StringComparer.Ordinal.GetHashCode(s);
            case byte[] b:
            {
                var h = new HashCode();
                h.AddBytes(b);
                return h.ToHashCode();
            }
            case TorchTuple t:
            {
                var h = new HashCode();
                foreach (var item in t)
                    h.Add(GetHashCode(item ?? NoneKey.Instance));
                return h.ToHashCode();
            }
            case TorchDType or TorchDevice or TorchGlobal:
                return obj.GetHashCode();
            default:
                return System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
        }
    }

    // Numbers compare by value across bool/int/bigint/float, as in Python.
    private readonly record struct Number(bool IsInteger, BigInteger Integer, double Real)
    {
        public bool Equals(Number o) => IsInteger == o.IsInteger && (IsInteger ? Integer == o.Integer : Real == o.Real);

        public override int GetHashCode() => IsInteger ? Integer.GetHashCode() : Real.GetHashCode();
    }

    private static bool TryNumber(object o, out Number n)
    {
        switch (o)
        {
            case bool b: n = new Number(true, b ? 1 : 0, 0); return true;
            case long l: n = new Number(true, l, 0); return true;
            case BigInteger bi: n = new Number(true, bi, 0); return true;
            case double d when double.IsFinite(d) && Math.Floor(d) == d && Math.Abs(d) < 1e300:
                n = new Number(true, new BigInteger(d), 0);
                return true;
            case double d: n = new Number(false, BigInteger.Zero, d); return true;
            default: n = default; return false;
        }
    }
}

/// <summary>Python-style text for values (used in messages, names and listings).</summary>
internal static class PythonRepr
{
    /// <summary>Python's name for the type of a tree value.</summary>
    public static string TypeName(object? o) => o switch
    {
        null or NoneKey => "NoneType",
        bool => "bool",
        long or BigInteger => "int",
        double => "float",
        Complex => "complex",
        string => "str",
        byte[] => "bytes",
        TorchDict d => d.PythonType,
        TorchList => "list",
        TorchTuple t => t.IsTorchSize ? "torch.Size" : "tuple",
        TorchSet s => s.IsFrozen ? "frozenset" : "set",
        TorchTensor => "torch.Tensor",
        TorchStorage => "torch.storage.TypedStorage",
        TorchDType => "torch.dtype",
        TorchDevice => "torch.device",
        TorchGlobal g => g.FullName,
        _ => o.GetType().Name,
    };

    /// <summary>
    /// A short Python-like rendering: scalars as Python prints them, strings quoted, containers
    /// summarized, everything capped at <paramref name="maxLength"/> characters.
    /// </summary>
    public static string Format(object? o, int maxLength = 80)
    {
        string s = o switch
        {
            null or NoneKey => "None",
            bool b => b ? "True" : "False",
            long l => l.ToString(CultureInfo.InvariantCulture),
            BigInteger bi => bi.ToString(CultureInfo.InvariantCulture),
            double d => FormatFloat(d),
            Complex c => $"({FormatFloat(c.Real)}{(c.Imaginary < 0 || double.IsNegative(c.Imaginary) ? "-" : "+")}{FormatFloat(Math.Abs(c.Imaginary))}j)",
            string str => "'" + str.Replace("\\", "\\\\").Replace("'", "\\'") + "'",
            byte[] bytes => $"b'<{bytes.Length} bytes>'",
            TorchDType dt => dt.TorchName(),
            TorchDevice dev => $"device(type='{dev.Type}'{(dev.Index is { } i ? $", index={i}" : "")})",
            TorchTuple t when t.Count <= 8 && t.All(IsScalar) => "(" + string.Join(", ", t.Select(x => Format(x, maxLength))) + (t.Count == 1 ? ",)" : ")"),
            TorchList l when l.Count <= 8 && l.All(IsScalar) => "[" + string.Join(", ", l.Select(x => Format(x, maxLength))) + "]",
            TorchTensor t => $"tensor({t.DType.ShortName()}, [{string.Join(", ", t.Shape)}])",
            _ => o.ToString() ?? "",
        };
        return s.Length <= maxLength ? s : s[..Math.Max(0, maxLength - 3)] + "...";
    }

    /// <summary>Python's repr of a float: <c>inf</c>, <c>-inf</c>, <c>nan</c>, shortest round-trip digits otherwise.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        return r.Contains('.') || r.Contains('E') ? r : r + ".0";
    }

    /// <summary>The name a dict key gets in a flattened, dotted tensor name (<c>0</c>, <c>weight</c>, <c>True</c>...).</summary>
    public static string KeyName(object? key) => key switch
    {
        string s => s,
        TorchTuple t => "(" + string.Join(", ", t.Select(x => x is string s2 ? "'" + s2 + "'" : KeyName(x))) + (t.Count == 1 ? ",)" : ")"),
        _ => Format(key, int.MaxValue),
    };

    internal static bool IsScalar(object? o) => o is null or bool or long or BigInteger or double or Complex or string or TorchDType or TorchDevice;
}
