// Containers: Sequential (a chain of Tensor -> Tensor modules) and ModuleList.
namespace Recurrent.Nn;

/// <summary>Runs its modules in order, as <c>nn.Sequential</c>. Children are named 0, 1, 2, ...</summary>
public sealed class Sequential : Module<Tensor, Tensor>
{
    private readonly List<Module<Tensor, Tensor>> _layers = new();

    /// <summary>Chains <paramref name="layers"/>, registered as children <c>0</c>, <c>1</c>, ...</summary>
    public Sequential(params Module<Tensor, Tensor>[] layers)
    {
        foreach (var l in layers) Append(l);
    }

    /// <summary>Adds a module at the end, as <c>append</c>.</summary>
    public Sequential Append(Module<Tensor, Tensor> layer)
    {
        RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
        _layers.Add(layer);
        return this;
    }

    /// <summary>The number of modules, as <c>len(seq)</c>.</summary>
    public int Count => _layers.Count;
    /// <summary>Module <paramref name="i"/>, as <c>seq[i]</c>.</summary>
    public Module<Tensor, Tensor> this[int i] => _layers[i];

    /// <summary>Feeds <paramref name="input"/> through every module in order and returns the last output.</summary>
    public override Tensor Forward(Tensor input)
    {
        var x = input;
        foreach (var l in _layers) x = l.Forward(x);
        return x;
    }
}

/// <summary>An indexed list of submodules, as <c>nn.ModuleList</c>.</summary>
public sealed class ModuleList : Module, IReadOnlyList<Module>
{
    private readonly List<Module> _items = new();

    /// <summary>Holds <paramref name="modules"/>, registered as children <c>0</c>, <c>1</c>, ...</summary>
    public ModuleList(params Module[] modules) { foreach (var m in modules) Append(m); }

    /// <summary>Adds a module at the end, as <c>append</c>.</summary>
    public ModuleList Append(Module m)
    {
        RegisterModule(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), m);
        _items.Add(m);
        return this;
    }

    /// <summary>Module <paramref name="index"/>, as <c>modules[index]</c>.</summary>
    public Module this[int index] => _items[index];
    /// <summary>The number of modules, as <c>len(modules)</c>.</summary>
    public int Count => _items.Count;
    /// <summary>The modules in order.</summary>
    public IEnumerator<Module> GetEnumerator() => _items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
