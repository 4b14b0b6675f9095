// Options of an ONNX export and the exception every refused export throws.
using Recurrent.Nn;

namespace Recurrent.Onnx;

/// <summary>Options of <see cref="OnnxExport"/>, as the keyword arguments of <c>torch.onnx.export</c>.</summary>
public sealed class OnnxExportOptions
{
    /// <summary>The opset used when <see cref="Opset"/> is not set: 17 (ONNX 1.12), supported by every ONNX Runtime since 1.14.</summary>
    public const int DefaultOpset = 17;

    /// <summary>The lowest opset the exporter writes (it needs Shape with start/end and axes as inputs).</summary>
    public const int MinOpset = 17;

    /// <summary>The highest opset the exporter writes (verified with ONNX Runtime 1.32).</summary>
    public const int MaxOpset = 23;

    /// <summary>Names of the graph inputs, one per example input (default <c>input_0</c>, <c>input_1</c>, ...).</summary>
    public IReadOnlyList<string>? InputNames { get; init; }

    /// <summary>Names of the graph outputs, one per returned tensor (default <c>output_0</c>, <c>output_1</c>, ...).</summary>
    public IReadOnlyList<string>? OutputNames { get; init; }

    /// <summary>
    /// The dynamic dimensions, as <c>dynamic_axes</c>: input name -> (axis -> dimension name). Inputs that share a
    /// dimension name share the size (e.g. <c>"batch"</c>). An input not listed is static. <b>null (the default):
    /// automatic</b> — every dimension of an int64 input (token ids, lengths) and every dimension but the last
    /// (features) of a floating input is dynamic, except dimensions of size 1 in the example and the first dimension
    /// of a recurrent layer's initial state (layers x directions). An empty dictionary makes everything static.
    /// A dynamic dimension must have size 2 or more in the example (size 1 is indistinguishable from broadcasting).
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<int, string>>? DynamicAxes { get; init; }

    /// <summary>The opset version (<see cref="MinOpset"/> to <see cref="MaxOpset"/>; default <see cref="DefaultOpset"/>).</summary>
    public int Opset { get; init; } = DefaultOpset;

    /// <summary>
    /// The module whose <see cref="Module.StateDict"/> keys name the initializers (<c>fc.weight</c>, ...) and whose
    /// submodule paths prefix the recurrent layers' ONNX weights (<c>rnn.W_l0</c>, <c>rnn.R_l0</c>, <c>rnn.B_l0</c>).
    /// Set automatically by the overloads that take a module.
    /// </summary>
    public Module? Module { get; init; }

    /// <summary>The graph's name (default: the module's type name, else <c>recurrent</c>).</summary>
    public string? GraphName { get; init; }

    /// <summary>Extra key/value pairs stored in the model's <c>metadata_props</c>.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>
/// An export that cannot produce a correct graph: an op without an ONNX mapping (named), training-mode dropout, a
/// data-dependent read of a traced tensor, a size baked into a constant, ... The message says what and how to fix it.
/// </summary>
public sealed class OnnxExportException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OnnxExportException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public OnnxExportException(string message, Exception inner) : base(message, inner) { }

    // The file embeds every weight (no external data), and a protobuf message is at most 2 GiB.
    // whatTakes: the subject and its verb ("one weight takes").
    internal static OnnxExportException TooLarge(string whatTakes, long bytes) => new(string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{whatTakes} {bytes:N0} bytes, more than an ONNX file holds (protobuf's 2 GiB, with the weights inside the file; external data files are not written). Export a smaller model, or quantize it first."));
}
