// Tests of the built-in addition task: format, held-out problems disjoint from training, fixed across runs.
using Recurrent.Cli;
using Recurrent.Cli.Tasks;

namespace Recurrent.Tests.Cli;

public sealed class AdditionTaskTests
{
    [Fact]
    public void FormatIsFixedWidthAndCorrect()
    {
        var task = new AdditionTask(2);
        Assert.Equal("07+45=052\n", task.Format(7, 45));
        Assert.Equal("99+99=198\n", task.Format(99, 99));
        Assert.Equal(10, task.LineLength);
        Assert.Equal("1+9=10\n", new AdditionTask(1, heldOut: 10).Format(1, 9));
    }

    [Fact]
    public void HeldOutProblemsAreNeverInTheTrainingText()
    {
        var task = new AdditionTask(2, heldOut: 500);
        var (train, val, heldOut) = task.Generate();
        var trainLines = train.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        Assert.Equal(9500, trainLines.Count);            // every other 2-digit problem exactly once
        Assert.Equal(500, heldOut.Count);
        foreach (SkillProblem p in heldOut)
        {
            string line = p.Prompt[1..] + p.Answer.TrimEnd('\n');
            Assert.DoesNotContain(line, trainLines);
            Assert.StartsWith("\n", p.Prompt);
            Assert.Equal(4, p.Answer.Length);
            string[] parts = line.Split('+', '=');
            Assert.Equal(int.Parse(parts[0]) + int.Parse(parts[1]), int.Parse(parts[2]));
        }
        Assert.Equal(500 * 10, val.Length);
        Assert.All(train.Concat(val), c => Assert.Contains(c, AdditionTask.Alphabet));
    }

    [Fact]
    public void GenerationIsDeterministic()
    {
        var a = new AdditionTask(3, heldOut: 100, trainLines: 2000).Generate();
        var b = new AdditionTask(3, heldOut: 100, trainLines: 2000).Generate();
        Assert.Equal(a.TrainText, b.TrainText);
        Assert.Equal(a.HeldOut, b.HeldOut);
        Assert.Equal(2000 * 13, a.TrainText.Length); // "123+456=0579\n"
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(7, 10)]
    [InlineData(1, 0)]
    [InlineData(1, 21)]
    public void BadParametersAreUsageErrors(int digits, int heldOut) =>
        Assert.Throws<UsageException>(() => new AdditionTask(digits, heldOut));
}
