// Scratch memory for the fused recurrent kernels: a per-thread bump allocator over native,
// 64-byte aligned blocks that are kept for the life of the thread. A kernel takes a mark, rents
// what it needs, and releases back to the mark before returning, so steady-state calls allocate
// nothing and touch no fresh pages (a page fault costs ~11 us per 4 KiB on the reference VM).
using System.Runtime.InteropServices;

namespace Recurrent.Kernels;

/// <summary>Per-thread scratch arena (bump allocation, released to a mark, never returned to the OS).</summary>
internal static unsafe class RnnArena
{
    private const nuint Align = 64;

    // Positions are "virtual" offsets that only grow while memory is rented, so marks stay
    // comparable across blocks: the current block holds positions [t_start, t_end) at
    // t_real + (position - t_start). Older blocks stay allocated until everything is released.
    [ThreadStatic] private static byte* t_real;
    [ThreadStatic] private static nuint t_start, t_end, t_used;
    [ThreadStatic] private static List<nint>? t_retired;

    /// <summary>The current position; pass it to <see cref="Release"/> to free everything rented after it.</summary>
    public static nuint Mark() => t_used;

    /// <summary>Rents <paramref name="count"/> elements of <typeparamref name="T"/>, 64-byte aligned, not zeroed.</summary>
    public static T* Rent<T>(long count) where T : unmanaged
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, $"count must be non-negative, but got {count}");
        nuint bytes = ((nuint)count * (nuint)sizeof(T) + Align - 1) & ~(Align - 1);
        if (t_used + bytes > t_end) Grow(bytes);
        byte* p = t_real + (t_used - t_start);
        t_used += bytes;
        return (T*)p;
    }

    /// <summary>Rents <paramref name="count"/> zeroed elements.</summary>
    public static T* RentZeroed<T>(long count) where T : unmanaged
    {
        T* p = Rent<T>(count);
        new Span<T>(p, checked((int)count)).Clear();
        return p;
    }

    /// <summary>Frees everything rented after <paramref name="mark"/> (a value from <see cref="Mark"/>).</summary>
    public static void Release(nuint mark)
    {
        // Below the current block's start, the older blocks' tails stay unused until a full release.
        t_used = Math.Max(mark, t_start);
        if (mark == 0 && t_retired is { Count: > 0 } retired)
        {
            // Nothing is rented any more: replace all blocks by one that holds as much as they did.
            nuint total = t_end;
            foreach (var b in retired) NativeMemory.AlignedFree((void*)b);
            retired.Clear();
            NativeMemory.AlignedFree(t_real);
            t_real = (byte*)NativeMemory.AlignedAlloc(total, Align);
            t_start = 0;
            t_end = total;
            t_used = 0;
        }
    }

    private static void Grow(nuint bytes)
    {
        nuint size = Math.Max(bytes, Math.Max(t_end, (nuint)1 << 20));
        if (t_real is not null) (t_retired ??= new List<nint>()).Add((nint)t_real);
        t_real = (byte*)NativeMemory.AlignedAlloc(size, Align);
        t_start = t_used;
        t_end = t_used + size;
    }
}
