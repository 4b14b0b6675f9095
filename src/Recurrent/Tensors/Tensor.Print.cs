// ToString in PyTorch's format: tensor([[5.], [8.]]), with integer, fixed (4 decimals) and
// scientific modes chosen as torch/_tensor_str.py does, row wrapping at 80 columns,
// summarisation above 1000 elements, and the dtype / grad_fn / requires_grad suffixes.
using System.Globalization;
using System.Text;

namespace Recurrent;

public sealed partial class Tensor
{
    /// <summary>PyTorch's printed form, e.g. <c>tensor([[5.], [8.]], grad_fn=&lt;AddBackward0&gt;)</c>.</summary>
    public override string ToString()
    {
        const string prefix = "tensor(";
        var sb = new StringBuilder(prefix);
        var t = Detach().Contiguous();
        bool summarize = t.Numel > 1000;
        var fmt = ChooseFormat(t, summarize);
        if (t.Numel == 0 && t.Dim <= 1) sb.Append("[]");
        else if (t.Dim == 0) sb.Append(fmt(t.At(t.Offset)).Trim());
        else WriteNested(sb, t, fmt, prefix.Length, summarize);
        var suffixes = new List<string>();
        if (t.Numel == 0 && t.Dim != 1) suffixes.Add($"size=({string.Join(", ", ShapeRef)}{(Dim == 1 ? "," : "")})");
        if (DType == DType.Float64) suffixes.Add("dtype=torch.float64");
        if (GradFn is not null) suffixes.Add($"grad_fn=<{GradFn.Name}>");
        else if (RequiresGrad) suffixes.Add("requires_grad=True");
        foreach (var s in suffixes) sb.Append(", ").Append(s);
        return sb.Append(')').ToString();
    }

    private static Func<double, string> ChooseFormat(Tensor t, bool summarize)
    {
        var ci = CultureInfo.InvariantCulture;
        if (t.DType == DType.Int64)
        {
            int w = 1;
            foreach (var v in Values(t, summarize)) w = Math.Max(w, ((long)v).ToString(ci).Length);
            return v => ((long)v).ToString(ci).PadLeft(w);
        }
        var finite = Values(t, summarize).Where(v => double.IsFinite(v) && v != 0).Select(Math.Abs).ToList();
        bool intMode = Values(t, summarize).Where(double.IsFinite).All(v => Math.Ceiling(v) == v);
        bool sci = false;
        if (finite.Count > 0)
        {
            double max = finite.Max(), min = finite.Min();
            sci = intMode ? (max / min > 1000 || max > 1e8) : (max / min > 1000 || max > 1e8 || min < 1e-4);
        }
        string One(double v)
        {
            if (double.IsNaN(v)) return "nan";
            if (double.IsInfinity(v)) return v > 0 ? "inf" : "-inf";
            if (sci)
            {
                var s = v.ToString("0.0000e+00", ci);
                return s;
            }
            if (intMode) return v.ToString("0", ci) + ".";
            return v.ToString("0.0000", ci);
        }
        int width = 1;
        foreach (var v in Values(t, summarize)) width = Math.Max(width, One(v).Length);
        return v => One(v).PadLeft(width);
    }

    private static IEnumerable<double> Values(Tensor t, bool summarize)
    {
        if (!summarize) { for (int i = 0; i < t.Numel; i++) yield return t.At(t.Offset + i); yield break; }
        foreach (var v in SummaryValues(t)) yield return v;
    }

    private static IEnumerable<double> SummaryValues(Tensor t)
    {
        if (t.Dim == 0) { yield return t.At(t.Offset); yield break; }
        int n = t.ShapeRef[0];
        var idx = n > 6 ? Enumerable.Range(0, 3).Concat(Enumerable.Range(n - 3, 3)) : Enumerable.Range(0, n);
        foreach (var i in idx)
        {
            if (t.Dim == 1) yield return t.At(t.Offset + i * t.StridesRef[0]);
            else foreach (var v in SummaryValues(t.Detach().Select(0, i))) yield return v;
        }
    }

    private static void WriteNested(StringBuilder sb, Tensor t, Func<double, string> fmt, int indent, bool summarize)
    {
        int n = t.ShapeRef[0];
        sb.Append('[');
        if (t.Dim == 1)
        {
            var items = new List<string>();
            for (int i = 0; i < n; i++)
            {
                if (summarize && n > 6 && i == 3) { items.Add("..."); i = n - 4; continue; }
                items.Add(fmt(t.At(t.Offset + i * t.StridesRef[0])));
            }
            int itemWidth = items.Count > 0 ? items.Max(s => s.Length) + 2 : 1;
            int perLine = Math.Max(1, (80 - indent) / itemWidth);
            for (int i = 0; i < items.Count; i++)
            {
                if (i > 0) sb.Append(i % perLine == 0 ? ",\n" + new string(' ', indent + 1) : ", ");
                sb.Append(items[i]);
            }
        }
        else
        {
            string sep = "," + new string('\n', t.Dim - 1) + new string(' ', indent + 1);
            for (int i = 0; i < n; i++)
            {
                if (i > 0) sb.Append(sep);
                if (summarize && n > 6 && i == 3) { sb.Append("..."); i = n - 4; continue; }
                WriteNested(sb, t.Detach().Select(0, i), fmt, indent + 1, summarize);
            }
        }
        sb.Append(']');
    }
}
