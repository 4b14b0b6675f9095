// Optimizer base: parameter groups with per-group hyperparameters, per-parameter state
// (step count and named buffers), zero_grad, and a flat tensor state dict (PyTorch's key
// names) that round-trips through safetensors for exact checkpoint resume.
using System.Globalization;

namespace Recurrent.Optim;

/// <summary>Hyperparameters of one parameter group. Each optimizer has its own subclass; <see cref="Lr"/> is common.</summary>
public abstract class OptimizerOptions
{
    /// <summary>Learning rate (schedulers change it).</summary>
    public double Lr { get; set; }

    /// <summary>A copy (new param groups start from a copy of the defaults).</summary>
    public OptimizerOptions Clone() => (OptimizerOptions)MemberwiseClone();

    /// <summary>Throws with PyTorch's message when a value is out of range.</summary>
    public abstract void Validate();

    /// <summary>The hyperparameters by PyTorch's names (booleans as 0/1), for state dicts.</summary>
    public abstract IEnumerable<(string Name, double[] Value)> ToValues();

    /// <summary>Restores one hyperparameter written by <see cref="ToValues"/>; false if the name is unknown.</summary>
    public abstract bool TrySetValue(string name, double[] value);

    /// <summary>The one value of a scalar hyperparameter, or a clear exception.</summary>
    /// <exception cref="ArgumentException"><paramref name="value"/> does not hold exactly one number.</exception>
    protected static double Value(string name, double[] value)
    {
        Guard.NotNull(value, nameof(value));
        if (value.Length != 1) throw new ArgumentException(CountMessage(name, 1, value.Length), nameof(value));
        return value[0];
    }

    /// <summary>The two values of a pair hyperparameter (betas), or a clear exception.</summary>
    /// <exception cref="ArgumentException"><paramref name="value"/> does not hold exactly two numbers.</exception>
    protected static (double, double) Values2(string name, double[] value)
    {
        Guard.NotNull(value, nameof(value));
        if (value.Length != 2) throw new ArgumentException(CountMessage(name, 2, value.Length), nameof(value));
        return (value[0], value[1]);
    }

    internal static string CountMessage(string name, int expected, int actual) =>
        $"hyperparameter '{name}' takes {(expected == 1 ? "one number" : expected == 2 ? "two numbers" : $"{expected} numbers")}, got {actual}";

    internal static void CheckNonNegative(double v, string what, string paramName)
    {
        if (!(v >= 0)) throw new ArgumentOutOfRangeException(paramName, v, $"Invalid {what}: {Num(v)}");
    }

    /// <summary>A number as Python prints the value a user passed (integers without ".0").</summary>
    internal static string Num(double v) =>
        double.IsFinite(v) && v == Math.Floor(v) && Math.Abs(v) < 1e16 ? ((long)v).ToString(CultureInfo.InvariantCulture) : Nn.PyFormat.Float(v);
}

/// <summary>A list of parameters optimised with the same hyperparameters, as an entry of <c>optimizer.param_groups</c>.</summary>
public sealed class ParamGroup
{
    internal ParamGroup(IReadOnlyList<Tensor> parameters, OptimizerOptions options)
    {
        Params = parameters;
        Options = options;
    }

    /// <summary>The parameters, in the order given.</summary>
    public IReadOnlyList<Tensor> Params { get; }

    /// <summary>The group's hyperparameters (mutable, as PyTorch's group dicts).</summary>
    public OptimizerOptions Options { get; }

    /// <summary>The group's learning rate, as <c>group['lr']</c>.</summary>
    public double Lr { get => Options.Lr; set => Options.Lr = value; }

    /// <summary>
    /// The group's learning rate when the first scheduler was attached to it (PyTorch's <c>initial_lr</c>, set once):
    /// every scheduler's <see cref="LrScheduler.BaseLrs"/>. Null before any scheduler.
    /// </summary>
    public double? InitialLr { get; internal set; }
}

/// <summary>Per-parameter optimizer state: the step count and named buffers (<c>exp_avg</c>, <c>momentum_buffer</c>, ...).</summary>
public sealed class ParamState
{
    /// <summary>Number of steps taken for this parameter (PyTorch's <c>state['step']</c>); null for optimizers that keep none (SGD).</summary>
    public long? Step { get; set; }

    /// <summary>Buffers by PyTorch's state names, each shaped like the parameter.</summary>
    public Dictionary<string, Tensor> Buffers { get; } = new(StringComparer.Ordinal);

    /// <summary>True when nothing has been recorded yet.</summary>
    public bool IsEmpty => Step is null && Buffers.Count == 0;
}

/// <summary>Base class of the optimizers, as <c>torch.optim.Optimizer</c>.</summary>
public abstract class Optimizer
{
    private readonly List<ParamGroup> _groups = new();
    private readonly Dictionary<Tensor, ParamState> _state = new(ReferenceEqualityComparer.Instance);

    /// <summary>Validates the defaults; subclasses then add the first group.</summary>
    protected Optimizer(OptimizerOptions defaults)
    {
        Guard.NotNull(defaults, nameof(defaults));
        defaults.Validate();
        DefaultOptions = defaults;
    }

    /// <summary>The hyperparameters new groups start from, as <c>optimizer.defaults</c>.</summary>
    public OptimizerOptions DefaultOptions { get; }

    /// <summary>The parameter groups, as <c>optimizer.param_groups</c>.</summary>
    public IReadOnlyList<ParamGroup> ParamGroups => _groups;

    // PyTorch's `_opt_called`: set by the first Step after a scheduler was attached (StepsTracked), never reset; a
    // scheduler's first own step warns when it is still false (the pre-1.1 order, which skips the first rate).
    internal bool StepsTracked, StepCalledWhileTracked;

    /// <summary>The state of <paramref name="parameter"/> (created empty on first use), as <c>optimizer.state[p]</c>.</summary>
    public ParamState State(Tensor parameter)
    {
        if (!_state.TryGetValue(parameter, out var s)) _state[parameter] = s = new ParamState();
        return s;
    }

    /// <summary>
    /// Adds a group of parameters with <paramref name="options"/> (validated), as <c>add_param_group</c>.
    /// A parameter may belong to one group only and must be a floating point leaf.
    /// </summary>
    protected ParamGroup AddParamGroupCore(IEnumerable<Tensor> parameters, OptimizerOptions options)
    {
        Guard.NotNull(parameters, nameof(parameters));
        options.Validate();
        var list = parameters.ToList();
        if (list.Count == 0 && _groups.Count == 0) throw new ArgumentException("optimizer got an empty parameter list", nameof(parameters));
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var p in list)
        {
            Guard.NotNull(p, nameof(parameters));
            if (!p.IsLeaf) throw new ArgumentException("can't optimize a non-leaf Tensor", nameof(parameters));
            Guard.Floating(p, "parameter");
            if (!seen.Add(p)) throw new ArgumentException("optimizer contains a parameter group with duplicate parameters", nameof(parameters));
            foreach (var g in _groups)
                if (g.Params.Any(q => ReferenceEquals(q, p)))
                    throw new ArgumentException("some parameters appear in more than one parameter group", nameof(parameters));
        }
        var group = new ParamGroup(list.AsReadOnly(), options);
        _groups.Add(group);
        return group;
    }

    /// <summary>
    /// Clears the gradients of all parameters (to null by default), as <c>zero_grad(set_to_none)</c>. With
    /// <paramref name="setToNone"/>, the storage of a gradient nobody read through <see cref="Tensor.Grad"/> is kept
    /// for the next backward (set <c>p.Grad = null</c> to release it); a gradient a caller read is left to them.
    /// </summary>
    public void ZeroGrad(bool setToNone = true)
    {
        foreach (var g in _groups)
            foreach (var p in g.Params)
            {
                if (setToNone) p.DropGrad();
                else if (p.GradUnseen is { } grad) using (new NoGrad()) grad.Zero_();
            }
    }

    /// <summary>
    /// Performs one update of every parameter that has a gradient, as <c>optimizer.step(closure)</c>.
    /// The optional <paramref name="closure"/> re-evaluates the model and returns the loss (with grad enabled).
    /// </summary>
    public Tensor? Step(Func<Tensor>? closure = null)
    {
        if (StepsTracked) StepCalledWhileTracked = true;
        Tensor? loss = closure?.Invoke();
        // Every parameter is checked before any is updated, so that a step that throws changes nothing. (Index loops:
        // `foreach` over the IReadOnlyList would allocate an enumerator per group and walk, every step.)
        foreach (var g in _groups)
            for (int i = 0; i < g.Params.Count; i++)
            {
                var p = g.Params[i];
                if (p.GradUnseen is not { } grad)
                {
                    // PyTorch's .to(dtype) keeps each Parameter object; ours makes new ones (DECISIONS 1), so an
                    // optimizer created before it would skip every parameter, silently, step after step.
                    if (p.ReplacedInModule)
                        throw new InvalidOperationException(
                            $"a parameter of this optimizer (shape {Guard.ShapeText(p.ShapeRef)}, {Tensor.DTypeName(p.DType)}) is no longer its module's: the module replaced it (To(dtype), Double(), Float(), quantization, or a Weight assignment such as weight tying) after the optimizer was created, so it never gets a gradient. Create the optimizer after converting the module or tying its weights.");
                    continue;
                }
                if (!grad.SameShape(p))
                    throw new InvalidOperationException($"the gradient of a parameter has shape {Guard.ShapeText(grad.ShapeRef)} but the parameter has shape {Guard.ShapeText(p.ShapeRef)}");
                if (grad.DType != p.DType)
                    throw new InvalidOperationException($"the gradient of a parameter has dtype {Tensor.DTypeName(grad.DType)} but the parameter has dtype {Tensor.DTypeName(p.DType)}");
                if (!p.IsContiguous) throw new InvalidOperationException("the optimizer updates parameters in place and needs them contiguous");
            }
        using (new NoGrad())
            foreach (var g in _groups)
                for (int i = 0; i < g.Params.Count; i++)
                {
                    var p = g.Params[i];
                    if (p.GradUnseen is not { } grad) continue;
                    var gc = grad.Contiguous();
                    if (p.DType == DType.Float32) Update(g.Options, p, p.AsSpan<float>(), gc.AsSpan<float>(), State(p));
                    else Update(g.Options, p, p.AsSpan<double>(), gc.AsSpan<double>(), State(p));
                }
        return loss;
    }

    /// <summary>Updates one float32 parameter in place from its gradient (spans over contiguous storage).</summary>
    protected abstract void Update(OptimizerOptions options, Tensor parameter, Span<float> param, ReadOnlySpan<float> grad, ParamState state);

    /// <summary>Updates one float64 parameter in place from its gradient.</summary>
    protected abstract void Update(OptimizerOptions options, Tensor parameter, Span<double> param, ReadOnlySpan<double> grad, ParamState state);

    /// <summary>The buffer <paramref name="name"/> of <paramref name="state"/>, created as zeros shaped like the parameter.</summary>
    protected static Tensor Buffer(ParamState state, string name, Tensor parameter)
    {
        if (!state.Buffers.TryGetValue(name, out var b)) state.Buffers[name] = b = Tensor.ZerosLike(parameter).DetachFromDisposeScope();
        return b;
    }

    /// <summary>The state names this optimizer may keep for a parameter (checked on load).</summary>
    protected abstract IReadOnlyCollection<string> StateNames { get; }

    /// <summary>
    /// The state a parameter that has any must have in full under <paramref name="options"/> ("step" for the step
    /// count); a loaded state that lacks one is refused. None by default (SGD's momentum buffer starts on first use).
    /// </summary>
    protected virtual IEnumerable<string> RequiredState(OptimizerOptions options) => [];

    /// <summary>
    /// The optimizer's state as a flat map of tensors, as <c>optimizer.state_dict()</c> flattened:
    /// <c>state.{i}.{name}</c> (i = the parameter's index over all groups, PyTorch's numbering; <c>step</c> as an
    /// int64 scalar), <c>param_groups.{g}.params</c> (int64 indices) and <c>param_groups.{g}.{hyperparameter}</c>
    /// (float64; booleans as 0/1). Tensors are copies; the map can be written with <c>TensorIO.WriteTensors</c>.
    /// </summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var sd = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        int index = 0;
        for (int gi = 0; gi < _groups.Count; gi++)
        {
            var g = _groups[gi];
            var ids = new long[g.Params.Count];
            for (int k = 0; k < ids.Length; k++, index++)
            {
                ids[k] = index;
                if (!_state.TryGetValue(g.Params[k], out var st) || st.IsEmpty) continue;
                if (st.Step is { } step) sd[$"state.{index}.step"] = Tensor.Scalar(step, DType.Int64);
                foreach (var (name, buf) in st.Buffers) sd[$"state.{index}.{name}"] = buf.Detach().Clone();
            }
            sd[$"param_groups.{gi}.params"] = Tensor.FromArray(ids, ids.Length);
            foreach (var (name, value) in g.Options.ToValues())
                sd[$"param_groups.{gi}.{name}"] = value.Length == 1 ? Tensor.Scalar(value[0], DType.Float64) : Tensor.FromArray(value, value.Length);
            if (g.InitialLr is { } initialLr) sd[$"param_groups.{gi}.initial_lr"] = Tensor.Scalar(initialLr, DType.Float64);
        }
        return sd;
    }

    /// <summary>
    /// Restores hyperparameters and per-parameter state from <see cref="StateDict"/>, as
    /// <c>optimizer.load_state_dict</c>. The groups must have the same sizes; every state tensor must match its
    /// parameter's shape (floating state is converted to the parameter's dtype). Nothing changes when it throws.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        Guard.NotNull(stateDict, nameof(stateDict));
        var all = _groups.SelectMany(g => g.Params).ToList();
        int savedGroups = 0;
        while (stateDict.ContainsKey($"param_groups.{savedGroups}.params")) savedGroups++;
        if (savedGroups != _groups.Count)
            throw new ArgumentException($"loaded state dict has a different number of parameter groups (expected {_groups.Count}, got {savedGroups})", nameof(stateDict));
        var newOptions = new OptimizerOptions[_groups.Count];
        var newInitialLr = new double?[_groups.Count];
        for (int gi = 0; gi < _groups.Count; gi++)
        {
            var ids = stateDict[$"param_groups.{gi}.params"];
            if (ids.DType != DType.Int64 || ids.Dim != 1 || ids.Numel != _groups[gi].Params.Count)
                throw new ArgumentException($"loaded state dict contains a parameter group that doesn't match the size of optimizer's group (group {gi}: expected {_groups[gi].Params.Count} parameters, got {(ids.Dim == 1 ? ids.Numel : -1)})", nameof(stateDict));
            var opts = _groups[gi].Options.Clone();
            var counts = opts.ToValues().ToDictionary(v => v.Name, v => v.Value.Length, StringComparer.Ordinal);
            string prefix = $"param_groups.{gi}.";
            foreach (var (key, t) in stateDict)
            {
                if (!key.StartsWith(prefix, StringComparison.Ordinal) || key == prefix + "params") continue;
                string name = key[prefix.Length..];
                if (name == "initial_lr")
                {
                    // A scheduler's base rate (PyTorch keeps it in the group's dict, so it travels with the optimizer).
                    double v = t.Numel == 1 ? t.ToDouble() : double.NaN;
                    if (!(v >= 0 && double.IsFinite(v)))
                        throw new ArgumentException($"{key}: expected one finite learning rate >= 0, got {(t.Numel == 1 ? Nn.PyFormat.Float(v) : "shape " + Guard.ShapeText(t.ShapeRef))}", nameof(stateDict));
                    newInitialLr[gi] = v;
                    continue;
                }
                if (!counts.TryGetValue(name, out int count))
                    throw new ArgumentException($"loaded state dict has an unknown hyperparameter '{name}' in parameter group {gi}", nameof(stateDict));
                var values = t.Double().ToArray<double>();
                if (values.Length != count)
                    throw new ArgumentException($"loaded state dict: {OptimizerOptions.CountMessage(name, count, values.Length)} in parameter group {gi}", nameof(stateDict));
                opts.TrySetValue(name, values);
            }
            opts.Validate();
            newOptions[gi] = opts;
        }
        var newState = new Dictionary<Tensor, ParamState>(ReferenceEqualityComparer.Instance);
        foreach (var (key, t) in stateDict)
        {
            if (!key.StartsWith("state.", StringComparison.Ordinal))
            {
                // param_groups.{g}.*: a group past the counted ones (after a gap in the numbering) is not ignored.
                if (!key.StartsWith("param_groups.", StringComparison.Ordinal)) Unknown(key);
                var g = key["param_groups.".Length..];
                int gdot = g.IndexOf('.');
                if (gdot <= 0 || !TryIndex(g[..gdot], out int gi) || gi >= _groups.Count) Unknown(key);
                continue;
            }
            var rest = key["state.".Length..];
            int dot = rest.IndexOf('.');
            if (dot <= 0 || !TryIndex(rest[..dot], out int index)) Unknown(key);
            string name = rest[(dot + 1)..];
            if (index >= all.Count) throw new ArgumentException($"loaded state dict has state for parameter {index}, but the optimizer has {all.Count} parameters", nameof(stateDict));
            var p = all[index];
            if (!newState.TryGetValue(p, out var st)) newState[p] = st = new ParamState();
            if (name == "step")
            {
                if (t.Numel != 1) throw new ArgumentException($"{key}: expected a scalar step count, got shape {Guard.ShapeText(t.ShapeRef)}", nameof(stateDict));
                double step = t.ToDouble();
                if (!(step >= 0 && step <= long.MaxValue && step == Math.Floor(step)))
                    throw new ArgumentException($"{key}: expected a whole number of steps >= 0, got {Nn.PyFormat.Float(step)}", nameof(stateDict));
                st.Step = (long)step;
                continue;
            }
            if (!StateNames.Contains(name)) throw new ArgumentException($"{key}: '{name}' is not state of {GetType().Name} (expected one of {string.Join(", ", StateNames)})", nameof(stateDict));
            if (!t.SameShape(p))
                throw new ArgumentException($"{key}: shape {Guard.ShapeText(t.ShapeRef)} does not match the parameter's shape {Guard.ShapeText(p.ShapeRef)}", nameof(stateDict));
            if (!t.IsFloatingPoint) throw new ArgumentException($"{key}: expected a floating point tensor, got {Tensor.DTypeName(t.DType)}", nameof(stateDict));
            var copy = Tensor.NewZeroed(p.DType, p.Shape);
            using (new NoGrad()) copy.Copy_(t.Detach());
            st.Buffers[name] = copy.DetachFromDisposeScope();
        }
        // A parameter's state is whole or absent: Adam's moments without their step (or the step without them) would
        // restart the bias correction against old moments (PyTorch: KeyError at the next step).
        for (int gi = 0, index = 0; gi < _groups.Count; gi++)
            foreach (var p in _groups[gi].Params)
            {
                if (newState.TryGetValue(p, out var st) && (st.Step is not null || st.Buffers.Count > 0))
                    foreach (var name in RequiredState(newOptions[gi]))
                        if (name == "step" ? st.Step is null : !st.Buffers.ContainsKey(name))
                            throw new ArgumentException($"loaded state dict: the state of parameter {index} has no '{name}' ({GetType().Name} with these options keeps {string.Join(", ", RequiredState(newOptions[gi]))})", nameof(stateDict));
                index++;
            }
        for (int gi = 0; gi < _groups.Count; gi++)
        {
            foreach (var (name, value) in newOptions[gi].ToValues()) _groups[gi].Options.TrySetValue(name, value);
            // As PyTorch's load_state_dict, which replaces each group's dict: a saved state without initial_lr clears it.
            _groups[gi].InitialLr = newInitialLr[gi];
        }
        _state.Clear();
        foreach (var (p, st) in newState) _state[p] = st;

        void Unknown(string key) => throw new ArgumentException($"loaded state dict has an unexpected key '{key}'", nameof(stateDict));

        // A canonical index: "1", not "01" (two spellings of one index would both load, the last one winning).
        static bool TryIndex(string text, out int value) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value.ToString(CultureInfo.InvariantCulture) == text;
    }
}

/// <summary>An optimizer with typed hyperparameters <typeparamref name="TOptions"/>.</summary>
public abstract class Optimizer<TOptions> : Optimizer where TOptions : OptimizerOptions
{
    /// <summary>Validates <paramref name="defaults"/> and adds <paramref name="parameters"/> as the first group.</summary>
    protected Optimizer(IEnumerable<Tensor> parameters, TOptions defaults) : base(defaults)
    {
        AddParamGroupCore(parameters, defaults.Clone());
    }

    /// <summary>The hyperparameters new groups start from.</summary>
    public TOptions Defaults => (TOptions)DefaultOptions;

    /// <summary>
    /// Adds a parameter group starting from a copy of <see cref="Defaults"/>, changed by <paramref name="configure"/>,
    /// as <c>add_param_group({'params': ..., 'lr': ...})</c>.
    /// </summary>
    public ParamGroup AddParamGroup(IEnumerable<Tensor> parameters, Action<TOptions>? configure = null)
    {
        var o = (TOptions)Defaults.Clone();
        configure?.Invoke(o);
        return AddParamGroupCore(parameters, o);
    }

    /// <summary>The typed hyperparameters of group <paramref name="index"/>.</summary>
    public TOptions GroupOptions(int index) => (TOptions)ParamGroups[index].Options;

    /// <inheritdoc/>
    protected sealed override void Update(OptimizerOptions options, Tensor parameter, Span<float> param, ReadOnlySpan<float> grad, ParamState state)
        => UpdateCore((TOptions)options, parameter, param, grad, state);

    /// <inheritdoc/>
    protected sealed override void Update(OptimizerOptions options, Tensor parameter, Span<double> param, ReadOnlySpan<double> grad, ParamState state)
        => UpdateCore((TOptions)options, parameter, param, grad, state);

    /// <summary>Updates one parameter; <typeparamref name="T"/> is float or double and all arithmetic is done in it, as PyTorch.</summary>
    protected abstract void UpdateCore<T>(TOptions options, Tensor parameter, Span<T> param, ReadOnlySpan<T> grad, ParamState state)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>;
}
