// Pickle-aware mutations: the pickle is split into opcodes (CPython's Lib/pickle.py numbering and argument
// layouts), then an opcode is replaced, deleted, duplicated, moved, inserted, or its argument rewritten.
using System.Buffers.Binary;
using System.Text;

namespace Recurrent.Fuzz;

public static class PickleMutator
{
    /// <summary>One opcode: where it starts, its byte and its total length (opcode plus argument).</summary>
    public readonly record struct Op(int Offset, byte Code, int Length);

    // Opcodes without an argument.
    private static readonly byte[] Bare = "(.012NR]}ae)tbdlosu"u8.ToArray()
        .Concat(new byte[] { 0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98, (byte)'Q' }).ToArray();

    private static readonly (string Module, string Name)[] Globals =
    {
        ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_parameter"), ("torch._tensor", "_rebuild_from_type_v2"), ("torch", "FloatStorage"),
        ("torch", "HalfStorage"), ("torch", "LongStorage"), ("torch", "BoolStorage"), ("torch", "UntypedStorage"), ("torch", "Size"),
        ("torch", "float16"), ("torch", "device"), ("builtins", "set"), ("_codecs", "encode"), ("os", "system"), ("builtins", "eval"),
    };

    /// <summary>
    /// The opcodes of the pickle starting at <paramref name="start"/>, up to and including STOP, or as far as
    /// they parse. <paramref name="end"/> is the offset after the last opcode parsed.
    /// </summary>
    public static List<Op> Parse(ReadOnlySpan<byte> data, int start, out int end)
    {
        var ops = new List<Op>();
        int pos = start;
        while (pos < data.Length)
        {
            int len = ArgumentLength(data, pos);
            if (len < 0 || pos + len > data.Length)
                break;
            ops.Add(new Op(pos, data[pos], len));
            pos += len;
            if (data[pos - len] == (byte)'.')
                break;
        }
        end = pos;
        return ops;
    }

    /// <summary>Total length of the opcode at <paramref name="pos"/>, or -1 when unknown or unterminated.</summary>
    private static int ArgumentLength(ReadOnlySpan<byte> d, int pos)
    {
        byte op = d[pos];
        if (Bare.Contains(op))
            return 1;
        int rest = d.Length - pos - 1;
        switch (op)
        {
            case 0x80: case (byte)'K': case (byte)'h': case (byte)'q': case 0x82: return 2;
            case (byte)'M': case 0x83: return 3;
            case (byte)'J': case (byte)'j': case (byte)'r': case 0x84: return 5;
            case (byte)'G': case 0x95: return 9;
            case 0x8c: case (byte)'C': case (byte)'U': case 0x8a:
                return rest < 1 ? -1 : 2 + d[pos + 1];
            case (byte)'X': case (byte)'B': case (byte)'T': case 0x8b:
            {
                if (rest < 4) return -1;
                long n = BinaryPrimitives.ReadUInt32LittleEndian(d.Slice(pos + 1));
                return n > rest - 4 ? -1 : 5 + (int)n;
            }
            case 0x8d: case 0x8e: case 0x96:
            {
                if (rest < 8) return -1;
                ulong n = BinaryPrimitives.ReadUInt64LittleEndian(d.Slice(pos + 1));
                return n > (ulong)(rest - 8) ? -1 : 9 + (int)n;
            }
            case (byte)'I': case (byte)'L': case (byte)'F': case (byte)'S': case (byte)'V': case (byte)'p': case (byte)'g': case (byte)'P':
            {
                int nl = d.Slice(pos + 1).IndexOf((byte)'\n');
                return nl < 0 ? -1 : nl + 2;
            }
            case (byte)'c': case (byte)'i':
            {
                int nl1 = d.Slice(pos + 1).IndexOf((byte)'\n');
                if (nl1 < 0) return -1;
                int nl2 = d.Slice(pos + 2 + nl1).IndexOf((byte)'\n');
                return nl2 < 0 ? -1 : nl1 + nl2 + 3;
            }
            default:
                return -1;
        }
    }

    /// <summary>Mutates the pickle occupying <c>[start, end)</c> of <paramref name="data"/> at the opcode level; the rest is kept.</summary>
    public static byte[] Mutate(byte[] data, int start, Random rng, out string how)
    {
        var ops = Parse(data, start, out int end);
        if (ops.Count == 0)
            return ByteMutator.MutateOnce(data, new[] { data }, rng, out how);
        var op = ops[rng.Next(ops.Count)];
        ReadOnlySpan<byte> before = data.AsSpan(0, op.Offset), self = data.AsSpan(op.Offset, op.Length), after = data.AsSpan(op.Offset + op.Length);
        switch (rng.Next(8))
        {
            case 0:
                how = "pickle-delete-op";
                return ByteMutator.Concat(before, default, after);
            case 1:
                how = "pickle-duplicate-op";
                return ByteMutator.Concat(before, self, data.AsSpan(op.Offset));
            case 2:
            {
                how = "pickle-move-op";
                var other = ops[rng.Next(ops.Count)];
                var without = ByteMutator.Concat(before, default, after);
                int at = other.Offset > op.Offset ? other.Offset - op.Length : other.Offset;
                at = Math.Clamp(at, 0, without.Length);
                return ByteMutator.Concat(without.AsSpan(0, at), self, without.AsSpan(at));
            }
            case 3:
            {
                how = "pickle-replace-opcode";
                var b = (byte[])data.Clone();
                b[op.Offset] = rng.Next(3) == 0 ? (byte)rng.Next(256) : Bare[rng.Next(Bare.Length)];
                return b;
            }
            case 4:
            {
                how = "pickle-insert-op";
                return ByteMutator.Concat(before, RandomOp(rng), data.AsSpan(op.Offset));
            }
            case 5 when op.Length > 1:
            {
                how = "pickle-argument";
                var b = (byte[])data.Clone();
                int argPos = op.Offset + 1 + rng.Next(Math.Min(op.Length - 1, 8));
                ByteMutator.WriteInteger(b, argPos, rng);
                return b;
            }
            case 6:
            {
                how = "pickle-insert-get";
                var gets = ops.Where(o => o.Code is (byte)'q' or (byte)'r' or 0x94).ToList();
                int index = gets.Count > 0 ? rng.Next(Math.Max(1, gets.Count)) : rng.Next(4);
                var get = index < 256 ? new byte[] { (byte)'h', (byte)index } : new byte[] { (byte)'j', (byte)index, (byte)(index >> 8), 0, 0 };
                byte[] repeat = Enumerable.Range(0, 1 + rng.Next(rng.Next(2) == 0 ? 3 : 40)).SelectMany(_ => get).ToArray();
                return ByteMutator.Concat(before, repeat, data.AsSpan(op.Offset));
            }
            default:
            {
                how = "pickle-bytes";
                var b = (byte[])data.Clone();
                int len = Math.Max(1, end - start);
                b[start + rng.Next(len)] ^= (byte)(1 << rng.Next(8));
                return b;
            }
        }
    }

    /// <summary>A random opcode with a plausible argument.</summary>
    public static byte[] RandomOp(Random rng)
    {
        switch (rng.Next(8))
        {
            case 0: return new[] { Bare[rng.Next(Bare.Length)] };
            case 1: return new[] { (byte)'K', (byte)rng.Next(256) };
            case 2:
            {
                var b = new byte[5];
                b[0] = (byte)'J';
                BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(1), (int)ByteMutator.InterestingIntegers[rng.Next(ByteMutator.InterestingIntegers.Length)]);
                return b;
            }
            case 3:
            {
                var g = Globals[rng.Next(Globals.Length)];
                return Encoding.ASCII.GetBytes($"c{g.Module}\n{g.Name}\n");
            }
            case 4:
            {
                string s = rng.Next(4) switch { 0 => "storage", 1 => "0", 2 => "cpu", _ => new string('a', rng.Next(40)) };
                var bytes = Encoding.UTF8.GetBytes(s);
                return new[] { (byte)0x8c, (byte)bytes.Length }.Concat(bytes).ToArray();
            }
            case 5:
            {
                long v = ByteMutator.InterestingIntegers[rng.Next(ByteMutator.InterestingIntegers.Length)];
                var bytes = System.Numerics.BigInteger.Multiply(v, rng.Next(1, 1 << 20)).ToByteArray();
                return new[] { (byte)0x8a, (byte)bytes.Length }.Concat(bytes).ToArray();
            }
            case 6:
                return rng.Next(2) == 0 ? "V\\UFFFFFFFF\n"u8.ToArray() : Encoding.ASCII.GetBytes($"I{ByteMutator.InterestingIntegers[rng.Next(ByteMutator.InterestingIntegers.Length)]}\n");
            default:
                return new[] { (byte)'(' }.Concat(Enumerable.Range(0, rng.Next(5)).SelectMany(_ => new[] { (byte)'K', (byte)rng.Next(4) })).Concat(new[] { (byte)'t' }).ToArray();
        }
    }
}
