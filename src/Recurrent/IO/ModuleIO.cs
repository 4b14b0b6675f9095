// Saving and loading a Module's state dict as a safetensors file, with PyTorch's key names
// (the file loads with safetensors.torch.load_model / load_file + load_state_dict).
using Recurrent.Nn;

namespace Recurrent.IO;

/// <summary>Module weights as safetensors files: <c>model.Save(path)</c> / <c>model.Load(path)</c>.</summary>
public static class ModuleIO
{
    /// <summary>
    /// Writes <paramref name="module"/>'s <see cref="Module.StateDict"/> (parameters and buffers under PyTorch's keys, in
    /// their dtypes) to <paramref name="path"/> atomically, with <c>"format": "pt"</c> plus <paramref name="metadata"/>
    /// in the header, as <c>safetensors.torch.save_model</c>.
    /// </summary>
    /// <remarks>
    /// A tensor registered under several keys (tied weights: <c>decoder.Weight = encoder.Weight</c>) is written once,
    /// under the first of its keys in ordinal order, and each other key goes into the metadata as
    /// <c>"other key": "kept key"</c> (unless <paramref name="metadata"/> has that key), as <c>save_model</c> does, so
    /// <c>safetensors.torch.load_model</c> and <see cref="Load"/> restore the tie.
    /// </remarks>
    public static void Save(this Module module, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Guard.NotNull(module, nameof(module));
        var meta = new Dictionary<string, string>(StringComparer.Ordinal) { ["format"] = "pt" };
        if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
        TensorIO.WriteTensors(path, FileStateDict(module, meta), meta);
    }

    /// <summary>
    /// <paramref name="module"/>'s state dict as a file holds it: a tensor under several keys (tied weights) once,
    /// under the first key in ordinal order, each other key recorded in <paramref name="metadata"/> as
    /// <c>"other key": "kept key"</c> where the metadata does not already have it (<c>save_model</c>'s rule).
    /// </summary>
    internal static Dictionary<string, Tensor> FileStateDict(Module module, Dictionary<string, string> metadata)
    {
        var stateDict = module.StateDict();
        foreach (var group in SharedKeys(stateDict))
            foreach (var key in group.Skip(1))
            {
                metadata.TryAdd(key, group[0]);
                stateDict.Remove(key);
            }
        return stateDict;
    }

    /// <summary>
    /// <paramref name="tensors"/> with each key that shares a tensor in <paramref name="module"/> (tied weights) given
    /// the value of a key of its group the file has: a copy when a key is added, else <paramref name="tensors"/> itself.
    /// </summary>
    internal static IReadOnlyDictionary<string, Tensor> WithTiedKeys(Module module, IReadOnlyDictionary<string, Tensor> tensors)
    {
        Dictionary<string, Tensor>? filled = null;
        foreach (var group in SharedKeys(module.StateDict()))
            if (group.FirstOrDefault(tensors.ContainsKey) is { } present)
                foreach (var key in group)
                    if (!tensors.ContainsKey(key))
                    {
                        filled ??= new Dictionary<string, Tensor>(tensors, StringComparer.Ordinal);
                        filled[key] = tensors[present];
                    }
        return filled ?? tensors;
    }

    /// <summary>
    /// Loads weights written by <see cref="Save"/> (or by PyTorch's safetensors) into <paramref name="module"/> through
    /// <see cref="Module.LoadStateDict"/>: shapes must match, values are converted to each parameter's dtype, and with
    /// <paramref name="strict"/> missing or unexpected keys raise (nothing is changed then).
    /// A PyTorch <c>.pt</c>/<c>.pth</c>/<c>.ckpt</c> file is not safetensors: read it with
    /// <c>Recurrent.IO.Torch.TorchCheckpoint.Load(path).LoadInto(module)</c>.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">The file is not valid safetensors; for a PyTorch file (a zip archive
    /// or a pickle) the message says so and how to load it.</exception>
    /// <remarks>
    /// Keys that share one tensor in <paramref name="module"/> (tied weights) are one entry: the file needs only one of
    /// them (a file written by <see cref="Save"/> or <c>save_model</c> has one), and it loads into the shared tensor.
    /// </remarks>
    public static LoadStateDictResult Load(this Module module, string path, bool strict = true)
    {
        Guard.NotNull(module, nameof(module));
        return module.LoadStateDict(WithTiedKeys(module, TensorIO.ReadTensors(path)), strict);
    }

    // The state_dict keys that reach one tensor, each group of two or more in ordinal order (safetensors keeps the
    // first); groups in the order of their first key.
    private static List<List<string>> SharedKeys(Dictionary<string, Tensor> stateDict)
    {
        var groups = new List<List<string>>();
        var byStorage = new Dictionary<Array, List<(Tensor First, List<string> Keys)>>(ReferenceEqualityComparer.Instance);
        foreach (var (key, t) in stateDict)
        {
            if (!byStorage.TryGetValue(t.Data, out var views)) byStorage[t.Data] = views = new();
            int g = views.FindIndex(v => v.First.IsSameView(t));
            if (g >= 0) views[g].Keys.Add(key);
            else
            {
                views.Add((t, [key]));
                groups.Add(views[^1].Keys);
            }
        }
        var shared = groups.Where(g => g.Count > 1).ToList();
        foreach (var g in shared) g.Sort(StringComparer.Ordinal);
        return shared;
    }
}
