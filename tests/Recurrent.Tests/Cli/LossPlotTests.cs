// Tests of the hand-written SVG loss plot.
using System.Xml.Linq;
using Recurrent.Cli.Plotting;

namespace Recurrent.Tests.Cli;

public sealed class LossPlotTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    [Fact]
    public void RendersWellFormedSvgWithCurvesAndLegend()
    {
        var train = Enumerable.Range(1, 3000).Select(i => new CurvePoint(i, 3.0 / Math.Sqrt(i))).ToList();
        var val = Enumerable.Range(1, 30).Select(i => new CurvePoint(i * 100, 2.5 / Math.Sqrt(i * 100) + 0.1)).ToList();
        var acc = Enumerable.Range(1, 30).Select(i => new CurvePoint(i * 100, i / 30.0)).ToList();
        var doc = XDocument.Parse(LossPlot.Render("lstm <test> & run", train, val, acc));
        Assert.Equal(Svg + "svg", doc.Root!.Name);
        var polylines = doc.Descendants(Svg + "polyline").ToList();
        Assert.Equal(4, polylines.Count); // raw, smoothed, validation, accuracy
        // The 3000-step curve is downsampled.
        Assert.True(polylines[0].Attribute("points")!.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length <= 1500);
        Assert.Contains(doc.Descendants(Svg + "text"), t => t.Value == "lstm <test> & run");
        Assert.Contains(doc.Descendants(Svg + "text"), t => t.Value == "validation");
        Assert.Equal("600", doc.Root.Attribute("height")!.Value);
    }

    [Fact]
    public void HandlesEmptyAndNonFiniteInput()
    {
        var doc = XDocument.Parse(LossPlot.Render("empty", [], []));
        Assert.Empty(doc.Descendants(Svg + "polyline"));
        var withNaN = XDocument.Parse(LossPlot.Render("nan", [new(1, double.NaN), new(2, 1.0), new(3, double.PositiveInfinity)], []));
        Assert.DoesNotContain("NaN", withNaN.ToString());
    }

    [Fact]
    public void NiceTicksAreRound()
    {
        Assert.Equal([0, 0.5, 1, 1.5, 2, 2.5, 3], LossPlot.NiceTicks(0, 3.2, 6));
        Assert.Equal([0, 500, 1000, 1500, 2000], LossPlot.NiceTicks(0, 2000, 4));
        Assert.Equal([0, 200, 400, 600, 800, 1000], LossPlot.NiceTicks(0, 1000, 6));
    }

    [Fact]
    public void SmoothingIsACenteredMovingAverage()
    {
        var constant = LossPlot.Smooth([new(1, 4), new(2, 4), new(3, 4)]);
        Assert.All(constant, p => Assert.Equal(4, p.Value, 12));
        // 1000 points: window of 2*10+1; a straight line is unchanged (no lag), an alternating series is flattened.
        var line = Enumerable.Range(0, 1000).Select(i => new CurvePoint(i, 2.0 * i)).ToList();
        Assert.All(LossPlot.Smooth(line).Zip(line), p => Assert.Equal(p.Second.Value, p.First.Value, 9));
        var zigzag = Enumerable.Range(0, 1000).Select(i => new CurvePoint(i, i % 2)).ToList();
        Assert.All(LossPlot.Smooth(zigzag).Skip(10).SkipLast(10), p => Assert.InRange(p.Value, 0.45, 0.55));
    }
}
