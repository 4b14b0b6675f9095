// Entry point of the `recurrent` program: wires Ctrl+C and SIGTERM to a cancellation token and runs the command tree.
using System.Runtime.InteropServices;
using System.Text;
using Recurrent.Cli;

Console.OutputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
using var cancel = new CancellationTokenSource();

// The first Ctrl+C asks the running command to stop (train saves a checkpoint first); a second one kills the process.
Console.CancelKeyPress += (_, e) =>
{
    if (cancel.IsCancellationRequested) return;
    e.Cancel = true;
    cancel.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
{
    ctx.Cancel = true;
    cancel.Cancel();
});

return CliApp.Run(args, CliContext.ForConsole(cancel.Token));
