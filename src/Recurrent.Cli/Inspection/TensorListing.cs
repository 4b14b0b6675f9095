// What `info` shows about a weight file: its format, its tensors (name, dtype, shape) and its metadata.
namespace Recurrent.Cli.Inspection;

/// <summary>One tensor of a weight file.</summary>
/// <param name="Name">The tensor's key (e.g. <c>rnn.weight_ih_l0</c>).</param>
/// <param name="DType">The dtype as the file names it (e.g. <c>F32</c>, <c>torch.float32</c>).</param>
/// <param name="Shape">The shape.</param>
public sealed record TensorInfo(string Name, string DType, IReadOnlyList<long> Shape)
{
    /// <summary>The element count (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>The contents of one weight file.</summary>
/// <param name="Path">The file.</param>
/// <param name="Format">A human name for its format (e.g. "safetensors").</param>
/// <param name="Tensors">The tensors, in the file's order.</param>
/// <param name="Metadata">Free-form metadata stored in the file (may be empty).</param>
public sealed record TensorListing(string Path, string Format, IReadOnlyList<TensorInfo> Tensors,
    IReadOnlyDictionary<string, string> Metadata);
