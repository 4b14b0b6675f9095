// Fuzzing the PyTorch reader with mutated real checkpoints: bit flips, truncations, spliced, inserted and
// deleted bytes. Whatever the input, the reader must either succeed or throw its own TorchFormatException.
using System.Collections.Concurrent;
using System.Diagnostics;
using Recurrent.IO.Torch;
using Xunit.Abstractions;

namespace Recurrent.Tests.IO.Torch;

public class TorchFuzzTests(ITestOutputHelper output)
{
    // Cases per file: the two small files (7 KB) get most; the four large ones (1-4 MB) cost more per load.
    private static readonly (string File, int Cases)[] Plan =
    {
        (RealCheckpoints.LegacyGru, 4500),
        (RealCheckpoints.Lightning, 4500),
        (RealCheckpoints.BiLstm, 250),
        (RealCheckpoints.CharLstm, 250),
        (RealCheckpoints.LegacyCharRnn, 250),
        (RealCheckpoints.GruFlat, 250),
    };

    private enum Mutation { BitFlips, Truncate, Splice, Overwrite, InsertDelete, Combined }

    [SkippableFact]
    public void MutatedRealCheckpointsOnlyEverFailWithTorchFormatException()
    {
        var files = Plan.Select(p => RealCheckpoints.Bytes(p.File)).ToArray();
        var cases = Plan.SelectMany((p, f) => Enumerable.Range(0, p.Cases).Select(i => (FileIndex: f, Seed: f * 1_000_003 + i))).ToArray();
        var failures = new ConcurrentQueue<string>();
        int loaded = 0, rejected = 0;
        long slowestTicks = 0;
        string slowest = "";
        var total = Stopwatch.StartNew();

        Parallel.ForEach(cases, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, c =>
        {
            var rng = new Random(c.Seed);
            var (bytes, mutation) = Mutate(files[c.FileIndex], files, rng);
            string id = $"{Plan[c.FileIndex].File} seed {c.Seed} ({mutation})";
            var sw = Stopwatch.StartNew();
            try
            {
                Exercise(TorchCheckpoint.Load(bytes));
                Interlocked.Increment(ref loaded);
            }
            catch (TorchFormatException e) when (!e.IsInternalError)
            {
                Interlocked.Increment(ref rejected);
            }
            catch (Exception e)
            {
                failures.Enqueue($"{id}: {e.GetType().Name}: {e.Message}\n{e.InnerException?.ToString() ?? e.StackTrace}");
            }
            lock (failures)
            {
                if (sw.ElapsedTicks > slowestTicks)
                {
                    slowestTicks = sw.ElapsedTicks;
                    slowest = id;
                }
            }
        });

        output.WriteLine($"{cases.Length} cases in {total.Elapsed.TotalSeconds:F1} s on {Environment.ProcessorCount} threads: " +
                         $"{loaded} loaded, {rejected} rejected with TorchFormatException, {failures.Count} failures; " +
                         $"slowest {TimeSpan.FromTicks(slowestTicks * TimeSpan.TicksPerSecond / Stopwatch.Frequency).TotalMilliseconds:F0} ms ({slowest}).");
        Assert.True(cases.Length >= 10_000);
        Assert.True(failures.IsEmpty, $"{failures.Count} cases escaped: " + string.Join("\n\n", failures.Take(5)));
    }

    [Fact]
    public void RandomPickleProgramsOnlyFailWithTorchFormatException()
    {
        // Pickles assembled from random opcodes with plausible arguments (allowed and forbidden globals,
        // storage persistent ids, memo traffic, marks), inside a zip with two real storages. This reaches
        // the unpickler's interpretation of allowed calls far more often than byte mutations do.
        const int Cases = 20_000;
        var storages = new[] { ("0", new byte[64]), ("1", new byte[8]) };
        var failures = new ConcurrentQueue<string>();
        int loaded = 0;
        var total = Stopwatch.StartNew();
        Parallel.For(0, Cases, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
        {
            var rng = new Random(seed);
            var p = new PickleBuilder().Proto(rng.Next(2) == 0 ? 2 : 4);
            int ops = rng.Next(1, 60);
            for (int i = 0; i < ops; i++)
                RandomToken(p, rng);
            var file = TorchFiles.Zip(p.Stop().ToArray(), storages);
            try
            {
                Exercise(TorchCheckpoint.Load(file));
                Interlocked.Increment(ref loaded);
            }
            catch (TorchFormatException e) when (!e.IsInternalError)
            {
            }
            catch (Exception e)
            {
                failures.Enqueue($"seed {seed}: {e.GetType().Name}: {e.Message}\n{e.InnerException?.ToString() ?? e.StackTrace}");
            }
        });
        output.WriteLine($"{Cases} random pickles in {total.Elapsed.TotalSeconds:F1} s: {loaded} loaded, {failures.Count} failures.");
        Assert.True(failures.IsEmpty, $"{failures.Count} cases escaped: " + string.Join("\n\n", failures.Take(5)));
    }

    private static readonly (string Module, string Name)[] FuzzGlobals =
    {
        ("collections", "OrderedDict"), ("collections", "Counter"), ("builtins", "set"), ("builtins", "frozenset"),
        ("builtins", "bytearray"), ("builtins", "complex"), ("_codecs", "encode"), ("torch", "Size"), ("torch", "device"),
        ("torch", "Tensor"), ("torch.nn.parameter", "Parameter"), ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor_v3"), ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"), ("torch._tensor", "_rebuild_from_type_v2"), ("torch", "FloatStorage"),
        ("torch", "HalfStorage"), ("torch", "LongStorage"), ("torch", "UntypedStorage"), ("torch", "float32"), ("torch", "int64"),
        ("os", "system"), ("builtins", "eval"),
    };

    private static void RandomToken(PickleBuilder p, Random rng)
    {
        switch (rng.Next(34))
        {
            case 0: p.Mark(); break;
            case 1: p.Int(rng.Next(-3, 70)); break;
            case 2: p.Int(rng.NextInt64(long.MinValue, long.MaxValue)); break;
            case 3: p.Str(rng.Next(3) switch { 0 => "storage", 1 => "0", _ => "cpu" }); break;
            case 4: p.None(); break;
            case 5: p.True(); break;
            case 6: p.False(); break;
            case 7: p.EmptyTuple(); break;
            case 8: p.EmptyList(); break;
            case 9: p.EmptyDict(); break;
            case 10: p.Tuple(); break;
            case 11: p.Tuple1(); break;
            case 12: p.Tuple2(); break;
            case 13: p.Tuple3(); break;
            case 14: p.Append(); break;
            case 15: p.Appends(); break;
            case 16: p.SetItem(); break;
            case 17: p.SetItems(); break;
            case 18: p.Reduce(); break;
            case 19: p.Build(); break;
            case 20: p.BinPersId(); break;
            case 21: p.Put(rng.Next(4)); break;
            case 22: p.Get(rng.Next(4)); break;
            case 23: { var g = FuzzGlobals[rng.Next(FuzzGlobals.Length)]; p.Global(g.Module, g.Name); break; }
            case 24: p.ZipStorage(rng.Next(2) == 0 ? "FloatStorage" : "LongStorage", rng.Next(3).ToString(), rng.Next(0, 20)); break;
            case 25: p.IntTuple(Enumerable.Range(0, rng.Next(4)).Select(_ => (long)rng.Next(-1, 5)).ToArray()); break;
            case 26: p.Float(rng.Next(3) switch { 0 => double.NaN, 1 => double.PositiveInfinity, _ => rng.NextDouble() }); break;
            case 27: p.OrderedDict(); break;
            case 28: p.Op(rng.Next(3) switch { 0 => '0', 1 => '1', _ => '2' }); break; // POP, POP_MARK, DUP
            case 29: p.Op(0x8f); break; // EMPTY_SET
            case 30: p.Op(0x90); break; // ADDITEMS
            case 31: p.Op(0x91); break; // FROZENSET
            case 32: p.Op(0x81); break; // NEWOBJ
            default: p.Op(rng.Next(256)); break; // anything, arguments or not
        }
    }

    /// <summary>Uses what a caller would use after loading, so failures there are found too.</summary>
    private static void Exercise(TorchCheckpoint ckpt)
    {
        _ = ckpt.Describe();
        _ = ckpt.FindStateDictPath();
        foreach (var (_, t) in ckpt.Tensors())
        {
            if (t.ElementCount > 1 << 16)
                continue;
            _ = t.ToFloat64Array();
            if (!t.DType.IsFloatingPoint())
                _ = t.ToInt64Array();
        }
    }

    private static (byte[] Bytes, Mutation Kind) Mutate(byte[] original, byte[][] donors, Random rng)
    {
        var kind = (Mutation)rng.Next(6);
        byte[] bytes = kind == Mutation.Combined
            ? Apply((Mutation)rng.Next(5), Apply((Mutation)rng.Next(5), original, donors, rng), donors, rng)
            : Apply(kind, original, donors, rng);
        return (bytes, kind);
    }

    private static byte[] Apply(Mutation kind, byte[] src, byte[][] donors, Random rng)
    {
        if (src.Length == 0)
            return src;
        switch (kind)
        {
            case Mutation.BitFlips:
            {
                var b = (byte[])src.Clone();
                for (int n = rng.Next(1, 9); n > 0; n--)
                {
                    int pos = HotPosition(b.Length, rng);
                    b[pos] ^= (byte)(1 << rng.Next(8));
                }
                return b;
            }
            case Mutation.Truncate:
                return src.AsSpan(0, rng.Next(2) == 0 ? HotPosition(src.Length, rng) : rng.Next(src.Length)).ToArray();
            case Mutation.Splice:
            {
                var b = (byte[])src.Clone();
                var donor = donors[rng.Next(donors.Length)];
                int len = rng.Next(1, 65);
                int from = rng.Next(Math.Max(1, donor.Length - len));
                int to = HotPosition(b.Length, rng);
                len = Math.Min(len, Math.Min(donor.Length - from, b.Length - to));
                Array.Copy(donor, from, b, to, len);
                return b;
            }
            case Mutation.Overwrite:
            {
                var b = (byte[])src.Clone();
                byte[][] interesting = { new byte[] { 0 }, new byte[] { 0xFF }, new byte[] { 0x7F }, new byte[] { 0x80 },
                    new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, new byte[] { 0xFF, 0xFF, 0xFF, 0x7F }, new byte[] { 0, 0, 0, 0x80 },
                    new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F }, new byte[] { 0, 0, 0, 0, 0, 0, 0, 0 },
                    new byte[] { (byte)rng.Next(256) }, new byte[] { (byte)rng.Next(256), (byte)rng.Next(256) } };
                var value = interesting[rng.Next(interesting.Length)];
                int pos = HotPosition(b.Length, rng);
                value.AsSpan(0, Math.Min(value.Length, b.Length - pos)).CopyTo(b.AsSpan(pos));
                return b;
            }
            case Mutation.InsertDelete:
            {
                int pos = HotPosition(src.Length, rng);
                int len = rng.Next(1, 17);
                if (rng.Next(2) == 0)
                {
                    var insert = new byte[len];
                    rng.NextBytes(insert);
                    return src.AsSpan(0, pos).ToArray().Concat(insert).Concat(src.AsSpan(pos).ToArray()).ToArray();
                }
                len = Math.Min(len, src.Length - pos);
                return src.AsSpan(0, pos).ToArray().Concat(src.AsSpan(pos + len).ToArray()).ToArray();
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    /// <summary>
    /// Where structure lives: the first 4 KB (zip local headers and data.pkl, or the legacy pickles) and
    /// the last 2 KB (the zip central directory), with a quarter of positions anywhere.
    /// </summary>
    private static int HotPosition(int length, Random rng) => rng.Next(4) switch
    {
        0 => rng.Next(length),
        1 => Math.Max(0, length - 1 - rng.Next(Math.Min(length, 2048))),
        _ => rng.Next(Math.Min(length, 4096)),
    };
}
