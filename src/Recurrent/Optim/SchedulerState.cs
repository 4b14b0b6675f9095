// A scheduler's progress as a flat map of float64/int64 tensors, the way Optimizer.StateDict flattens PyTorch's
// state_dict(): PyTorch's own key names (last_epoch, base_lrs, _last_lr, T_cur, ...), a sub-scheduler's keys under
// "_schedulers.{i}.". The reader checks every key, shape and value before a load changes anything.
namespace Recurrent.Optim;

/// <summary>
/// A learning-rate scheduler whose progress can be saved and restored: every <see cref="LrScheduler"/> and
/// <see cref="ReduceLROnPlateau"/>. <see cref="Training.CheckpointStore.Save"/> and
/// <see cref="Training.Checkpoint.Restore"/> take one.
/// </summary>
public interface ILrScheduler
{
    /// <summary>The optimizer whose learning rates are scheduled.</summary>
    Optimizer Optimizer { get; }

    /// <summary>The learning rates the scheduler set at its last step, as <c>get_last_lr()</c>.</summary>
    double[] GetLastLr();

    /// <summary>
    /// The scheduler's progress as a flat map of tensors, as <c>scheduler.state_dict()</c> under PyTorch's key names,
    /// without the settings only its constructor takes (step sizes, factors, milestones: a resumed scheduler is built
    /// with the same arguments, then loads this): <c>last_epoch</c> (int64 scalar), <c>_last_lr</c> (float64 vector),
    /// the rates its schedule starts from (<c>base_lrs</c>; <c>min_lrs</c> for <see cref="ReduceLROnPlateau"/>), and
    /// each scheduler's own counters. Tensors are copies; the map can be written with <c>TensorIO.WriteTensors</c>.
    /// </summary>
    Dictionary<string, Tensor> StateDict();

    /// <summary>
    /// Restores the progress from <see cref="StateDict"/>, as <c>scheduler.load_state_dict</c>. Every key must be
    /// present and none other; the learning rates in the param groups are the optimizer's state and are not touched.
    /// Nothing changes when it throws.
    /// </summary>
    /// <exception cref="ArgumentException">A key is missing or unknown, or a value has the wrong shape or range.</exception>
    void LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict);

    /// <summary>
    /// Checks <paramref name="stateDict"/> as <see cref="LoadStateDict"/> does and returns the load, which cannot fail
    /// (so a checkpoint restore can check everything before it changes anything). Internal: only this library's
    /// schedulers implement the interface.
    /// </summary>
    internal Action PrepareLoad(IReadOnlyDictionary<string, Tensor> stateDict);
}

/// <summary>Reads and checks a scheduler state dict, remembering which keys were read.</summary>
internal sealed class SchedulerStateReader(IReadOnlyDictionary<string, Tensor> stateDict, string owner)
{
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    private Tensor Get(string key)
    {
        if (!stateDict.TryGetValue(key, out var t) || t is null)
            throw new ArgumentException($"the {owner} state dict has no \"{key}\" (expected the keys of {owner}.StateDict())", nameof(stateDict));
        _read.Add(key);
        return t;
    }

    private Exception Bad(string key, string expected, string actual) =>
        new ArgumentException($"the {owner} state dict's \"{key}\" must be {expected}, but got {actual}", nameof(stateDict));

    /// <summary>One number; finite unless <paramref name="finite"/> is false (a plateau's best metric may be infinite or NaN).</summary>
    public double Double(string key, bool finite = true)
    {
        var t = Get(key);
        if (t.Numel != 1) throw Bad(key, "one number", $"shape {Guard.ShapeText(t.ShapeRef)}");
        double v = t.ToDouble();
        if (finite && !double.IsFinite(v)) throw Bad(key, "a finite number", Nn.PyFormat.Float(v));
        return v;
    }

    public long Long(string key, long min, long max)
    {
        double v = Double(key);
        if (v != Math.Floor(v) || v < min || v > max) throw Bad(key, $"a whole number in [{min}, {max}]", Nn.PyFormat.Float(v));
        return (long)v;
    }

    public int Int(string key, int min = int.MinValue) => (int)Long(key, min, int.MaxValue);

    /// <summary>A vector of finite numbers >= 0 (learning rates) of <paramref name="length"/> elements, or at most that many when not <paramref name="exact"/>.</summary>
    public double[] Rates(string key, int length, bool exact)
    {
        var t = Get(key);
        if (t.Dim != 1 || (exact ? t.Numel != length : t.Numel > length))
            throw Bad(key, $"a vector of {(exact ? "" : "at most ")}{length} learning rates (one per param group)", $"shape {Guard.ShapeText(t.ShapeRef)}");
        var v = t.Double().ToArray<double>();
        foreach (double x in v)
            if (!(x >= 0 && double.IsFinite(x))) throw Bad(key, "finite learning rates >= 0", Nn.PyFormat.Float(x));
        return v;
    }

    /// <summary>Refuses the keys no reader asked for.</summary>
    public void ThrowOnUnread()
    {
        foreach (var key in stateDict.Keys)
            if (!_read.Contains(key))
                throw new ArgumentException($"the {owner} state dict has an unexpected key \"{key}\" (expected the keys of {owner}.StateDict())", nameof(stateDict));
    }

    public static Tensor Scalar(long value) => Tensor.Scalar(value, DType.Int64);

    public static Tensor Scalar(double value) => Tensor.Scalar(value, DType.Float64);

    public static Tensor Vector(IReadOnlyList<double> values) => Tensor.FromArray(values.ToArray(), values.Count);
}
