// nn.Dropout: random zeroing with 1/(1-p) rescaling in training mode, identity in eval mode; and
// the one mask helper every dropout (this module, F.dropout, between recurrent layers) draws with.
using System.Numerics;

namespace Recurrent.Nn;

/// <summary>Inverted-dropout masks: each element is 0 with probability p, else 1/(1-p).</summary>
internal static class DropoutMask
{
    /// <summary>
    /// Fills <paramref name="mask"/> in order, one <see cref="Generator.NextDouble"/> per element: kept
    /// (1/(1-p), rounded to <typeparamref name="T"/>) when the draw is &gt;= p, else 0. p = 1 zeroes everything.
    /// </summary>
    public static void Fill<T>(Span<T> mask, double p, Generator generator) where T : IFloatingPointIeee754<T>
    {
        T scale = p >= 1 ? T.Zero : T.CreateTruncating(1.0 / (1.0 - p));
        for (int i = 0; i < mask.Length; i++) mask[i] = generator.NextDouble() >= p ? scale : T.Zero;
    }
}

/// <summary>
/// During training, zeroes each element with probability <see cref="P"/> and scales the others by 1/(1-p);
/// in eval mode returns its input unchanged, as <c>nn.Dropout</c>. The mask is drawn from
/// <see cref="Generator"/> (seedable; <see cref="Recurrent.Generator.Default"/> when null).
/// </summary>
public sealed class Dropout : Module<Tensor, Tensor>
{
    /// <summary>Creates the layer; p must lie in [0, 1].</summary>
    public Dropout(double p = 0.5, Generator? generator = null)
    {
        Functional.CheckDropoutP(p);
        _p = p;
        Generator = generator;
    }

    /// <summary>Probability of an element to be zeroed; settable between calls, as PyTorch's <c>dropout.p = q</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not in [0, 1].</exception>
    public double P
    {
        get => _p;
        set
        {
            Functional.CheckDropoutP(value, nameof(P));
            _p = value;
        }
    }

    private double _p;

    /// <summary>Source of the masks (null: the default generator).</summary>
    public Generator? Generator { get; set; }

    /// <inheritdoc/>
    public override string TypeName => "Dropout";

    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => Functional.Dropout(input, P, Training, Generator);

    /// <inheritdoc/>
    public override string ExtraRepr() => $"p={PyFormat.Float(P)}, inplace=False";
}
