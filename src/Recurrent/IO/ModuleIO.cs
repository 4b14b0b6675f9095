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
    public static void Save(this Module module, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Guard.NotNull(module, nameof(module));
        var meta = new Dictionary<string, string>(StringComparer.Ordinal) { ["format"] = "pt" };
        if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
        TensorIO.WriteTensors(path, module.StateDict(), meta);
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
    public static LoadStateDictResult Load(this Module module, string path, bool strict = true)
    {
        Guard.NotNull(module, nameof(module));
        return module.LoadStateDict(TensorIO.ReadTensors(path), strict);
    }
}
