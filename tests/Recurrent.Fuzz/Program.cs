// Command line of the fuzzer; see README.md.
using System.Globalization;
using Recurrent.Fuzz;

var targets = FuzzTargets.All.Select(t => t.Name).ToList();
long cases = 10_000, first = 0;
double? seconds = null;
int seed = 1, threads = Environment.ProcessorCount;
string? findings = Path.Combine(Corpus.RepositoryRoot(), "tests", "Recurrent.Fuzz", "findings");
string? replay = null, dump = null;
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--target": targets = Next().Split(',').ToList(); break;
        case "--cases": cases = long.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); cases = long.MaxValue; break;
        case "--first": first = long.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--seed": seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--findings": findings = Next(); break;
        case "--no-findings": findings = null; break;
        case "--replay": replay = Next(); break;
        case "--dump": dump = Next(); break;
        case "-h": case "--help":
            Console.WriteLine("""
                usage: Recurrent.Fuzz [--target safetensors,pt-zip,pt-legacy,checkpoint] [--cases N | --seconds S] [--seed N]
                                      [--first N] [--threads N] [--findings DIR | --no-findings] [--replay FILE_OR_DIR]
                Runs N mutated inputs (or S seconds) per target, deterministic for a seed: case i of a target is the
                same input for the same seed and corpus (tests/Recurrent.Fuzz/corpus/{seed,regression}/<target>).
                --replay runs the given files (a folder: every file in it) through --target once each.
                --dump DIR writes the inputs of the selected cases (--first, --cases) to DIR instead of running them.
                Exit code 0 when every case was accepted or rejected with a documented exception within 2 s and the
                allocation budget; 1 otherwise (failing inputs are written to the findings folder); 3 on a hang.
                """);
            return 0;
        default: throw new ArgumentException($"unknown argument '{args[i]}' (see --help)");
    }
}

int failed = 0, passed = 0;
foreach (string name in targets)
{
    var target = FuzzTargets.Get(name);
    FuzzReport report;
    if (dump is not null)
    {
        var runner = new FuzzRunner(target, Corpus.Load(name), seed, null);
        Directory.CreateDirectory(dump);
        for (long k = first; k < first + Math.Min(cases, 10_000); k++)
            File.WriteAllBytes(Path.Combine(dump, $"{name}-{seed}-{k}.bin"), runner.Input(k, out _));
        continue;
    }
    if (replay is not null)
    {
        var files = Directory.Exists(replay) ? Directory.GetFiles(replay).OrderBy(f => f, StringComparer.Ordinal).ToArray() : new[] { replay };
        var runner = new FuzzRunner(target, files.Select(File.ReadAllBytes).ToList(), seed, findings);
        report = new FuzzReport { Target = name };
        for (int k = 0; k < files.Length; k++)
            runner.RunCase(k, File.ReadAllBytes(files[k]), Path.GetFileName(files[k]), report);
    }
    else
    {
        var corpus = Corpus.Load(name);
        Console.WriteLine($"{name}: {corpus.Count} corpus files (seeds, regression inputs, small real checkpoints), seed {seed}, cases {first}..{(cases == long.MaxValue ? "" : (first + cases - 1).ToString(CultureInfo.InvariantCulture))}{(seconds is { } sec ? $" for {sec} s" : "")}, {threads} threads");
        report = new FuzzRunner(target, corpus, seed, findings).Run(first, cases, seconds is { } s ? TimeSpan.FromSeconds(s) : null, threads, TimeSpan.FromSeconds(30));
    }
    Console.WriteLine(report);
    foreach (var (type, count) in report.RejectionsByType.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        Console.WriteLine($"    rejected with {type}: {count}");
    foreach (var f in report.Failures.Take(10))
        Console.WriteLine("    FAIL " + f.Split('\n')[0]);
    if (report.Failed == 0) passed++; else failed++;
}
Console.WriteLine($"fuzz summary: {passed} targets passed, {failed} targets failed");
return failed == 0 ? 0 : 1;
