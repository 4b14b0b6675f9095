// Zip-aware mutations for torch.save archives: edits of the header fields (local headers, central
// directory, end records, zip64 extras) and "repacks" that unpack a valid archive, mutate a record (the
// pickle at the opcode level, a storage's bytes or size, a name) and write a valid archive again, so that
// mutated pickles get past CRC verification and reach the unpickler.
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Recurrent.Fuzz;

public static class ZipMutator
{
    // (signature, [(field offset, width)]) of the zip structures (APPNOTE.TXT).
    private static readonly (uint Signature, (int Offset, int Width)[] Fields)[] Structures =
    {
        (0x04034b50, new[] { (4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2) }),            // local header
        (0x02014b50, new[] { (6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (34, 2), (42, 4) }), // central
        (0x06054b50, new[] { (4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2) }),                      // end of central directory
        (0x06064b50, new[] { (4, 8), (24, 8), (32, 8), (40, 8), (48, 8) }),                                      // zip64 end record
        (0x07064b50, new[] { (4, 4), (8, 8), (16, 4) }),                                                         // zip64 locator
    };

    public static byte[] Mutate(byte[] zip, Random rng, out string how)
    {
        if (rng.Next(3) == 0)
            return EditField(zip, rng, out how);
        var entries = TryUnpack(zip);
        if (entries is null)
            return EditField(zip, rng, out how);
        return Repack(entries, rng, out how);
    }

    /// <summary>Writes an interesting value into a field of a zip structure found by its signature.</summary>
    private static byte[] EditField(byte[] zip, Random rng, out string how)
    {
        var found = new List<(int At, (int Offset, int Width)[] Fields, string Kind)>();
        for (int i = 0; i + 4 <= zip.Length; i++)
        {
            uint sig = BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(i));
            foreach (var (s, f) in Structures)
                if (sig == s)
                    found.Add((i, f, $"{s:X8}"));
            if (sig == 0x02014b50 && i + 46 <= zip.Length) // zip64 extra fields (id 1) in the central directory
            {
                int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(i + 28)), extraLen = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(i + 30));
                int x = i + 46 + nameLen;
                if (extraLen >= 4 && x + 4 <= zip.Length && BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(x)) == 1)
                    found.Add((x, new[] { (2, 2), (4, 8), (12, 8), (20, 8) }, "zip64-extra"));
            }
        }
        if (found.Count == 0)
            return ByteMutator.MutateOnce(zip, new[] { zip }, rng, out how);
        var (at, fields, kind) = found[rng.Next(found.Count)];
        var (offset, width) = fields[rng.Next(fields.Length)];
        how = $"zip-field-{kind}+{offset}";
        var b = (byte[])zip.Clone();
        if (at + offset >= b.Length)
            return b;
        long v = ByteMutator.InterestingIntegers[rng.Next(ByteMutator.InterestingIntegers.Length)];
        if (rng.Next(3) == 0)
        {
            // nudge the current value
            v = width switch
            {
                2 => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(at + offset)),
                4 when at + offset + 4 <= b.Length => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at + offset)),
                8 when at + offset + 8 <= b.Length => BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(at + offset)),
                _ => v,
            } + rng.Next(-3, 4);
        }
        Span<byte> tmp = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(tmp, v);
        tmp[..Math.Min(width, b.Length - at - offset)].CopyTo(b.AsSpan(at + offset));
        return b;
    }

    /// <summary>The records of a valid archive, in order, or null.</summary>
    public static List<(string Name, byte[] Data)>? TryUnpack(byte[] zip)
    {
        try
        {
            using var archive = new ZipArchive(new MemoryStream(zip, writable: false), ZipArchiveMode.Read);
            var result = new List<(string, byte[])>();
            foreach (var e in archive.Entries)
            {
                if (e.Length > 1 << 24)
                    return null;
                using var s = e.Open();
                var ms = new MemoryStream();
                s.CopyTo(ms);
                result.Add((e.FullName, ms.ToArray()));
            }
            return result;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException)
        {
            return null;
        }
    }

    public static byte[] Pack(IEnumerable<(string Name, byte[] Data)> entries, Random? rng = null)
    {
        var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, data) in entries)
            {
                var level = rng is null || rng.Next(4) != 0 ? CompressionLevel.NoCompression : CompressionLevel.Fastest;
                var e = zip.CreateEntry(name, level);
                e.LastWriteTime = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero); // deterministic bytes
                using var s = e.Open();
                s.Write(data);
            }
        }
        return ms.ToArray();
    }

    private static byte[] Repack(List<(string Name, byte[] Data)> entries, Random rng, out string how)
    {
        int pkl = entries.FindIndex(e => e.Name.EndsWith("data.pkl", StringComparison.Ordinal));
        int choice = rng.Next(10);
        if (pkl >= 0 && choice < 6)
        {
            var (name, data) = entries[pkl];
            string k;
            var mutated = rng.Next(5) == 0 ? ByteMutator.MutateOnce(data, new[] { data }, rng, out k) : PickleMutator.Mutate(data, 0, rng, out k);
            if (rng.Next(4) == 0)
            {
                mutated = PickleMutator.Mutate(mutated, 0, rng, out string k2);
                k += "+" + k2;
            }
            entries[pkl] = (name, mutated);
            how = "repack-" + k;
        }
        else if (choice < 8)
        {
            int i = rng.Next(entries.Count);
            var (name, data) = entries[i];
            switch (rng.Next(3))
            {
                case 0:
                    how = "repack-record-bytes";
                    entries[i] = (name, data.Length == 0 ? ByteMutator.RandomBytes(rng, 4) : ByteMutator.MutateOnce(data, new[] { data }, rng, out _));
                    break;
                case 1:
                    how = "repack-record-resize";
                    entries[i] = (name, data.AsSpan(0, rng.Next(data.Length + 1)).ToArray().Concat(ByteMutator.RandomBytes(rng, rng.Next(3) * 8)).ToArray());
                    break;
                default:
                    how = "repack-drop-record";
                    entries.RemoveAt(i);
                    break;
            }
        }
        else
        {
            int i = rng.Next(entries.Count);
            var (name, data) = entries[i];
            how = "repack-rename";
            string[] names = { name + "x", name.Replace("archive/", ""), "a/" + name, name.ToUpperInvariant(), name[..Math.Max(0, name.Length - 1)],
                "archive/data.pkl", "archive/data/0", "archive/constants.pkl", "archive/byteorder", "other/data.pkl" };
            entries[i] = (names[rng.Next(names.Length)], data);
            if (rng.Next(3) == 0)
                entries.Add((names[rng.Next(names.Length)], rng.Next(2) == 0 ? Encoding.ASCII.GetBytes("big") : data));
        }
        try
        {
            return Pack(entries, rng);
        }
        catch (ArgumentException)
        {
            how += "-unpackable";
            return Pack(entries.Where(e => e.Name.Length > 0), rng);
        }
    }
}
