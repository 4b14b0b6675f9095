// Splitting one token stream into a training part and a held-out validation tail.
namespace Recurrent.Data;

/// <summary>Splits a token stream into training tokens (the head) and validation tokens (the tail).</summary>
public static class TrainValidationSplit
{
    /// <summary>
    /// The first <c>1 - validationFraction</c> of <paramref name="tokens"/> for training and the rest for validation,
    /// the cut rounded to the nearest token. The validation part gets at least 2 tokens (one prediction) when
    /// the fraction is positive, and the training part keeps at least <paramref name="minTrainTokens"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The fraction is outside [0, 0.9].</exception>
    /// <exception cref="TextDataException">The stream is too short to give both parts their minimum.</exception>
    public static (long[] Train, long[] Validation) Split(long[] tokens, double validationFraction, int minTrainTokens = 2)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        Guard.InRange(validationFraction, 0, 0.9, nameof(validationFraction));
        Guard.Positive(minTrainTokens, nameof(minTrainTokens));
        if (validationFraction == 0) return (tokens, []);
        int valCount = Math.Max(2, (int)Math.Round(tokens.Length * validationFraction));
        int trainCount = tokens.Length - valCount;
        if (trainCount < minTrainTokens)
            throw new TextDataException(
                $"The text has {tokens.Length} characters: too few to keep {minTrainTokens} for training and {valCount} ({validationFraction:P0}) for validation; use more text or a smaller sequence length.");
        return (tokens[..trainCount], tokens[trainCount..]);
    }
}
