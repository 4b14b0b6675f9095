// One (seq, batch) training or evaluation batch of token ids, with its next-token targets.
namespace Recurrent.Data;

/// <summary>
/// A batch of token windows laid out time-major, as the recurrent layers take them by default:
/// <c>Input[t, b]</c> is the t-th token of window b and <c>Target[t, b]</c> the token that follows it.
/// </summary>
/// <param name="Input">int64 token ids, shape (seq, batch).</param>
/// <param name="Target">int64 next-token ids, shape (seq, batch).</param>
public readonly record struct TokenBatch(Tensor Input, Tensor Target)
{
    /// <summary>Sequence length (time steps).</summary>
    public int SeqLen => Input.Size(0);

    /// <summary>Number of windows.</summary>
    public int BatchSize => Input.Size(1);

    /// <summary>Number of predicted tokens (seq x batch).</summary>
    public int TokenCount => SeqLen * BatchSize;
}
