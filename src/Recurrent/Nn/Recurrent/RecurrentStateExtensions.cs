// Reading one layer's and one direction's final state out of h_n / c_n (rows layer*D + direction).
namespace Recurrent.Nn;

/// <summary>Helpers for reading h_n and c_n.</summary>
public static class RecurrentStateExtensions
{
    /// <summary>
    /// The final state of one layer and direction from an h_n or c_n of shape
    /// (D*num_layers, N, ·) or (D*num_layers, ·): row <c>layer * D + direction</c>, D = 2 when
    /// <paramref name="bidirectional"/> (direction 0 = forward, 1 = reverse).
    /// </summary>
    public static Tensor LayerState(this Tensor state, int layer, int direction, bool bidirectional)
    {
        Guard.NotNull(state, nameof(state));
        int dirs = bidirectional ? 2 : 1;
        if (direction < 0 || direction >= dirs)
            throw new ArgumentOutOfRangeException(nameof(direction), direction, $"direction must be in [0, {dirs - 1}] for a {(bidirectional ? "bidirectional" : "unidirectional")} module, but got {direction}");
        if (state.Dim < 1 || state.Size(0) % dirs != 0)
            throw new ArgumentException($"state: expected D*num_layers rows in dimension 0 (D = {dirs}), got shape {Guard.ShapeText(state.ShapeRef)}", nameof(state));
        int layers = state.Size(0) / dirs;
        if (layer < 0 || layer >= layers)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"layer must be in [0, {layers - 1}], but got {layer}");
        return state.Select(0, layer * dirs + direction);
    }
}
