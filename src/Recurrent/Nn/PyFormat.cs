// Python-style text for values that cross into PyTorch's wording: repr() of floats and bools
// (module ToString, error messages), so "p=0.5", "max_norm=1e-08" read exactly as in PyTorch.
using System.Globalization;

namespace Recurrent.Nn;

internal static class PyFormat
{
    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, "0.0", "1e-08", "inf", "nan".</summary>
    public static string Float(double v)
    {
        if (double.IsNaN(v)) return "nan";
        if (double.IsPositiveInfinity(v)) return "inf";
        if (double.IsNegativeInfinity(v)) return "-inf";
        if (v == 0) return double.IsNegative(v) ? "-0.0" : "0.0";
        string r = Math.Abs(v).ToString("R", CultureInfo.InvariantCulture);
        // Decompose r into significant digits and the decimal exponent of the first digit.
        int e = 0;
        int ePos = r.IndexOfAny(['E', 'e']);
        if (ePos >= 0) { e = int.Parse(r[(ePos + 1)..], CultureInfo.InvariantCulture); r = r[..ePos]; }
        int dot = r.IndexOf('.');
        string intPart = dot >= 0 ? r[..dot] : r, frac = dot >= 0 ? r[(dot + 1)..] : "";
        string digits = (intPart + frac).TrimStart('0');
        int lead = (intPart + frac).Length - digits.Length;  // zeros before the first significant digit
        int exp10 = intPart.Length - 1 - lead + e;          // value = d.ddd x 10^exp10
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        string sign = v < 0 ? "-" : "";
        if (exp10 < -4 || exp10 >= 16)
        {
            string mant = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
            return $"{sign}{mant}e{(exp10 < 0 ? "-" : "+")}{Math.Abs(exp10):00}";
        }
        if (exp10 < 0) return sign + "0." + new string('0', -exp10 - 1) + digits;
        if (digits.Length <= exp10 + 1) return sign + digits + new string('0', exp10 + 1 - digits.Length) + ".0";
        return sign + digits[..(exp10 + 1)] + "." + digits[(exp10 + 1)..];
    }

    /// <summary>Python's <c>repr(bool)</c>.</summary>
    public static string Bool(bool b) => b ? "True" : "False";
}
