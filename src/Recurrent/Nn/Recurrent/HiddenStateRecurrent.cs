// HiddenStateRecurrent: the typed forward signatures of the recurrent layers whose state is h alone
// (Rnn, Gru). Lstm has its own, with (h, c).
using Recurrent.Kernels;

namespace Recurrent.Nn;

/// <summary>
/// The base of <see cref="Rnn"/> and <see cref="Gru"/>: recurrent layers whose state is the hidden state h
/// alone, with PyTorch's <c>output, h_n = layer(input, h_0)</c> signatures.
/// </summary>
public abstract class HiddenStateRecurrent : RecurrentBase
{
    private protected HiddenStateRecurrent(RnnMode mode, int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst,
        double dropout, bool bidirectional, DType dtype, Generator? generator)
        : base(mode, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, 0, dtype, generator) { }

    /// <summary>Runs the layer, as <c>output, h_n = layer(input, h_0)</c>; h_0 defaults to zeros.</summary>
    public (Tensor Output, Tensor HN) Forward(Tensor input, Tensor? h0 = null)
    {
        var (o, h, _) = ForwardDense(input, h0, null);
        return (o, h);
    }

    /// <summary>Runs the layer on packed sequences; h_0 and h_n are in the caller's batch order.</summary>
    public (PackedSequence Output, Tensor HN) Forward(PackedSequence input, Tensor? h0 = null)
    {
        var (o, h, _) = ForwardPacked(input, h0, null);
        return (o, h);
    }

    /// <summary>
    /// Runs the layer on a padded batch with per-sequence lengths (any order): packs internally, returns the
    /// padded output (padding positions 0, same length as the input, batch_first honoured) and h_n taken
    /// at each sequence's own last step. (Not an overload of <c>Forward(Tensor, Tensor?)</c> on purpose:
    /// a lengths tensor would be mistaken for h_0.)
    /// </summary>
    public (Tensor Output, Tensor HN) ForwardPadded(Tensor padded, Tensor lengths, Tensor? h0 = null)
    {
        var (o, h, _) = ForwardPaddedCore(padded, lengths, h0, null);
        return (o, h);
    }

    /// <summary>Same as <see cref="ForwardPadded(Tensor, Tensor, Tensor?)"/> with the lengths as an array.</summary>
    public (Tensor Output, Tensor HN) ForwardPadded(Tensor padded, long[] lengths, Tensor? h0 = null) => ForwardPadded(padded, RnnUtils.LengthsTensor(lengths), h0);

    /// <summary>Same as <see cref="ForwardPadded(Tensor, Tensor, Tensor?)"/> with the lengths as an array.</summary>
    public (Tensor Output, Tensor HN) ForwardPadded(Tensor padded, int[] lengths, Tensor? h0 = null) => ForwardPadded(padded, RnnUtils.LengthsTensor(lengths), h0);
}
