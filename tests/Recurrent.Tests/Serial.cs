// Tests that measure process-wide counters (gen-2 collection counts, the worker team's timing)
// run alone: xunit runs other test classes in parallel, and their collections would be counted.
namespace Recurrent.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Serial
{
    public const string Name = "Serial (process-wide measurements)";
}
