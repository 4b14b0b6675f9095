// TensorShape: the sizes of a tensor's dimensions without a copy (PyTorch's torch.Size).
using System.Collections;

namespace Recurrent;

/// <summary>
/// The sizes of a tensor's dimensions, as <c>torch.Size</c>: read-only and allocation-free (it wraps the tensor's
/// own, never-changing shape). Indexable (negative indices count from the end, as in Python), enumerable, comparable
/// with another shape or an <c>int[]</c>, and usable wherever a <see cref="ReadOnlySpan{T}"/> of sizes is expected.
/// </summary>
public readonly struct TensorShape : IReadOnlyList<int>, IEquatable<TensorShape>
{
    private readonly int[]? _dims;

    internal TensorShape(int[] dims) => _dims = dims;

    private int[] Dims => _dims ?? [];

    /// <summary>The number of dimensions, as <c>len(tensor.shape)</c>.</summary>
    public int Count => Dims.Length;

    /// <summary>The size of dimension <paramref name="index"/> (negative counts from the end).</summary>
    /// <exception cref="IndexOutOfRangeException">The tensor has no such dimension.</exception>
    public int this[int index]
    {
        get
        {
            var d = Dims;
            int i = index < 0 ? index + d.Length : index;
            if ((uint)i >= (uint)d.Length)
                throw new IndexOutOfRangeException($"Dimension out of range (expected to be in range of [{-d.Length}, {d.Length - 1}], but got {index})");
            return d[i];
        }
    }

    /// <summary>The number of elements, the product of the sizes (1 for a 0-dim tensor).</summary>
    public long Numel
    {
        get
        {
            long n = 1;
            foreach (var v in Dims) n *= v;
            return n;
        }
    }

    /// <summary>The sizes as a span (no copy).</summary>
    public ReadOnlySpan<int> AsSpan() => Dims;

    /// <summary>A copy of the sizes.</summary>
    public int[] ToArray() => (int[])Dims.Clone();

    /// <summary>The sizes as a span (no copy).</summary>
    public static implicit operator ReadOnlySpan<int>(TensorShape shape) => shape.Dims;

    /// <summary>A copy of the sizes as an array (for APIs that take <c>int[]</c>).</summary>
    public static implicit operator int[](TensorShape shape) => shape.ToArray();

    /// <inheritdoc/>
    public bool Equals(TensorShape other) => Dims.AsSpan().SequenceEqual(other.Dims);

    /// <summary>True when the sizes equal <paramref name="sizes"/>.</summary>
    public bool Equals(ReadOnlySpan<int> sizes) => Dims.AsSpan().SequenceEqual(sizes);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj switch
    {
        TensorShape s => Equals(s),
        int[] a => Equals(a),
        _ => false,
    };

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var v in Dims) h.Add(v);
        return h.ToHashCode();
    }

    /// <summary>True when both shapes have the same sizes.</summary>
    public static bool operator ==(TensorShape a, TensorShape b) => a.Equals(b);

    /// <summary>True when the shapes differ.</summary>
    public static bool operator !=(TensorShape a, TensorShape b) => !a.Equals(b);

    /// <summary>The sizes, e.g. <c>[2, 3]</c>.</summary>
    public override string ToString() => Guard.ShapeText(Dims);

    /// <summary>Enumerates the sizes without allocating.</summary>
    public Enumerator GetEnumerator() => new(Dims);

    IEnumerator<int> IEnumerable<int>.GetEnumerator() => ((IEnumerable<int>)Dims).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => Dims.GetEnumerator();

    /// <summary>An allocation-free enumerator of the sizes.</summary>
    public struct Enumerator
    {
        private readonly int[] _dims;
        private int _i;

        internal Enumerator(int[] dims)
        {
            _dims = dims;
            _i = -1;
        }

        /// <summary>The current size.</summary>
        public readonly int Current => _dims[_i];

        /// <summary>Advances to the next size.</summary>
        public bool MoveNext() => ++_i < _dims.Length;
    }
}
