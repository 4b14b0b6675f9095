// Deterministic reuse of tensor storage, as TorchSharp's torch.NewDisposeScope(): every tensor
// created on this thread while a scope is open belongs to it, and disposing the scope disposes
// them. A large tensor created in a scope takes its array from a process-wide pool and the
// array goes back to the pool once every tensor that shares it (views included) is disposed,
// so a training or inference loop with one scope per iteration allocates no new large arrays
// after its first iteration: no fresh pages to fault in, no large-object-heap growth, no gen-2
// collections. Outside any scope nothing changes: storage is ordinary garbage-collected arrays.
//
// Safety rules:
// - A disposed tensor throws ObjectDisposedException on any use of its elements.
// - A pooled array is recycled only when its count of live tensors reaches zero. A tensor that
//   leaves the scopes (DetachFromDisposeScope, or a view made outside any scope) keeps its
//   count forever, so such an array is simply left to the GC.
// - Tensors the library keeps beyond a call (parameters, buffers, .Grad, optimizer state) are
//   detached from their scope when stored.
using System.Runtime.CompilerServices;

namespace Recurrent;

/// <summary>
/// A region whose tensors are disposed together, as TorchSharp's <c>DisposeScope</c>: open one per
/// training or inference iteration with <see cref="Tensor.NewDisposeScope"/> (<c>using var scope =
/// Tensor.NewDisposeScope();</c>) and large intermediate tensors reuse their storage across
/// iterations instead of allocating fresh memory each time.
/// </summary>
/// <remarks>
/// <para>Every tensor created on the current thread while the scope is the innermost open one belongs
/// to it. <see cref="Dispose"/> disposes them; using a disposed tensor throws
/// <see cref="ObjectDisposedException"/>. Keep a result beyond the scope with
/// <see cref="Tensor.MoveToOuterDisposeScope"/> (into the enclosing scope) or
/// <see cref="Tensor.DetachFromDisposeScope"/> (into no scope: ordinary garbage collection).</para>
/// <para>Parameters, buffers, gradients stored in <see cref="Tensor.Grad"/> and optimizer state are
/// detached automatically. Scopes nest and must be disposed in reverse order of creation, on the
/// thread that opened them.</para>
/// </remarks>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] private static DisposeScope? t_current;
    // The list of the thread's last disposed scope, emptied, for its next scope: a loop that opens one scope per
    // iteration grows no new list each time. Lists above SpareListLimit entries are left to the GC.
    [ThreadStatic] private static List<Tensor>? t_spareList;
    private const int SpareListLimit = 1 << 14;

    private readonly DisposeScope? _outer;
    private readonly Thread _thread;
    private List<Tensor>? _tensors;

    internal DisposeScope()
    {
        _tensors = t_spareList ?? new();
        t_spareList = null;
        _outer = t_current;
        _thread = Thread.CurrentThread;
        t_current = this;
    }

    /// <summary>The innermost open scope of the current thread, or null.</summary>
    internal static DisposeScope? Current => t_current;

    /// <summary>The enclosing scope (null for an outermost scope).</summary>
    internal DisposeScope? Outer => _outer;

    /// <summary>Number of tensors that currently belong to this scope.</summary>
    public int Count
    {
        get
        {
            if (_tensors is null) return 0;
            int n = 0;
            foreach (var t in _tensors) if (ReferenceEquals(t.Scope, this)) n++;
            return n;
        }
    }

    /// <summary>True once <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => _tensors is null;

    internal void Add(Tensor t)
    {
        if (_tensors is null) throw new ObjectDisposedException(nameof(DisposeScope), "this DisposeScope was already disposed");
        _tensors.Add(t);
    }

    /// <summary>Disposes every tensor that still belongs to this scope and closes it.</summary>
    public void Dispose()
    {
        if (_tensors is null) return;
        if (!ReferenceEquals(Thread.CurrentThread, _thread))
            throw new InvalidOperationException("a DisposeScope must be disposed on the thread that created it");
        if (!ReferenceEquals(t_current, this))
            throw new InvalidOperationException("DisposeScopes must be disposed in the reverse order of their creation (an inner scope is still open)");
        var tensors = _tensors;
        _tensors = null;
        t_current = _outer;
        foreach (var t in tensors)
            if (ReferenceEquals(t.Scope, this)) t.DisposeFromScope();
        if (tensors.Capacity <= SpareListLimit)
        {
            tensors.Clear();
            t_spareList = tensors;
        }
    }
}

/// <summary>
/// A pooled array and the number of live tensors that use it. The pool keeps the lease with its array, so renting
/// allocates nothing: a lease is back in the pool only when no undisposed tensor refers to it.
/// </summary>
internal sealed class StorageLease
{
    public StorageLease(Array array) => Array = array;

    public Array Array { get; }

    /// <summary>Tensors referencing the array that are not disposed (detached ones are never released).</summary>
    public int Refs;
}

/// <summary>
/// The process-wide pool of large tensor arrays used inside dispose scopes, keyed by element type
/// and exact length (tensor code may rely on <c>Data.Length</c>). Thread safe.
/// </summary>
internal static class StoragePool
{
    /// <summary>
    /// Arrays below this size come from the ordinary small-object heap (cheap in gen 0). Not higher: a training step's
    /// ids, targets and per-row statistics (16 KB each for the char-LM) would otherwise be new garbage every step, and
    /// the gen-0 collections they cause promote the step's live graph towards gen 2.
    /// </summary>
    public const int MinBytes = 4 * 1024;

    private static readonly object s_lock = new();
    private static readonly Dictionary<(DType, int), Bucket> s_free = new();
    private static long s_freeBytes, s_clock;

    /// <summary>The most bytes the pool keeps for later use; arrays returned beyond it go to the GC.</summary>
    private const long LimitBytes = 1L << 30;

    /// <summary>
    /// Above this many free bytes, lengths that no one rented in the last <see cref="IdleRents"/> rents are dropped
    /// with their free arrays (checked every <see cref="SweepEvery"/> rents; idle lengths without free arrays are
    /// forgotten at any size). A loop whose shapes repeat rents each of its lengths again well within that many rents
    /// (the char-LM recipe rents 18 arrays per step), so it keeps them; a process whose shapes keep changing
    /// (variable lengths in serving) would otherwise keep every length it ever saw, up to <see cref="LimitBytes"/>.
    /// Settable for tests.
    /// </summary>
    internal static long SoftLimitBytes = 256L << 20;
    internal static long IdleRents = 1L << 16;
    internal const int SweepEvery = 1 << 12;

    private sealed class Bucket
    {
        public readonly Stack<StorageLease> Leases = new();
        public long LastRent;
    }

    public static bool Pools(DType t, int n) => (long)n * Tensor.ElementSize(t) >= MinBytes;

    /// <summary>A lease (no tensor counted) of a pooled array of exactly <paramref name="n"/> elements (zeroed when <paramref name="clear"/>).</summary>
    public static StorageLease Rent(DType t, int n, bool clear)
    {
        StorageLease? a = null;
        lock (s_lock)
        {
            long now = ++s_clock;
            if (s_free.TryGetValue((t, n), out var bucket))
            {
                bucket.LastRent = now;
                if (bucket.Leases.Count > 0)
                {
                    a = bucket.Leases.Pop();
                    s_freeBytes -= (long)n * Tensor.ElementSize(t);
                }
            }
            if (now % SweepEvery == 0) DropIdle(now);
        }
        // A lease always comes back with no tensor counted; one that does not (a miscount) is not handed out again.
        if (a is null || Volatile.Read(ref a.Refs) != 0) return new StorageLease(Tensor.NewArray(t, n));
        if (clear) Array.Clear(a.Array);
        return a;
    }

    /// <summary>Takes back a lease whose count fell to 0, with its array.</summary>
    public static void Return(DType t, StorageLease lease)
    {
        var a = lease.Array;
        long bytes = (long)a.Length * Tensor.ElementSize(t);
        lock (s_lock)
        {
            if (s_freeBytes + bytes > LimitBytes) return;
            if (!s_free.TryGetValue((t, a.Length), out var bucket)) s_free[(t, a.Length)] = bucket = new Bucket { LastRent = s_clock };
            bucket.Leases.Push(lease);
            s_freeBytes += bytes;
        }
    }

    // Under s_lock: forgets the lengths not rented since now - IdleRents that hold no free array, and, above the soft
    // limit, those that do, with their arrays.
    private static void DropIdle(long now)
    {
        bool over = s_freeBytes > SoftLimitBytes;
        foreach (var (key, bucket) in s_free)
        {
            if (now - bucket.LastRent <= IdleRents || (bucket.Leases.Count > 0 && !over)) continue;
            s_freeBytes -= FreeBytesOf(key, bucket);
            s_free.Remove(key);
        }
    }

    private static long FreeBytesOf((DType Type, int Length) key, Bucket bucket) =>
        (long)bucket.Leases.Count * key.Length * Tensor.ElementSize(key.Type);

    /// <summary>Bytes of the free arrays the pool holds (tests).</summary>
    internal static long FreeBytes
    {
        get { lock (s_lock) return s_freeBytes; }
    }

    /// <summary><see cref="FreeBytes"/> recounted from the arrays the pool holds (tests: the two must agree).</summary>
    internal static long RecountFreeBytes()
    {
        lock (s_lock)
        {
            long bytes = 0;
            foreach (var (key, bucket) in s_free) bytes += FreeBytesOf(key, bucket);
            return bytes;
        }
    }

    /// <summary>Whether the pool tracks this type and length at all (tests).</summary>
    internal static bool Tracks(DType t, int n)
    {
        lock (s_lock) return s_free.ContainsKey((t, n));
    }

    /// <summary>Free arrays of this type and length the pool holds (tests).</summary>
    internal static int FreeCount(DType t, int n)
    {
        lock (s_lock) return s_free.TryGetValue((t, n), out var bucket) ? bucket.Leases.Count : 0;
    }

    /// <summary>Runs the idle sweep now, whatever the clock (tests).</summary>
    internal static void SweepNow()
    {
        lock (s_lock) DropIdle(s_clock);
    }
}

public sealed partial class Tensor
{
    /// <summary>The scope this tensor belongs to (null: none, ordinary garbage collection).</summary>
    internal DisposeScope? Scope;
    /// <summary>The pool lease of the array, when it came from <see cref="StoragePool"/>.</summary>
    internal readonly StorageLease? Lease;
    private byte _disposed;   // 0 or 1, set once, atomically (a node's Release may race with its scope's Dispose)

    /// <summary>
    /// Opens a dispose scope on the current thread, as TorchSharp's <c>torch.NewDisposeScope()</c>:
    /// tensors created until it is disposed belong to it, and large ones reuse pooled storage.
    /// </summary>
    public static DisposeScope NewDisposeScope() => new();

    /// <summary>True once the dispose scope that owned this tensor was disposed; its elements can no longer be used.</summary>
    public bool IsDisposed => _disposed != 0;

    /// <summary>
    /// Moves this tensor into the scope enclosing its current one (or out of all scopes when there is
    /// none), so it survives the disposal of its scope. Returns this tensor.
    /// </summary>
    public Tensor MoveToOuterDisposeScope()
    {
        ThrowIfDisposed();
        if (Scope is { } s)
        {
            Scope = s.Outer;
            Scope?.Add(this);
            if (GradUnseen is { } g && ReferenceEquals(g.Scope, s)) g.MoveToOuterDisposeScope();
        }
        return this;
    }

    /// <summary>Removes this tensor from its dispose scope: it is never disposed and the GC frees it. Returns this tensor.</summary>
    public Tensor DetachFromDisposeScope()
    {
        ThrowIfDisposed();
        if (Scope is { } s && GradUnseen is { } g && ReferenceEquals(g.Scope, s)) g.DetachFromDisposeScope();
        Scope = null;
        return this;
    }

    /// <summary>
    /// Gives <paramref name="grad"/> (about to become this tensor's <see cref="Grad"/>) a lifetime at least this
    /// tensor's: no scope when this tensor has none; otherwise this tensor's scope, unless the gradient already
    /// belongs to that scope or one enclosing it.
    /// </summary>
    private Tensor KeepWithThis(Tensor grad)
    {
        if (Scope is not { } mine) return grad.DetachFromDisposeScope();
        if (grad.Scope is null) return grad; // detached: lives until the GC, longer than this tensor
        for (var s = mine; s is not null; s = s.Outer)
            if (ReferenceEquals(grad.Scope, s)) return grad;
        grad.ThrowIfDisposed();
        grad.Scope = mine;
        mine.Add(grad);
        return grad;
    }

    // Called by every constructor: joins the current scope and counts the lease.
    private void JoinScope()
    {
        if (Lease is { } lease) Interlocked.Increment(ref lease.Refs);
        if (DisposeScope.Current is { } scope)
        {
            Scope = scope;
            scope.Add(this);
        }
    }

    internal void DisposeFromScope()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Scope = null;
        if (Lease is { } lease && Interlocked.Decrement(ref lease.Refs) == 0 && StoragePool.Pools(DType, lease.Array.Length))
            StoragePool.Return(DType, lease);
    }

    /// <summary>A new contiguous tensor; inside a dispose scope, large ones take pooled storage.</summary>
    /// <param name="t">Element type.</param>
    /// <param name="shape">Shape (kept by the tensor, not copied).</param>
    /// <param name="clear">Zero the elements (false only when the caller overwrites every element).</param>
    internal static Tensor Allocate(DType t, int[] shape, bool clear)
    {
        int n = ShapeUtil.Numel(shape);
        if (DisposeScope.Current is not null && StoragePool.Pools(t, n))
        {
            var lease = StoragePool.Rent(t, n, clear);
            return new Tensor(lease.Array, 0, shape, null, lease);
        }
        return new Tensor(clear ? NewArray(t, n) : NewUninitializedArray(t, n), shape);
    }

    /// <summary>
    /// A 1-D workspace of <paramref name="n"/> elements (contents undefined) from the storage pool, inside or
    /// outside a dispose scope. Its owner gives it back with <see cref="ReleaseWorkspace"/>; if it never does,
    /// the enclosing dispose scope does (or, outside scopes, the GC collects the array).
    /// </summary>
    internal static Tensor AllocateWorkspace(DType t, int n)
    {
        var lease = StoragePool.Pools(t, n) ? StoragePool.Rent(t, n, clear: false) : new StorageLease(NewArray(t, n));
        int[] shape = [n];
        return new Tensor(lease.Array, 0, shape, null, lease);
    }

    /// <summary>Disposes a workspace from <see cref="AllocateWorkspace"/> now, returning its array to the pool.</summary>
    internal void ReleaseWorkspace() => DisposeFromScope();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDisposed() =>
        throw new ObjectDisposedException(nameof(Tensor), "This tensor was disposed by its DisposeScope. Keep a tensor beyond its scope with MoveToOuterDisposeScope() or DetachFromDisposeScope().");

    private void ThrowIfDisposed()
    {
        if (_disposed != 0) ThrowDisposed();
    }
}
