// Seedable random number generator (xoshiro256**) for Rand, Randn, Dropout and init.
// Same seed -> same stream, bit for bit; PyTorch's stream is not reproduced (DESIGN 7).
namespace Recurrent;

/// <summary>A seedable pseudo-random generator, as <c>torch.Generator</c>.</summary>
public sealed class Generator
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareNormal;

    /// <summary>The process-wide default generator used when none is passed.</summary>
    public static Generator Default { get; } = new(0x5eed);

    /// <summary>Creates a generator seeded with <paramref name="seed"/>: the same seed gives the same stream, bit for bit.</summary>
    public Generator(ulong seed) => ManualSeed(seed);

    /// <summary>Resets the stream, as <c>torch.manual_seed</c> / <c>generator.manual_seed</c>.</summary>
    public Generator ManualSeed(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
        _spareNormal = null;
        return this;
    }

    /// <summary>The whole internal state (to save in checkpoints).</summary>
    public ulong[] GetState() => new[] { _s0, _s1, _s2, _s3, _spareNormal is { } v ? 1UL : 0UL, _spareNormal is { } w ? (ulong)BitConverter.DoubleToInt64Bits(w) : 0UL };

    /// <summary>Restores a state from <see cref="GetState"/>.</summary>
    public void SetState(ulong[] state)
    {
        if (StateError(state) is { } error) throw new ArgumentException("state: " + error, nameof(state));
        (_s0, _s1, _s2, _s3) = (state[0], state[1], state[2], state[3]);
        _spareNormal = state[4] != 0 ? BitConverter.Int64BitsToDouble((long)state[5]) : null;
    }

    /// <summary>Why <paramref name="state"/> cannot be a generator's state, or null when it can.</summary>
    internal static string? StateError(ulong[]? state)
    {
        if (state is null || state.Length != 6) return $"expected 6 words, got {state?.Length ?? 0}";
        // xoshiro256** from four zero words returns 0 forever: every draw would be the same, silently.
        if ((state[0] | state[1] | state[2] | state[3]) == 0)
            return "words 0-3 are all zero, which no generator reaches (it would draw 0 forever). Expected a state from GetState().";
        if (state[4] > 1) return $"word 4 flags a cached normal value and must be 0 or 1, got {state[4]}";
        return null;
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3; _s2 ^= t; _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public long NextLong(long n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be positive, got {n}");
        return (long)(NextDouble() * n) is var v && v < n ? v : n - 1;
    }

    /// <summary>Standard normal (Box-Muller).</summary>
    public double NextNormal()
    {
        if (_spareNormal is { } s) { _spareNormal = null; return s; }
        double u1;
        do u1 = NextDouble(); while (u1 <= double.Epsilon);
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }
}
