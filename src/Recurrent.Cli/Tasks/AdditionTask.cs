// The built-in training task: a corpus of fixed-width addition problems ("07+45=052\n") that the program generates
// itself, with held-out problems never seen in training, so that learning is measured as a skill (exact-match
// accuracy of the greedily decoded answers) and not only as a falling loss.
using System.Globalization;
using System.Text;

namespace Recurrent.Cli.Tasks;

/// <summary>One held-out problem: the prompt the model is given and the answer it must complete.</summary>
/// <param name="Prompt">The context before the answer, e.g. "\n07+45=" (a line start, then the problem).</param>
/// <param name="Answer">The expected completion, e.g. "052\n".</param>
public sealed record SkillProblem(string Prompt, string Answer);

/// <summary>
/// Addition of two <see cref="Digits"/>-digit numbers, zero-padded to a fixed width: "a+b=c\n" with a and b of
/// <see cref="Digits"/> digits and c of <see cref="Digits"/> + 1. The held-out set is fixed by the digit count alone
/// (not by the training seed), so every run is measured on the same problems.
/// </summary>
public sealed class AdditionTask
{
    /// <summary>The task's name on the command line and in checkpoints.</summary>
    public const string TaskName = "addition";

    private const ulong TaskSeed = 0xADD_1710;

    /// <summary>Creates the task.</summary>
    /// <param name="digits">Digits per operand, 1 to 6.</param>
    /// <param name="heldOut">Number of held-out problems (validation), at most a fifth of all problems; null: 500, or a
    /// fifth of all problems when that is fewer.</param>
    /// <param name="trainLines">Training problems to generate when the problem space is larger than that (3+ digits).</param>
    public AdditionTask(int digits = 2, int? heldOut = null, int trainLines = 100_000)
    {
        if (digits is < 1 or > 6)
            throw new UsageException($"--digits must be between 1 and 6, got {digits}.");
        long space = Pow10(digits) * Pow10(digits);
        heldOut ??= (int)Math.Min(500, space / 5);
        // At most a fifth of the problems, and at most MaxHeldOut: each is decoded at every evaluation (and a fifth of
        // the 6-digit space is 2e11 problems, a set no machine holds).
        long most = Math.Min(space / 5, MaxHeldOut);
        if (heldOut < 1 || heldOut > most)
            throw new UsageException($"the {digits}-digit addition task can hold out between 1 and {most} problems, got {heldOut}.");
        Digits = digits;
        HeldOutCount = heldOut.Value;
        TrainLines = trainLines;
    }

    /// <summary>The most held-out problems a task keeps.</summary>
    public const int MaxHeldOut = 100_000;

    /// <summary>Digits per operand.</summary>
    public int Digits { get; }

    /// <summary>Number of held-out problems.</summary>
    public int HeldOutCount { get; }

    /// <summary>Maximum number of generated training problems.</summary>
    public int TrainLines { get; }

    /// <summary>Length of one problem line including its newline.</summary>
    public int LineLength => LineLengthFor(Digits);

    /// <summary>Length of a problem line with <paramref name="digits"/>-digit operands: "a+b=" plus a (digits+1)-digit answer and newline.</summary>
    public static int LineLengthFor(int digits) => 2 * digits + 2 + digits + 1 + 1;

    /// <summary>The characters of the task, in vocabulary order: newline, '+', digits, '='.</summary>
    public static string Alphabet => "\n+0123456789=";

    /// <summary>A short description for logs and plot titles.</summary>
    public string Description => string.Create(CultureInfo.InvariantCulture, $"{Digits}-digit addition");

    /// <summary>One problem line, e.g. Format(7, 45) = "07+45=052\n" for 2 digits.</summary>
    public string Format(long a, long b)
    {
        string d = "D" + Digits.ToString(CultureInfo.InvariantCulture);
        string s = "D" + (Digits + 1).ToString(CultureInfo.InvariantCulture);
        string sum = (a + b).ToString(s, CultureInfo.InvariantCulture);
        return $"{a.ToString(d, CultureInfo.InvariantCulture)}+{b.ToString(d, CultureInfo.InvariantCulture)}={sum}\n";
    }

    /// <summary>The generated data: training text, validation text (the held-out lines) and the held-out problems.</summary>
    public (string TrainText, string ValidationText, IReadOnlyList<SkillProblem> HeldOut) Generate()
    {
        var g = new Generator(TaskSeed + (ulong)Digits);
        long n = Pow10(Digits);
        long space = n * n;
        // Held-out problems: distinct pairs drawn first.
        var heldOut = new HashSet<long>();
        var heldOutOrder = new List<long>();
        while (heldOut.Count < HeldOutCount)
        {
            long p = g.NextLong(space);
            if (heldOut.Add(p)) heldOutOrder.Add(p);
        }
        // Training problems: every other pair (shuffled) when the space is small, else random other pairs.
        var train = new List<long>();
        if (space - HeldOutCount <= TrainLines)
        {
            for (long p = 0; p < space; p++) if (!heldOut.Contains(p)) train.Add(p);
            for (int i = train.Count - 1; i > 0; i--)
            {
                int j = (int)g.NextLong(i + 1);
                (train[i], train[j]) = (train[j], train[i]);
            }
        }
        else
        {
            while (train.Count < TrainLines)
            {
                long p = g.NextLong(space);
                if (!heldOut.Contains(p)) train.Add(p);
            }
        }
        var trainText = new StringBuilder(train.Count * LineLength);
        foreach (long p in train) trainText.Append(Format(p / n, p % n));
        var valText = new StringBuilder(HeldOutCount * LineLength);
        var problems = new List<SkillProblem>(HeldOutCount);
        foreach (long p in heldOutOrder)
        {
            string line = Format(p / n, p % n);
            valText.Append(line);
            int eq = line.IndexOf('=');
            problems.Add(new SkillProblem("\n" + line[..(eq + 1)], line[(eq + 1)..]));
        }
        return (trainText.ToString(), valText.ToString(), problems);
    }

    private static long Pow10(int k)
    {
        long v = 1;
        for (int i = 0; i < k; i++) v *= 10;
        return v;
    }
}
