// Grad mode is per thread, as PyTorch's: a NoGrad scope on one thread leaves every other thread recording.
namespace Recurrent.Tests.Autograd;

public sealed class GradModeTests
{
    [Fact]
    public void NoGradOnOneThreadLeavesAnotherThreadRecording()
    {
        var w = Tensor.Ones(3).RequiresGrad_();
        using var inside = new ManualResetEventSlim();
        using var checkedOther = new ManualResetEventSlim();
        bool otherEnabled = false, otherRecorded = false;
        var other = new Thread(() =>
        {
            inside.Wait();                                          // the main thread is inside its NoGrad now
            otherEnabled = GradMode.IsEnabled;
            otherRecorded = w.Mul(2).RequiresGrad;
            checkedOther.Set();
        });
        other.Start();
        using (new NoGrad())
        {
            Assert.False(GradMode.IsEnabled);
            Assert.False(w.Mul(2).RequiresGrad);
            inside.Set();
            Assert.True(checkedOther.Wait(TimeSpan.FromSeconds(30)));
            Assert.False(GradMode.IsEnabled);                       // the other thread did not change ours either
        }
        other.Join();
        Assert.True(otherEnabled);
        Assert.True(otherRecorded);
        Assert.True(GradMode.IsEnabled);
    }

    [Fact]
    public void NoGradOnAnotherThreadDoesNotReachThisOne()
    {
        var w = Tensor.Ones(3).RequiresGrad_();
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var other = new Thread(() =>
        {
            using (new NoGrad())
            {
                entered.Set();
                release.Wait();
            }
        });
        other.Start();
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));
        Assert.True(GradMode.IsEnabled);
        Assert.True(w.Mul(2).RequiresGrad);
        release.Set();
        other.Join();
    }

    [Fact]
    public void ScopesNestAndMustEndOnTheirThread()
    {
        using (new NoGrad())
        {
            using (new NoGrad()) Assert.False(GradMode.IsEnabled);
            Assert.False(GradMode.IsEnabled);
        }
        Assert.True(GradMode.IsEnabled);
        default(NoGrad).Dispose();                                  // a default scope does nothing
        Assert.True(GradMode.IsEnabled);

        var scope = new NoGrad();
        Exception? error = null;
        var other = new Thread(() => { try { scope.Dispose(); } catch (Exception e) { error = e; } });
        other.Start();
        other.Join();
        var ex = Assert.IsType<InvalidOperationException>(error);
        Assert.Contains("Grad mode is per thread", ex.Message);
        Assert.False(GradMode.IsEnabled);                           // still inside the scope here
        scope.Dispose();
        Assert.True(GradMode.IsEnabled);
    }
}
