// The loss-curve image written next to each checkpoint: a self-contained SVG drawn by hand (no native dependency),
// training loss per step (raw and smoothed), validation loss at each evaluation, and optionally the skill metric.
using System.Globalization;
using System.Text;

namespace Recurrent.Cli.Plotting;

/// <summary>A (step, value) point of a curve.</summary>
public readonly record struct CurvePoint(long Step, double Value);

/// <summary>Draws training curves as an SVG document.</summary>
public static class LossPlot
{
    private const int Width = 800, PanelHeight = 300, MarginLeft = 64, MarginRight = 24, MarginTop = 36, MarginBottom = 44;
    private const int MaxPoints = 1500;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Renders the plot.</summary>
    /// <param name="title">Title line (e.g. the run's model and data).</param>
    /// <param name="train">Training loss per step.</param>
    /// <param name="validation">Validation loss at evaluation steps.</param>
    /// <param name="metric">Optional skill metric in [0, 1] at evaluation steps (drawn in a second panel), or null.</param>
    /// <param name="metricName">Name of the metric for its axis.</param>
    public static string Render(string title, IReadOnlyList<CurvePoint> train, IReadOnlyList<CurvePoint> validation,
        IReadOnlyList<CurvePoint>? metric = null, string metricName = "accuracy")
    {
        bool twoPanels = metric is { Count: > 0 };
        int height = twoPanels ? 2 * PanelHeight : PanelHeight;
        var svg = new StringBuilder();
        svg.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.Append(Inv, $"<text x=\"{Width / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>\n");

        var finiteTrain = train.Where(p => double.IsFinite(p.Value)).ToList();
        var finiteVal = validation.Where(p => double.IsFinite(p.Value)).ToList();
        long maxStep = Math.Max(1, finiteTrain.Concat(finiteVal).Concat(metric ?? []).Select(p => p.Step).DefaultIfEmpty(1).Max());
        var all = finiteTrain.Concat(finiteVal).Select(p => p.Value).ToList();
        double lo = all.Count > 0 ? Math.Min(0, all.Min()) : 0, hi = all.Count > 0 ? all.Max() : 1;
        if (hi <= lo) hi = lo + 1;
        var panel = new Panel(0, PanelHeight, 0, maxStep, lo, hi * 1.05);
        DrawAxes(svg, panel, "loss (nats/char)", v => v.ToString("0.##", Inv));
        if (finiteTrain.Count > 0)
        {
            svg.Append(panel.Polyline(Downsample(finiteTrain), "#9ecae1", 1));
            svg.Append(panel.Polyline(Downsample(Smooth(finiteTrain)), "#1f77b4", 2));
        }
        if (finiteVal.Count > 0)
        {
            svg.Append(panel.Polyline(finiteVal, "#d62728", 2));
            foreach (CurvePoint p in finiteVal.Count <= 200 ? finiteVal : [])
                svg.Append(Inv, $"<circle cx=\"{panel.X(p.Step):0.#}\" cy=\"{panel.Y(p.Value):0.#}\" r=\"3\" fill=\"#d62728\"/>\n");
        }
        Legend(svg, panel, [("#9ecae1", "training (per step)"), ("#1f77b4", "training (smoothed)"), ("#d62728", "validation")]);

        if (twoPanels)
        {
            var acc = new Panel(PanelHeight, PanelHeight, 0, maxStep, 0, 1);
            DrawAxes(svg, acc, metricName, v => v.ToString("0%", Inv));
            svg.Append(acc.Polyline(metric!, "#2ca02c", 2));
            foreach (CurvePoint p in metric!.Count <= 200 ? metric : [])
                svg.Append(Inv, $"<circle cx=\"{acc.X(p.Step):0.#}\" cy=\"{acc.Y(p.Value):0.#}\" r=\"3\" fill=\"#2ca02c\"/>\n");
            Legend(svg, acc, [("#2ca02c", $"held-out {metricName}")]);
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Renders and writes the plot to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    public static void Save(string path, string title, IReadOnlyList<CurvePoint> train, IReadOnlyList<CurvePoint> validation,
        IReadOnlyList<CurvePoint>? metric = null, string metricName = "accuracy")
    {
        string text = Render(title, train, validation, metric, metricName);
        string full = Path.GetFullPath(path);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.partial");
        try
        {
            File.WriteAllText(tmp, text, new UTF8Encoding(false));
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>
    /// Centered moving average over a window of about 2% of the points (at least 1), shrinking at the ends, so the
    /// smoothed curve does not lag behind a fast initial drop as an exponential average would.
    /// </summary>
    internal static List<CurvePoint> Smooth(IReadOnlyList<CurvePoint> points)
    {
        int n = points.Count, half = Math.Clamp(n / 100, 0, 250);
        var prefix = new double[n + 1];
        for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + points[i].Value;
        var result = new List<CurvePoint>(n);
        for (int i = 0; i < n; i++)
        {
            int w = Math.Min(half, Math.Min(i, n - 1 - i)); // symmetric window, narrower near the ends
            result.Add(new CurvePoint(points[i].Step, (prefix[i + w + 1] - prefix[i - w]) / (2 * w + 1)));
        }
        return result;
    }

    /// <summary>At most <see cref="MaxPoints"/> points: means over equal buckets of consecutive points.</summary>
    internal static IReadOnlyList<CurvePoint> Downsample(IReadOnlyList<CurvePoint> points)
    {
        if (points.Count <= MaxPoints) return points;
        var result = new List<CurvePoint>(MaxPoints);
        for (int b = 0; b < MaxPoints; b++)
        {
            int from = (int)((long)b * points.Count / MaxPoints), to = (int)((long)(b + 1) * points.Count / MaxPoints);
            double sum = 0;
            for (int i = from; i < to; i++) sum += points[i].Value;
            result.Add(new CurvePoint(points[to - 1].Step, sum / (to - from)));
        }
        return result;
    }

    private static void DrawAxes(StringBuilder svg, Panel p, string yLabel, Func<double, string> format)
    {
        svg.Append(Inv, $"<rect x=\"{p.Left}\" y=\"{p.Top}\" width=\"{p.Right - p.Left}\" height=\"{p.Bottom - p.Top}\" fill=\"none\" stroke=\"#444\"/>\n");
        foreach (double v in NiceTicks(p.YMin, p.YMax, 6))
        {
            double y = p.Y(v);
            svg.Append(Inv, $"<line x1=\"{p.Left}\" x2=\"{p.Right}\" y1=\"{y:0.#}\" y2=\"{y:0.#}\" stroke=\"#ddd\"/>\n");
            svg.Append(Inv, $"<text x=\"{p.Left - 6}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{format(v)}</text>\n");
        }
        foreach (double s in NiceTicks(p.XMin, p.XMax, 8))
        {
            double x = p.X(s);
            svg.Append(Inv, $"<line x1=\"{x:0.#}\" x2=\"{x:0.#}\" y1=\"{p.Top}\" y2=\"{p.Bottom}\" stroke=\"#eee\"/>\n");
            svg.Append(Inv, $"<text x=\"{x:0.#}\" y=\"{p.Bottom + 16}\" text-anchor=\"middle\">{s.ToString("0.##", Inv)}</text>\n");
        }
        svg.Append(Inv, $"<text x=\"{(p.Left + p.Right) / 2}\" y=\"{p.Bottom + 34}\" text-anchor=\"middle\">step</text>\n");
        svg.Append(Inv, $"<text transform=\"translate(16 {(p.Top + p.Bottom) / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n");
    }

    private static void Legend(StringBuilder svg, Panel p, (string Color, string Label)[] items)
    {
        // Right-aligned in the panel; about 7 px per character of 12 px sans-serif.
        double y = p.Top + 16;
        double x = p.Right - 8 - 30 - 7 * items.Max(i => i.Label.Length);
        foreach (var (color, label) in items)
        {
            svg.Append(Inv, $"<line x1=\"{x:0.#}\" x2=\"{x + 24:0.#}\" y1=\"{y - 4}\" y2=\"{y - 4}\" stroke=\"{color}\" stroke-width=\"3\"/>\n");
            svg.Append(Inv, $"<text x=\"{x + 30:0.#}\" y=\"{y}\">{Escape(label)}</text>\n");
            y += 16;
        }
    }

    /// <summary>Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi].</summary>
    internal static List<double> NiceTicks(double lo, double hi, int target)
    {
        double span = hi - lo;
        if (!(span > 0)) return [lo];
        double raw = span / target, mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
        var ticks = new List<double>();
        for (double v = Math.Ceiling(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.Add(Math.Round(v / step) * step);
        return ticks;
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");

    private sealed record Panel(int OffsetY, int Height, double XMin, double XMax, double YMin, double YMax)
    {
        public int Left => MarginLeft;
        public int Right => Width - MarginRight;
        public int Top => OffsetY + MarginTop;
        public int Bottom => OffsetY + Height - MarginBottom;
        public double X(double step) => Left + (step - XMin) / (XMax - XMin) * (Right - Left);
        public double Y(double v) => Bottom - (Math.Clamp(v, YMin, YMax) - YMin) / (YMax - YMin) * (Bottom - Top);

        public string Polyline(IReadOnlyList<CurvePoint> points, string color, double width)
        {
            if (points.Count == 0) return "";
            var sb = new StringBuilder();
            sb.Append(Inv, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" points=\"");
            foreach (CurvePoint p in points) sb.Append(Inv, $"{X(p.Step):0.#},{Y(p.Value):0.#} ");
            sb.Append("\"/>\n");
            return sb.ToString();
        }
    }
}
