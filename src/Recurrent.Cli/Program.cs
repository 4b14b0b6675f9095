// Entry point of the `recurrent` program: wires Ctrl+C and SIGTERM to a cancellation token (while a command watches it)
// and runs the command tree.
using System.Runtime.InteropServices;
using System.Text;
using Recurrent;
using Recurrent.Cli;

Console.OutputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
using var cancel = new CancellationTokenSource();
var context = CliContext.ForConsole(cancel.Token);

// While a command watches the token (training, evaluation, sampling), the first Ctrl+C or SIGTERM asks it to stop
// (train saves a checkpoint first) and a second one ends the process; at any other time a signal ends it at once.
Console.CancelKeyPress += (_, e) =>
{
    if (cancel.IsCancellationRequested || !context.ObservesCancellation) return;
    e.Cancel = true;
    cancel.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal =>
{
    if (cancel.IsCancellationRequested || !context.ObservesCancellation) return;
    signal.Cancel = true;
    cancel.Cancel();
});

// The library's warnings (PyTorch's UserWarnings) go to standard error, as Python shows them.
Warnings.Raised += (_, e) => Console.Error.WriteLine($"warning: {e.Message}");

return CliApp.Run(args, context);
