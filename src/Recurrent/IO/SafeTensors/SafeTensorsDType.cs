// Element types of the safetensors format and their sizes.
using System.Diagnostics.CodeAnalysis;

namespace Recurrent.IO;

/// <summary>
/// Every element type of the safetensors format, spelled as in the header's <c>"dtype"</c> field
/// (see <see cref="SafeTensorsDTypes.ToHeaderName"/>). Only <see cref="F32"/>, <see cref="F64"/> and
/// <see cref="I64"/> map to a Recurrent <see cref="DType"/>; the others can be listed, copied as raw bytes
/// and (for <see cref="F16"/> / <see cref="BF16"/>) widened to float32.
/// </summary>
public enum SafeTensorsDType
{
    /// <summary>Boolean, one byte per element.</summary>
    BOOL,
    /// <summary>4-bit float (E2M1), two elements per byte.</summary>
    F4,
    /// <summary>6-bit float (E2M3), packed.</summary>
    F6_E2M3,
    /// <summary>6-bit float (E3M2), packed.</summary>
    F6_E3M2,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>8-bit float, 5 exponent / 2 mantissa bits.</summary>
    F8_E5M2,
    /// <summary>8-bit float, 4 exponent / 3 mantissa bits.</summary>
    F8_E4M3,
    /// <summary>8-bit exponent-only float (MX scale).</summary>
    F8_E8M0,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Unsigned 16-bit integer.</summary>
    U16,
    /// <summary>IEEE 754 half precision.</summary>
    F16,
    /// <summary>bfloat16 (the upper half of a float32).</summary>
    BF16,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Unsigned 32-bit integer.</summary>
    U32,
    /// <summary>IEEE 754 single precision (torch.float32).</summary>
    F32,
    /// <summary>Complex number of two float32 (8 bytes).</summary>
    C64,
    /// <summary>IEEE 754 double precision (torch.float64).</summary>
    F64,
    /// <summary>Signed 64-bit integer (torch.int64).</summary>
    I64,
    /// <summary>Unsigned 64-bit integer.</summary>
    U64,
}

/// <summary>Sizes, header names and Recurrent <see cref="DType"/> mapping of <see cref="SafeTensorsDType"/>.</summary>
public static class SafeTensorsDTypes
{
    private static readonly SafeTensorsDType[] s_all = Enum.GetValues<SafeTensorsDType>();

    /// <summary>All dtypes of the format, in declaration order.</summary>
    public static IReadOnlyList<SafeTensorsDType> All => s_all;

    /// <summary>Bits per element (4 for <see cref="SafeTensorsDType.F4"/>, 6 for the F6 types, 8 for BOOL).</summary>
    public static int BitSize(this SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F4 => 4,
        SafeTensorsDType.F6_E2M3 or SafeTensorsDType.F6_E3M2 => 6,
        SafeTensorsDType.BOOL or SafeTensorsDType.U8 or SafeTensorsDType.I8
            or SafeTensorsDType.F8_E5M2 or SafeTensorsDType.F8_E4M3 or SafeTensorsDType.F8_E8M0 => 8,
        SafeTensorsDType.I16 or SafeTensorsDType.U16 or SafeTensorsDType.F16 or SafeTensorsDType.BF16 => 16,
        SafeTensorsDType.I32 or SafeTensorsDType.U32 or SafeTensorsDType.F32 => 32,
        SafeTensorsDType.C64 or SafeTensorsDType.F64 or SafeTensorsDType.I64 or SafeTensorsDType.U64 => 64,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    /// <summary>True for the packed types whose elements are smaller than a byte (F4, F6_E2M3, F6_E3M2).</summary>
    public static bool IsSubByte(this SafeTensorsDType dtype) => dtype.BitSize() < 8;

    /// <summary>Bytes per element. Throws <see cref="NotSupportedException"/> for the sub-byte types (use <see cref="BitSize"/>).</summary>
    public static int ElementSize(this SafeTensorsDType dtype)
    {
        int bits = dtype.BitSize();
        if (bits % 8 != 0)
            throw new NotSupportedException($"safetensors dtype {dtype.ToHeaderName()} has {bits}-bit elements, not a whole number of bytes; use BitSize().");
        return bits / 8;
    }

    /// <summary>
    /// Bytes taken by <paramref name="elementCount"/> elements, or null when the count times the bit size
    /// overflows 64 bits or (sub-byte types) does not fill whole bytes.
    /// </summary>
    public static ulong? TryGetByteLength(this SafeTensorsDType dtype, ulong elementCount)
    {
        ulong bits = (ulong)dtype.BitSize();
        if (elementCount != 0 && elementCount > ulong.MaxValue / bits) return null;
        ulong totalBits = elementCount * bits;
        if (totalBits % 8 != 0) return null;
        return totalBits / 8;
    }

    /// <summary>The header spelling: <c>"F32"</c>, <c>"BF16"</c>, <c>"F8_E4M3"</c>, ...</summary>
    public static string ToHeaderName(this SafeTensorsDType dtype) =>
        Enum.IsDefined(dtype) ? dtype.ToString() : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype.");

    /// <summary>Parses a header spelling (exact, case-sensitive, as the format requires).</summary>
    public static bool TryParseHeaderName(string? name, out SafeTensorsDType dtype)
    {
        if (name is not null)
        {
            foreach (var d in s_all)
            {
                if (string.Equals(d.ToString(), name, StringComparison.Ordinal)) { dtype = d; return true; }
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>The Recurrent element type stored by this dtype: F32, F64 and I64 map to Float32, Float64 and Int64.</summary>
    public static bool TryToDType(this SafeTensorsDType dtype, out DType result)
    {
        switch (dtype)
        {
            case SafeTensorsDType.F32: result = DType.Float32; return true;
            case SafeTensorsDType.F64: result = DType.Float64; return true;
            case SafeTensorsDType.I64: result = DType.Int64; return true;
            default: result = default; return false;
        }
    }

    /// <summary>The safetensors dtype that stores a Recurrent <see cref="DType"/>.</summary>
    public static SafeTensorsDType FromDType(DType dtype) => dtype switch
    {
        DType.Float32 => SafeTensorsDType.F32,
        DType.Float64 => SafeTensorsDType.F64,
        DType.Int64 => SafeTensorsDType.I64,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown Recurrent dtype."),
    };
}
