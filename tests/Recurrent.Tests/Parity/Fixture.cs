// One PyTorch golden fixture (a safetensors file from ../shared/fixtures/pytorch): its metadata,
// its tensors, and comparisons with torch.testing.assert_close's default tolerances.
using System.Globalization;
using System.Text.Json;

namespace Recurrent.Tests.Parity;

public sealed class Fixture
{
    private readonly Dictionary<string, Tensor> _tensors;

    public Fixture(string name, IReadOnlyDictionary<string, string> meta, Dictionary<string, Tensor> tensors)
    {
        Name = name; Meta = meta; _tensors = tensors;
    }

    public string Name { get; }
    public IReadOnlyDictionary<string, string> Meta { get; }
    public string Kind => Meta["kind"];
    public IEnumerable<string> TensorNames => _tensors.Keys;

    public bool Has(string name) => _tensors.ContainsKey(name);

    /// <summary>A fresh copy of a stored tensor (callers may set RequiresGrad on it).</summary>
    public Tensor this[string name] =>
        _tensors.TryGetValue(name, out var t) ? t.Detach().Clone() : throw new KeyNotFoundException($"{Name}: no tensor '{name}'");

    public Tensor? Maybe(string name) => Has(name) ? this[name] : null;

    public string Str(string key) => Meta.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"{Name}: no metadata '{key}'");
    public bool Bool(string key) => Str(key) == "true";
    public int Int(string key) => int.Parse(Str(key), CultureInfo.InvariantCulture);
    public int? IntOrNone(string key) => Meta.TryGetValue(key, out var v) && v != "none" ? int.Parse(v, CultureInfo.InvariantCulture) : null;
    public double Double(string key) => Str(key) switch
    {
        "inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        "nan" => double.NaN,
        var s => double.Parse(s, CultureInfo.InvariantCulture),
    };
    public double? DoubleOrNone(string key) => Meta.TryGetValue(key, out var v) && v != "none" ? Double(key) : null;
    public T[] List<T>(string key) => JsonSerializer.Deserialize<T[]>(Str(key))!;
    public DType DType => Meta.TryGetValue("dtype", out var d) && d == "float64" ? Recurrent.DType.Float64 : Recurrent.DType.Float32;

    /// <summary>Asserts <paramref name="actual"/> equals stored tensor <paramref name="expectedName"/> within PyTorch's default tolerances.</summary>
    public void AssertClose(string expectedName, Tensor? actual, double? rtol = null, double? atol = null)
    {
        Assert.True(actual is not null, $"{Name}: {expectedName}: actual is null");
        var expected = _tensors[expectedName];
        Compare(Name + ": " + expectedName, expected, actual!, rtol, atol);
    }

    public static void Compare(string what, Tensor expected, Tensor actual, double? rtol = null, double? atol = null)
    {
        Assert.True(expected.Shape.SequenceEqual(actual.Shape),
            $"{what}: shape mismatch, expected {Guard.ShapeText(expected.Shape)}, got {Guard.ShapeText(actual.Shape)}");
        if (expected.DType == DType.Int64 || actual.DType == DType.Int64)
        {
            Assert.Equal(expected.Long().ToArray<long>(), actual.Long().ToArray<long>());
            return;
        }
        bool f64 = expected.DType == DType.Float64;
        double rt = rtol ?? (f64 ? 1e-7 : 1.3e-6), at = atol ?? (f64 ? 1e-7 : 1e-5);
        var e = expected.Double().ToArray<double>();
        var a = actual.Detach().Double().ToArray<double>();
        int bad = 0; int first = -1; double worst = 0;
        for (int i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(e[i]) && double.IsNaN(a[i])) continue;
            if (e[i] == a[i]) continue;
            double diff = Math.Abs(e[i] - a[i]);
            if (!(diff <= at + rt * Math.Abs(e[i])))
            {
                bad++;
                if (first < 0) first = i;
                worst = Math.Max(worst, double.IsNaN(diff) ? double.PositiveInfinity : diff);
            }
        }
        Assert.True(bad == 0, bad == 0 ? "" :
            $"{what}: {bad}/{e.Length} elements differ beyond rtol={rt} atol={at}; first at flat index {first}: expected {e[first]:R}, got {a[first]:R}; greatest abs diff {worst:G4}");
    }
}

/// <summary>Runs the fixtures of one or more kinds.</summary>
public interface IParityHandler
{
    IEnumerable<string> Kinds { get; }
    void Run(Fixture fixture);
}
