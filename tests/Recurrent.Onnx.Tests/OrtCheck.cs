// Runs an exported model in ONNX Runtime and compares its outputs with Recurrent's on the same inputs.
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Recurrent.Onnx.Tests;

internal static class OrtCheck
{
    public const double Atol = 1e-5, Rtol = 1e-4;

    /// <summary>A fresh temporary .onnx path (deleted with the test's folder).</summary>
    public static string TempPath(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "recurrent-onnx-tests", Environment.ProcessId.ToString());
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name + "-" + Guid.NewGuid().ToString("N")[..8] + ".onnx");
    }

    /// <summary>
    /// Exports <paramref name="forward"/> on <paramref name="example"/>, then runs the file in ONNX Runtime on every
    /// input set of <paramref name="runs"/> (and on the example) and requires its outputs to equal the forward's.
    /// </summary>
    public static OnnxExportResult ExportAndVerify(string name, Func<Tensor[], Tensor[]> forward, Tensor[] example,
        IEnumerable<Tensor[]> runs, OnnxExportOptions? options = null)
    {
        var path = TempPath(name);
        var result = OnnxExport.Export(forward, example, path, options);
        try
        {
            using var session = new InferenceSession(path, new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL });
            int run = 0;
            foreach (var inputs in runs.Prepend(example))
            {
                Tensor[] expected;
                using (new NoGrad()) expected = forward(inputs);
                var actual = Run(session, result, inputs);
                Assert.Equal(expected.Length, actual.Length);
                for (int i = 0; i < expected.Length; i++)
                    AssertClose(expected[i], actual[i], $"{name}: run {run} (input shapes {string.Join(" ", inputs.Select(t => "[" + string.Join(",", t.Shape) + "]"))}), output {result.Outputs[i].Name}");
                run++;
            }
        }
        finally
        {
            File.Delete(path);
        }
        return result;
    }

    public static (int[] Shape, double[] Data)[] Run(InferenceSession session, OnnxExportResult result, Tensor[] inputs)
    {
        var feeds = new List<NamedOnnxValue>();
        for (int i = 0; i < inputs.Length; i++)
        {
            var t = inputs[i];
            var dims = t.Shape.ToArray();
            var name = result.Inputs[i].Name;
            feeds.Add(t.DType switch
            {
                DType.Float32 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(t.ToArray<float>(), dims)),
                DType.Float64 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<double>(t.ToArray<double>(), dims)),
                _ => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(t.ToArray<long>(), dims)),
            });
        }
        using var outs = session.Run(feeds);
        var byName = outs.ToDictionary(o => o.Name);
        return result.Outputs.Select(o =>
        {
            var v = byName[o.Name];
            return v.ElementType switch
            {
                TensorElementType.Float => (v.AsTensor<float>().Dimensions.ToArray(), v.AsTensor<float>().ToArray().Select(x => (double)x).ToArray()),
                TensorElementType.Double => (v.AsTensor<double>().Dimensions.ToArray(), v.AsTensor<double>().ToArray()),
                TensorElementType.Int64 => (v.AsTensor<long>().Dimensions.ToArray(), v.AsTensor<long>().ToArray().Select(x => (double)x).ToArray()),
                _ => throw new InvalidOperationException($"unexpected output type {v.ElementType}"),
            };
        }).ToArray();
    }

    public static void AssertClose(Tensor expected, (int[] Shape, double[] Data) actual, string what)
    {
        Assert.True(expected.Shape.ToArray().SequenceEqual(actual.Shape),
            $"{what}: shape [{string.Join(", ", actual.Shape)}], expected [{string.Join(", ", expected.Shape)}]");
        var e = expected.ToArray<double>();
        for (int i = 0; i < e.Length; i++)
        {
            double diff = Math.Abs(e[i] - actual.Data[i]);
            if (!(diff <= Atol + Rtol * Math.Abs(e[i])))
                Assert.Fail($"{what}: element {i} is {actual.Data[i]:R}, expected {e[i]:R} (|diff| {diff:G3} > atol {Atol} + rtol {Rtol} * |expected|)");
        }
    }
}
