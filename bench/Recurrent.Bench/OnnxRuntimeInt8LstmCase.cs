// An LSTM case of the grid run by ONNX Runtime's int8 LSTM (the com.microsoft DynamicQuantizeLSTM contrib operator):
// the anchor for `--quantize int8`. The same module, weights and input as RecurrentCase (same seed); each layer
// becomes one DynamicQuantizeLSTM node whose W and R are int8, symmetric, one scale per gate row (per channel,
// zero point 0: the scheme Quantizer.QuantizeDynamic uses), with ONNX's gate order (i, o, f, c) and layout
// (W: [directions, input, 4H], R: [directions, H, 4H], B: [directions, 8H]). Activations are quantized to uint8 by
// ORT at run time. Between layers, Y [seq, directions, batch, H] becomes [seq, batch, directions * H]. Run on the
// CPU provider with intra-op threads = --threads, sequential execution, inputs and outputs bound once, as
// OnnxRuntimeCase. Before timing, the output is compared with our float32 forward and the largest difference is
// written to standard error (a check that the graph computes the same LSTM).
using Microsoft.ML.OnnxRuntime;
using Recurrent.Nn;
using Recurrent.Onnx.Proto;

namespace Recurrent.Bench;

internal sealed class OnnxRuntimeInt8LstmCase : IBenchCase
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private readonly OrtIoBinding _binding;
    private readonly List<IDisposable> _owned = new();
    private readonly string _path;

    public OnnxRuntimeInt8LstmCase(RecurrentCaseSpec spec, int threads)
    {
        if (spec.Mode != "LSTM" || spec.BatchFirst)
            throw new ArgumentException($"case {spec.Name}: the int8 ONNX Runtime anchor builds LSTM stacks (seq, batch, feature) only, got {spec.Mode}{(spec.BatchFirst ? " batch_first" : "")}.");
        var reference = new RecurrentCase(spec, "inference");
        Name = spec.Name;
        Flops = spec.Flops("inference");
        MinIters = spec.MinIters;
        _path = Path.Combine(Path.GetTempPath(), $"recurrent-bench-int8-{spec.Name}-{Environment.ProcessId}.onnx");
        File.WriteAllBytes(_path, Build(spec, reference.Model).ToBytes());

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
        var x = reference.Input;
        var input = OrtValue.CreateTensorValueFromMemory(x.Contiguous().ToArray<float>(), x.Shape.ToArray().Select(d => (long)d).ToArray());
        _owned.Add(input);
        _binding.BindInput("input", input);
        Tensor expected;
        float[] output;
        using (new NoGrad())
        {
            var (o, s) = reference.Model.Forward(x);
            expected = o;
            output = Bind("output", o);
            Bind("h_n", s.H);
            Bind("c_n", s.C!);
        }
        _session.RunWithBinding(_run, _binding);
        var e = expected.ToArray<float>();
        double worst = 0;
        for (int i = 0; i < e.Length; i++) worst = Math.Max(worst, Math.Abs(e[i] - output[i]));
        Console.Error.WriteLine($"{Name}: ONNX Runtime int8 output vs our float32: max abs difference {worst:E2}");
    }

    /// <summary>The graph: one DynamicQuantizeLSTM per layer, h_n and c_n concatenated over layers.</summary>
    private static OnnxModel Build(RecurrentCaseSpec spec, RecurrentBase lstm)
    {
        int H = spec.HiddenSize, D = spec.Directions, L = spec.NumLayers;
        var model = new OnnxModel { IrVersion = 8, Opset = 17, GraphName = spec.Name + "_int8" };
        model.OtherOpsets.Add(new("com.microsoft", 1));
        model.Inputs.Add(new OnnxValueInfo("input", OnnxElementType.Float, [(long)spec.SeqLen, (long)spec.Batch, (long)spec.InputSize]));
        var sd = lstm.StateDict();
        string x = "input";
        var hs = new List<string>();
        var cs = new List<string>();
        for (int l = 0; l < L; l++)
        {
            int inSize = l == 0 ? spec.InputSize : D * H;
            var w = new sbyte[D * inSize * 4 * H];
            var r = new sbyte[D * H * 4 * H];
            var ws = new float[D * 4 * H];
            var rs = new float[D * 4 * H];
            var b = new float[D * 8 * H];
            for (int d = 0; d < D; d++)
            {
                string suffix = $"_l{l}" + (d == 1 ? "_reverse" : "");
                Quantize(sd["weight_ih" + suffix].ToArray<float>(), 4 * H, inSize, H, w.AsSpan(d * inSize * 4 * H), ws.AsSpan(d * 4 * H));
                Quantize(sd["weight_hh" + suffix].ToArray<float>(), 4 * H, H, H, r.AsSpan(d * H * 4 * H), rs.AsSpan(d * 4 * H));
                Reorder(sd["bias_ih" + suffix].ToArray<float>(), H, b.AsSpan(d * 8 * H, 4 * H));
                Reorder(sd["bias_hh" + suffix].ToArray<float>(), H, b.AsSpan(d * 8 * H + 4 * H, 4 * H));
            }
            string p = $"l{l}_";
            model.Initializers.Add(OnnxTensor.FromInt8s(p + "W", [D, inSize, 4 * H], w));
            model.Initializers.Add(OnnxTensor.FromInt8s(p + "R", [D, H, 4 * H], r));
            model.Initializers.Add(OnnxTensor.FromFloats(p + "B", [D, 8 * H], b));
            model.Initializers.Add(OnnxTensor.FromFloats(p + "W_scale", [D, 4 * H], ws));
            model.Initializers.Add(OnnxTensor.FromInt8s(p + "W_zero_point", [D, 4 * H], new sbyte[D * 4 * H]));
            model.Initializers.Add(OnnxTensor.FromFloats(p + "R_scale", [D, 4 * H], rs));
            model.Initializers.Add(OnnxTensor.FromInt8s(p + "R_zero_point", [D, 4 * H], new sbyte[D * 4 * H]));
            model.Nodes.Add(new OnnxNode("DynamicQuantizeLSTM", p + "lstm",
                [x, p + "W", p + "R", p + "B", "", "", "", "", p + "W_scale", p + "W_zero_point", p + "R_scale", p + "R_zero_point"],
                [p + "Y", p + "Y_h", p + "Y_c"],
                [OnnxAttribute.Of("hidden_size", (long)H), OnnxAttribute.Of("direction", D == 2 ? "bidirectional" : "forward")])
            { Domain = "com.microsoft" });
            hs.Add(p + "Y_h");
            cs.Add(p + "Y_c");
            // Y [seq, D, batch, H] -> [seq, batch, D * H]
            string next = l == L - 1 ? "output" : p + "out";
            model.Nodes.Add(new OnnxNode("Transpose", p + "transpose", [p + "Y"], [p + "Yt"], [OnnxAttribute.Of("perm", new long[] { 0, 2, 1, 3 })]));
            model.Initializers.Add(OnnxTensor.FromInt64s(p + "shape", [3], new long[] { spec.SeqLen, spec.Batch, D * H }));
            model.Nodes.Add(new OnnxNode("Reshape", p + "reshape", [p + "Yt", p + "shape"], [next], []));
            x = next;
        }
        model.Nodes.Add(new OnnxNode("Concat", "h_n_concat", hs.ToArray(), ["h_n"], [OnnxAttribute.Of("axis", 0L)]));
        model.Nodes.Add(new OnnxNode("Concat", "c_n_concat", cs.ToArray(), ["c_n"], [OnnxAttribute.Of("axis", 0L)]));
        model.Outputs.Add(new OnnxValueInfo("output", OnnxElementType.Float, [(long)spec.SeqLen, (long)spec.Batch, (long)(D * H)]));
        model.Outputs.Add(new OnnxValueInfo("h_n", OnnxElementType.Float, [(long)(L * D), (long)spec.Batch, (long)H]));
        model.Outputs.Add(new OnnxValueInfo("c_n", OnnxElementType.Float, [(long)(L * D), (long)spec.Batch, (long)H]));
        return model;
    }

    /// <summary>PyTorch's gate block of row g (i, f, g, o) for ONNX's gate k (i, o, f, c).</summary>
    private static readonly int[] TorchBlockOf = [0, 3, 1, 2];

    /// <summary>
    /// A PyTorch weight [4H, cols] (gates i, f, g, o) to ONNX's transposed int8 layout [cols, 4H] (gates i, o, f, c),
    /// one symmetric scale per gate row (max |w| / 127).
    /// </summary>
    private static void Quantize(float[] weight, int rows, int cols, int h, Span<sbyte> dst, Span<float> scales)
    {
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < h; j++)
            {
                int src = TorchBlockOf[k] * h + j, col = k * h + j;
                var row = weight.AsSpan(src * cols, cols);
                float max = 0;
                foreach (float v in row) max = Math.Max(max, Math.Abs(v));
                float scale = max > 0 ? max / 127 : 1;
                scales[col] = scale;
                for (int c = 0; c < cols; c++)
                    dst[c * rows + col] = (sbyte)Math.Clamp(MathF.Round(row[c] / scale), -127, 127);
            }
    }

    private static void Reorder(float[] bias, int h, Span<float> dst)
    {
        for (int k = 0; k < 4; k++) bias.AsSpan(TorchBlockOf[k] * h, h).CopyTo(dst.Slice(k * h, h));
    }

    private float[] Bind(string name, Tensor like)
    {
        var buffer = new float[like.Numel];
        var v = OrtValue.CreateTensorValueFromMemory(buffer, like.Shape.ToArray().Select(d => (long)d).ToArray());
        _owned.Add(v);
        _binding.BindOutput(name, v);
        return buffer;
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
