// Module: the base of every layer. Owns registered parameters, buffers and submodules in
// registration order, PyTorch's dotted names, state dicts with strict loading, train/eval
// mode, dtype conversion and PyTorch's printed form.
using System.Text;

namespace Recurrent.Nn;

/// <summary>Result of <see cref="Module.LoadStateDict"/>: keys the module expected but did not get, and keys it did not know.</summary>
public sealed record LoadStateDictResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>Base class of all layers, as <c>torch.nn.Module</c>.</summary>
public abstract class Module
{
    private readonly List<string> _paramOrder = new();
    private readonly Dictionary<string, Tensor?> _params = new();
    private readonly List<string> _bufferOrder = new();
    private readonly Dictionary<string, Tensor?> _buffers = new();
    private readonly List<string> _moduleOrder = new();
    private readonly Dictionary<string, Module> _modules = new();

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>The class name PyTorch prints (e.g. <c>LSTM</c>, <c>Linear</c>).</summary>
    public virtual string TypeName => GetType().Name;

    /// <summary>Registers (or replaces) a parameter; null registers a missing one (like <c>bias=False</c>).</summary>
    protected Tensor? RegisterParameter(string name, Tensor? value)
    {
        CheckName(name);
        CheckFree(name, "parameter");
        if (value is not null)
        {
            Guard.Floating(value, name);
            if (!value.IsLeaf) throw new ArgumentException($"parameter '{name}' must be a leaf tensor (use Detach())", nameof(value));
            value.RequiresGrad = true;
            value.DetachFromDisposeScope();
        }
        Own(value);
        if (!_params.ContainsKey(name)) _paramOrder.Add(name);
        else Disown(_params[name]);
        _params[name] = value;
        return value;
    }

    /// <summary>Registers a buffer (state that is saved but not trained).</summary>
    protected Tensor? RegisterBuffer(string name, Tensor? value)
    {
        CheckName(name);
        CheckFree(name, "buffer");
        if (!_buffers.ContainsKey(name)) _bufferOrder.Add(name);
        _buffers[name] = value?.DetachFromDisposeScope();
        return value;
    }

    /// <summary>Registers a submodule under <paramref name="name"/>.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        CheckFree(name, "module");
        Guard.NotNull(module, nameof(module));
        if (!_modules.ContainsKey(name)) _moduleOrder.Add(name);
        _modules[name] = module;
        return module;
    }

    private static void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("name can't be empty string \"\"", nameof(name));
        if (name.Contains('.')) throw new ArgumentException($"name can't contain \".\", got \"{name}\"", nameof(name));
    }

    // One name, one kind: a parameter, a buffer and a submodule share the state dict's keys (PyTorch: KeyError
    // "attribute 'w' already exists"). Registering the same kind again replaces it, as PyTorch's register_* do.
    private void CheckFree(string name, string kind)
    {
        string? taken = kind != "parameter" && _params.ContainsKey(name) ? "parameter"
            : kind != "buffer" && _buffers.ContainsKey(name) ? "buffer"
            : kind != "module" && _modules.ContainsKey(name) ? "submodule" : null;
        if (taken is not null)
            throw new ArgumentException($"attribute '{name}' already exists: {TypeName} has a {taken} named '{name}', so it cannot also register a {kind} under that name", nameof(name));
    }

    /// <summary>The parameter registered under <paramref name="name"/> (null if registered as missing).</summary>
    protected internal Tensor? Param(string name) =>
        _params.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"'{TypeName}' object has no parameter '{name}'");

    /// <summary>The buffer registered under <paramref name="name"/>.</summary>
    protected internal Tensor? Buffer(string name) =>
        _buffers.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"'{TypeName}' object has no buffer '{name}'");

    /// <summary>
    /// The parameter at a dotted name (<c>weight_ih_l0</c>, <c>rnn.bias_hh_l1_reverse</c>), as
    /// <c>model.get_parameter(name)</c> / <c>model.rnn.weight_ih_l0</c>. Reads one entry; no state dict is built.
    /// </summary>
    /// <exception cref="ArgumentException">No submodule or parameter has that name.</exception>
    public Tensor GetParameter(string name)
    {
        var (owner, leaf) = Resolve(name);
        if (!owner._params.TryGetValue(leaf, out var p) || p is null)
            throw new ArgumentException($"{owner.TypeName} has no parameter `{leaf}` (looking up \"{name}\"); its parameters are: {string.Join(", ", owner._paramOrder.Where(n => owner._params[n] is not null))}", nameof(name));
        return p;
    }

    /// <summary>
    /// Copies <paramref name="value"/> into the parameter at a dotted name, as
    /// <c>with torch.no_grad(): model.get_parameter(name).copy_(value)</c> (or PyTorch's
    /// <c>rnn.weight_ih_l0.data = value</c>). The parameter object stays the same (optimizers and a recurrent
    /// module's flat buffer keep working); the value is converted to its dtype.
    /// </summary>
    /// <exception cref="ArgumentException">No such parameter, or the shape differs (expected and actual named).</exception>
    public void SetParameter(string name, Tensor value)
    {
        Guard.NotNull(value, nameof(value));
        var p = GetParameter(name);
        if (!value.SameShape(p))
            throw new ArgumentException($"SetParameter(\"{name}\"): size mismatch. Expected shape {Guard.ShapeText(p.ShapeRef)}, got {Guard.ShapeText(value.ShapeRef)}", nameof(value));
        using (new NoGrad()) p.Copy_(value.Detach());
    }

    // The module owning a dotted name and the name's last part.
    private (Module Owner, string Leaf) Resolve(string name, string argument = "name")
    {
        Guard.NotNull(name, argument);
        var parts = name.Split('.');
        var m = this;
        for (int i = 0; i < parts.Length - 1; i++)
        {
            var parent = m;
            if (!m._modules.TryGetValue(parts[i], out m!))
                throw new ArgumentException($"{TypeName} has no submodule `{string.Join(".", parts[..(i + 1)])}` (looking up \"{name}\"); {(i == 0 ? "its" : $"`{string.Join(".", parts[..i])}`'s")} submodules are: {parent.SubmoduleNames()}", argument);
        }
        return (m, parts[^1]);
    }

    /// <summary>Direct parameters of this module in registration order.</summary>
    protected IEnumerable<(string Name, Tensor? Value)> OwnParameters() => _paramOrder.Select(n => (n, _params[n]));

    /// <summary>Replaces the tensor of an existing parameter (used by FlattenParameters and dtype conversion).</summary>
    protected internal void ReplaceParameter(string name, Tensor value)
    {
        if (!_params.ContainsKey(name)) throw new KeyNotFoundException($"'{TypeName}' object has no parameter '{name}'");
        // The new tensor takes the old one's requires_grad: a frozen weight stays frozen through FlattenParameters and
        // To(dtype), as PyTorch keeps the flag of the Parameter objects it converts.
        value.RequiresGrad = _params[name]?.RequiresGrad ?? true;
        Own(value);
        Disown(_params[name]);
        _params[name] = value.DetachFromDisposeScope();
    }

    /// <summary>
    /// Makes <paramref name="value"/> itself the parameter <paramref name="name"/>, not a copy of it, as PyTorch's
    /// <c>decoder.weight = encoder.weight</c>: both modules then read and train the one tensor (weight tying), and
    /// <see cref="Parameters"/> lists it once. Another module's parameter keeps its <see cref="Tensor.RequiresGrad"/> (a
    /// frozen weight stays frozen); any other tensor becomes a parameter as with <c>nn.Parameter(t)</c> (RequiresGrad
    /// true). An optimizer created before holds the replaced tensor: its <c>Step</c> reports that.
    /// </summary>
    /// <param name="name">A registered parameter of this module.</param>
    /// <param name="value">A floating-point leaf tensor of the parameter's shape and dtype that owns its storage.</param>
    /// <param name="property">The public name the caller set (<c>Linear.Weight</c>), for the messages.</param>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not a floating-point leaf, is a view of a larger
    /// storage (a slice, a transpose, a recurrent module's flat weights), or differs in shape or dtype.</exception>
    /// <exception cref="KeyNotFoundException">No parameter <paramref name="name"/> is registered.</exception>
    protected void AssignParameter(string name, Tensor value, string property)
    {
        Guard.NotNull(value, nameof(value));
        var old = Param(name);
        Guard.Floating(value, nameof(value));
        if (!value.IsLeaf)
            throw new ArgumentException($"{property} must be assigned a leaf tensor (another module's parameter, or a tensor made with Detach()), got the result of an operation (grad_fn {value.GradFn!.Name})", nameof(value));
        if (!value.OwnsStorage)
            throw new ArgumentException($"{property} must be assigned a tensor that is all of its storage, got a view of a larger one (a slice, a transpose, or a recurrent module's flat weights); assign value.Clone() instead", nameof(value));
        if (old is not null && !value.SameShape(old))
            throw new ArgumentException($"{property}: expected a tensor of shape {Guard.ShapeText(old.ShapeRef)}, got {Guard.ShapeText(value.ShapeRef)}", nameof(value));
        if (old is not null && value.DType != old.DType)
            throw new ArgumentException($"{property}: expected a tensor of dtype {Tensor.DTypeName(old.DType)}, got {Tensor.DTypeName(value.DType)}", nameof(value));
        if (value.ModuleOwners == 0) value.RequiresGrad = true;
        Own(value);
        Disown(old);
        _params[name] = value.DetachFromDisposeScope();
    }

    // A registration of a parameter tensor: counted per module that holds it (a tied weight is held twice), and in use
    // again if it was replaced before.
    private static void Own(Tensor? value)
    {
        if (value is null) return;
        value.ModuleOwners++;
        value.ReplacedInModule = false;
    }

    // A registration that stops holding a parameter tensor: once no module holds it, an optimizer still holding it would
    // step nothing (it gets no gradient), so Optimizer.Step reports it instead of training silently without it. (A
    // module dropped by its owner still counts: the report is only ever missed, never made for a tensor in use.)
    private static void Disown(Tensor? old)
    {
        if (old is null || --old.ModuleOwners > 0) return;
        old.ModuleOwners = 0;
        old.ReplacedInModule = true;
    }

    /// <summary>Removes a parameter (a weight dynamic quantization replaced by an int8 copy the module keeps itself).</summary>
    internal void RemoveParameter(string name)
    {
        if (!_params.Remove(name, out var old)) throw new KeyNotFoundException($"'{TypeName}' object has no parameter '{name}'");
        if (old is not null) old.ModuleOwners--;
        _paramOrder.Remove(name);
    }

    /// <summary>True when a parameter of that name is registered (possibly as missing, like <c>bias=False</c>).</summary>
    internal bool HasParameter(string name) => _params.ContainsKey(name);

    /// <summary>Called after parameters were replaced or reloaded (e.g. to re-flatten weights).</summary>
    protected virtual void OnParametersChanged() { }

    /// <summary>Submodules in registration order, each once (a module registered under two names at its first), as
    /// <c>named_children()</c>.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren()
    {
        HashSet<Module>? seen = _moduleOrder.Count > 1 ? new(ReferenceEqualityComparer.Instance) : null;
        foreach (var n in _moduleOrder)
            if (seen is null || seen.Add(_modules[n])) yield return (n, _modules[n]);
    }

    /// <summary>Submodules in registration order, as <c>children()</c>.</summary>
    public IEnumerable<Module> Children() => NamedChildren().Select(c => c.Module);

    /// <summary>This module and all descendants with dotted names, each once (a module registered under two names, or
    /// in two places, at its first), as <c>named_modules()</c>.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        var seen = new HashSet<Module>(ReferenceEqualityComparer.Instance);
        foreach (var x in Walk(this, prefix, seen)) yield return x;
    }

    /// <summary>Every registration of every descendant, a module registered twice under each of its names (the keys a
    /// state dict has: quantized files name their int8 weights by them).</summary>
    internal IEnumerable<(string Name, Module Module)> NamedModulesEveryRegistration(string prefix = "") => Walk(this, prefix, null);

    private static IEnumerable<(string, Module)> Walk(Module m, string path, HashSet<Module>? seen)
    {
        if (seen is not null && !seen.Add(m)) yield break;
        yield return (path, m);
        foreach (var n in m._moduleOrder)
            foreach (var x in Walk(m._modules[n], path.Length == 0 ? n : path + "." + n, seen)) yield return x;
    }

    /// <summary>This module and all descendants, each once, as <c>modules()</c>.</summary>
    public IEnumerable<Module> Modules() => NamedModules().Select(m => m.Module);

    /// <summary>
    /// The submodule at a dotted name (<c>encoder.rnn</c>; "" is this module), as <c>get_submodule(target)</c>.
    /// </summary>
    /// <exception cref="ArgumentException">No submodule has that name (the missing part is named).</exception>
    public Module GetSubmodule(string target)
    {
        Guard.NotNull(target, nameof(target));
        if (target.Length == 0) return this;
        var (owner, leaf) = Resolve(target, nameof(target));
        return owner._modules.TryGetValue(leaf, out var m)
            ? m
            : throw new ArgumentException($"{owner.TypeName} has no submodule `{leaf}` (looking up \"{target}\"); its submodules are: {owner.SubmoduleNames()}", nameof(target));
    }

    // The names of the direct submodules, for messages.
    private string SubmoduleNames() => _moduleOrder.Count == 0 ? "none" : string.Join(", ", _moduleOrder);

    /// <summary>
    /// Calls <paramref name="fn"/> on every submodule, depth first, then on this module, as <c>apply(fn)</c>: the usual
    /// way to initialise a model's weights by module type. Returns this module.
    /// </summary>
    /// <example><code>
    /// model.Apply(m =&gt; { if (m is Linear l) Init.XavierUniform_(l.Weight); });
    /// </code></example>
    public Module Apply(Action<Module> fn)
    {
        Guard.NotNull(fn, nameof(fn));
        foreach (var child in Children().ToList()) child.Apply(fn);
        fn(this);
        return this;
    }

    /// <summary>
    /// Sets <see cref="Tensor.RequiresGrad"/> on every parameter, as <c>requires_grad_(requires_grad)</c>: with false the
    /// module is frozen (its parameters get no gradient and an optimizer leaves them alone). Returns this module.
    /// </summary>
    public Module RequiresGrad_(bool requiresGrad = true)
    {
        foreach (var p in Parameters()) p.RequiresGrad = requiresGrad;
        return this;
    }

    /// <summary>All parameters with PyTorch's dotted names (e.g. <c>rnn.weight_ih_l0</c>), as <c>named_parameters()</c>.</summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters(string prefix = "", bool recurse = true)
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (mp, m) in recurse ? NamedModules(prefix) : new[] { (prefix, this) })
            foreach (var n in m._paramOrder)
                if (m._params[n] is { } p && seen.Add(p))
                    yield return (mp.Length == 0 ? n : mp + "." + n, p);
    }

    /// <summary>All parameters, as <c>parameters()</c>.</summary>
    public IEnumerable<Tensor> Parameters(bool recurse = true) => NamedParameters("", recurse).Select(p => p.Parameter);

    /// <summary>All buffers, as <c>buffers()</c>.</summary>
    public IEnumerable<Tensor> Buffers() => NamedBuffers().Select(b => b.Buffer);

    /// <summary>All buffers with dotted names, each tensor once, as <c>named_buffers()</c>.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers()
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (mp, m) in NamedModules())
            foreach (var n in m._bufferOrder)
                if (m._buffers[n] is { } b && seen.Add(b)) yield return (mp.Length == 0 ? n : mp + "." + n, b);
    }

    /// <summary>
    /// Parameters and buffers by PyTorch's state_dict keys, in PyTorch's order (each module's
    /// parameters, then its buffers, then its children). Values are detached views.
    /// </summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var sd = new Dictionary<string, Tensor>();
        Collect(this, "", sd);
        return sd;

        static void Collect(Module m, string prefix, Dictionary<string, Tensor> sd)
        {
            foreach (var n in m._paramOrder) if (m._params[n] is { } p) sd[prefix + n] = p.Detach();
            foreach (var n in m._bufferOrder) if (m._buffers[n] is { } b) sd[prefix + n] = b.Detach();
            foreach (var n in m._moduleOrder) Collect(m._modules[n], prefix + n + ".", sd);
        }
    }

    /// <summary>
    /// Copies values from a state dict into this module's parameters and buffers, as
    /// <c>load_state_dict(state_dict, strict)</c>. Shape mismatches always raise; with
    /// <paramref name="strict"/>, missing and unexpected keys raise too (nothing is changed then).
    /// </summary>
    public LoadStateDictResult LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true)
    {
        Guard.NotNull(stateDict, nameof(stateDict));
        var errors = CheckStateDict(stateDict, strict, null, out var targets, out var order, out var missing, out var unexpected);
        if (errors.Count > 0)
            throw new InvalidOperationException($"Error(s) in loading state_dict for {TypeName}:\n\t" + string.Join("\n\t", errors));
        using (new NoGrad())
            foreach (var k in order)
                if (stateDict.TryGetValue(k, out var src)) targets[k].Copy_(src);
        foreach (var (_, m) in NamedModules()) m.OnParametersChanged();
        return new LoadStateDictResult(missing, unexpected);
    }

    /// <summary>
    /// The errors <see cref="LoadStateDict"/> would raise (empty: it would succeed), changing nothing. Keys in
    /// <paramref name="leaving"/> are left out of the module's side, as if those parameters were already removed
    /// (int8 weights about to replace them: Quantizer.LoadQuantized checks its float remainder before installing any).
    /// </summary>
    internal List<string> CheckStateDict(IReadOnlyDictionary<string, Tensor> stateDict, bool strict, IReadOnlySet<string>? leaving,
        out Dictionary<string, Tensor> targets, out List<string> order, out List<string> missing, out List<string> unexpected)
    {
        targets = new Dictionary<string, Tensor>();
        order = new List<string>();
        Collect(this, "", targets, order);
        if (leaving is not null)
        {
            order.RemoveAll(leaving.Contains);
            foreach (var k in leaving) targets.Remove(k);
        }
        var t = targets;
        missing = order.Where(k => !stateDict.ContainsKey(k)).ToList();
        unexpected = stateDict.Keys.Where(k => !t.ContainsKey(k)).ToList();
        var errors = new List<string>();
        if (strict && unexpected.Count > 0)
            errors.Add("Unexpected key(s) in state_dict: " + string.Join(", ", unexpected.Select(k => $"\"{k}\"")) + ". ");
        if (strict && missing.Count > 0)
            errors.Add("Missing key(s) in state_dict: " + string.Join(", ", missing.Select(k => $"\"{k}\"")) + ". ");
        foreach (var k in order)
        {
            if (!stateDict.TryGetValue(k, out var src)) continue;
            var dst = targets[k];
            if (src is null) { errors.Add($"value for {k} is null"); continue; }
            // Another dtype is converted (PyTorch's param.copy_(input_param)), an int64 tensor into a float one included.
            if (!src.SameShape(dst))
                errors.Add($"size mismatch for {k}: copying a param with shape torch.Size({Guard.ShapeText(src.ShapeRef)}) from checkpoint, the shape in current model is torch.Size({Guard.ShapeText(dst.ShapeRef)}).");
        }
        return errors;

        static void Collect(Module m, string prefix, Dictionary<string, Tensor> t, List<string> order)
        {
            foreach (var n in m._paramOrder) if (m._params[n] is { } p) { t[prefix + n] = p; order.Add(prefix + n); }
            foreach (var n in m._bufferOrder) if (m._buffers[n] is { } b) { t[prefix + n] = b; order.Add(prefix + n); }
            foreach (var n in m._moduleOrder) Collect(m._modules[n], prefix + n + ".", t, order);
        }
    }

    /// <summary>Sets training mode on this module and all descendants, as <c>train(mode)</c>.</summary>
    public Module Train(bool mode = true)
    {
        foreach (var (_, m) in NamedModules()) m.Training = mode;
        return this;
    }

    /// <summary>Sets evaluation mode (dropout off), as <c>eval()</c>.</summary>
    public Module Eval() => Train(false);

    /// <summary>
    /// Clears every parameter's gradient (set to null, PyTorch's default), as <c>zero_grad()</c>. The storage of a
    /// gradient nobody read through <see cref="Tensor.Grad"/> is kept for the next backward (set <c>p.Grad = null</c>
    /// to release it); a gradient a caller read is left to them.
    /// </summary>
    public void ZeroGrad(bool setToNone = true)
    {
        foreach (var p in Parameters())
        {
            if (setToNone) p.DropGrad();
            else p.GradUnseen?.Zero_();
        }
    }

    /// <summary>
    /// Converts every parameter and floating buffer to <paramref name="dtype"/>, as <c>module.to(dtype)</c>. The
    /// converted parameters are new tensors (PyTorch keeps the Parameter objects): create the optimizer after this call;
    /// one created before it throws at <c>Step</c>, since the tensors it holds no longer get gradients.
    /// </summary>
    public Module To(DType dtype)
    {
        if (dtype == DType.Int64) throw new ArgumentException("nn.Module.to only accepts floating point dtypes, but got torch.int64", nameof(dtype));
        foreach (var (_, m) in NamedModules())
            if (m is Quantization.IDynamicQuantizable { IsQuantized: true } && dtype != DType.Float32)
                throw Quantization.QuantizedWeights.InferenceOnly(m.TypeName, $"To({dtype}) would convert float weights it no longer has");
        // Each tensor is converted once: a weight registered in two modules (tied embedding and output weights) stays
        // one tensor, as PyTorch's param.data = fn(param) keeps the tie.
        var converted = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (_, m) in NamedModules())
        {
            foreach (var n in m._paramOrder.ToList())
                if (m._params[n] is { } p && p.DType != dtype)
                {
                    if (!converted.TryGetValue(p, out var c))
                    {
                        using (new NoGrad()) c = p.Detach().To(dtype);
                        c = c.RequiresGrad_(p.RequiresGrad).DetachFromDisposeScope();
                        c.KeepGradHooksOf(p);   // PyTorch converts param.data in place: its hooks stay
                        converted[p] = c;
                    }
                    Own(c);
                    Disown(p);
                    m._params[n] = c;
                }
            foreach (var n in m._bufferOrder.ToList())
                if (m._buffers[n] is { } b && b.IsFloatingPoint && b.DType != dtype)
                {
                    if (!converted.TryGetValue(b, out var c)) converted[b] = c = b.To(dtype).DetachFromDisposeScope();
                    m._buffers[n] = c;
                }
            m.OnParametersChanged();
        }
        return this;
    }

    /// <summary>Converts to float64, as <c>module.double()</c>.</summary>
    public Module Double() => To(DType.Float64);
    /// <summary>Converts to float32, as <c>module.float()</c>.</summary>
    public Module Float() => To(DType.Float32);

    /// <summary>The arguments PyTorch prints inside the parentheses, e.g. <c>in_features=2, out_features=3, bias=True</c>.</summary>
    public virtual string ExtraRepr() => "";

    /// <summary>PyTorch's printed form of the module tree.</summary>
    public override string ToString()
    {
        // Every registration, a module registered twice included (PyTorch's repr walks _modules as it is).
        var children = _moduleOrder.Select(n => (n, _modules[n])).ToList();
        if (children.Count == 0) return $"{TypeName}({ExtraRepr()})";
        var sb = new StringBuilder(TypeName).Append('(');
        var extra = ExtraRepr();
        if (extra.Length > 0) sb.Append('\n').Append("  ").Append(extra);
        sb.Append('\n');
        foreach (var (n, m) in children)
            sb.Append("  (").Append(n).Append("): ").Append(m.ToString().Replace("\n", "\n  ")).Append('\n');
        return sb.Append(')').ToString();
    }

    internal static string PyBool(bool b) => b ? "True" : "False";
}

/// <summary>A module with one forward signature, callable as a function.</summary>
public abstract class Module<TIn, TOut> : Module
{
    /// <summary>Runs the module, as <c>module(input)</c>.</summary>
    public abstract TOut Forward(TIn input);

    /// <summary>Same as <see cref="Forward"/>.</summary>
    public TOut Call(TIn input) => Forward(input);
}
