// Element types of tensors and storages found in PyTorch files.
namespace Recurrent.IO.Torch;

/// <summary>Element type of a <see cref="TorchTensor"/> or <see cref="TorchStorage"/>, as torch.float32 etc.</summary>
public enum TorchDType
{
    /// <summary><c>torch.float32</c>.</summary>
    Float32,
    /// <summary><c>torch.float64</c>.</summary>
    Float64,
    /// <summary><c>torch.float16 (half)</c>.</summary>
    Float16,
    /// <summary><c>torch.bfloat16</c>.</summary>
    BFloat16,
    /// <summary><c>torch.int64 (long)</c>.</summary>
    Int64,
    /// <summary><c>torch.int32 (int)</c>.</summary>
    Int32,
    /// <summary><c>torch.int16 (short)</c>.</summary>
    Int16,
    /// <summary><c>torch.int8</c>.</summary>
    Int8,
    /// <summary><c>torch.uint8 (byte)</c>.</summary>
    UInt8,
    /// <summary><c>torch.bool</c>.</summary>
    Bool,
}

/// <summary>Facts about <see cref="TorchDType"/> values and the PyTorch names that map to them.</summary>
public static class TorchDTypes
{
    /// <summary>Size in bytes of one element.</summary>
    public static int ElementSize(this TorchDType dtype) => dtype switch
    {
        TorchDType.Float64 or TorchDType.Int64 => 8,
        TorchDType.Float32 or TorchDType.Int32 => 4,
        TorchDType.Float16 or TorchDType.BFloat16 or TorchDType.Int16 => 2,
        TorchDType.Int8 or TorchDType.UInt8 or TorchDType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>True for float32, float64, float16 and bfloat16.</summary>
    public static bool IsFloatingPoint(this TorchDType dtype) =>
        dtype is TorchDType.Float32 or TorchDType.Float64 or TorchDType.Float16 or TorchDType.BFloat16;

    /// <summary>PyTorch's name, e.g. <c>torch.float32</c>.</summary>
    public static string TorchName(this TorchDType dtype) => "torch." + ShortName(dtype);

    /// <summary>PyTorch's name without the module, e.g. <c>float32</c>.</summary>
    public static string ShortName(this TorchDType dtype) => dtype switch
    {
        TorchDType.Float32 => "float32",
        TorchDType.Float64 => "float64",
        TorchDType.Float16 => "float16",
        TorchDType.BFloat16 => "bfloat16",
        TorchDType.Int64 => "int64",
        TorchDType.Int32 => "int32",
        TorchDType.Int16 => "int16",
        TorchDType.Int8 => "int8",
        TorchDType.UInt8 => "uint8",
        TorchDType.Bool => "bool",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>Maps a dtype attribute of the torch module (<c>float32</c>, <c>float</c>, <c>half</c>, <c>long</c>...) to a dtype.</summary>
    internal static bool TryFromTorchAttribute(string name, out TorchDType dtype)
    {
        switch (name)
        {
            case "float32": case "float": dtype = TorchDType.Float32; return true;
            case "float64": case "double": dtype = TorchDType.Float64; return true;
            case "float16": case "half": dtype = TorchDType.Float16; return true;
            case "bfloat16": dtype = TorchDType.BFloat16; return true;
            case "int64": case "long": dtype = TorchDType.Int64; return true;
            case "int32": case "int": dtype = TorchDType.Int32; return true;
            case "int16": case "short": dtype = TorchDType.Int16; return true;
            case "int8": dtype = TorchDType.Int8; return true;
            case "uint8": dtype = TorchDType.UInt8; return true;
            case "bool": dtype = TorchDType.Bool; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>Maps a legacy typed storage class name (<c>FloatStorage</c>...) to its dtype.</summary>
    internal static bool TryFromStorageClass(string name, out TorchDType dtype)
    {
        switch (name)
        {
            case "FloatStorage": dtype = TorchDType.Float32; return true;
            case "DoubleStorage": dtype = TorchDType.Float64; return true;
            case "HalfStorage": dtype = TorchDType.Float16; return true;
            case "BFloat16Storage": dtype = TorchDType.BFloat16; return true;
            case "LongStorage": dtype = TorchDType.Int64; return true;
            case "IntStorage": dtype = TorchDType.Int32; return true;
            case "ShortStorage": dtype = TorchDType.Int16; return true;
            case "CharStorage": dtype = TorchDType.Int8; return true;
            case "ByteStorage": dtype = TorchDType.UInt8; return true;
            case "BoolStorage": dtype = TorchDType.Bool; return true;
            default: dtype = default; return false;
        }
    }
}
