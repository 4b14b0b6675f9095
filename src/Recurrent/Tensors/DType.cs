// Element types a Tensor can hold.
namespace Recurrent;

/// <summary>Element type of a <see cref="Tensor"/>: float32 (default), float64 and int64, as torch.float32/float64/int64.</summary>
public enum DType
{
    /// <summary>32-bit floating point, <c>torch.float32</c> (the default).</summary>
    Float32,
    /// <summary>64-bit floating point, <c>torch.float64</c> (gradcheck, users who want it).</summary>
    Float64,
    /// <summary>64-bit integer, <c>torch.int64</c> (indices, lengths, class targets).</summary>
    Int64,
}
