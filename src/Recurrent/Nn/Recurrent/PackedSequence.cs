// PackedSequence: a batch of variable-length sequences in PyTorch's packed layout (time-major
// rows, batch_sizes per step, optional sorting permutation), as torch.nn.utils.rnn.PackedSequence.
using System.Text;

namespace Recurrent.Nn;

/// <summary>
/// Holds the data and the per-step batch sizes of a packed batch of sequences, as
/// <c>torch.nn.utils.rnn.PackedSequence</c>. <see cref="Data"/> is (sum(batch_sizes), *): the rows
/// of step 0 of every sequence, then step 1 of every sequence still running, and so on, with the
/// sequences sorted by decreasing length. <see cref="BatchSizes"/>[t] is the number of sequences
/// longer than t. <see cref="SortedIndices"/>[i] is the caller's index of the i-th sorted sequence
/// (null when the input was already sorted); <see cref="UnsortedIndices"/> is its inverse.
/// Create instances with <see cref="FromPadded(Tensor, Tensor, bool, bool)"/>, <see cref="FromSequences"/>
/// or <see cref="RnnUtils"/>.
/// </summary>
public sealed class PackedSequence
{
    private readonly int[] _batchSizes;

    /// <summary>
    /// Wraps packed data. <paramref name="batchSizes"/> is a 1-D int64 tensor (non-increasing,
    /// positive, summing to data.size(0)); <paramref name="unsortedIndices"/> is computed from
    /// <paramref name="sortedIndices"/> when null.
    /// </summary>
    public PackedSequence(Tensor data, Tensor batchSizes, Tensor? sortedIndices = null, Tensor? unsortedIndices = null)
        : this(data, batchSizes, sortedIndices, unsortedIndices, validate: true) { }

    internal PackedSequence(Tensor data, Tensor batchSizes, Tensor? sortedIndices, Tensor? unsortedIndices, bool validate)
    {
        Guard.NotNull(data, nameof(data));
        Guard.NotNull(batchSizes, nameof(batchSizes));
        Guard.DType(batchSizes, DType.Int64, nameof(batchSizes));
        if (batchSizes.Dim != 1) throw new ArgumentException($"batch_sizes: expected a 1-D tensor, got shape {Guard.ShapeText(batchSizes.ShapeRef)}", nameof(batchSizes));
        var bs = batchSizes.ToArray<long>();
        _batchSizes = new int[bs.Length];
        for (int t = 0; t < bs.Length; t++) _batchSizes[t] = (int)bs[t];
        if (validate)
        {
            if (data.Dim < 1) throw new ArgumentException("data: expected at least 1 dimension, got a 0-D tensor", nameof(data));
            if (bs.Length == 0) throw new ArgumentException("batch_sizes must not be empty", nameof(batchSizes));
            long sum = 0;
            for (int t = 0; t < bs.Length; t++)
            {
                if (bs[t] <= 0) throw new ArgumentException($"batch_sizes must be positive, but batch_sizes[{t}] = {bs[t]}", nameof(batchSizes));
                if (t > 0 && bs[t] > bs[t - 1]) throw new ArgumentException($"batch_sizes must be non-increasing, but batch_sizes[{t}] = {bs[t]} > batch_sizes[{t - 1}] = {bs[t - 1]}", nameof(batchSizes));
                sum += bs[t];
            }
            if (sum != data.Size(0)) throw new ArgumentException($"batch_sizes sum to {sum}, but data has {data.Size(0)} rows", nameof(batchSizes));
            CheckPermutation(sortedIndices, bs[0], nameof(sortedIndices));
            CheckPermutation(unsortedIndices, bs[0], nameof(unsortedIndices));
        }
        unsortedIndices ??= RnnUtils.InvertPermutation(sortedIndices);   // after the checks: they name the caller's argument
        Data = data;
        BatchSizes = batchSizes;
        SortedIndices = sortedIndices;
        UnsortedIndices = unsortedIndices;
    }

    private static void CheckPermutation(Tensor? p, long n, string name)
    {
        if (p is null) return;
        Guard.DType(p, DType.Int64, name);
        if (p.Dim != 1 || p.Size(0) != n) throw new ArgumentException($"{name}: expected shape [{n}], got {Guard.ShapeText(p.ShapeRef)}", name);
        var seen = new bool[n];
        foreach (var i in p.ToArray<long>())
        {
            if (i < 0 || i >= n || seen[i]) throw new ArgumentException($"{name} must be a permutation of 0..{n - 1}", name);
            seen[i] = true;
        }
    }

    /// <summary>(sum(batch_sizes), *) packed rows, time-major.</summary>
    public Tensor Data { get; }

    /// <summary>(T) int64: the number of sequences running at each step.</summary>
    public Tensor BatchSizes { get; }

    /// <summary>(B) int64 caller index of each sorted sequence, or null when the input was already sorted.</summary>
    public Tensor? SortedIndices { get; }

    /// <summary>(B) int64 inverse of <see cref="SortedIndices"/>, or null.</summary>
    public Tensor? UnsortedIndices { get; }

    internal int[] BatchSizesArray => _batchSizes;

    /// <summary>Packs a padded batch, as <c>pack_padded_sequence</c> (see <see cref="RnnUtils.PackPaddedSequence(Tensor, Tensor, bool, bool)"/>).</summary>
    public static PackedSequence FromPadded(Tensor padded, Tensor lengths, bool batchFirst = false, bool enforceSorted = true) =>
        RnnUtils.PackPaddedSequence(padded, lengths, batchFirst, enforceSorted);

    /// <summary>Packs a padded batch with lengths given as an array.</summary>
    public static PackedSequence FromPadded(Tensor padded, long[] lengths, bool batchFirst = false, bool enforceSorted = true) =>
        RnnUtils.PackPaddedSequence(padded, lengths, batchFirst, enforceSorted);

    /// <summary>Packs a padded batch with lengths given as an array.</summary>
    public static PackedSequence FromPadded(Tensor padded, int[] lengths, bool batchFirst = false, bool enforceSorted = true) =>
        RnnUtils.PackPaddedSequence(padded, lengths, batchFirst, enforceSorted);

    /// <summary>Packs a list of (L_i, *) sequences, as <c>pack_sequence</c>.</summary>
    public static PackedSequence FromSequences(IReadOnlyList<Tensor> sequences, bool enforceSorted = true) =>
        RnnUtils.PackSequence(sequences, enforceSorted);

    /// <summary>Pads back to (T, B, *) or (B, T, *), as <c>pad_packed_sequence</c>; returns the padded tensor and int64 lengths.</summary>
    public (Tensor Padded, Tensor Lengths) ToPadded(bool batchFirst = false, double paddingValue = 0.0, int? totalLength = null) =>
        RnnUtils.PadPackedSequence(this, batchFirst, paddingValue, totalLength);

    /// <summary>The sequences as a list in the caller's order, as <c>unpack_sequence</c>.</summary>
    public Tensor[] ToSequences() => RnnUtils.UnpackSequence(this);

    /// <summary>Converts the data to another dtype (the index tensors are unchanged), as <c>packed.to(dtype)</c>.</summary>
    public PackedSequence To(DType dtype) =>
        dtype == Data.DType ? this : new PackedSequence(Data.To(dtype), BatchSizes, SortedIndices, UnsortedIndices, validate: false);

    /// <summary>PyTorch's printed form: <c>PackedSequence(data=..., batch_sizes=..., sorted_indices=..., unsorted_indices=...)</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("PackedSequence(data=");
        sb.Append(Data).Append(", batch_sizes=").Append(BatchSizes)
          .Append(", sorted_indices=").Append(SortedIndices?.ToString() ?? "None")
          .Append(", unsorted_indices=").Append(UnsortedIndices?.ToString() ?? "None").Append(')');
        return sb.ToString();
    }

    /// <summary>Deconstructs as PyTorch's namedtuple: <c>data, batch_sizes, sorted_indices, unsorted_indices</c>.</summary>
    public void Deconstruct(out Tensor data, out Tensor batchSizes, out Tensor? sortedIndices, out Tensor? unsortedIndices)
    {
        data = Data; batchSizes = BatchSizes; sortedIndices = SortedIndices; unsortedIndices = UnsortedIndices;
    }
}
