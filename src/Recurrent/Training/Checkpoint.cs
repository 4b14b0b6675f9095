// A checkpoint read back from disk and verified against its manifest: step, metadata, generator states, the tensors,
// the caller's files, and Restore, which puts all of it back into a module, an optimizer and generators at once.
using System.Text;
using System.Text.Json;
using Recurrent.IO;
using Recurrent.Quantization;
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Training;

/// <summary>A verified checkpoint folder (see <see cref="CheckpointStore"/>).</summary>
/// <remarks>
/// Every file was checked against the manifest's size and SHA-256 when the checkpoint was loaded; the tensors are read
/// when asked for (<see cref="ReadModelState"/>, <see cref="Restore"/>).
/// </remarks>
public sealed class Checkpoint
{
    private readonly Dictionary<string, ulong[]> _generators;

    private Checkpoint(string folder, CheckpointManifest manifest, TrainingStateFile? state)
    {
        Folder = folder;
        Manifest = manifest;
        Step = state?.Step ?? manifest.Step;
        Threads = state?.Threads is > 0 ? state.Threads : null;
        ModuleType = state?.Module;
        OptimizerType = state?.Optimizer;
        SchedulerType = state?.Scheduler;
        _generators = state?.Generators ?? [];
        Metadata = state?.Metadata ?? [];
    }

    /// <summary>The checkpoint folder (full path).</summary>
    public string Folder { get; }

    /// <summary>Its manifest.</summary>
    public CheckpointManifest Manifest { get; }

    /// <summary>The step it was taken after.</summary>
    public long Step { get; }

    /// <summary>The kernel thread count when it was saved (null for format 1). Bit-for-bit resume needs the same count.</summary>
    public int? Threads { get; }

    /// <summary>The saved module's type name (for information).</summary>
    public string? ModuleType { get; }

    /// <summary>The saved optimizer's type name, or null when no optimizer was saved.</summary>
    public string? OptimizerType { get; }

    /// <summary>The saved learning-rate scheduler's type name, or null when no scheduler was saved.</summary>
    public string? SchedulerType { get; }

    /// <summary>The caller's metadata.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The names of the saved generator states ("default" is <see cref="Generator.Default"/>).</summary>
    public IReadOnlyCollection<string> GeneratorNames => _generators.Keys;

    /// <summary>Whether the optimizer's state was saved.</summary>
    public bool HasOptimizerState => Manifest.Contains(CheckpointStore.OptimizerFileName);

    /// <summary>Whether a learning-rate scheduler's state was saved.</summary>
    public bool HasSchedulerState => Manifest.Contains(CheckpointStore.SchedulerFileName);

    /// <summary>A copy of the saved state of generator <paramref name="name"/>, or null.</summary>
    public ulong[]? GetGeneratorState(string name) => _generators.TryGetValue(name, out var s) ? (ulong[])s.Clone() : null;

    /// <summary>Whether the saved model is dynamically quantized (int8 weights: load it with <see cref="RestoreQuantized"/>).</summary>
    /// <exception cref="CheckpointException">model.safetensors is missing or unreadable (<see cref="CheckpointProblem.Damaged"/>).</exception>
    public bool ModelIsQuantized => Quantization.Quantizer.IsQuantizedFile(ReadFile(CheckpointStore.ModelFileName));

    /// <summary>
    /// Loads a dynamically quantized model's weights into <paramref name="module"/> (same architecture, float or
    /// quantized; see <see cref="Quantization.Quantizer.LoadQuantized{TModule}(TModule, string, bool)"/>).
    /// </summary>
    /// <exception cref="CheckpointException">The saved model is not quantized or does not fit <paramref name="module"/>.</exception>
    public void RestoreQuantized(Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var file = ReadFile(CheckpointStore.ModelFileName);
        if (!Quantization.Quantizer.IsQuantizedFile(file))
            throw Mismatch($"the checkpoint '{Folder}' holds a float model; restore it with Restore (or quantize it with Quantizer.QuantizeDynamic).");
        try { module.LoadQuantized(file); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            throw Mismatch($"the quantized model in '{Folder}' does not fit {module.TypeName}: {e.Message}");
        }
    }

    /// <summary>
    /// The saved weights (module.StateDict(): PyTorch's keys, each tensor in its dtype). A tensor the module held under
    /// several keys (tied weights), which the file holds once, is returned under each of them, as one tensor.
    /// </summary>
    /// <exception cref="CheckpointException">model.safetensors is missing or unreadable.</exception>
    public Dictionary<string, Tensor> ReadModelState()
    {
        var file = ReadFile(CheckpointStore.ModelFileName);
        var tensors = ToTensors(file, CheckpointStore.ModelFileName);
        // The store writes "other key": "kept key" for each key of a tied tensor it left out (ModuleIO.FileStateDict).
        foreach (var (key, kept) in file.Metadata)
            if (!tensors.ContainsKey(key) && tensors.TryGetValue(kept, out var t)) tensors[key] = t;
        return tensors;
    }

    /// <summary>The saved optimizer state (optimizer.StateDict()), or null when none was saved.</summary>
    /// <exception cref="CheckpointException">optimizer.safetensors is unreadable.</exception>
    public Dictionary<string, Tensor>? ReadOptimizerState() => HasOptimizerState ? ReadTensors(CheckpointStore.OptimizerFileName) : null;

    /// <summary>The scheduler's state (<see cref="ILrScheduler.StateDict"/>), or null when none was saved.</summary>
    public Dictionary<string, Tensor>? ReadSchedulerState() => HasSchedulerState ? ReadTensors(CheckpointStore.SchedulerFileName) : null;

    /// <summary>Whether the checkpoint holds a file named <paramref name="name"/> (one of the caller's, or the store's).</summary>
    public bool HasFile(string name) => Manifest.Contains(name);

    /// <summary>The full path of the file <paramref name="name"/>.</summary>
    /// <exception cref="CheckpointException">The checkpoint has no such file (<see cref="CheckpointProblem.Incomplete"/>).</exception>
    public string GetFilePath(string name)
    {
        if (!HasFile(name))
            throw new CheckpointException(CheckpointProblem.Incomplete, Folder, $"the checkpoint '{Folder}' has no {name}.");
        return Path.Combine(Folder, name);
    }

    /// <summary>The bytes of the file <paramref name="name"/>.</summary>
    /// <exception cref="CheckpointException">The checkpoint has no such file.</exception>
    public byte[] ReadAllBytes(string name) => File.ReadAllBytes(GetFilePath(name));

    /// <summary>The text of the UTF-8 file <paramref name="name"/>.</summary>
    /// <exception cref="CheckpointException">The checkpoint has no such file.</exception>
    public string ReadAllText(string name) => File.ReadAllText(GetFilePath(name), Encoding.UTF8);

    /// <summary>
    /// Puts the checkpoint back: the weights into <paramref name="module"/> (strict: the same keys and shapes), the
    /// optimizer state into <paramref name="optimizer"/> (built over the module's parameters in the same order, like
    /// the saved one), the scheduler's progress into <paramref name="scheduler"/> (built with the same arguments), each
    /// of <paramref name="generators"/> to its saved state, and <see cref="Generator.Default"/> when
    /// <paramref name="restoreDefaultGenerator"/>. Everything is checked first: when it throws, nothing changed.
    /// </summary>
    /// <param name="module">A module of the saved architecture (freshly built, or the one being trained).</param>
    /// <param name="optimizer">The optimizer to restore, or null to restore the weights only.</param>
    /// <param name="generators">Generators to restore, by the names they were saved under.</param>
    /// <param name="restoreDefaultGenerator">Also set <see cref="Generator.Default"/> to its saved state (when saved).</param>
    /// <param name="scheduler">The learning-rate scheduler of <paramref name="optimizer"/> to restore, or null.</param>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointProblem.Mismatch"/>: other keys or shapes, no optimizer state or another optimizer type, no
    /// scheduler state or another scheduler type or state, a generator that was not saved;
    /// <see cref="CheckpointProblem.Damaged"/>: a tensor file cannot be read.
    /// </exception>
    /// <exception cref="ArgumentException"><paramref name="scheduler"/> without <paramref name="optimizer"/>, or of another optimizer.</exception>
    public void Restore(Module module, Optimizer? optimizer = null, IReadOnlyDictionary<string, Generator>? generators = null,
        bool restoreDefaultGenerator = true, ILrScheduler? scheduler = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckpointStore.CheckScheduler(scheduler, optimizer);

        // 1. Read and check everything that can be checked without changing anything.
        var modelFile = ReadFile(CheckpointStore.ModelFileName);   // read and parsed once
        if (Quantization.Quantizer.IsQuantizedFile(modelFile))
            throw Mismatch($"the checkpoint '{Folder}' holds a dynamically quantized model (inference only); load it with RestoreQuantized.");
        Dictionary<string, Tensor> weights = ToTensors(modelFile, CheckpointStore.ModelFileName);
        Dictionary<string, Tensor>? optimizerState = optimizer is null ? null
            : SavedState(CheckpointStore.OptimizerFileName, OptimizerType, optimizer, "optimizer", "(it was saved without an optimizer); restore the module only");
        var generatorStates = new List<(Generator Generator, ulong[] State)>();
        foreach (var (name, g) in generators ?? new Dictionary<string, Generator>())
        {
            ArgumentNullException.ThrowIfNull(g, nameof(generators));
            if (!_generators.TryGetValue(name, out var s))
                throw Mismatch($"the checkpoint '{Folder}' has no state for the generator \"{name}\" (it has: {Names()}).");
            generatorStates.Add((g, s));
        }
        Action? loadScheduler = null;
        if (scheduler is not null)
        {
            var schedulerState = SavedState(CheckpointStore.SchedulerFileName, SchedulerType, scheduler, "scheduler", "(it was saved without a scheduler); restore without one");
            try { loadScheduler = scheduler.PrepareLoad(schedulerState); }
            catch (ArgumentException e) { throw Mismatch($"the scheduler state in '{Folder}' does not fit the {scheduler.GetType().Name}: {e.Message}", e); }
        }
        if (restoreDefaultGenerator && _generators.TryGetValue(CheckpointStore.DefaultGeneratorName, out var d))
            generatorStates.Add((Generator.Default, d));
        foreach (var (_, s) in generatorStates)
            if (Generator.StateError(s) is { } error)
                throw new CheckpointException(CheckpointProblem.Damaged, Folder, $"the checkpoint '{Folder}' has a damaged {CheckpointStore.StateFileName}: a generator state is not valid ({error}).");

        // 2. The module (it validates every key and shape before copying), keeping a copy to roll back to.
        var before = module.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone(), StringComparer.Ordinal);
        var parametersBefore = module.Parameters().ToHashSet(ReferenceEqualityComparer.Instance);
        try { module.LoadStateDict(ModuleIO.WithTiedKeys(module, weights), strict: true); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw Mismatch($"the weights in '{Folder}' do not fit the {module.TypeName}: {e.Message}", e);
        }

        // 3. The optimizer (it validates before changing anything); on failure the module goes back as it was.
        if (optimizer is not null)
        {
            try
            {
                var parametersAfter = module.Parameters().ToHashSet(ReferenceEqualityComparer.Instance);
                foreach (var group in optimizer.ParamGroups)
                    foreach (var p in group.Params)
                        if (parametersBefore.Contains(p) && !parametersAfter.Contains(p))
                            throw new InvalidOperationException(
                                "loading the weights replaced parameter tensors that the optimizer holds; create the optimizer after restoring the module (or after FlattenParameters).");
                optimizer.LoadStateDict(optimizerState!);
            }
            catch (Exception e)
            {
                // Whatever failed, the module goes back as it was ("nothing changed when it throws").
                module.LoadStateDict(before, strict: true);
                if (e is InvalidOperationException or ArgumentException or KeyNotFoundException)
                    throw Mismatch($"the optimizer state in '{Folder}' does not fit the optimizer: {e.Message}", e);
                throw;
            }
        }

        // 4. The scheduler and the generators (checked above; loading them cannot fail).
        loadScheduler?.Invoke();
        foreach (var (g, s) in generatorStates) g.SetState(s);
    }

    // The saved state of an optimizer or a scheduler; none saved, or another type's, is a Mismatch.
    private Dictionary<string, Tensor> SavedState(string file, string? savedType, object target, string what, string whenNone)
    {
        if (!Manifest.Contains(file)) throw Mismatch($"the checkpoint '{Folder}' holds no {what} state {whenNone}.");
        string type = target.GetType().Name;
        if (savedType is not null && savedType != type)
            throw Mismatch($"the checkpoint '{Folder}' holds the state of a {savedType} {what}, not of a {type}; create a {savedType} to resume it.");
        return ReadTensors(file);
    }

    /// <summary>Reads and verifies <paramref name="folder"/>.</summary>
    internal static Checkpoint Read(string folder)
    {
        CheckpointManifest manifest = CheckpointStore.Verify(folder);
        folder = Path.GetFullPath(folder);
        if (!manifest.Contains(CheckpointStore.ModelFileName))
            throw new CheckpointException(CheckpointProblem.Incomplete, folder, $"the checkpoint '{folder}' has no {CheckpointStore.ModelFileName}.");
        TrainingStateFile? state = null;
        if (manifest.Contains(CheckpointStore.StateFileName))
        {
            try { state = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(folder, CheckpointStore.StateFileName)), CheckpointJson.Default.TrainingStateFile); }
            catch (JsonException e)
            {
                throw new CheckpointException(CheckpointProblem.Damaged, folder, $"the checkpoint '{folder}' has a damaged {CheckpointStore.StateFileName}: {e.Message}", e);
            }
            if (state is null || state.Step != manifest.Step || state.Generators is null || state.Metadata is null
                || state.Generators.Values.Any(g => g is not { Length: 6 }))
                throw new CheckpointException(CheckpointProblem.Damaged, folder,
                    $"the checkpoint '{folder}' has a damaged {CheckpointStore.StateFileName} (its step or generator states do not fit the manifest).");
        }
        else if (manifest.FormatVersion >= 2)
        {
            throw new CheckpointException(CheckpointProblem.Incomplete, folder, $"the checkpoint '{folder}' has no {CheckpointStore.StateFileName}.");
        }
        return new Checkpoint(folder, manifest, state);
    }

    private Dictionary<string, Tensor> ReadTensors(string name) => ToTensors(ReadFile(name), name);

    // A tensor file of the checkpoint, parsed; a file that is not valid safetensors is Damaged.
    private SafeTensorsFile ReadFile(string name)
    {
        byte[] bytes = ReadAllBytes(name);
        try { return SafeTensorsFile.Read(bytes); }
        catch (Exception e) when (e is SafeTensorsFormatException or NotSupportedException) { throw Unusable(name, e); }
    }

    private Dictionary<string, Tensor> ToTensors(SafeTensorsFile file, string name)
    {
        try { return TensorIO.ToTensors(file); }
        catch (Exception e) when (e is SafeTensorsFormatException or NotSupportedException) { throw Unusable(name, e); }
    }

    private CheckpointException Unusable(string name, Exception e) =>
        new(CheckpointProblem.Damaged, Folder, $"the checkpoint '{Folder}' has an unusable {name}: {e.Message}", e);

    private string Names() => _generators.Count == 0 ? "none" : string.Join(", ", _generators.Keys.Order(StringComparer.Ordinal));

    private CheckpointException Mismatch(string message, Exception? inner = null) =>
        new(CheckpointProblem.Mismatch, Folder, message, inner);
}
