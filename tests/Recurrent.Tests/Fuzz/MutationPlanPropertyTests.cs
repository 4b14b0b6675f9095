// A CsCheck property over the three readers: a generated "mutation plan" (a few edits: bit flips, byte and
// 32-bit writes, insertions, deletions, truncations) applied to a seed file must be accepted or refused with
// a documented exception, within the time and allocation limits. Unlike the seeded campaign, a failure
// shrinks to the shortest plan with the smallest values, and CsCheck prints the seed that reproduces it.
using System.Buffers.Binary;
using CsCheck;
using Recurrent.Fuzz;

namespace Recurrent.Tests.Fuzz;

public class MutationPlanPropertyTests
{
    private static readonly Gen<(int Kind, uint Position, uint Value)[]> Plans =
        Gen.Select(Gen.Int[0, 5], Gen.UInt, Gen.UInt).Array[1, 6];

    [Theory]
    [InlineData("safetensors")]
    [InlineData("pt-zip")]
    [InlineData("pt-legacy")]
    public void GeneratedMutationPlansStayWithinTheDocumentedLimits(string targetName)
    {
        var target = FuzzTargets.Get(targetName);
        var seeds = Corpus.Files("seed", targetName).Select(File.ReadAllBytes).ToArray();
        Assert.NotEmpty(seeds);
        Gen.Select(Gen.Int[0, seeds.Length - 1], Plans).Sample((seed, plan) =>
        {
            byte[] input = targetName == "pt-zip" ? ApplyToPickle(seeds[seed], plan) : Apply(seeds[seed], plan);
            var report = new FuzzReport { Target = targetName };
            new FuzzRunner(target, new[] { input }, 0, findingsFolder: null).RunCase(0, input, "plan", report);
            return report.Failed == 0;
        }, iter: 3000);
    }

    /// <summary>The edits of <paramref name="plan"/>, in order; positions wrap around the current length.</summary>
    internal static byte[] Apply(byte[] file, (int Kind, uint Position, uint Value)[] plan)
    {
        var b = new List<byte>(file);
        foreach (var (kind, position, value) in plan)
        {
            if (b.Count == 0)
                break;
            int at = (int)(position % (uint)b.Count);
            switch (kind)
            {
                case 0: b[at] ^= (byte)(1 << (int)(value % 8)); break;
                case 1: b[at] = (byte)value; break;
                case 2:
                {
                    Span<byte> v = stackalloc byte[4];
                    BinaryPrimitives.WriteUInt32LittleEndian(v, value);
                    for (int k = 0; k < 4 && at + k < b.Count; k++) b[at + k] = v[k];
                    break;
                }
                case 3: b.Insert(at, (byte)value); break;
                case 4: b.RemoveRange(at, Math.Min(b.Count - at, 1 + (int)(value % 16))); break;
                default: b.RemoveRange(at, b.Count - at); break;
            }
        }
        return b.ToArray();
    }

    /// <summary>The plan applied to the archive's <c>data.pkl</c>, repacked with correct CRCs so the edits reach the unpickler.</summary>
    private static byte[] ApplyToPickle(byte[] zip, (int Kind, uint Position, uint Value)[] plan)
    {
        var entries = ZipMutator.TryUnpack(zip) ?? throw new InvalidOperationException("a seed archive must unpack");
        int pkl = entries.FindIndex(e => e.Name.EndsWith("data.pkl", StringComparison.Ordinal));
        entries[pkl] = (entries[pkl].Name, Apply(entries[pkl].Data, plan));
        return ZipMutator.Pack(entries);
    }
}
