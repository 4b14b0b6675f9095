// Grad mode: a thread-local switch that turns graph recording off (torch.no_grad()).
namespace Recurrent;

/// <summary>Whether operations record autograd history on the current thread.</summary>
public static class GradMode
{
    [ThreadStatic] private static int _disabledDepth;

    /// <summary>True unless inside a <see cref="NoGrad"/> scope.</summary>
    public static bool IsEnabled => _disabledDepth == 0;

    internal static void Push() => _disabledDepth++;
    internal static void Pop() => _disabledDepth--;
}

/// <summary>
/// A scope in which no autograd graph is recorded, as <c>with torch.no_grad():</c>.
/// <code>using (new NoGrad()) { ... }</code>
/// </summary>
public readonly struct NoGrad : IDisposable
{
    private readonly bool _active;
    public NoGrad() { GradMode.Push(); _active = true; }
    public void Dispose() { if (_active) GradMode.Pop(); }
}
