// torch.multinomial: category indices drawn from rows of non-negative weights, as a sampler of a language model's
// next token needs. The draws come from our Generator, so the indices differ from a PyTorch run with the same seed
// (DECISIONS 5); their distribution is PyTorch's: without replacement (and for one sample) the categories with the
// largest p / q, q ~ Exp(1) (PyTorch's method, which picks zero-weight categories only after every other), with
// replacement one inverse-CDF draw per sample.
using Recurrent.Tracing;

namespace Recurrent;

public sealed partial class Tensor
{
    private const int MultinomialMaxCategories = 1 << 24;

    /// <summary>
    /// Draws <paramref name="numSamples"/> category indices from each row of this tensor of weights (1-D: one
    /// distribution, 2-D: one per row; weights need not sum to 1), as <c>torch.multinomial(input, num_samples,
    /// replacement, generator)</c>: int64 indices of shape (numSamples) or (rows, numSamples). Without
    /// <paramref name="replacement"/> a row's indices are distinct, in the order drawn. The draws come from
    /// <paramref name="generator"/> (<see cref="Generator.Default"/> when null): reproducible for a seed, but not
    /// PyTorch's numbers.
    /// </summary>
    /// <exception cref="ArgumentException">The tensor is not 1-D or 2-D, not floating point, or has more than 2^24 categories.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numSamples"/> is not positive, or exceeds the categories without replacement; a weight is negative, NaN or infinite, or a row sums to 0.</exception>
    public Tensor Multinomial(int numSamples, bool replacement = false, Generator? generator = null)
    {
        ThrowIfDisposed();
        if (Dim is not (1 or 2)) throw new ArgumentException($"prob_dist must be 1 or 2 dim: the weights must be 1-D or 2-D, but got shape {Guard.ShapeText(ShapeRef)}", "input");
        if (DType == DType.Int64) throw new ArgumentException("multinomial only supports floating-point dtypes for input, got: Int64", "input");
        if (numSamples <= 0) throw new ArgumentOutOfRangeException(nameof(numSamples), numSamples, $"cannot sample n_sample <= 0 samples: numSamples must be at least 1, but got {numSamples}");
        int categories = ShapeRef[^1], rows = Dim == 1 ? 1 : ShapeRef[0];
        if (!replacement && numSamples > categories)
            throw new ArgumentOutOfRangeException(nameof(numSamples), numSamples, $"cannot sample n_sample > prob_dist.size(-1) samples without replacement: numSamples is {numSamples}, the weights have {categories} categories");
        if (categories > MultinomialMaxCategories) throw new ArgumentException($"number of categories cannot exceed 2^24, but got {categories}", "input");
        var result = NewZeroed(DType.Int64, Dim == 1 ? [numSamples] : [rows, numSamples]);
        if (result.Numel == 0) return TraceRecorder.MarkConstant(result);
        TraceRecorder.Current?.ReadValues("Multinomial", this);
        var w = Contiguous().Double().ToArray<double>();
        for (int i = 0; i < w.Length; i++)
            if (!(w[i] >= 0 && w[i] < double.PositiveInfinity))
                throw new ArgumentOutOfRangeException("input", $"probability tensor contains either `inf`, `nan` or element < 0: element {i} of the weights is {w[i]}");
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int j = 0; j < categories; j++) sum += w[r * categories + j];
            if (!(sum > 0)) throw new ArgumentOutOfRangeException("input", $"invalid multinomial distribution (sum of probabilities <= 0): the weights of row {r} sum to 0");
        }
        var gen = generator ?? Generator.Default;
        var output = result.Arr<long>();
        var scores = new double[categories];
        var order = new int[categories];
        var cumulative = new double[categories];
        Comparison<int>? byScore = null;
        for (int r = 0; r < rows; r++)
        {
            var row = w.AsSpan(r * categories, categories);
            var outRow = output.AsSpan(r * numSamples, numSamples);
            if (!replacement || numSamples == 1)
            {
                // The largest p / q with q ~ Exp(1), q = -log(1 - u): one draw per category (+ 0.0: u = 0 gives q = +0,
                // so a positive weight scores +inf, the top, not -inf; a zero weight then scores NaN, which sorts last).
                for (int j = 0; j < categories; j++) scores[j] = row[j] / (-Math.Log(1 - gen.NextDouble()) + 0.0);
                if (numSamples == 1)
                {
                    // One sample: the first largest score, without a sort (a sampler's next token).
                    int best = 0;
                    for (int j = 1; j < categories; j++)
                        if (scores[j] > scores[best] || (double.IsNaN(scores[best]) && !double.IsNaN(scores[j]))) best = j;
                    outRow[0] = best;
                    continue;
                }
                for (int j = 0; j < categories; j++) order[j] = j;
                Array.Sort(order, byScore ??= (a, b) => scores[b].CompareTo(scores[a]) is var c && c != 0 ? c : a.CompareTo(b));
                for (int s = 0; s < numSamples; s++) outRow[s] = order[s];
            }
            else
            {
                double total = 0;
                for (int j = 0; j < categories; j++) cumulative[j] = total += row[j];
                for (int s = 0; s < numSamples; s++)
                {
                    // The first category whose cumulative weight exceeds u * total: [c_{j-1}, c_j) belongs to j, so a
                    // zero weight is never drawn.
                    double u = gen.NextDouble() * total;
                    int lo = 0, hi = categories - 1;
                    while (lo < hi)
                    {
                        int mid = (lo + hi) >>> 1;
                        if (cumulative[mid] > u) hi = mid;
                        else lo = mid + 1;
                    }
                    while (row[lo] == 0) lo--;   // u rounded up to the total: the last category with weight
                    outRow[s] = lo;
                }
            }
        }
        return TraceRecorder.MarkConstant(result);
    }
}
