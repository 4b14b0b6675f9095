// The fourth target: a training checkpoint folder of Recurrent.Training (manifest.json, training.json,
// model.safetensors, optimizer.safetensors, scheduler.safetensors, the caller's files). An input is the folder carried
// as a stored zip (one entry per file); a case unpacks it into a scratch folder, loads it with CheckpointStore.Load and
// restores it into the module, optimizer and scheduler it was saved from, as a resuming training loop does. Mutations edit one file of
// the folder (JSON-aware for the two .json files, the safetensors mutator for the tensor files, bytes otherwise),
// drop one, or add one, and usually re-seal the manifest (size and SHA-256 of the edited file) so the edit gets
// past the checksum to the parsers behind it.
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Recurrent.IO;
using Recurrent.Nn;
using Recurrent.Optim;
using Recurrent.Training;

namespace Recurrent.Fuzz;

/// <summary>
/// <see cref="CheckpointStore.Load(string)"/> then <see cref="Checkpoint.Restore"/>: the documented failure is a
/// <see cref="CheckpointException"/>.
/// </summary>
public sealed class CheckpointTarget : IFuzzTarget
{
    private static readonly string[] Numbers =
    {
        "0", "1", "-1", "2", "6", "7", "2147483647", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "1e308", "1.5", "-0", "1e400", "null", "true", "\"\"", "[]", "{}",
    };

    private static readonly string[] Names =
    {
        CheckpointStore.ManifestFileName, CheckpointStore.StateFileName, CheckpointStore.ModelFileName, CheckpointStore.OptimizerFileName,
        CheckpointStore.SchedulerFileName,
        "../escape.txt", "sub/dir.txt", ".hidden", "", "LATEST", "manifest.json ", "MODEL.SAFETENSORS",
    };

    [ThreadStatic] private static string? t_scratch;

    public string Name => "checkpoint";

    public long Budget(int length) => ReadBudget.Default(length);

    public bool IsDocumented(Exception e) => e is CheckpointException;

    /// <summary>The module every seed was saved from: a 2-layer LSTM(3, 4) (as the target restores into it).</summary>
    public static Lstm NewModule() => new(3, 4, numLayers: 2, generator: new Generator(7));

    /// <summary>The scheduler every seed with an optimizer was saved with (it has a counter of its own beyond the base's).</summary>
    public static CosineAnnealingWarmRestarts NewScheduler(Optimizer optimizer) => new(optimizer, t0: 3, tMult: 2);

    /// <summary>
    /// The seeds: one folder with an Adam state, a scheduler, generators, metadata and a file of the caller's; one with
    /// the weights only.
    /// </summary>
    public static IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        string root = Path.Combine(Path.GetTempPath(), $"recurrent-fuzz-seeds-{Guid.NewGuid():N}");
        try
        {
            var module = NewModule();
            var adam = new Adam(module.Parameters(), lr: 0.01);
            var x = Tensor.Randn([5, 2, 3], DType.Float32, new Generator(1));
            var (y, _) = module.Forward(x);
            y.Sum().Backward();
            adam.Step();
            var scheduler = NewScheduler(adam);
            for (int i = 0; i < 4; i++) scheduler.Step();
            var store = new CheckpointStore(Path.Combine(root, "full"));
            string full = store.Save(1, module, adam, new Dictionary<string, Generator> { ["data"] = new Generator(3) },
                new Dictionary<string, string> { ["vocab"] = "abc", ["note"] = "{\"json\": [1, 2]}" },
                [CheckpointFile.FromText("notes.txt", "caller's file\n")], scheduler);
            yield return ("lstm-adam.ckpt.zip", Pack(Unpacked(full)));
            string weights = new CheckpointStore(Path.Combine(root, "weights")).Save(0, NewModule());
            yield return ("lstm-weights.ckpt.zip", Pack(Unpacked(weights)));
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    public void Run(byte[] input, Action<string, long> stage)
    {
        var files = Unpack(input);
        string dir = t_scratch ??= Path.Combine(Path.GetTempPath(), $"recurrent-fuzz-checkpoint-{Environment.ProcessId}-{Environment.CurrentManagedThreadId}");
        if (Directory.Exists(dir))
            Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        foreach (var (name, bytes) in files)
            File.WriteAllBytes(Path.Combine(dir, name), bytes);

        var module = NewModule();
        var checkpoint = Stage.Run("load", stage, () => CheckpointStore.Load(dir));
        Stage.Run("restore", stage, () =>
        {
            var adam = checkpoint.HasOptimizerState ? new Adam(module.Parameters(), lr: 0.01) : null;
            var generators = checkpoint.GeneratorNames.Contains("data")
                ? new Dictionary<string, Generator> { ["data"] = new Generator(0) }
                : null;
            var scheduler = adam is not null && checkpoint.HasSchedulerState ? NewScheduler(adam) : null;
            // Generator.Default is shared by the fuzzing threads: leave it alone.
            checkpoint.Restore(module, adam, generators, restoreDefaultGenerator: false, scheduler);
            if (checkpoint.HasFile("notes.txt"))
                _ = checkpoint.ReadAllText("notes.txt");
            return checkpoint.Step + checkpoint.Metadata.Count;
        });
    }

    public byte[] Mutate(byte[] seed, IReadOnlyList<byte[]> corpus, Random rng, out string how)
    {
        var files = Unpack(seed);
        if (files.Count == 0)
        {
            how = "empty";
            return seed;
        }
        int choice = rng.Next(20);
        if (choice == 0)
        {
            int i = rng.Next(files.Count);
            how = "drop-" + files[i].Name;
            files.RemoveAt(i);
            return Pack(files);
        }
        if (choice == 1)
        {
            // A file the manifest does not list (ignored), or an entry name the manifest is edited to list.
            string name = Names[rng.Next(Names.Length)];
            how = "add-" + name;
            if (IsPlainZipName(name) && files.All(f => f.Name != name))
                files.Add((name, Encoding.UTF8.GetBytes("{}")));
            return Pack(Reseal(files, name, new byte[] { (byte)'{', (byte)'}' }, rng, force: true));
        }
        // Mostly the two JSON files, whose parsers sit behind the checksum.
        int pick = choice < 9 ? files.FindIndex(f => f.Name == CheckpointStore.ManifestFileName)
            : choice < 16 ? files.FindIndex(f => f.Name == CheckpointStore.StateFileName)
            : rng.Next(files.Count);
        if (pick < 0) pick = rng.Next(files.Count);
        var (target, bytes) = files[pick];
        byte[] mutated;
        if (target.EndsWith(".json", StringComparison.Ordinal))
            mutated = MutateJson(bytes, rng, out how);
        else if (target.EndsWith(".safetensors", StringComparison.Ordinal))
            mutated = new SafeTensorsTarget().Mutate(bytes, [bytes], rng, out how);
        else
            mutated = ByteMutator.Mutate(bytes, corpus, rng, out how);
        how = target + ":" + how;
        files[pick] = (target, mutated);
        if (target != CheckpointStore.ManifestFileName && rng.Next(4) != 0)
        {
            how += "+reseal";
            files = Reseal(files, target, mutated, rng, force: false);
        }
        return Pack(files);
    }

    // JSON-aware edits: a number or literal swapped for an interesting one, a structural character inserted or
    // deleted, a string value emptied or lengthened, a truncation; else a byte-level mutation.
    private static byte[] MutateJson(byte[] bytes, Random rng, out string how)
    {
        string text = Encoding.UTF8.GetString(bytes);
        switch (rng.Next(6))
        {
            case 0:
            case 1:
            {
                var spots = new List<(int At, int Length)>();
                for (int i = 0; i < text.Length; i++)
                {
                    if (char.IsDigit(text[i]) || (text[i] == '-' && i + 1 < text.Length && char.IsDigit(text[i + 1])))
                    {
                        int j = i + 1;
                        while (j < text.Length && (char.IsDigit(text[j]) || text[j] is '.' or 'e' or 'E' or '+' or '-')) j++;
                        spots.Add((i, j - i));
                        i = j;
                    }
                }
                if (spots.Count == 0) goto default;
                var (at, length) = spots[rng.Next(spots.Count)];
                how = "json-number";
                return Encoding.UTF8.GetBytes(text[..at] + Numbers[rng.Next(Numbers.Length)] + text[(at + length)..]);
            }
            case 2:
            {
                const string Json = "{}[]\",:0123456789-eE. \\u";
                int at = rng.Next(text.Length + 1);
                how = "json-char";
                return Encoding.UTF8.GetBytes(rng.Next(2) == 0 && at < text.Length
                    ? text[..at] + text[(at + 1)..]
                    : text[..at] + Json[rng.Next(Json.Length)] + text[at..]);
            }
            case 3:
            {
                // A string value replaced: empty, a path, a long run, a name of another file.
                int q = text.IndexOf(":\"", rng.Next(Math.Max(1, text.Length)), StringComparison.Ordinal);
                if (q < 0) q = text.IndexOf(":\"", StringComparison.Ordinal);
                if (q < 0) goto default;
                int end = text.IndexOf('"', q + 2);
                if (end < 0) goto default;
                string[] values = { "", "../model.safetensors", new string('a', 1 + rng.Next(4096)), CheckpointStore.ModelFileName, "\\u0000", "recurrent-checkpoint" };
                how = "json-string";
                return Encoding.UTF8.GetBytes(text[..(q + 2)] + values[rng.Next(values.Length)] + text[end..]);
            }
            case 4:
                how = "json-truncate";
                return Encoding.UTF8.GetBytes(text[..rng.Next(text.Length + 1)]);
            default:
                return ByteMutator.Mutate(bytes, [bytes], rng, out how);
        }
    }

    // The manifest with the entry of `name` set to the size and SHA-256 of `content` (added when `force`).
    private static List<(string Name, byte[] Bytes)> Reseal(List<(string Name, byte[] Bytes)> files, string name, byte[] content, Random rng, bool force)
    {
        int m = files.FindIndex(f => f.Name == CheckpointStore.ManifestFileName);
        if (m < 0) return files;
        JsonNode? root;
        try { root = JsonNode.Parse(files[m].Bytes); }
        catch (System.Text.Json.JsonException) { return files; }
        if (root?["files"] is not JsonArray list) return files;
        JsonObject? entry = list.OfType<JsonObject>().FirstOrDefault(e => e["name"]?.GetValueKind() == System.Text.Json.JsonValueKind.String && (string?)e["name"] == name);
        if (entry is null)
        {
            if (!force) return files;
            entry = new JsonObject { ["name"] = name };
            list.Insert(rng.Next(list.Count + 1), entry);
        }
        entry["bytes"] = content.Length;
        entry["sha256"] = Convert.ToHexStringLower(SHA256.HashData(content));
        files[m] = (files[m].Name, Encoding.UTF8.GetBytes(root.ToJsonString()));
        return files;
    }

    private static bool IsPlainZipName(string name) =>
        name.Length > 0 && name.IndexOfAny(['/', '\\']) < 0 && name is not "." and not "..";

    private static List<(string Name, byte[] Bytes)> Unpacked(string folder) =>
        Directory.GetFiles(folder).OrderBy(f => f, StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();

    /// <summary>The files of a carried folder (plain names only; anything else in the container is skipped).</summary>
    public static List<(string Name, byte[] Bytes)> Unpack(byte[] input)
    {
        var files = new List<(string, byte[])>();
        using var zip = new ZipArchive(new MemoryStream(input, writable: false), ZipArchiveMode.Read);
        foreach (var e in zip.Entries)
        {
            if (!IsPlainZipName(e.FullName) || e.Length > 1 << 24) continue;
            using var s = e.Open();
            var ms = new MemoryStream();
            s.CopyTo(ms);
            files.Add((e.FullName, ms.ToArray()));
        }
        return files;
    }

    /// <summary>A folder's files as a stored zip.</summary>
    public static byte[] Pack(IEnumerable<(string Name, byte[] Bytes)> files) => ZipMutator.Pack(files);
}
