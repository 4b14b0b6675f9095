// Format-blind mutations: bit flips, byte and integer edits, truncations, insertions, deletions,
// duplications and splices from other corpus files. Positions favour the head and tail of the input,
// where the structure of all three formats lives.
using System.Buffers.Binary;

namespace Recurrent.Fuzz;

public static class ByteMutator
{
    /// <summary>Integers worth writing into length, offset, size and count fields.</summary>
    public static readonly long[] InterestingIntegers =
    {
        0, 1, 2, 7, 8, 16, 64, 127, 128, 255, 256, 1023, 1024, 4096, 32767, 32768, 65535, 65536,
        int.MaxValue, (long)int.MaxValue + 1, uint.MaxValue, (long)uint.MaxValue + 1, 1L << 40, long.MaxValue,
        long.MinValue, -1, -2, -128, int.MinValue, 0x7FFFFFC7, 0x7FFFFFC8, 1L << 53,
    };

    public static byte[] Mutate(byte[] src, IReadOnlyList<byte[]> corpus, Random rng, out string how)
    {
        int n = 1 + (rng.Next(4) == 0 ? rng.Next(4) : 0);
        var b = src;
        var kinds = new List<string>(n);
        for (int i = 0; i < n; i++)
        {
            b = MutateOnce(b, corpus, rng, out string k);
            kinds.Add(k);
        }
        how = string.Join("+", kinds);
        return b;
    }

    public static byte[] MutateOnce(byte[] src, IReadOnlyList<byte[]> corpus, Random rng, out string how)
    {
        if (src.Length == 0)
        {
            how = "insert";
            return RandomBytes(rng, 1 + rng.Next(16));
        }
        switch (rng.Next(9))
        {
            case 0:
            {
                how = "bitflip";
                var b = (byte[])src.Clone();
                for (int k = 1 + rng.Next(8); k > 0; k--)
                    b[Position(b.Length, rng)] ^= (byte)(1 << rng.Next(8));
                return b;
            }
            case 1:
            {
                how = "byte";
                var b = (byte[])src.Clone();
                byte[] special = { 0, 0xFF, 0x7F, 0x80, 0x01, (byte)rng.Next(256) };
                b[Position(b.Length, rng)] = special[rng.Next(special.Length)];
                return b;
            }
            case 2:
            {
                how = "int";
                var b = (byte[])src.Clone();
                WriteInteger(b, Position(b.Length, rng), rng);
                return b;
            }
            case 3:
                how = "truncate";
                return src.AsSpan(0, rng.Next(2) == 0 ? rng.Next(src.Length) : Position(src.Length, rng)).ToArray();
            case 4:
            {
                how = "insert";
                int pos = Position(src.Length + 1, rng);
                return Concat(src.AsSpan(0, pos), RandomBytes(rng, 1 + rng.Next(rng.Next(2) == 0 ? 8 : 256)), src.AsSpan(pos));
            }
            case 5:
            {
                how = "delete";
                int pos = Position(src.Length, rng);
                int len = Math.Min(src.Length - pos, 1 + rng.Next(rng.Next(2) == 0 ? 8 : 512));
                return Concat(src.AsSpan(0, pos), default, src.AsSpan(pos + len));
            }
            case 6:
            {
                how = "duplicate";
                int pos = Position(src.Length, rng);
                int len = Math.Min(src.Length - pos, 1 + rng.Next(256));
                int to = Position(src.Length + 1, rng);
                return Concat(src.AsSpan(0, to), src.AsSpan(pos, len), src.AsSpan(to));
            }
            case 7:
            {
                how = "splice";
                var donor = corpus[rng.Next(corpus.Count)];
                if (donor.Length == 0)
                    return src;
                int from = rng.Next(donor.Length);
                int len = Math.Min(donor.Length - from, 1 + rng.Next(512));
                int to = Position(src.Length, rng);
                if (rng.Next(2) == 0)
                    return Concat(src.AsSpan(0, to), donor.AsSpan(from, len), src.AsSpan(to));
                var b = (byte[])src.Clone();
                len = Math.Min(len, b.Length - to);
                donor.AsSpan(from, len).CopyTo(b.AsSpan(to));
                return b;
            }
            default:
            {
                how = "crossover";
                var donor = corpus[rng.Next(corpus.Count)];
                int cut = rng.Next(src.Length + 1), from = rng.Next(donor.Length + 1);
                return Concat(src.AsSpan(0, cut), donor.AsSpan(from), default);
            }
        }
    }

    /// <summary>Writes an interesting integer (1, 2, 4 or 8 bytes, little- or big-endian) at <paramref name="pos"/>, clipped to the buffer.</summary>
    public static void WriteInteger(byte[] b, int pos, Random rng)
    {
        long v = rng.Next(4) == 0 ? rng.NextInt64() >> rng.Next(64) : InterestingIntegers[rng.Next(InterestingIntegers.Length)];
        if (rng.Next(4) == 0)
            v += rng.Next(-2, 3);
        Span<byte> tmp = stackalloc byte[8];
        int width = 1 << rng.Next(4);
        if (rng.Next(4) == 0)
            BinaryPrimitives.WriteInt64BigEndian(tmp, v);
        else
            BinaryPrimitives.WriteInt64LittleEndian(tmp, v);
        var bytes = rng.Next(4) == 0 && width < 8 ? tmp[(8 - width)..] : tmp[..width];
        bytes[..Math.Min(bytes.Length, b.Length - pos)].CopyTo(b.AsSpan(pos));
    }

    /// <summary>Positions in the first 4 KB or the last 2 KB three times out of four; anywhere otherwise.</summary>
    public static int Position(int length, Random rng) => rng.Next(4) switch
    {
        0 => rng.Next(length),
        1 => Math.Max(0, length - 1 - rng.Next(Math.Min(length, 2048))),
        _ => rng.Next(Math.Min(length, 4096)),
    };

    public static byte[] RandomBytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }

    public static byte[] Concat(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c)
    {
        var r = new byte[a.Length + b.Length + c.Length];
        a.CopyTo(r);
        b.CopyTo(r.AsSpan(a.Length));
        c.CopyTo(r.AsSpan(a.Length + b.Length));
        return r;
    }
}
