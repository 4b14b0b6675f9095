// Symbolic dimensions: every traced value carries, per dimension, a polynomial in the dynamic input dimensions
// (symbols) with integer coefficients, e.g. `seq*batch` after a view(-1, H) or `seq - 1` after x[1..]. The example's
// sizes are only one point of it; the polynomial is what the graph must compute for any other size. A dimension that
// is a plain number is static.
using System.Text;

namespace Recurrent.Onnx.Tracing;

/// <summary>A dynamic dimension: its display name and its size in the example inputs.</summary>
internal sealed class Symbol(int id, string name, long example)
{
    public int Id { get; } = id;
    public string Name { get; } = name;
    public long Example { get; } = example;
}

/// <summary>An integer polynomial in <see cref="Symbol"/>s (immutable); a constant when it has no symbol.</summary>
internal sealed class SymDim : IEquatable<SymDim>
{
    // Terms keyed by the sorted symbol ids of the monomial ("" is the constant term); zero coefficients are dropped.
    private readonly SortedDictionary<string, (Symbol[] Symbols, long Coeff)> _terms;

    private SymDim(SortedDictionary<string, (Symbol[] Symbols, long Coeff)> terms) => _terms = terms;

    public static SymDim Const(long value)
    {
        var t = new SortedDictionary<string, (Symbol[], long)>(StringComparer.Ordinal);
        if (value != 0) t[""] = (Array.Empty<Symbol>(), value);
        return new SymDim(t);
    }

    public static SymDim Of(Symbol s)
    {
        var t = new SortedDictionary<string, (Symbol[], long)>(StringComparer.Ordinal) { [Key([s])] = (new[] { s }, 1) };
        return new SymDim(t);
    }

    private static string Key(Symbol[] syms) => string.Join(",", syms.Select(s => s.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    public bool IsConst => _terms.Count == 0 || (_terms.Count == 1 && _terms.ContainsKey(""));

    /// <summary>The value when <see cref="IsConst"/>.</summary>
    public long ConstValue => _terms.TryGetValue("", out var c) ? c.Coeff : 0;

    /// <summary>The value at the example's sizes.</summary>
    public long Example
    {
        get
        {
            long v = 0;
            foreach (var (syms, coeff) in _terms.Values)
            {
                long m = coeff;
                foreach (var s in syms) m *= s.Example;
                v += m;
            }
            return v;
        }
    }

    public IEnumerable<(Symbol[] Symbols, long Coeff)> Terms => _terms.Values;

    /// <summary>True for c * s1 * s2 * ... (one term, at least one symbol).</summary>
    public bool IsMonomial(out long coeff, out Symbol[] symbols)
    {
        if (_terms.Count == 1 && !_terms.ContainsKey(""))
        {
            var t = _terms.Values.First();
            coeff = t.Coeff; symbols = t.Symbols;
            return true;
        }
        coeff = 0; symbols = Array.Empty<Symbol>();
        return false;
    }

    public IEnumerable<Symbol> AllSymbols => _terms.Values.SelectMany(t => t.Symbols).Distinct();

    public static SymDim operator +(SymDim a, SymDim b)
    {
        var t = new SortedDictionary<string, (Symbol[], long)>(a._terms, StringComparer.Ordinal);
        foreach (var (k, (syms, c)) in b._terms)
        {
            long sum = (t.TryGetValue(k, out var e) ? e.Item2 : 0) + c;
            if (sum == 0) t.Remove(k); else t[k] = (syms, sum);
        }
        return new SymDim(t);
    }

    public static SymDim operator -(SymDim a, SymDim b) => a + b * Const(-1);

    public static SymDim operator *(SymDim a, SymDim b)
    {
        var t = new SortedDictionary<string, (Symbol[], long)>(StringComparer.Ordinal);
        foreach (var (sa, ca) in a._terms.Values)
            foreach (var (sb, cb) in b._terms.Values)
            {
                var syms = sa.Concat(sb).OrderBy(s => s.Id).ToArray();
                var k = Key(syms);
                long sum = (t.TryGetValue(k, out var e) ? e.Item2 : 0) + ca * cb;
                if (sum == 0) t.Remove(k); else t[k] = (syms, sum);
            }
        return new SymDim(t);
    }

    public static SymDim operator +(SymDim a, long b) => a + Const(b);
    public static SymDim operator -(SymDim a, long b) => a + Const(-b);

    public bool Equals(SymDim? other) => other is not null && ToString() == other.ToString();
    public override bool Equals(object? obj) => obj is SymDim d && Equals(d);
    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    /// <summary>A readable form (<c>seq*batch</c>, <c>seq - 1</c>, <c>64</c>), also used as a dim_param.</summary>
    public override string ToString()
    {
        if (_terms.Count == 0) return "0";
        var sb = new StringBuilder();
        // Symbol terms first (highest degree first), the constant last: "seq*batch + 2", "seq - 1".
        foreach (var (syms, coeff) in _terms.Values.OrderByDescending(t => t.Symbols.Length).ThenBy(t => string.Join("*", t.Symbols.Select(s => s.Name)), StringComparer.Ordinal))
        {
            long c = coeff;
            if (sb.Length > 0) { sb.Append(c < 0 ? " - " : " + "); c = Math.Abs(c); }
            else if (c < 0 && syms.Length > 0) { sb.Append('-'); c = -c; }
            var names = string.Join("*", syms.Select(s => s.Name));
            if (syms.Length == 0) sb.Append(c);
            else if (c == 1) sb.Append(names);
            else sb.Append(c).Append('*').Append(names);
        }
        return sb.ToString();
    }
}
