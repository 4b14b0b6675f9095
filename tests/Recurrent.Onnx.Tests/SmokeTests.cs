using Recurrent.Nn;
namespace Recurrent.Onnx.Tests;
public class SmokeTests
{
    [Fact]
    public void Lstm()
    {
        var g = new Generator(1);
        var lstm = new Lstm(4, 5, numLayers: 2, bidirectional: true, generator: g);
        lstm.Eval();
        var r = OrtCheck.ExportAndVerify("lstm", xs => { var (o, (h, c)) = lstm.Forward(xs[0]); return [o, h, c]; },
            [Tensor.Randn([5, 3, 4], generator: g)], [[Tensor.Randn([7, 2, 4], generator: g)]], new OnnxExportOptions { Module = lstm });
    }
}
