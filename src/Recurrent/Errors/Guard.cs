// Argument checks with PyTorch-style messages: each names the argument, the expected and the actual value.
namespace Recurrent;

/// <summary>Argument validation helpers. Messages follow PyTorch's wording where it has one.</summary>
internal static class Guard
{
    public static void NotNull(object? value, string name)
    {
        if (value is null) throw new ArgumentNullException(name, $"{name} must not be null");
    }

    public static void Positive(long value, string name)
    {
        if (value <= 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be greater than zero, but got {value}");
    }

    public static void NonNegative(long value, string name)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be non-negative, but got {value}");
    }

    public static void InRange(double value, double lo, double hi, string name)
    {
        if (!(value >= lo && value <= hi))
            throw new ArgumentOutOfRangeException(name, value, $"{name} should be a number in range [{lo}, {hi}], but got {value}");
    }

    public static void Rank(Tensor t, int expected, string name)
    {
        if (t.Dim != expected)
            throw new ArgumentException($"{name}: expected a {expected}-D tensor, but got {t.Dim}-D tensor of shape {ShapeText(t.ShapeRef)}", name);
    }

    public static void Shape(Tensor t, ReadOnlySpan<int> expected, string name)
    {
        if (!t.ShapeRef.AsSpan().SequenceEqual(expected))
            throw new ArgumentException($"{name}: expected shape {ShapeText(expected)}, got {ShapeText(t.ShapeRef)}", name);
    }

    public static void DType(Tensor t, Recurrent.DType expected, string name)
    {
        if (t.DType != expected)
            throw new ArgumentException($"{name}: expected dtype {Tensor.DTypeName(expected)}, but got {Tensor.DTypeName(t.DType)}", name);
    }

    public static void Floating(Recurrent.DType dtype, string name)
    {
        if (dtype == Recurrent.DType.Int64)
            throw new ArgumentException($"{name}: expected a floating point dtype (DType.Float32 or DType.Float64), but got {dtype}", name);
    }

    public static void Floating(Tensor t, string name)
    {
        if (t.DType == Recurrent.DType.Int64)
            throw new ArgumentException($"{name}: expected a floating point tensor (torch.float32 or torch.float64), but got {Tensor.DTypeName(t.DType)}", name);
    }

    public static void SameDType(Tensor a, Tensor b, string op)
    {
        if (a.DType != b.DType)
            throw new ArgumentException($"{op}: expected both tensors to have the same dtype, but got {Tensor.DTypeName(a.DType)} and {Tensor.DTypeName(b.DType)}");
    }

    /// <summary>Normalises a possibly negative dimension index, PyTorch style.</summary>
    public static int Dim(int dim, int rank, string name = "dim")
    {
        int r = Math.Max(rank, 1);
        if (dim < -r || dim >= r)
            throw new ArgumentOutOfRangeException(name, dim, $"Dimension out of range (expected to be in range of [{-r}, {r - 1}], but got {dim})");
        return dim < 0 ? dim + r : dim;
    }

    /// <summary>Formats a shape as PyTorch prints a size list: [2, 3].</summary>
    public static string ShapeText(ReadOnlySpan<int> shape)
    {
        var sb = new System.Text.StringBuilder("[");
        for (int i = 0; i < shape.Length; i++) { if (i > 0) sb.Append(", "); sb.Append(shape[i]); }
        return sb.Append(']').ToString();
    }
}
