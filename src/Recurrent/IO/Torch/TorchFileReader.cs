// The two torch.save container formats: the zip archive (PyTorch >= 1.6) and the legacy pickle stream.
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Numerics;
using System.Text;

namespace Recurrent.IO.Torch;

/// <summary>Which torch.save container a file uses.</summary>
public enum TorchFileFormat
{
    /// <summary>Zip archive with <c>&lt;prefix&gt;/data.pkl</c> and <c>&lt;prefix&gt;/data/&lt;key&gt;</c> records (PyTorch 1.6 and later).</summary>
    Zip,

    /// <summary>Five pickles (magic, protocol, sys_info, object, storage keys) followed by the raw storages (before PyTorch 1.6).</summary>
    Legacy,
}

/// <summary>Detects the container format and reads it, validating every size against the bytes present.</summary>
internal static class TorchFileReader
{
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("01950a86a20f9469cfc6c", System.Globalization.NumberStyles.HexNumber);
    private const long LegacyProtocolVersion = 1001;
    private const int MaxStorageKeyChars = 1024;

    public static TorchCheckpoint Read(Stream stream, TorchReaderOptions options)
    {
        long length = stream.Length;
        if (length == 0)
            throw new TorchFormatException("the file is empty.");
        long budget = options.AllocationBudget(length);
        var meter = NewMeter(budget);
        Span<byte> head = stackalloc byte[4];
        int got = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        stream.Position = 0;
        try
        {
            if (got >= 4 && head[0] == 'P' && head[1] == 'K' && (head[2] == 3 || head[2] == 5) && (head[3] == 4 || head[3] == 6))
                return new ZipReader(stream, options, meter).Read();
            if (head[0] == 0x80)
                return new LegacyReader(stream, options, meter).Read();
            if (length > 262 && IsTar(stream))
                throw new TorchFormatException("this is a tar-based torch.save file (PyTorch 0.3 or older), which is not supported.");
            throw new TorchFormatException(
                $"not a PyTorch file: it starts with bytes {Convert.ToHexString(head[..got])}, neither a zip archive (PK\\x03\\x04) nor a pickle (0x80).");
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidCastException or NullReferenceException
                                       or KeyNotFoundException or OverflowException or InvalidOperationException or FormatException)
        {
            // The reader validates before it indexes; reaching here means a check is missing. Report it as
            // bad input (which it is) but mark it so tests and users can tell.
            throw new TorchFormatException($"malformed input caused an internal error in the PyTorch reader ({e.GetType().Name}: {e.Message}).", e)
            {
                IsInternalError = true,
            };
        }
    }

    /// <summary>A meter for one read (or one later walk of the checkpoint) that fails with a <see cref="TorchFormatException"/>.</summary>
    internal static AllocationMeter NewMeter(long budget) =>
        new(budget, message => new TorchFormatException(
            $"{message} (TorchReaderOptions.MaxAllocationBytes; the default is 32 bytes per file byte plus 64 MiB, raise it only for a file you trust)."));

    private static bool IsTar(Stream stream)
    {
        Span<byte> magic = stackalloc byte[5];
        stream.Position = 257;
        int n = stream.ReadAtLeast(magic, 5, throwOnEndOfStream: false);
        stream.Position = 0;
        return n == 5 && magic.SequenceEqual("ustar"u8);
    }

    /// <summary>The fields both formats' storage persistent ids share: <c>('storage', storage_type, key, location, numel, ...)</c>.</summary>
    private readonly record struct StorageId(TorchDType DType, bool Untyped, string Key, string Location, long Numel);

    private static StorageId ParseStorageId(TorchTuple pid, string context)
    {
        object? storageType = pid[1];
        if (storageType is not TorchGlobal g || !TorchAllowlist.TryGetStorageDType(g, out var dtype, out bool untyped))
            throw new TorchFormatException($"{context}: persistent id names {PythonRepr.Format(storageType)} where a storage class (torch.FloatStorage...) belongs.");
        return new StorageId(dtype, untyped, AsciiField(pid[2], "key", context, MaxStorageKeyChars),
            AsciiField(pid[3], "location", context, 256), CountField(pid[4], "numel", context));
    }

    private static string AsciiField(object? value, string what, string context, int maxLength) => value switch
    {
        string s when s.Length <= maxLength => s,
        byte[] b when b.Length <= maxLength => Encoding.ASCII.GetString(b), // Python 2 era files
        _ => throw new TorchFormatException($"{context}: persistent id {what} must be a short str, got {PythonRepr.Format(value)}."),
    };

    private static long CountField(object? value, string what, string context) =>
        value is long n && n >= 0 ? n : throw new TorchFormatException($"{context}: persistent id {what} must be a non-negative int, got {PythonRepr.Format(value)}.");

    /// <summary>Reverses each element's bytes in place (big-endian file to little-endian memory).</summary>
    private static void SwapBytes(byte[] data, int elementSize)
    {
        if (elementSize == 1)
            return;
        for (int i = 0; i + elementSize <= data.Length; i += elementSize)
            Array.Reverse(data, i, elementSize);
    }

    // ---- zip ---------------------------------------------------------------------------------------

    private sealed class ZipReader(Stream stream, TorchReaderOptions options, AllocationMeter meter)
    {
        // Deflate cannot expand data by more than about 1032:1, so a declared size beyond that is a lie.
        private const long MaxDeflateRatio = 1032;

        private readonly long _streamLength = stream.Length;
        private readonly Dictionary<string, ZipArchiveEntry> _entries = new(StringComparer.Ordinal);
        private readonly Dictionary<string, TorchStorage> _storages = new(StringComparer.Ordinal);
        private string _prefix = "";
        private bool _bigEndian;
        private bool _verifyCrc = options.VerifyCrc32;

        /// <summary>
        /// Runs a System.IO.Compression call, turning the exceptions it throws for corrupt archives into
        /// <see cref="TorchFormatException"/>. Only zip calls go through here, so exceptions from the
        /// reader's own code keep their meaning.
        /// </summary>
        private static T Zip<T>(Func<T> call, string what)
        {
            try
            {
                return call();
            }
            catch (Exception e) when (e is not TorchFormatException && (e is InvalidDataException or IOException or NotSupportedException
                                           or ArgumentException or OverflowException or IndexOutOfRangeException or InvalidOperationException))
            {
                throw new TorchFormatException($"corrupt zip archive ({what}): {e.Message}", e);
            }
        }

        public TorchCheckpoint Read()
        {
            using var archive = Zip(() => new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true), "central directory");
            string? firstName = null;
            foreach (var entry in Zip(() => archive.Entries, "central directory"))
            {
                // Zip64 sizes are unsigned 64-bit; System.IO.Compression hands those of 2^63 and more over as negative longs.
                if (entry.Length < 0)
                    throw new TorchFormatException($"zip entry '{Shorten(entry.FullName)}' declares an uncompressed size of {(ulong)entry.Length} bytes, more than the {long.MaxValue} a file can hold.");
                if (entry.CompressedLength < 0)
                    throw new TorchFormatException($"zip entry '{Shorten(entry.FullName)}' declares a compressed size of {(ulong)entry.CompressedLength} bytes, more than the {long.MaxValue} a file can hold.");
                firstName ??= entry.FullName;
                if (!_entries.TryAdd(entry.FullName, entry))
                    throw new TorchFormatException($"zip archive lists '{Shorten(entry.FullName)}' twice.");
            }
            // torch.serialization.set_crc32_options(False) (PyTorch >= 2.5) writes 0 for every CRC-32, and PyTorch
            // then skips the check; an archive where every record declares 0 is taken as written that way. In any
            // other archive a record whose CRC does not match, 0 included, is corrupt.
            if (_entries.Values.All(e => e.Crc32 == 0))
                _verifyCrc = false;
            string pickleName = FindDataPickle(firstName);
            _prefix = pickleName[..^"data.pkl".Length];

            var records = new Dictionary<string, string>(StringComparer.Ordinal) { ["prefix"] = _prefix };
            foreach (string record in new[] { "byteorder", "version", ".data/version", ".format_version", ".storage_alignment" })
            {
                if (_entries.TryGetValue(_prefix + record, out var e))
                    records[record] = ReadSmallText(e);
            }
            if (records.TryGetValue("byteorder", out var byteorder))
            {
                _bigEndian = byteorder switch
                {
                    "little" => false,
                    "big" => true,
                    _ => throw new TorchFormatException($"'{_prefix}byteorder' must be 'little' or 'big', got '{Shorten(byteorder)}'."),
                };
            }

            var pickleEntry = _entries[pickleName];
            if (pickleEntry.Length > options.MaxPickleBytes)
                throw new TorchFormatException($"'{pickleName}' declares {pickleEntry.Length} bytes, more than the limit of {options.MaxPickleBytes}.");
            byte[] pickle = ReadEntry(pickleEntry, pickleEntry.Length);
            using var pickleStream = new MemoryStream(pickle, writable: false);
            var input = new PickleInput(pickleStream, pickle.Length, pickleName, meter);
            object? root = new RestrictedUnpickler(input, options, PersistentLoad, meter).Load();
            TorchTree.Validate(root, options, pickleName);
            return new TorchCheckpoint(TorchFileFormat.Zip, root, _storages.Values.ToList(), records, meter.Limit);
        }

        /// <summary>
        /// Finds <c>&lt;prefix&gt;/data.pkl</c>. PyTorch names the prefix after the file (or <c>archive</c>) and
        /// reads it from the first record; any single top-level folder is accepted.
        /// </summary>
        private string FindDataPickle(string? firstName)
        {
            if (firstName is null)
                throw new TorchFormatException("the zip archive is empty: not a torch.save file.");
            int slash = firstName.IndexOf('/');
            if (slash > 0 && _entries.ContainsKey(firstName[..(slash + 1)] + "data.pkl"))
                return firstName[..(slash + 1)] + "data.pkl";
            var candidates = _entries.Keys.Where(n => n == "data.pkl" || (n.EndsWith("/data.pkl", StringComparison.Ordinal) && n.IndexOf('/') == n.Length - "/data.pkl".Length)).ToList();
            if (candidates.Count == 1)
                return candidates[0];
            if (candidates.Count > 1)
                throw new TorchFormatException($"zip archive holds several data.pkl records ({string.Join(", ", candidates.Take(5).Select(Shorten))}).");
            bool torchScript = _entries.Keys.Any(n => n.EndsWith("constants.pkl", StringComparison.Ordinal) || n.Contains("/code/", StringComparison.Ordinal));
            throw new TorchFormatException(torchScript
                ? "zip archive is a TorchScript module (torch.jit.save), not a torch.save file; it is not supported."
                : "zip archive has no '<prefix>/data.pkl' record: not a torch.save file.");
        }

        private string ReadSmallText(ZipArchiveEntry entry)
        {
            const int MaxRecord = 64;
            if (entry.Length > MaxRecord)
                throw new TorchFormatException($"record '{Shorten(entry.FullName)}' declares {entry.Length} bytes; at most {MaxRecord} expected.");
            return Encoding.UTF8.GetString(ReadEntry(entry, entry.Length)).Trim();
        }

        /// <summary>
        /// Reads the first <paramref name="count"/> bytes of an entry after checking the count against the
        /// entry's declared size, the archive's length, deflate's maximum expansion and the allocation budget, so
        /// that no declared number can size an allocation the archive cannot back. With
        /// <see cref="TorchReaderOptions.VerifyCrc32"/> the whole entry is read and its CRC-32 compared with the
        /// one its header declares.
        /// </summary>
        private byte[] ReadEntry(ZipArchiveEntry entry, long count)
        {
            string name = Shorten(entry.FullName);
            if (count > entry.Length)
                throw new TorchFormatException($"zip entry '{name}' holds {entry.Length} bytes, fewer than the {count} needed.");
            if (entry.CompressedLength > _streamLength)
                throw new TorchFormatException($"zip entry '{name}' declares {entry.CompressedLength} compressed bytes in an archive of {_streamLength} bytes.");
            long inflated = _verifyCrc ? entry.Length : count; // what will be decompressed
            if (inflated > entry.CompressedLength && inflated > entry.CompressedLength * MaxDeflateRatio + 1024)
                throw new TorchFormatException($"zip entry '{name}' claims {inflated} bytes from {entry.CompressedLength} compressed bytes (a zip bomb or corrupt directory).");
            if (count > Array.MaxLength)
                throw new TorchFormatException($"zip entry '{name}' needs {count} bytes, more than one .NET array holds.");
            meter.Reserve(count, $"zip entry '{name}'");
            var buffer = GC.AllocateUninitializedArray<byte>((int)count); // filled completely below or rejected
            var (total, rest, crc) = Zip(() =>
            {
                using var s = entry.Open();
                int read = 0;
                while (read < buffer.Length)
                {
                    int n = s.Read(buffer, read, buffer.Length - read);
                    if (n <= 0)
                        break;
                    read += n;
                }
                if (!_verifyCrc || read < buffer.Length)
                    return (read, 0L, 0u);
                var hash = new Crc32();
                hash.Append(buffer);
                long more = 0;
                Span<byte> scratch = stackalloc byte[4096];
                while (true) // the bytes past what the caller needs count for the CRC too
                {
                    int n = s.Read(scratch);
                    if (n <= 0)
                        break;
                    hash.Append(scratch[..n]);
                    more += n;
                    if (more > entry.Length - count)
                        break;
                }
                return (read, more, hash.GetCurrentHashAsUInt32());
            }, $"entry '{name}'");
            if (total < count)
                throw new TorchFormatException($"zip entry '{name}' ended after {total} of its {count} bytes (truncated or corrupt archive).");
            if (_verifyCrc)
            {
                if (count + rest != entry.Length)
                    throw new TorchFormatException($"zip entry '{name}' declares {entry.Length} bytes but holds {(count + rest > entry.Length ? "more" : (count + rest).ToString(System.Globalization.CultureInfo.InvariantCulture))} (truncated or corrupt archive).");
                if (crc != entry.Crc32)
                    throw new TorchFormatException(
                        $"zip entry '{name}' has CRC-32 0x{crc:X8} but its header declares 0x{entry.Crc32:X8}: the file is corrupt " +
                        "(TorchReaderOptions.VerifyCrc32 = false skips the check for archives written without CRCs).");
            }
            return buffer;
        }

        /// <summary>Resolves <c>('storage', storage_type, key, location, numel)</c> to the storage in <c>data/&lt;key&gt;</c>, once per key.</summary>
        private object PersistentLoad(TorchTuple pid)
        {
            const string Context = "persistent id";
            if (pid.Count != 5 || AsciiField(pid[0], "type", Context, 16) != "storage")
                throw new TorchFormatException($"{_prefix}data.pkl: persistent id must be ('storage', type, key, location, numel), got {pid.Count} fields.");
            var (dtype, untyped, key, location, numel) = ParseStorageId(pid, Context);
            if (_storages.TryGetValue(key, out var existing))
            {
                if (existing.DType != dtype || existing.ElementCount != numel)
                    throw new TorchFormatException(
                        $"storage '{key}' is referenced as {existing.ElementCount} x {existing.DType.ShortName()} and as {numel} x {dtype.ShortName()}.");
                return existing;
            }
            string name = _prefix + "data/" + key;
            if (!_entries.TryGetValue(name, out var entry))
                throw new TorchFormatException($"storage record '{Shorten(name)}' is missing from the zip archive.");
            long nbytes = CheckedMath.Multiply(numel, dtype.ElementSize(), $"storage '{key}' size");
            if (entry.Length < nbytes)
                throw new TorchFormatException(
                    $"zip entry '{Shorten(name)}' holds {entry.Length} bytes but its storage declares {numel} x {dtype.ShortName()} = {nbytes} bytes.");
            byte[] data = ReadEntry(entry, nbytes);
            if (_bigEndian)
                SwapBytes(data, dtype.ElementSize());
            var storage = new TorchStorage(key, dtype, numel, location, untyped);
            storage.SetData(data);
            _storages.Add(key, storage);
            return storage;
        }
    }

    // ---- legacy ------------------------------------------------------------------------------------

    private sealed class LegacyReader(Stream stream, TorchReaderOptions options, AllocationMeter meter)
    {
        private readonly Dictionary<string, TorchStorage> _objects = new(StringComparer.Ordinal); // roots and views, as PyTorch's deserialized_objects
        private readonly List<TorchStorage> _roots = new();
        private readonly List<TorchStorage> _views = new();

        public TorchCheckpoint Read()
        {
            // Each pickle and storage record starts where the previous one ended.
            object? magic = Unpickle("magic number", persistent: false);
            if (!(magic is long m ? new BigInteger(m) == LegacyMagic : magic is BigInteger b && b == LegacyMagic))
                throw new TorchFormatException($"not a PyTorch file: legacy magic number 0x1950a86a20f9469cfc6c expected, got {PythonRepr.Format(magic)}.");
            object? protocol = Unpickle("protocol version", persistent: false);
            if (protocol is not LegacyProtocolVersion)
                throw new TorchFormatException($"unsupported legacy protocol version {PythonRepr.Format(protocol)} (expected {LegacyProtocolVersion}).");
            object? sysInfo = Unpickle("sys_info", persistent: false);
            if (sysInfo is not TorchDict info)
                throw new TorchFormatException($"legacy sys_info must be a dict, got {PythonRepr.TypeName(sysInfo)}.");
            if (info.TryGetValue("little_endian", out var little) && little is false)
                throw new TorchFormatException("legacy file written on a big-endian machine; not supported.");

            object? root = Unpickle("object", persistent: true);
            TorchTree.Validate(root, options, "legacy file object");

            object? keys = Unpickle("storage keys", persistent: false);
            if (keys is not TorchList keyList)
                throw new TorchFormatException($"legacy storage key list must be a list, got {PythonRepr.TypeName(keys)}.");

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var k in keyList)
            {
                string key = AsciiField(k, "storage key", "legacy storage key list", MaxStorageKeyChars);
                if (!seen.Add(key))
                    throw new TorchFormatException($"legacy storage key '{key}' is listed twice.");
                if (!_objects.TryGetValue(key, out var storage) || storage.ViewRoot is not null)
                    throw new TorchFormatException($"legacy storage key '{key}' is listed but no tensor references it as a storage.");
                ReadStorage(storage);
            }
            foreach (var storage in _roots)
            {
                if (!storage.IsLoaded)
                    throw new TorchFormatException($"storage '{storage.Key}' is referenced but its data is not in the file.");
            }
            foreach (var view in _views)
            {
                int es = view.DType.ElementSize();
                view.SetData(view.ViewRoot!.Data.Slice((int)(view.ViewElementOffset * es), (int)(view.ElementCount * es)));
            }

            var records = new Dictionary<string, string>(StringComparer.Ordinal) { ["protocol_version"] = LegacyProtocolVersion.ToString() };
            foreach (var kv in info)
                if (kv.Key is string name && PythonRepr.IsScalar(kv.Value))
                    records[name] = PythonRepr.Format(kv.Value);
            return new TorchCheckpoint(TorchFileFormat.Legacy, root, _roots.Concat(_views).ToList(), records, meter.Limit);
        }

        private object? Unpickle(string what, bool persistent)
        {
            long end = Math.Min(stream.Length, stream.Position + options.MaxPickleBytes);
            var input = new PickleInput(stream, end, $"legacy file ({what} pickle)", meter);
            return new RestrictedUnpickler(input, options, persistent ? PersistentLoad : null, meter).Load();
        }

        /// <summary>Reads one raw storage record: an int64 element count, then the elements.</summary>
        private void ReadStorage(TorchStorage storage)
        {
            var record = new PickleInput(stream, stream.Length, $"legacy file (storage '{storage.Key}')", meter);
            long numel = record.ReadInt64();
            if (numel != storage.ElementCount)
                throw new TorchFormatException(
                    $"legacy storage '{storage.Key}': record holds {numel} elements but the pickle declared {storage.ElementCount}.");
            long nbytes = CheckedMath.Multiply(numel, storage.DType.ElementSize(), $"storage '{storage.Key}' size");
            byte[] data = record.ReadBytes(nbytes, $"storage '{storage.Key}'");
            storage.SetData(data);
        }

        /// <summary>
        /// Resolves <c>('storage', storage_type, root_key, location, numel, view_metadata)</c>; view_metadata is
        /// None or <c>(view_key, offset, size)</c> in elements. Roots are de-duplicated by key; their bytes come later.
        /// </summary>
        private object PersistentLoad(TorchTuple pid)
        {
            const string Context = "legacy persistent id";
            if (pid.Count == 0)
                throw new TorchFormatException($"{Context} is empty.");
            string kind = AsciiField(pid[0], "type", Context, 16);
            if (kind == "module")
                throw new TorchFormatException("the file pickles a whole nn.Module (its class and source); only tensors and containers are supported. Save a state_dict instead.");
            if (kind != "storage" || pid.Count != 6)
                throw new TorchFormatException($"{Context} must be ('storage', type, key, location, numel, view_metadata), got '{Shorten(kind)}' with {pid.Count} fields.");
            var (dtype, untyped, key, location, numel) = ParseStorageId(pid, Context);

            if (_objects.TryGetValue(key, out var root))
            {
                if (root.ViewRoot is not null || root.DType != dtype || root.ElementCount != numel)
                    throw new TorchFormatException($"legacy storage '{key}' is referenced with conflicting types or sizes.");
            }
            else
            {
                CheckedMath.Multiply(numel, dtype.ElementSize(), $"storage '{key}' size");
                root = new TorchStorage(key, dtype, numel, location, untyped);
                _objects.Add(key, root);
                _roots.Add(root);
            }

            switch (pid[5])
            {
                case null:
                    return root;
                case TorchTuple { Count: 3 } view:
                {
                    string viewKey = AsciiField(view[0], "view key", Context, MaxStorageKeyChars);
                    long offset = CountField(view[1], "view offset", Context);
                    long size = CountField(view[2], "view size", Context);
                    if (offset > numel || size > numel - offset)
                        throw new TorchFormatException($"legacy storage view '{viewKey}' ({offset} + {size} elements) runs past its storage '{key}' of {numel} elements.");
                    if (_objects.TryGetValue(viewKey, out var existing))
                    {
                        if (existing.ViewRoot != root || existing.ViewElementOffset != offset || existing.ElementCount != size)
                            throw new TorchFormatException($"legacy storage view '{viewKey}' is declared twice with different extents.");
                        return existing;
                    }
                    var v = new TorchStorage(viewKey, dtype, size, location, untyped) { ViewRoot = root, ViewElementOffset = offset };
                    _objects.Add(viewKey, v);
                    _views.Add(v);
                    return v;
                }
                default:
                    throw new TorchFormatException($"{Context} view metadata must be None or (key, offset, size), got {PythonRepr.Format(pid[5])}.");
            }
        }
    }

    private static string Shorten(string s) => s.Length <= 120 ? s : s[..117] + "...";
}
