// RnnUtils: the functions of torch.nn.utils.rnn — pack_padded_sequence, pad_packed_sequence,
// pack_sequence, pad_sequence, unpad_sequence, unpack_sequence, invert_permutation — composed from
// differentiable tensor ops, so gradients flow through packing and padding (zero at padding).
using Recurrent.Tracing;

namespace Recurrent.Nn;

/// <summary>Packing and padding of variable-length sequences, as <c>torch.nn.utils.rnn</c>.</summary>
public static class RnnUtils
{
    /// <summary>
    /// Packs a padded batch of variable-length sequences, as <c>pack_padded_sequence</c>.
    /// <paramref name="input"/> is (T, B, *) or (B, T, *) when <paramref name="batchFirst"/>;
    /// <paramref name="lengths"/> (B) holds each sequence's length (1..T). With
    /// <paramref name="enforceSorted"/> the lengths must be non-increasing; otherwise the batch is sorted by
    /// decreasing length with a stable sort and the permutation is kept in
    /// <see cref="PackedSequence.SortedIndices"/>. Differentiable with respect to the input (padding positions get zero gradient).
    /// </summary>
    public static PackedSequence PackPaddedSequence(Tensor input, Tensor lengths, bool batchFirst = false, bool enforceSorted = true)
    {
        Guard.NotNull(input, nameof(input));
        Guard.NotNull(lengths, nameof(lengths));
        var originalInput = input;
        if (lengths.Dim != 1)
            throw new ArgumentException($"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.Dim}D cpu {(lengths.DType == DType.Int64 ? "Long" : lengths.DType == DType.Float64 ? "Double" : "Float")} tensor", nameof(lengths));
        if (input.Dim < 2)
            throw new ArgumentException($"pack_padded_sequence: expected input with at least 2 dimensions (T x B x *), got {input.Dim}D tensor of shape {Guard.ShapeText(input.ShapeRef)}", nameof(input));
        using var trace = TraceScope.Begin();
        var lens = lengths.Long().ToArray<long>();
        int batchDim = batchFirst ? 0 : 1;
        int batch = input.Size(batchDim);
        int steps = input.Size(1 - batchDim);
        if (input.Numel == 0) throw new ArgumentException("Cannot pack empty tensors.", nameof(input));
        if (lens.Length != batch)
            throw new ArgumentException($"Expected `len(lengths)` to be equal to batch_size, but got {lens.Length} (batch_size={batch})", nameof(lengths));
        Tensor? sortedIndices = null;
        if (!enforceSorted)
        {
            // Stable sort by decreasing length: equal lengths keep their order (LINQ's OrderBy is stable).
            var order = Enumerable.Range(0, batch).OrderByDescending(i => lens[i]).Select(i => (long)i).ToArray();
            sortedIndices = Tensor.FromArray(order, batch);
            lens = order.Select(i => lens[i]).ToArray();
            input = input.IndexSelect(batchDim, sortedIndices);
        }
        if (lens[batch - 1] <= 0)
            throw new ArgumentException("Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0", nameof(lengths));
        for (int i = 0; i < batch - 1; i++)
            if (lens[i + 1] > lens[i])
                throw new ArgumentException("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass enforceSorted: false to RnnUtils.PackPaddedSequence, RnnUtils.PackSequence or PackedSequence.FromPadded to sidestep this requirement if you do not need ONNX exportability.", nameof(lengths));
        if (lens[0] > steps)
            throw new ArgumentException($"Expected the sequence length of the padded input ({steps}) to be at least the largest length in 'lengths', but got {lens[0]}", nameof(lengths));

        int maxLen = (int)lens[0];
        var batchSizes = new long[maxLen];
        for (int t = 0; t < maxLen; t++)
        {
            int n = 0;
            while (n < batch && lens[n] > t) n++;
            batchSizes[t] = n;
        }
        var x = batchFirst ? input.Transpose(0, 1) : input;      // (T, B, *)
        if (maxLen < steps) x = x.Narrow(0, 0, maxLen);
        var perStep = x.Unbind(0);                                 // T x (B, *)
        var pieces = new Tensor[maxLen];
        for (int t = 0; t < maxLen; t++)
            pieces[t] = batchSizes[t] == batch ? perStep[t] : perStep[t].Narrow(0, 0, (int)batchSizes[t]);
        var data = Tensor.Cat(pieces, 0);   // always a new tensor (one step too): packed data never shares the input's memory
        var packed = new PackedSequence(data, Tensor.FromArray(batchSizes, maxLen), sortedIndices, null, validate: false);
        trace.End()?.Op("PackPadded", packed, [originalInput, lengths], batchFirst);
        return packed;
    }

    /// <summary>Same as <see cref="PackPaddedSequence(Tensor, Tensor, bool, bool)"/> with the lengths as an array.</summary>
    public static PackedSequence PackPaddedSequence(Tensor input, long[] lengths, bool batchFirst = false, bool enforceSorted = true) =>
        PackPaddedSequence(input, LengthsTensor(lengths), batchFirst, enforceSorted);

    /// <summary>Same as <see cref="PackPaddedSequence(Tensor, Tensor, bool, bool)"/> with the lengths as an array.</summary>
    public static PackedSequence PackPaddedSequence(Tensor input, int[] lengths, bool batchFirst = false, bool enforceSorted = true) =>
        PackPaddedSequence(input, LengthsTensor(lengths), batchFirst, enforceSorted);

    /// <summary>
    /// Pads a packed batch back to (T, B, *) (or (B, T, *) when <paramref name="batchFirst"/>), in
    /// the caller's original batch order, as <c>pad_packed_sequence</c>. T is the longest length, or
    /// <paramref name="totalLength"/> when given. Returns the padded tensor (<paramref name="paddingValue"/>
    /// at padding) and the int64 lengths. Differentiable with respect to the packed data.
    /// </summary>
    public static (Tensor Padded, Tensor Lengths) PadPackedSequence(PackedSequence sequence, bool batchFirst = false, double paddingValue = 0.0, int? totalLength = null)
    {
        Guard.NotNull(sequence, nameof(sequence));
        using var trace = TraceScope.Begin();
        var bs = sequence.BatchSizesArray;
        int steps = bs.Length, batch = bs[0];
        int outSteps = steps;
        if (totalLength is { } tl)
        {
            if (tl < steps)
                throw new ArgumentException($"Expected total_length to be at least the length of the longest sequence in input, but got total_length={tl} and max sequence length being {steps}", nameof(totalLength));
            outSteps = tl;
        }
        var data = sequence.Data;
        var tail = data.ShapeRef[1..];
        var perStep = data.SplitWithSizes(bs, 0);                  // T x (bs[t], *)
        var rows = new Tensor[steps];
        for (int t = 0; t < steps; t++)
            rows[t] = bs[t] == batch ? perStep[t]
                : Tensor.Cat(new[] { perStep[t], Tensor.Full([batch - bs[t], .. tail], paddingValue, data.DType) }, 0);
        var padded = Tensor.Stack(rows, 0);                        // (T, B, *)
        if (outSteps > steps)
            padded = Tensor.Cat(new[] { padded, Tensor.Full([outSteps - steps, batch, .. tail], paddingValue, data.DType) }, 0);
        var lengths = new long[batch];
        foreach (var n in bs) for (int b = 0; b < n; b++) lengths[b]++;
        if (batchFirst) padded = padded.Transpose(0, 1);
        if (sequence.UnsortedIndices is { } unsorted)
        {
            padded = padded.IndexSelect(batchFirst ? 0 : 1, unsorted);
            var u = unsorted.ToArray<long>();
            lengths = u.Select(i => lengths[i]).ToArray();
        }
        var result = (padded, Tensor.FromArray(lengths, batch));
        trace.End()?.Op("PadPacked", result, [sequence.Data], sequence, batchFirst, paddingValue, totalLength);
        return result;
    }

    /// <summary>Packs a list of (L_i, *) sequences, as <c>pack_sequence</c> (pad_sequence then pack_padded_sequence).</summary>
    public static PackedSequence PackSequence(IReadOnlyList<Tensor> sequences, bool enforceSorted = true)
    {
        Guard.NotNull(sequences, nameof(sequences));
        var padded = PadSequence(sequences);
        var lengths = sequences.Select(s => (long)s.Size(0)).ToArray();
        return PackPaddedSequence(padded, lengths, batchFirst: false, enforceSorted);
    }

    /// <summary>
    /// Stacks (L_i, *) sequences into (T, B, *) (or (B, T, *) when <paramref name="batchFirst"/>),
    /// T = max L_i, filling with <paramref name="paddingValue"/>, as <c>pad_sequence</c>.
    /// <paramref name="paddingSide"/> is <c>"right"</c> (default) or <c>"left"</c>. The result has sequence 0's
    /// dtype: a sequence of another dtype is converted to it, as PyTorch copies every sequence into one output.
    /// </summary>
    public static Tensor PadSequence(IReadOnlyList<Tensor> sequences, bool batchFirst = false, double paddingValue = 0.0, string paddingSide = "right")
    {
        Guard.NotNull(sequences, nameof(sequences));
        if (sequences.Count == 0) throw new ArgumentException("received an empty list of sequences", nameof(sequences));
        if (paddingSide is not ("left" or "right"))
            throw new ArgumentException($"Expected padding_side to be one of left or right, but got {paddingSide}.", nameof(paddingSide));
        var first = sequences[0];
        Guard.NotNull(first, "sequences[0]");
        if (first.Dim < 1) throw new ArgumentException("pad_sequence: expected every sequence to have at least 1 dimension, but sequence 0 is 0-D", nameof(sequences));
        var tail = first.ShapeRef[1..];
        int maxLen = 0;
        for (int i = 0; i < sequences.Count; i++)
        {
            var s = sequences[i];
            Guard.NotNull(s, $"sequences[{i}]");
            if (s.Dim < 1 || !s.ShapeRef.AsSpan(1).SequenceEqual(tail))
                throw new ArgumentException($"pad_sequence: expected every sequence to have shape (L, {string.Join(", ", tail)}) like sequence 0, but sequence {i} has shape {Guard.ShapeText(s.ShapeRef)}", nameof(sequences));
            maxLen = Math.Max(maxLen, s.Size(0));
        }
        var rows = new Tensor[sequences.Count];
        for (int i = 0; i < sequences.Count; i++)
        {
            var s = sequences[i];
            int pad = maxLen - s.Size(0);
            // pad_sequence writes every sequence into an output of sequence 0's dtype (a float64 sequence among
            // float32 ones is rounded to float32, an int64 one converted), as PyTorch's copy_ into torch.full does.
            if (s.DType != first.DType) s = s.To(first.DType);
            if (pad == 0) { rows[i] = s; continue; }
            var fill = Tensor.Full([pad, .. tail], paddingValue, s.DType);
            rows[i] = Tensor.Cat(paddingSide == "right" ? new[] { s, fill } : new[] { fill, s }, 0);
        }
        return Tensor.Stack(rows, batchFirst ? 0 : 1);
    }

    /// <summary>
    /// Splits a padded (T, B, *) (or (B, T, *)) tensor into B sequences of their lengths, as
    /// <c>unpad_sequence</c> (views; the input is not modified).
    /// </summary>
    public static Tensor[] UnpadSequence(Tensor padded, Tensor lengths, bool batchFirst = false)
    {
        Guard.NotNull(padded, nameof(padded));
        Guard.NotNull(lengths, nameof(lengths));
        if (padded.Dim < 2) throw new ArgumentException($"unpad_sequence: expected a padded tensor with at least 2 dimensions, got shape {Guard.ShapeText(padded.ShapeRef)}", nameof(padded));
        var x = batchFirst ? padded : padded.Transpose(0, 1);     // (B, T, *)
        var lens = lengths.Long().ToArray<long>();
        if (lens.Length != x.Size(0))
            throw new ArgumentException($"unpad_sequence: expected {x.Size(0)} lengths (the batch size), got {lens.Length}", nameof(lengths));
        var result = new Tensor[lens.Length];
        for (int b = 0; b < lens.Length; b++)
        {
            if (lens[b] < 0 || lens[b] > x.Size(1))
                throw new ArgumentException($"unpad_sequence: length {lens[b]} of sequence {b} is outside [0, {x.Size(1)}]", nameof(lengths));
            result[b] = x.Select(0, b).Narrow(0, 0, (int)lens[b]);
        }
        return result;
    }

    /// <summary>Same as <see cref="UnpadSequence(Tensor, Tensor, bool)"/> with the lengths as an array.</summary>
    public static Tensor[] UnpadSequence(Tensor padded, long[] lengths, bool batchFirst = false) =>
        UnpadSequence(padded, LengthsTensor(lengths), batchFirst);

    /// <summary>The sequences of a packed batch, in the caller's order, as <c>unpack_sequence</c>.</summary>
    public static Tensor[] UnpackSequence(PackedSequence packed)
    {
        var (padded, lengths) = PadPackedSequence(packed, batchFirst: true);
        return UnpadSequence(padded, lengths, batchFirst: true);
    }

    /// <summary>The inverse of a permutation (null for null), as <c>invert_permutation</c>.</summary>
    public static Tensor? InvertPermutation(Tensor? permutation)
    {
        if (permutation is null) return null;
        Guard.DType(permutation, DType.Int64, nameof(permutation));
        var p = permutation.ToArray<long>();
        var inv = new long[p.Length];
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] < 0 || p[i] >= p.Length) throw new ArgumentException($"permutation: index {p[i]} is out of range for {p.Length} elements", nameof(permutation));
            inv[p[i]] = i;
        }
        return Tensor.FromArray(inv, p.Length);
    }

    internal static Tensor LengthsTensor(long[] lengths)
    {
        Guard.NotNull(lengths, nameof(lengths));
        return Tensor.FromArray((long[])lengths.Clone(), lengths.Length);
    }

    internal static Tensor LengthsTensor(int[] lengths)
    {
        Guard.NotNull(lengths, nameof(lengths));
        return Tensor.FromArray(lengths.Select(l => (long)l).ToArray(), lengths.Length);
    }
}
