// `recurrent demo [NAME]`: lists the demos, or runs one.
using System.CommandLine;
using Recurrent.Cli.Demos;

namespace Recurrent.Cli.Commands;

/// <summary>The <c>demo</c> command.</summary>
public static class DemoCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext ctx)
    {
        var name = new Argument<string?>("NAME") { Description = "The demo to run; without it, list the demos.", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("demo", "Run a tutorial demo, or list them.") { name };
        cmd.SetAction(pr => Run(ctx, pr.GetValue(name)));
        return cmd;
    }

    /// <summary>Runs the command.</summary>
    public static int Run(CliContext ctx, string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            ctx.Out.WriteLine("demos (run one with: recurrent demo NAME):");
            int width = DemoRegistry.All.Max(d => d.Name.Length);
            foreach (IDemo d in DemoRegistry.All) ctx.Out.WriteLine($"  {d.Name.PadRight(width)}  {d.Description}");
            return ExitCodes.Success;
        }
        IDemo demo = DemoRegistry.Find(name)
            ?? throw new UsageException($"there is no demo '{name}'; available: {string.Join(", ", DemoRegistry.All.Select(d => d.Name))}.");
        return demo.Run(ctx);
    }
}
