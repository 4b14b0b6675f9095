// Gradient hooks (PyTorch's Tensor.register_hook): functions a tensor's gradient passes through during backward.
// A non-leaf's hooks sit on its producing node, on the tensor's output slot, and run once that slot's gradient is
// complete, before the node's rule (and before a retained gradient is stored, as PyTorch 2 runs retain_grad's hook
// last); a leaf's run in its AccumulateGrad sink, before the gradient is added to .Grad. Nodes that write a leaf's
// gradient themselves (the fused recurrent stack) hand it to the sink instead when the leaf has hooks.
namespace Recurrent.Autograd;

/// <summary>The hooks on one gradient, in registration order. Registration and removal copy the array, so a backward
/// pass running the hooks on another thread reads a consistent list.</summary>
internal sealed class GradientHooks
{
    // One entry per registration, so that a handle removes its own even when one delegate is registered twice.
    internal sealed class Entry(Func<Tensor, Tensor?> hook)
    {
        public readonly Func<Tensor, Tensor?> Hook = hook;
    }

    private Entry[] _hooks = [];
    private readonly Lock _lock = new();

    public bool IsEmpty => Volatile.Read(ref _hooks).Length == 0;

    public RemovableHandle Add(Func<Tensor, Tensor?> hook)
    {
        var entry = new Entry(hook);
        lock (_lock) _hooks = [.. _hooks, entry];
        return new RemovableHandle(this, entry);
    }

    public void Remove(Entry entry)
    {
        lock (_lock)
        {
            int i = Array.IndexOf(_hooks, entry);
            if (i >= 0) _hooks = [.. _hooks.AsSpan(0, i), .. _hooks.AsSpan(i + 1)];
        }
    }

    /// <summary>Passes <paramref name="grad"/> through every hook; a hook that returns a tensor replaces the gradient
    /// for the hooks after it and for the rest of the backward.</summary>
    public Tensor Run(Tensor grad)
    {
        foreach (var entry in Volatile.Read(ref _hooks))
        {
            var result = entry.Hook(grad);
            if (result is null || ReferenceEquals(result, grad)) continue;
            if (result.DType != grad.DType)
                throw new InvalidOperationException(
                    $"A gradient hook (RegisterHook) returned a tensor of dtype {result.DType} for a gradient of dtype {grad.DType}: " +
                    "a hook may replace the gradient but not change its dtype (PyTorch: hook has changed the type of value).");
            if (!result.SameShape(grad))
                throw new InvalidOperationException(
                    $"A gradient hook (RegisterHook) returned a tensor of shape {Guard.ShapeText(result.ShapeRef)} for a gradient of shape " +
                    $"{Guard.ShapeText(grad.ShapeRef)}: a hook may replace the gradient but not change its shape (PyTorch: hook has changed the size of value).");
            grad = result;
        }
        return grad;
    }
}
