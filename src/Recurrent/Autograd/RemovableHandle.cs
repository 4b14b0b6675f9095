using Recurrent.Autograd;

namespace Recurrent;

/// <summary>
/// Removes the hook it was returned for, as PyTorch's <c>torch.utils.hooks.RemovableHandle</c>: <c>handle.remove()</c> is
/// <see cref="Remove"/>, and <c>using var h = t.RegisterHook(...)</c> removes the hook at the end of the scope. Removing
/// twice does nothing.
/// </summary>
public sealed class RemovableHandle : IDisposable
{
    private GradientHooks? _hooks;
    private readonly GradientHooks.Entry _entry;

    internal RemovableHandle(GradientHooks hooks, GradientHooks.Entry entry)
    {
        _hooks = hooks;
        _entry = entry;
    }

    /// <summary>Removes the hook; a backward pass started afterwards no longer calls it.</summary>
    public void Remove() => Interlocked.Exchange(ref _hooks, null)?.Remove(_entry);

    /// <summary>The same as <see cref="Remove"/>.</summary>
    public void Dispose() => Remove();
}
