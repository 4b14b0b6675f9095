// Element types a Tensor can hold.
namespace Recurrent;

/// <summary>Element type of a <see cref="Tensor"/>: float32 (default), float64 and int64, as torch.float32/float64/int64.</summary>
public enum DType
{
    Float32,
    Float64,
    Int64,
}
