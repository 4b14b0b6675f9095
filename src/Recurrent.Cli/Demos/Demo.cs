// The demos of `recurrent demo`: small, self-checking programs from the tutorials. A demo is one IDemo in
// DemoRegistry.All; ported tutorial samples plug in the same way.
namespace Recurrent.Cli.Demos;

/// <summary>One runnable demo.</summary>
public interface IDemo
{
    /// <summary>The name given to <c>recurrent demo NAME</c>.</summary>
    string Name { get; }

    /// <summary>One line saying what it shows.</summary>
    string Description { get; }

    /// <summary>Runs the demo, printing to <paramref name="ctx"/>; returns the exit code (non-zero if a check failed).</summary>
    int Run(CliContext ctx);
}

/// <summary>The available demos.</summary>
public static class DemoRegistry
{
    /// <summary>Every demo, in listing order.</summary>
    public static IReadOnlyList<IDemo> All { get; } = [new ReluRnnDemo()];

    /// <summary>The demo called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static IDemo? Find(string name) => All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));
}
