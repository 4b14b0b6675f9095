// The worker team's wake-up policy: small jobs do not wake sleeping workers, except inside a burst
// (a time-step loop that woke the team up front) or when the same job repeats back to back; every
// part of a job runs exactly once either way.
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

public class WorkerTeamTests
{
    private sealed class CountingJob : ParallelJob
    {
        public int[] Runs = new int[8];
        public override void Execute(int part, int parts) => Interlocked.Increment(ref Runs[part]);
    }

    [Fact]
    public void InsideABurstTheTeamCountsAsAwake()
    {
        using (WorkerTeam.Burst(2))
        {
            Assert.False(WorkerTeam.Asleep);
            using (WorkerTeam.Burst(2)) Assert.False(WorkerTeam.Asleep); // nested: still a burst
            Assert.False(WorkerTeam.Asleep);
        }
        using (WorkerTeam.Burst(1)) { } // one thread: nothing to wake, no burst
    }

    [Fact]
    public void EveryPartRunsOnceWhetherTheWorkersAreAwakeOrNot()
    {
        for (int round = 0; round < 50; round++)
        {
            var job = new CountingJob();
            if (round % 2 == 0) WorkerTeam.Run(job, 4);
            else using (WorkerTeam.Burst(4)) WorkerTeam.Run(job, 4);
            Assert.Equal(new[] { 1, 1, 1, 1, 0, 0, 0, 0 }, job.Runs);
        }
    }

    [Fact]
    public void OnlyTheSameProductRepeatedBackToBackWakesTheTeam()
    {
        const long key = 0x5eed_0001, other = 0x5eed_0002;
        // GEMMs of tests running beside this one record their own keys: retry a few times.
        Assert.Contains(true, Enumerable.Range(0, 5).Select(_ => { WorkerTeam.Deferred(key); return WorkerTeam.DeferAgain(key); }));
        WorkerTeam.Deferred(key);
        Assert.False(WorkerTeam.DeferAgain(other));
    }
}
