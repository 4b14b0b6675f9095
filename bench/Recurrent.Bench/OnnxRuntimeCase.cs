// A recurrent case of the grid run by ONNX Runtime (the inference anchor a .NET user would otherwise pick): the
// same module, weights and input as RecurrentCase (same seed), exported with Recurrent.Onnx to a temporary .onnx
// file, then executed on ORT's CPU provider with intra-op threads = --threads (ORT's pool: the calling thread plus
// N-1 workers; inter-op parallelism off, sequential execution, all graph optimizations). Inputs and outputs are
// bound once (OrtIoBinding over preallocated tensors), so an iteration is one RunWithBinding: what ORT does
// to compute output and h_n (c_n) for the input. Inference only.
using Microsoft.ML.OnnxRuntime;
using Recurrent.Onnx;

namespace Recurrent.Bench;

internal sealed class OnnxRuntimeCase : IBenchCase
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private readonly OrtIoBinding _binding;
    private readonly List<IDisposable> _owned = new();
    private readonly string _path;

    public OnnxRuntimeCase(RecurrentCaseSpec spec, int threads)
    {
        var reference = new RecurrentCase(spec, "inference");
        Name = spec.Name;
        Flops = spec.Flops("inference");
        MinIters = spec.MinIters;
        _path = Path.Combine(Path.GetTempPath(), $"recurrent-bench-{spec.Name}-{Environment.ProcessId}.onnx");
        var model = reference.Model;
        var x = reference.Input;
        var result = OnnxExport.Export(model, x, null, _path);
        var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        _owned.Add(options);
        _session = new InferenceSession(_path, options);
        _binding = _session.CreateIoBinding();
        var input = OrtValue.CreateTensorValueFromMemory(x.Contiguous().ToArray<float>(), x.Shape.ToArray().Select(d => (long)d).ToArray());
        _owned.Add(input);
        _binding.BindInput("input", input);
        // Output shapes from the reference forward.
        using (new NoGrad())
        {
            var (o, s) = model.Forward(x);
            Bind("output", o);
            Bind("h_n", s.H);
            if (s.C is { } c) Bind("c_n", c);
        }
        _ = result;
    }

    private void Bind(string name, Tensor like)
    {
        var buffer = new float[like.Numel];
        var v = OrtValue.CreateTensorValueFromMemory(buffer, like.Shape.ToArray().Select(d => (long)d).ToArray());
        _owned.Add(v);
        _binding.BindOutput(name, v);
    }

    public string Name { get; }
    public string? Phase => "inference";
    public double Flops { get; }
    public int MinIters { get; }

    public void Iterate() => _session.RunWithBinding(_run, _binding);

    public void Dispose()
    {
        _binding.Dispose();
        _session.Dispose();
        _run.Dispose();
        foreach (var d in _owned) d.Dispose();
        try { File.Delete(_path); } catch (IOException) { }
    }
}
