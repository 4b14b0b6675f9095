// The three readers under fuzzing and the mutations that suit each format.
using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using Recurrent.IO;
using Recurrent.IO.Torch;

namespace Recurrent.Fuzz;

/// <summary>Measures the bytes a stage allocates on the calling thread and reports them.</summary>
internal static class Stage
{
    public static T Run<T>(string name, Action<string, long> report, Func<T> body)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            return body();
        }
        finally
        {
            report(name, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }
}

/// <summary><see cref="TensorIO.ReadTensors(Stream, out IReadOnlyDictionary{string, string})"/>: documented failures are <see cref="SafeTensorsFormatException"/> and, for dtypes Recurrent cannot hold, <see cref="NotSupportedException"/>.</summary>
public sealed partial class SafeTensorsTarget : IFuzzTarget
{
    private static readonly string[] Numbers =
    {
        "0", "1", "-1", "2147483647", "2147483648", "4294967295", "4294967296", "65536", "9223372036854775807", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "1e308", "1.5", "-0", "00", "2147483591", "100000000", "1e400",
    };

    private static readonly string[] DTypes = { "F32", "F64", "I64", "F16", "BF16", "I32", "U8", "BOOL", "F4", "F6_E2M3", "C64", "X", "" };

    public string Name => "safetensors";

    public long Budget(int length) => ReadBudget.Default(length);

    public bool IsDocumented(Exception e) => e is SafeTensorsFormatException or NotSupportedException;

    public void Run(byte[] input, Action<string, long> stage)
    {
        var tensors = Stage.Run("read", stage, () => TensorIO.ReadTensors(new MemoryStream(input, writable: false), out _));
        Stage.Run("use", stage, () =>
        {
            long n = 0;
            foreach (var t in tensors.Values)
                n += t.Numel;
            return n;
        });
    }

    public byte[] Mutate(byte[] seed, IReadOnlyList<byte[]> corpus, Random rng, out string how)
    {
        if (rng.Next(5) < 2 || seed.Length < 8)
            return ByteMutator.Mutate(seed, corpus, rng, out how);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(seed);
        if (n == 0 || n > (ulong)(seed.Length - 8))
            return ByteMutator.Mutate(seed, corpus, rng, out how);
        string header = Encoding.UTF8.GetString(seed, 8, (int)n);
        string mutated;
        switch (rng.Next(5))
        {
            case 0:
            {
                how = "header-number";
                var numbers = NumberPattern().Matches(header);
                if (numbers.Count == 0) goto default;
                var m = numbers[rng.Next(numbers.Count)];
                mutated = header[..m.Index] + Numbers[rng.Next(Numbers.Length)] + header[(m.Index + m.Length)..];
                break;
            }
            case 1:
            {
                how = "header-dtype";
                var dtypes = DTypePattern().Matches(header);
                if (dtypes.Count == 0) goto default;
                var m = dtypes[rng.Next(dtypes.Count)].Groups[1];
                mutated = header[..m.Index] + DTypes[rng.Next(DTypes.Length)] + header[(m.Index + m.Length)..];
                break;
            }
            case 2:
            {
                how = "header-add-dim";
                int at = header.IndexOf("\"shape\":[", StringComparison.Ordinal);
                if (at < 0) goto default;
                at += "\"shape\":[".Length;
                string dim = rng.Next(2) == 0 ? "0" : Numbers[rng.Next(Numbers.Length)];
                mutated = header[..at] + dim + (header[at] == ']' ? "" : ",") + header[at..];
                break;
            }
            case 3:
            {
                how = "header-char";
                const string Json = "{}[]\",:0123456789-eE. _";
                int at = rng.Next(header.Length + 1);
                mutated = rng.Next(2) == 0 && at < header.Length
                    ? header[..at] + header[(at + 1)..]
                    : header[..at] + Json[rng.Next(Json.Length)] + header[at..];
                break;
            }
            default:
                how = "header-truncate";
                mutated = header[..rng.Next(header.Length)];
                break;
        }
        byte[] h = Encoding.UTF8.GetBytes(mutated);
        var result = new byte[8 + h.Length + (seed.Length - 8 - (int)n)];
        BinaryPrimitives.WriteUInt64LittleEndian(result, rng.Next(8) == 0 ? n : (ulong)h.Length); // usually a consistent prefix
        h.CopyTo(result, 8);
        seed.AsSpan(8 + (int)n).CopyTo(result.AsSpan(8 + h.Length));
        return result;
    }

    [GeneratedRegex("-?[0-9]+")]
    private static partial Regex NumberPattern();

    [GeneratedRegex("\"dtype\":\"([A-Z0-9_]*)\"")]
    private static partial Regex DTypePattern();
}

/// <summary>
/// <see cref="TorchCheckpoint.Load(byte[], TorchReaderOptions?)"/> then what callers do with a checkpoint:
/// <see cref="TorchCheckpoint.StateDict"/>, <see cref="TorchModuleLoading.ToStateDict"/>, <see cref="TorchCheckpoint.ListTensors"/>
/// and <see cref="TorchCheckpoint.Describe"/>. The only documented failure is a <see cref="TorchFormatException"/>
/// that is not an internal error.
/// </summary>
public abstract class TorchTarget : IFuzzTarget
{
    public abstract string Name { get; }

    public long Budget(int length) => TorchReaderOptions.Default.AllocationBudget(length);

    public bool IsDocumented(Exception e) => e is TorchFormatException { IsInternalError: false };

    public void Run(byte[] input, Action<string, long> stage)
    {
        var ckpt = Stage.Run("load", stage, () => TorchCheckpoint.Load(input));
        // Each call runs whatever the others did, as a caller may make any one of them: a documented rejection by one
        // must not hide another's allocation over the budget (ListTensors' was hidden behind ToStateDict's rejection
        // until regression input f2). The case then ends with the first documented rejection.
        Exception? first = null;
        foreach (var (name, call) in new (string, Func<int>)[]
        {
            ("state_dict", () => ckpt.StateDict().Count),
            ("to_state_dict", () => ckpt.ToStateDict().Count),
            ("list", () => ckpt.ListTensors().Count),
            ("describe", () => ckpt.Describe().Length),
        })
        {
            try { Stage.Run(name, stage, call); }
            catch (Exception e) when (IsDocumented(e)) { first ??= e; }
        }
        if (first is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
    }

    public abstract byte[] Mutate(byte[] seed, IReadOnlyList<byte[]> corpus, Random rng, out string how);
}

/// <summary>torch.save's zip archives.</summary>
public sealed class TorchZipTarget : TorchTarget
{
    public override string Name => "pt-zip";

    public override byte[] Mutate(byte[] seed, IReadOnlyList<byte[]> corpus, Random rng, out string how) =>
        rng.Next(10) < 3 ? ByteMutator.Mutate(seed, corpus, rng, out how) : ZipMutator.Mutate(seed, rng, out how);
}

/// <summary>The legacy (before PyTorch 1.6) stream: five pickles, then the raw storages.</summary>
public sealed class TorchLegacyTarget : TorchTarget
{
    public override string Name => "pt-legacy";

    public override byte[] Mutate(byte[] seed, IReadOnlyList<byte[]> corpus, Random rng, out string how)
    {
        if (rng.Next(10) < 3)
            return ByteMutator.Mutate(seed, corpus, rng, out how);
        // Find the pickles' boundaries; the object pickle (the fourth) is where most structure lives.
        var starts = new List<int>();
        int pos = 0;
        for (int i = 0; i < 5 && pos < seed.Length; i++)
        {
            starts.Add(pos);
            PickleMutator.Parse(seed, pos, out int end);
            if (end == pos)
                break;
            pos = end;
        }
        if (rng.Next(8) == 0 && pos + 8 <= seed.Length)
        {
            how = "legacy-storage-count";
            var b = (byte[])seed.Clone();
            ByteMutator.WriteInteger(b, pos + (rng.Next(2) == 0 ? 0 : rng.Next(seed.Length - pos)), rng);
            return b;
        }
        int which = starts.Count >= 4 && rng.Next(3) != 0 ? 3 : rng.Next(starts.Count);
        var mutated = PickleMutator.Mutate(seed, starts[which], rng, out how);
        how = $"legacy-pickle{which}-" + how;
        return mutated;
    }
}
