// Grad mode: a thread-local switch that turns graph recording off (torch.no_grad()).
namespace Recurrent;

/// <summary>
/// Whether operations record autograd history on the current thread. The mode is per thread, as PyTorch's
/// thread-local grad mode: a <see cref="NoGrad"/> scope on one thread never changes what another thread records, and a
/// new thread (a <c>Task</c>, a <c>Parallel.For</c> body, an ASP.NET request) starts with grad mode on even when the
/// code that started it is inside a <see cref="NoGrad"/> scope.
/// </summary>
public static class GradMode
{
    [ThreadStatic] private static int _disabledDepth;

    /// <summary>True unless the current thread is inside a <see cref="NoGrad"/> scope.</summary>
    public static bool IsEnabled => _disabledDepth == 0;

    internal static void Push() => _disabledDepth++;
    internal static void Pop() => _disabledDepth--;
}

/// <summary>
/// A scope in which the current thread records no autograd graph, as <c>with torch.no_grad():</c>.
/// <code>using (new NoGrad()) { var prediction = model.Forward(x); }</code>
/// <para>The scope is per thread: it applies to the thread that created it, until it is disposed there. Work handed
/// to other threads inside it (<c>Task.Run</c>, <c>Parallel.For</c>) records graphs unless each thread opens its own
/// <see cref="NoGrad"/>; dispose the scope on the thread that created it (an <c>await</c> inside the scope may resume on
/// another thread, and disposing it there throws). Scopes nest.</para>
/// </summary>
public readonly struct NoGrad : IDisposable
{
    private readonly int _thread;   // the managed thread id of the creator; 0 for default(NoGrad), which does nothing

    /// <summary>Turns graph recording off on the current thread until <see cref="Dispose"/>.</summary>
    public NoGrad() { GradMode.Push(); _thread = Environment.CurrentManagedThreadId; }

    /// <summary>Ends the scope: the current thread records graphs again unless an outer <see cref="NoGrad"/> is still open.</summary>
    /// <exception cref="InvalidOperationException">Disposed on another thread than the one that created it (the scope
    /// is per thread; ending it elsewhere would turn recording back on for the wrong thread).</exception>
    public void Dispose()
    {
        if (_thread == 0) return;
        if (_thread != Environment.CurrentManagedThreadId)
            throw new InvalidOperationException($"NoGrad was created on thread {_thread} and disposed on thread {Environment.CurrentManagedThreadId}. Grad mode is per thread: dispose the scope on the thread that created it (do not await inside a NoGrad scope), or open a NoGrad on each thread.");
        GradMode.Pop();
    }
}
