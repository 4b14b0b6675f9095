// Collate functions: how a DataLoader turns a list of samples into one batch (torch.utils.data's default_collate,
// and the pad_sequence + pack_padded_sequence(enforce_sorted=False) collate that variable-length batches need).
using Recurrent.Nn;

namespace Recurrent.Data;

/// <summary>
/// A batch of variable-length sequences packed for a recurrent layer, with each sequence's length and the stacked
/// targets, in the order the loader drew the samples.
/// </summary>
/// <param name="Input">The sequences, packed with <c>enforceSorted: false</c> (pass it to <c>Lstm.Forward</c> etc.;
/// outputs and h_n come back in the batch's order).</param>
/// <param name="Lengths">int64 (B): the length of each sequence.</param>
/// <param name="Target">The targets stacked along a new first dimension: (B, *).</param>
public sealed record PackedBatch(PackedSequence Input, Tensor Lengths, Tensor Target)
{
    /// <summary>The number of sequences in the batch.</summary>
    public int BatchSize => Lengths.Size(0);
}

/// <summary>Collate functions for <see cref="DataLoader{TItem, TBatch}"/>.</summary>
public static class Collate
{
    /// <summary>
    /// Stacks samples of equal shape into one tensor with a new first dimension (B, *), as <c>default_collate</c> does
    /// for a list of tensors.
    /// </summary>
    /// <exception cref="ArgumentException">No samples, or samples of different shapes or dtypes.</exception>
    public static Tensor Stack(IReadOnlyList<Tensor> samples)
    {
        Guard.NotNull(samples, nameof(samples));
        if (samples.Count == 0) throw new ArgumentException("collate: expected at least one sample, got an empty batch", nameof(samples));
        CheckSameShape(samples, "");
        return Tensor.Stack(samples, 0);
    }

    /// <summary>
    /// Stacks each field of tuple samples (e.g. <see cref="TensorDataset"/> rows [input, label]) into one tensor per field,
    /// as <c>default_collate</c> does for tuples: the result's field k is (B, *) of every sample's field k.
    /// </summary>
    /// <exception cref="ArgumentException">No samples, samples with different field counts, or a field whose samples
    /// differ in shape or dtype (variable-length sequences need <see cref="PackSequences"/>).</exception>
    public static Tensor[] Stack(IReadOnlyList<Tensor[]> samples)
    {
        Guard.NotNull(samples, nameof(samples));
        if (samples.Count == 0) throw new ArgumentException("collate: expected at least one sample, got an empty batch", nameof(samples));
        int fields = samples[0].Length;
        for (int i = 1; i < samples.Count; i++)
            if (samples[i].Length != fields)
                throw new ArgumentException($"each element in list of batch should be of equal size: sample 0 has {fields} tensors, sample {i} has {samples[i].Length}", nameof(samples));
        var batch = new Tensor[fields];
        var column = new Tensor[samples.Count];
        for (int k = 0; k < fields; k++)
        {
            for (int i = 0; i < column.Length; i++) column[i] = samples[i][k];
            CheckSameShape(column, $" (field {k})");
            batch[k] = Tensor.Stack(column, 0);
        }
        return batch;
    }

    /// <summary>
    /// Packs (sequence, target) samples whose sequences differ in length: the sequences (each (L_i, *), L_i ≥ 1) become
    /// one <see cref="PackedSequence"/> (PyTorch's <c>pack_sequence(seqs, enforce_sorted=False)</c>, which is
    /// <c>pad_sequence</c> then <c>pack_padded_sequence</c>), their lengths an int64 (B) tensor, and the targets are
    /// stacked to (B, *). The batch keeps the order of the samples.
    /// </summary>
    /// <exception cref="ArgumentException">No samples, an empty sequence, sequences whose trailing shapes or dtypes
    /// differ, or targets of different shapes.</exception>
    public static PackedBatch PackSequences(IReadOnlyList<(Tensor Sequence, Tensor Target)> samples)
    {
        Guard.NotNull(samples, nameof(samples));
        if (samples.Count == 0) throw new ArgumentException("collate: expected at least one sample, got an empty batch", nameof(samples));
        var sequences = new Tensor[samples.Count];
        var targets = new Tensor[samples.Count];
        var lengths = new long[samples.Count];
        for (int i = 0; i < samples.Count; i++)
        {
            var (s, t) = samples[i];
            Guard.NotNull(s, $"samples[{i}].Sequence");
            Guard.NotNull(t, $"samples[{i}].Target");
            if (s.Dim == 0 || s.Size(0) == 0)
                throw new ArgumentException($"PackSequences: sample {i} has an empty sequence (shape {Guard.ShapeText(s.ShapeRef)}); every sequence needs at least one step (Length of all samples has to be greater than 0)", nameof(samples));
            sequences[i] = s; targets[i] = t; lengths[i] = s.Size(0);
        }
        CheckSameShape(targets, " (targets)");
        var packed = RnnUtils.PackSequence(sequences, enforceSorted: false);
        return new PackedBatch(packed, Tensor.FromArray(lengths, lengths.Length), Tensor.Stack(targets, 0));
    }

    private static void CheckSameShape(IReadOnlyList<Tensor> tensors, string what)
    {
        for (int i = 0; i < tensors.Count; i++)
        {
            Guard.NotNull(tensors[i], $"samples[{i}]");
            if (!tensors[i].Shape.Equals(tensors[0].Shape))
                throw new ArgumentException($"collate{what}: stack expects each tensor to be equal size, but got {Guard.ShapeText(tensors[0].ShapeRef)} at entry 0 and {Guard.ShapeText(tensors[i].ShapeRef)} at entry {i}. Variable-length sequences: collate them with Collate.PackSequences (or RnnUtils.PadSequence)", "samples");
            if (tensors[i].DType != tensors[0].DType)
                throw new ArgumentException($"collate{what}: expected every sample to have dtype {Tensor.DTypeName(tensors[0].DType)} (as entry 0), got {Tensor.DTypeName(tensors[i].DType)} at entry {i}", "samples");
        }
    }
}
