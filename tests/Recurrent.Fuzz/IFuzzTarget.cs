// One reader under fuzzing: how to run an input through it, which exceptions its documentation allows, what
// it may allocate, and how to mutate inputs of its format. A new target is one more implementation registered in
// FuzzTargets.All, plus a corpus folder of its name.
namespace Recurrent.Fuzz;

/// <summary>A file reader under test.</summary>
public interface IFuzzTarget
{
    /// <summary>Short name, also the corpus folder name: <c>safetensors</c>, <c>pt-zip</c>, <c>pt-legacy</c>, <c>checkpoint</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Runs the input through the reader and what a caller does next (convert, list, describe). Returns
    /// normally when the input was accepted; throws whatever the reader throws otherwise. Each stage's
    /// allocation (bytes on this thread) is reported through <paramref name="stage"/>, to be held to <see cref="Budget"/>.
    /// </summary>
    void Run(byte[] input, Action<string, long> stage);

    /// <summary>True when the reader's documentation lists <paramref name="e"/> for bad input.</summary>
    bool IsDocumented(Exception e);

    /// <summary>The documented allocation budget of one stage for an input of <paramref name="length"/> bytes.</summary>
    long Budget(int length);

    /// <summary>A mutant of <paramref name="seed"/> (other corpus files may be spliced in), deterministic for <paramref name="rng"/>.</summary>
    byte[] Mutate(byte[] seed, IReadOnlyList<byte[]> corpus, Random rng, out string how);
}

/// <summary>The registered targets.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<IFuzzTarget> All { get; } = new IFuzzTarget[] { new SafeTensorsTarget(), new TorchZipTarget(), new TorchLegacyTarget(), new CheckpointTarget() };

    public static IFuzzTarget Get(string name) =>
        All.FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException($"unknown target '{name}'; expected one of {string.Join(", ", All.Select(t => t.Name))}");
}
