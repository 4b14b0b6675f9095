// One argument of the tensor indexer: an integer index (removes its dimension) or a range (keeps it).
namespace Recurrent;

/// <summary>
/// An index or a range of one dimension for <see cref="Tensor.this[TensorIndex[]]"/>; converts implicitly
/// from <see cref="int"/>, <see cref="System.Index"/> (<c>^1</c>) and <see cref="System.Range"/> (<c>1..^1</c>, <c>..</c>).
/// </summary>
public readonly struct TensorIndex
{
    private TensorIndex(Index index, Range range, bool isRange)
    {
        Index = index;
        Range = range;
        IsRange = isRange;
    }

    /// <summary>True for a range (the dimension is kept), false for an index (it is removed).</summary>
    public bool IsRange { get; }

    /// <summary>The index, when <see cref="IsRange"/> is false.</summary>
    public Index Index { get; }

    /// <summary>The range, when <see cref="IsRange"/> is true.</summary>
    public Range Range { get; }

    /// <summary>An index; negative counts from the end, as in Python.</summary>
    public static implicit operator TensorIndex(int index) => new(index < 0 ? Index.FromEnd(-index) : Index.FromStart(index), default, false);

    /// <summary>An index (<c>^1</c> is the last element).</summary>
    public static implicit operator TensorIndex(Index index) => new(index, default, false);

    /// <summary>A range (<c>..</c> is the whole dimension).</summary>
    public static implicit operator TensorIndex(Range range) => new(default, range, true);
}
