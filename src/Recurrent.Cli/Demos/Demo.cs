// The demos of `recurrent demo`: the tutorial programs ported in samples/Recurrent.Samples (its Demos registry),
// seen through one small interface so that a demo from elsewhere plugs in the same way.
using Recurrent.Samples;

namespace Recurrent.Cli.Demos;

/// <summary>One runnable demo.</summary>
public interface IDemo
{
    /// <summary>The name given to <c>recurrent demo NAME</c>.</summary>
    string Name { get; }

    /// <summary>One line saying what it shows.</summary>
    string Description { get; }

    /// <summary>Runs the demo, printing to <paramref name="ctx"/>; returns the exit code.</summary>
    int Run(CliContext ctx);
}

/// <summary>The available demos.</summary>
public static class DemoRegistry
{
    /// <summary>Every demo, in listing order: the ported tutorial samples.</summary>
    public static IReadOnlyList<IDemo> All { get; } = Samples.Demos.All.Select(d => (IDemo)new SampleDemo(d)).ToArray();

    /// <summary>The demo called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static IDemo? Find(string name) => All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));

    private sealed class SampleDemo(Samples.Demos.Demo demo) : IDemo
    {
        public string Name => demo.Name;

        public string Description => demo.Description;

        public int Run(CliContext ctx)
        {
            demo.Run(ctx.Out);
            ctx.Out.Flush();
            return ExitCodes.Success;
        }
    }
}
