// Tests of the progress display: a bar redrawn in place on a terminal, plain lines otherwise.
using Recurrent.Cli;
using Recurrent.Cli.Training;

namespace Recurrent.Tests.Cli;

public sealed class ProgressReporterTests
{
    [Fact]
    public void TerminalModeRedrawsOneLineAndClearsItForMessages()
    {
        var output = new StringWriter();
        var p = new ProgressReporter(new CliContext(output, TextWriter.Null, isTerminal: true), 0, 10, null, logEvery: 5);
        p.Step(1, 2.5, 0.7, 100, skipped: false);
        p.Line("eval step 1: something");
        p.Step(10, 1.25, 0.5, 100, skipped: true);
        p.Finish();
        string text = output.ToString();
        Assert.StartsWith("\rstep 1/10 [##", text);
        Assert.Contains("loss 2.5000 | norm 0.70 |", text);
        Assert.Contains("tok/s | ETA ", text);
        Assert.Contains("\r\x1b[Keval step 1: something\n", text.Replace("\r\n", "\n"));
        Assert.Contains("step 10/10 [########################] 100 %", text);
        Assert.Contains("(skipped)", text);
        Assert.EndsWith("\n", text.Replace("\r\n", "\n"));
    }

    [Fact]
    public void PlainModePrintsEveryLogEverySteps()
    {
        var output = new StringWriter();
        var p = new ProgressReporter(new CliContext(output, TextWriter.Null), 100, 110, null, logEvery: 4);
        for (int s = 101; s <= 110; s++) p.Step(s, 1.0, 0.1, 10, skipped: false);
        string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["step 104/110", "step 108/110", "step 110/110"], lines.Select(l => l[..l.IndexOf("  ")]));
        Assert.DoesNotContain("\r", output.ToString().Replace("\r\n", "\n"));
    }

    [Fact]
    public void EtaOfAnEndlessStepLimit_IsTheTimeLimit_NotAnOverflow()
    {
        // --steps 9223372036854775807 --minutes 60: the step estimate used to overflow TimeSpan and end the run.
        var p = new ProgressReporter(new CliContext(TextWriter.Null, TextWriter.Null), 0, long.MaxValue, TimeSpan.FromMinutes(60), 1);
        Thread.Sleep(5);   // a step that takes time (a first step within one 100 ns tick would estimate zero)
        p.Step(1, 1, 1, 1, false);
        Assert.True(p.Eta(1) <= TimeSpan.FromMinutes(60));
        var unlimited = new ProgressReporter(new CliContext(TextWriter.Null, TextWriter.Null), 0, long.MaxValue, null, 1);
        Thread.Sleep(5);
        unlimited.Step(1, 1, 1, 1, false);
        Assert.Null(unlimited.Eta(1));
        Assert.Equal("-", ProgressReporter.Format(unlimited.Eta(1)));
    }

    [Fact]
    public void EtaIsTheSoonerOfStepsAndTimeLimit()
    {
        var p = new ProgressReporter(new CliContext(TextWriter.Null, TextWriter.Null), 0, 1_000_000, TimeSpan.FromSeconds(30), 1);
        p.Step(1, 1, 1, 1, false);
        Assert.True(p.Eta(1) <= TimeSpan.FromSeconds(30));
        Assert.Equal("01:05", ProgressReporter.Format(TimeSpan.FromSeconds(65)));
        Assert.Equal("2:00:05", ProgressReporter.Format(TimeSpan.FromSeconds(7205)));
        Assert.Equal("-", ProgressReporter.Format(null));
    }
}
