// PyTorch's UserWarnings, for the cases where the code runs but likely not as its author meant.
namespace Recurrent;

/// <summary>
/// The warnings PyTorch raises as <c>UserWarning</c> where a call is valid but likely not what was meant: a recurrent
/// module with <c>dropout</c> and one layer (the dropout never applies), an element-wise loss whose target has another
/// shape than its input (the two are broadcast, which rarely is the intent: a (N, 1) input against a (N) target gives
/// an (N, N) loss). .NET has no warnings module, and a library does not write to the console: each warning is raised
/// on <see cref="Raised"/>, on the thread that made the call, every time the call is made (subscribers choose whether
/// to show it once). With no subscriber nothing happens, as under <c>warnings.simplefilter("ignore")</c>. The
/// <c>recurrent</c> program prints them to standard error.
/// </summary>
/// <example>
/// <code>
/// Warnings.Raised += (_, e) => Console.Error.WriteLine("warning: " + e.Message);
/// var lstm = new Lstm(10, 20, dropout: 0.5);   // warning: dropout option adds dropout after all but last recurrent layer, ...
/// </code>
/// </example>
public static class Warnings
{
    /// <summary>Raised with each warning, on the calling thread. A handler that throws makes the call throw.</summary>
    public static event EventHandler<WarningEventArgs>? Raised;

    internal static void Warn(string message) => Raised?.Invoke(null, new WarningEventArgs(message));
}

/// <summary>One warning: PyTorch's message for the same case.</summary>
public sealed class WarningEventArgs : EventArgs
{
    /// <summary>Creates the arguments.</summary>
    public WarningEventArgs(string message) => Message = message;

    /// <summary>PyTorch's message, with our values in it.</summary>
    public string Message { get; }
}
