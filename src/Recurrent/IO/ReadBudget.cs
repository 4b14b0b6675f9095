// How much memory reading one untrusted file may take: the documented default, a meter on the calling
// thread, and the shape limits a Recurrent Tensor imposes on what a file declares.
namespace Recurrent.IO;

/// <summary>
/// The allocation budget of reading one file. A small file can never make a reader allocate gigabytes: the
/// PyTorch reader stops with a <see cref="Torch.TorchFormatException"/> before it would allocate more than
/// the budget, and the safetensors reader's allocations are linear in the file's size and stay under the
/// same default. The default is <see cref="DefaultBytesPerFileByte"/> bytes per byte of the file plus
/// <see cref="DefaultBaseBytes"/> (96 MiB for a 1 MiB file); <see cref="Torch.TorchReaderOptions.MaxAllocationBytes"/>
/// replaces it for PyTorch files.
/// </summary>
/// <remarks>
/// Bytes are counted as the .NET runtime counts them for the calling thread
/// (<see cref="GC.GetAllocatedBytesForCurrentThread"/>): everything the read allocates, storages, the
/// unpickled object tree, names and converted tensors, not only the tensor data.
/// </remarks>
public static class ReadBudget
{
    /// <summary>
    /// Bytes the default budget grants per byte of the file. It covers widening uint8/bool to int64 (8x) and a
    /// safetensors header made only of empty tensors, the densest in objects per byte (about 20x, measured).
    /// </summary>
    public const long DefaultBytesPerFileByte = 32;

    /// <summary>Bytes the default budget grants whatever the file's size (64 MiB).</summary>
    public const long DefaultBaseBytes = 64L << 20;

    /// <summary>The default budget for a file of <paramref name="fileLength"/> bytes: 32 x length + 64 MiB (saturating).</summary>
    public static long Default(long fileLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fileLength);
        return fileLength > (long.MaxValue - DefaultBaseBytes) / DefaultBytesPerFileByte
            ? long.MaxValue
            : fileLength * DefaultBytesPerFileByte + DefaultBaseBytes;
    }
}

/// <summary>
/// Meters the bytes allocated on the calling thread since it was created against a limit. Callers reserve
/// before a large allocation and check now and then in loops; both throw the reader's own exception
/// (through <c>fail</c>) before the limit is crossed, keeping some headroom for that exception itself.
/// </summary>
internal sealed class AllocationMeter
{
    private readonly long _start = GC.GetAllocatedBytesForCurrentThread();
    private readonly long _headroom;
    private readonly Func<string, Exception> _fail;

    public AllocationMeter(long limit, Func<string, Exception> fail)
    {
        Limit = limit;
        _headroom = Math.Min(256L << 10, limit / 4);
        _fail = fail;
    }

    /// <summary>The budget in bytes.</summary>
    public long Limit { get; }

    /// <summary>Bytes allocated on this thread since the meter was created.</summary>
    public long Used => GC.GetAllocatedBytesForCurrentThread() - _start;

    /// <summary>Throws when allocating <paramref name="bytes"/> more would exceed the budget.</summary>
    public void Reserve(long bytes, string what)
    {
        long used = Used;
        if (bytes < 0 || bytes > Limit - _headroom - used)
            throw _fail($"{what} needs {(bytes < 0 ? "an impossible number of" : bytes.ToString(System.Globalization.CultureInfo.InvariantCulture))} more bytes, " +
                        $"but {used} of the read's allocation budget of {Limit} bytes are used");
    }

    /// <summary>Throws when the budget is already spent (for loops whose steps allocate little each).</summary>
    public void Check(string what) => Reserve(0, what);
}

/// <summary>Checks a declared shape against what a Recurrent <see cref="Tensor"/> can index.</summary>
internal static class TensorShapeLimits
{
    /// <summary>
    /// The shape as ints, or null with <paramref name="error"/> set: every dimension must fit an int, and the
    /// product of the non-zero dimensions must fit an array even when a zero makes the tensor empty (a Tensor's
    /// strides are products of its trailing dimensions).
    /// </summary>
    public static int[]? TryToIntShape(IReadOnlyList<long> shape, out string error)
    {
        var result = new int[shape.Count];
        long nonZeroProduct = 1;
        for (int d = 0; d < result.Length; d++)
        {
            long s = shape[d];
            if (s < 0 || s > int.MaxValue)
            {
                error = $"dimension {d} of size {s} is outside the 0..{int.MaxValue} a Tensor dimension can hold";
                return null;
            }
            if (s != 0)
            {
                nonZeroProduct = nonZeroProduct > Array.MaxLength / s ? long.MaxValue : nonZeroProduct * s;
                if (nonZeroProduct > Array.MaxLength)
                {
                    error = $"its non-zero dimensions up to dimension {d} (size {s}) multiply to more than the {Array.MaxLength} elements a Tensor can index, " +
                            "even where a zero dimension leaves it empty";
                    return null;
                }
            }
            result[d] = (int)s;
        }
        error = "";
        return result;
    }
}
