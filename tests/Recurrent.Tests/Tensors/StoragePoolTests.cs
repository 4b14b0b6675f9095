// The dispose scopes' pool: lengths a loop keeps renting stay, lengths no one rents any more are dropped once the pool
// holds more than its soft limit, so a process whose shapes keep changing does not keep every array it ever used.
namespace Recurrent.Tests.Tensors;

[Collection(Serial.Name)]   // changes the pool's process-wide limits and counts rents while it runs
public sealed class StoragePoolTests : IDisposable
{
    // Float32 lengths of at least StoragePool.MinBytes, odd and used by no other test, so their buckets are this class's.
    private static readonly int[] UsedOnce = Enumerable.Range(0, 12).Select(i => 5003 + 2 * i).ToArray();
    private const int Repeated = 5101;

    // xunit makes one instance per test and disposes it after the test: the limits a test sets never outlive it.
    private readonly long _soft = StoragePool.SoftLimitBytes, _idle = StoragePool.IdleRents;

    public void Dispose()
    {
        StoragePool.SoftLimitBytes = _soft;
        StoragePool.IdleRents = _idle;
    }

    // Rents (and returns) the repeated length this many times.
    private static void RentRepeated(int times)
    {
        for (int i = 0; i < times; i++)
            using (Tensor.NewDisposeScope()) Tensor.Zeros(Repeated);
    }

    [Fact]
    public void IdleLengthsAreDropped_RepeatedOnesKept()
    {
        using (Tensor.NewDisposeScope())
            foreach (int n in UsedOnce) Tensor.Zeros(n);
        foreach (int n in UsedOnce) Assert.Equal(1, StoragePool.FreeCount(DType.Float32, n));

        StoragePool.SoftLimitBytes = 0;
        StoragePool.IdleRents = 100;
        RentRepeated(50);
        StoragePool.SweepNow();   // at most 61 rents since they were rented: not idle yet
        foreach (int n in UsedOnce) Assert.Equal(1, StoragePool.FreeCount(DType.Float32, n));

        RentRepeated(60);
        StoragePool.SweepNow();   // at least 110 rents since each was rented
        foreach (int n in UsedOnce) Assert.False(StoragePool.Tracks(DType.Float32, n));
        Assert.Equal(1, StoragePool.FreeCount(DType.Float32, Repeated));
        Assert.Equal(StoragePool.RecountFreeBytes(), StoragePool.FreeBytes);

        // A dropped length is allocated afresh and pooled again.
        using (Tensor.NewDisposeScope()) Tensor.Zeros(UsedOnce[0]);
        Assert.Equal(1, StoragePool.FreeCount(DType.Float32, UsedOnce[0]));
    }

    [Fact]
    public void ALeaseComesBackWithItsArray_AndOneStillCountedIsNotRentedAgain()
    {
        int n = Repeated + 2;
        StorageLease first;
        using (Tensor.NewDisposeScope()) first = Tensor.Zeros(n).Lease!;
        Assert.Equal(0, first.Refs);
        using (Tensor.NewDisposeScope())
        {
            var again = Tensor.Zeros(n);
            Assert.Same(first, again.Lease);                 // renting allocates no new lease
            Assert.Equal(1, first.Refs);
        }
        // A lease back in the pool with a tensor still counted (a miscount) would hand its array to two owners.
        var counted = StoragePool.Rent(DType.Float32, n, clear: false);
        Assert.Same(first, counted);
        counted.Refs = 1;
        StoragePool.Return(DType.Float32, counted);
        using (Tensor.NewDisposeScope())
        {
            var fresh = Tensor.Zeros(n);
            Assert.NotSame(counted, fresh.Lease);
            Assert.NotSame(counted.Array, fresh.Data);
        }
    }

    [Fact]
    public void BelowTheSoftLimitIdleArraysAreKept()
    {
        int kept = UsedOnce[^1] + 2;
        using (Tensor.NewDisposeScope()) Tensor.Zeros(kept);
        StoragePool.SoftLimitBytes = long.MaxValue / 2;
        StoragePool.IdleRents = 100;
        RentRepeated(2 * StoragePool.SweepEvery);   // the pool's own sweeps run while the length is idle
        Assert.Equal(1, StoragePool.FreeCount(DType.Float32, kept));
    }

    [Fact]
    public void RentingSweepsOnItsOwn_AndForgetsEmptyIdleLengthsAtAnySize()
    {
        int dropped = UsedOnce[^1] + 4, empty = UsedOnce[^1] + 6;
        using (Tensor.NewDisposeScope()) { Tensor.Zeros(dropped); Tensor.Zeros(empty); }
        // The second use of `empty` keeps its array for good: its bucket is left without free arrays.
        using (Tensor.NewDisposeScope()) Tensor.Zeros(empty).DetachFromDisposeScope();
        Assert.True(StoragePool.Tracks(DType.Float32, empty));
        Assert.Equal(0, StoragePool.FreeCount(DType.Float32, empty));

        StoragePool.SoftLimitBytes = long.MaxValue / 2;
        StoragePool.IdleRents = 100;
        RentRepeated(2 * StoragePool.SweepEvery);
        Assert.False(StoragePool.Tracks(DType.Float32, empty));          // forgotten below the soft limit too
        Assert.Equal(1, StoragePool.FreeCount(DType.Float32, dropped));   // its array kept below the soft limit

        StoragePool.SoftLimitBytes = 0;
        RentRepeated(2 * StoragePool.SweepEvery);
        Assert.False(StoragePool.Tracks(DType.Float32, dropped));
        Assert.Equal(1, StoragePool.FreeCount(DType.Float32, Repeated));
        Assert.Equal(StoragePool.RecountFreeBytes(), StoragePool.FreeBytes);
    }
}
