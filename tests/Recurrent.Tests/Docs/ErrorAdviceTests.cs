// Error messages keep PyTorch's wording of the problem but give their advice in this library's C# API: the remedy a
// message names must be something a C# caller can type.
using System.Text.RegularExpressions;
using Recurrent.Nn;
using Recurrent.Optim;

namespace Recurrent.Tests.Docs;

public sealed class ErrorAdviceTests
{
    [Fact]
    public void BackwardTwiceNamesRetainGraph()
    {
        var x = Tensor.Randn([2, 3], DType.Float64, new Generator(1)).RequiresGrad_();
        var y = x.Exp().Sum();
        y.Backward();
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("Trying to backward through the graph a second time", e.Message);
        Assert.Contains("Backward(retainGraph: true)", e.Message);
        Assert.DoesNotContain("retain_graph=True", e.Message);

        // The fused recurrent node says the same.
        var lstm = new Lstm(3, 4);
        var (o, _) = lstm.Forward(Tensor.Randn(5, 2, 3));
        var loss = o.Sum();
        loss.Backward();
        var f = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("Backward(retainGraph: true)", f.Message);
    }

    [Fact]
    public void RequiresGradOnANonLeafNamesDetach()
    {
        var y = Tensor.Ones(2).RequiresGrad_().Mul(2);
        var e = Assert.Throws<InvalidOperationException>(() => y.RequiresGrad = false);
        Assert.Contains("you can only change requires_grad flags of leaf variables", e.Message);
        Assert.Contains("var.Detach()", e.Message);
    }

    [Fact]
    public void ViewOfANonContiguousTensorNamesReshape()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Tensor.Zeros(2, 3).Transpose(0, 1).View(6));
        Assert.Contains("view size is not compatible with input tensor's size and stride", e.Message);
        Assert.Contains(".Reshape(...)", e.Message);
    }

    [Fact]
    public void NonFiniteNormNamesTheCSharpArgument()
    {
        var p = Tensor.Ones(2).RequiresGrad_();
        p.Grad = Tensor.FromArray(new[] { float.PositiveInfinity, 1f }, 2);
        var e = Assert.Throws<InvalidOperationException>(() => ClipGrad.ClipGradNorm([p], 1.0, errorIfNonfinite: true));
        Assert.Contains("errorIfNonfinite: false", e.Message);
    }

    [Fact]
    public void InputDTypeMismatchNamesTo()
    {
        var e = Assert.Throws<ArgumentException>(() => new Gru(3, 4).Forward(Tensor.Zeros([5, 3], DType.Float64)));
        Assert.Contains("input.To(DType.Float32)", e.Message);
        Assert.Contains("model.To(DType.Float64)", e.Message);
    }

    /// <summary>
    /// Python spellings of remedies that must not appear in the library's string literals (doc comments and the
    /// PyTorch-side advice about how a file was saved are not string literals of this kind).
    /// </summary>
    private static readonly Regex PythonAdvice = new(
        @"retain_graph=True|\.detach\(\)|\.to\(torch\.|model\.to\(|error_if_nonfinite=False|enforce_sorted=False|\.reshape\(|\.contiguous\(\)|requires_grad_\(\)|with torch\.no_grad|strict=False",
        RegexOptions.Compiled);

    [Fact]
    public void NoStringLiteralInTheLibraryGivesPythonAdvice()
    {
        var src = Path.Combine(TestPaths.RepoRoot, "src");
        var offenders = new List<string>();
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")) continue;
            var lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                var code = lines[i].TrimStart();
                if (code.StartsWith("//", StringComparison.Ordinal)) continue;
                foreach (Match literal in Regex.Matches(code, "\"(?:[^\"\\\\]|\\\\.)*\""))
                    if (PythonAdvice.IsMatch(literal.Value))
                        offenders.Add($"{Path.GetRelativePath(src, file)}:{i + 1}: {literal.Value}");
            }
        }
        Assert.True(offenders.Count == 0, "Python advice in messages:\n" + string.Join("\n", offenders));
    }
}
