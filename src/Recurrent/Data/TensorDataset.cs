// TensorDataset: samples are the rows of tensors that share their first dimension (torch.utils.data.TensorDataset).
namespace Recurrent.Data;

/// <summary>
/// A dataset whose sample <c>i</c> is row <c>i</c> of each of its tensors, as <c>torch.utils.data.TensorDataset</c>:
/// <c>new TensorDataset(inputs, labels)[i]</c> is <c>[inputs[i], labels[i]]</c> (views, not copies). Batch it with a
/// <see cref="DataLoader"/>.
/// </summary>
public sealed class TensorDataset : IReadOnlyList<Tensor[]>
{
    private readonly Tensor[] _tensors;

    /// <summary>Wraps <paramref name="tensors"/>, which must all have the same size in dimension 0 (the sample count).</summary>
    /// <exception cref="ArgumentException">No tensors, a 0-D tensor, or first dimensions that differ.</exception>
    public TensorDataset(params Tensor[] tensors)
    {
        Guard.NotNull(tensors, nameof(tensors));
        if (tensors.Length == 0) throw new ArgumentException("TensorDataset needs at least one tensor", nameof(tensors));
        for (int k = 0; k < tensors.Length; k++)
        {
            Guard.NotNull(tensors[k], $"tensors[{k}]");
            if (tensors[k].Dim == 0)
                throw new ArgumentException($"TensorDataset: tensor {k} is 0-D; every tensor needs a first dimension that indexes the samples", nameof(tensors));
            if (tensors[k].Size(0) != tensors[0].Size(0))
                throw new ArgumentException($"Size mismatch between tensors: expected every tensor to have {tensors[0].Size(0)} samples in dimension 0 (as tensor 0, shape {Guard.ShapeText(tensors[0].ShapeRef)}), got {tensors[k].Size(0)} in tensor {k} (shape {Guard.ShapeText(tensors[k].ShapeRef)})", nameof(tensors));
        }
        _tensors = (Tensor[])tensors.Clone();
    }

    /// <summary>The wrapped tensors, as <c>dataset.tensors</c>.</summary>
    public IReadOnlyList<Tensor> Tensors => _tensors;

    /// <summary>The number of samples (dimension 0 of every tensor), as <c>len(dataset)</c>.</summary>
    public int Count => _tensors[0].Size(0);

    /// <summary>Sample <paramref name="index"/>: row <paramref name="index"/> of each tensor (views), as <c>dataset[index]</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside [0, Count).</exception>
    public Tensor[] this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(index), index, $"index {index} is out of range for a TensorDataset of {Count} samples");
            var item = new Tensor[_tensors.Length];
            for (int k = 0; k < item.Length; k++) item[k] = _tensors[k].Select(0, index);
            return item;
        }
    }

    /// <summary>Rows <paramref name="indices"/> of each tensor, gathered in one copy per tensor (the loader's batches).</summary>
    internal Tensor[] Gather(int[] indices)
    {
        var idx = Tensor.FromArray(Array.ConvertAll(indices, i => (long)i), indices.Length);
        var batch = new Tensor[_tensors.Length];
        for (int k = 0; k < batch.Length; k++) batch[k] = _tensors[k].IndexSelect(0, idx);
        return batch;
    }

    /// <summary>The samples in order.</summary>
    public IEnumerator<Tensor[]> GetEnumerator()
    {
        for (int i = 0; i < Count; i++) yield return this[i];
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Deconstruction of samples and batches, so that <c>foreach (var (x, y) in loader)</c> reads as PyTorch's <c>for x, y in loader:</c>.</summary>
public static class TensorArrayExtensions
{
    /// <summary>Splits a two-tensor sample or batch into its parts.</summary>
    /// <exception cref="ArgumentException">The array does not hold exactly two tensors.</exception>
    public static void Deconstruct(this Tensor[] tensors, out Tensor first, out Tensor second)
    {
        CheckLength(tensors, 2);
        first = tensors[0]; second = tensors[1];
    }

    /// <summary>Splits a three-tensor sample or batch into its parts.</summary>
    /// <exception cref="ArgumentException">The array does not hold exactly three tensors.</exception>
    public static void Deconstruct(this Tensor[] tensors, out Tensor first, out Tensor second, out Tensor third)
    {
        CheckLength(tensors, 3);
        first = tensors[0]; second = tensors[1]; third = tensors[2];
    }

    private static void CheckLength(Tensor[] tensors, int n)
    {
        Guard.NotNull(tensors, nameof(tensors));
        if (tensors.Length != n)
            throw new ArgumentException($"cannot unpack {tensors.Length} tensors into {n} variables (expected {n}, got {tensors.Length})", nameof(tensors));
    }
}
