// The dispose scopes' pool: lengths a loop keeps renting stay, lengths no one rents any more are dropped once the pool
// holds more than its soft limit, so a process whose shapes keep changing does not keep every array it ever used.
namespace Recurrent.Tests.Tensors;

[Collection(Serial.Name)]   // changes the pool's process-wide limits while it runs
public class StoragePoolTests
{
    // Float32 lengths of at least StoragePool.MinBytes, odd and used by no other test, so their buckets are this test's.
    private static readonly int[] UsedOnce = Enumerable.Range(0, 12).Select(i => 5003 + 2 * i).ToArray();
    private const int Repeated = 5101;

    [Fact]
    public void IdleLengthsAreDropped_RepeatedOnesKept()
    {
        long soft = StoragePool.SoftLimitBytes, idle = StoragePool.IdleRents;
        try
        {
            using (Tensor.NewDisposeScope())
                foreach (int n in UsedOnce) Tensor.Zeros(n);
            foreach (int n in UsedOnce) Assert.Equal(1, StoragePool.FreeCount(DType.Float32, n));

            StoragePool.SoftLimitBytes = 0;
            StoragePool.IdleRents = 100;
            for (int i = 0; i < 50; i++)
                using (Tensor.NewDisposeScope()) Tensor.Zeros(Repeated);
            StoragePool.SweepNow();   // at most 61 rents since they were rented: not idle yet
            foreach (int n in UsedOnce) Assert.Equal(1, StoragePool.FreeCount(DType.Float32, n));

            for (int i = 0; i < 60; i++)
                using (Tensor.NewDisposeScope()) Tensor.Zeros(Repeated);
            StoragePool.SweepNow();   // at least 110 rents since each was rented
            foreach (int n in UsedOnce) Assert.Equal(0, StoragePool.FreeCount(DType.Float32, n));
            Assert.Equal(1, StoragePool.FreeCount(DType.Float32, Repeated));

            // A dropped length is allocated afresh and pooled again.
            using (Tensor.NewDisposeScope()) Assert.Equal(0f, Tensor.Zeros(UsedOnce[0]).ToArray<float>().Max());
            Assert.Equal(1, StoragePool.FreeCount(DType.Float32, UsedOnce[0]));
        }
        finally
        {
            StoragePool.SoftLimitBytes = soft;
            StoragePool.IdleRents = idle;
        }
    }

    [Fact]
    public void BelowTheSoftLimitNothingIsDropped()
    {
        long soft = StoragePool.SoftLimitBytes, idle = StoragePool.IdleRents;
        try
        {
            using (Tensor.NewDisposeScope()) Tensor.Zeros(UsedOnce[^1] + 2);
            StoragePool.SoftLimitBytes = long.MaxValue / 2;
            StoragePool.IdleRents = 0;
            for (int i = 0; i < 5; i++)
                using (Tensor.NewDisposeScope()) Tensor.Zeros(Repeated);
            StoragePool.SweepNow();
            Assert.Equal(1, StoragePool.FreeCount(DType.Float32, UsedOnce[^1] + 2));
        }
        finally
        {
            StoragePool.SoftLimitBytes = soft;
            StoragePool.IdleRents = idle;
        }
    }

    [Fact]
    public void RentingSweepsOnItsOwn()
    {
        long soft = StoragePool.SoftLimitBytes, idle = StoragePool.IdleRents;
        try
        {
            int once = UsedOnce[^1] + 4;
            using (Tensor.NewDisposeScope()) Tensor.Zeros(once);
            StoragePool.SoftLimitBytes = 0;
            StoragePool.IdleRents = 100;
            // Two sweep periods of rents: at least one sweep comes after the length has been idle for 100 rents.
            for (int i = 0; i < 2 * StoragePool.SweepEvery; i++)
                using (Tensor.NewDisposeScope()) Tensor.Zeros(Repeated);
            Assert.Equal(0, StoragePool.FreeCount(DType.Float32, once));
            Assert.Equal(1, StoragePool.FreeCount(DType.Float32, Repeated));
        }
        finally
        {
            StoragePool.SoftLimitBytes = soft;
            StoragePool.IdleRents = idle;
        }
    }
}
