// nn.Dropout: random zeroing with 1/(1-p) rescaling in training mode, identity in eval mode.
namespace Recurrent.Nn;

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
        P = p;
        Generator = generator;
    }

    /// <summary>Probability of an element to be zeroed.</summary>
    public double P { get; }

    /// <summary>Source of the masks (null: the default generator).</summary>
    public Generator? Generator { get; set; }

    /// <inheritdoc/>
    public override string TypeName => "Dropout";

    /// <summary>Same shape in and out.</summary>
    public override Tensor Forward(Tensor input) => Functional.Dropout(input, P, Training, Generator);

    /// <inheritdoc/>
    public override string ExtraRepr() => $"p={PyFormat.Float(P)}, inplace=False";
}
