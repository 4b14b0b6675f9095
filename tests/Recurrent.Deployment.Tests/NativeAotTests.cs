// The NativeAOT binary: `dotnet publish src/Recurrent.Cli -c Release -r linux-x64 -p:PublishAot=true` with zero
// warnings, then the native program trains, saves a checkpoint, resumes it, samples, evaluates, and reads real
// PyTorch files.
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Recurrent.Deployment.Tests;

[Collection(nameof(DeploymentCollection))]
public sealed class NativeAotTests(DeploymentFixture fx, ITestOutputHelper log)
{
    private static void SkipUnlessLinuxX64() =>
        Skip.IfNot(OperatingSystem.IsLinux() && RuntimeInformation.OSArchitecture == Architecture.X64,
            "the NativeAOT checks publish for linux-x64 and run the binary, so they need a linux-x64 machine");

    [SkippableFact]
    public void PublishesWithZeroWarningsAndTrainsResumesSamplesEvaluates()
    {
        SkipUnlessLinuxX64();
        var (publish, binary) = fx.Native;
        string[] warnings = publish.Output.Split('\n').Where(l => Regex.IsMatch(l, @":\s+warning\b")).ToArray();
        Assert.True(warnings.Length == 0, "publish warnings:\n" + string.Join('\n', warnings));
        Assert.Matches(@"\b0 Warning\(s\)", publish.Output);
        long size = new FileInfo(binary).Length;
        log.WriteLine($"native binary: {size:N0} bytes; publish took {publish.Elapsed.TotalSeconds:F0} s");

        // Startup: the best of five runs of --help.
        ProcessResult help = fx.Run(binary, ["--help"], fx.Root, TimeSpan.FromMinutes(1)).AssertSuccess("recurrent --help");
        Assert.Contains("train", help.Output);
        TimeSpan best = TimeSpan.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            fx.Run(binary, ["--help"], fx.Root, TimeSpan.FromMinutes(1)).AssertSuccess("recurrent --help");
            if (clock.Elapsed < best) best = clock.Elapsed;
        }
        log.WriteLine($"startup (--help, best of 5): {best.TotalMilliseconds:F0} ms");

        string work = fx.NewFolder("native-run");
        string data = Path.Combine(work, "corpus.txt");
        File.WriteAllText(data, string.Concat(Enumerable.Repeat("the cat sat on the mat. the dog ran to the red hat.\n", 60)));
        string[] model = ["--hidden-size", "12", "--embedding-size", "6", "--seq-len", "16", "--batch-size", "4", "--threads", "1", "--eval-every", "4"];

        // Uninterrupted: 8 steps. Interrupted: 4 steps (a checkpoint), then --resume to 8.
        fx.Run(binary, ["train", "--data", data, "--out", "straight", "--steps", "8", .. model], work, TimeSpan.FromMinutes(3))
            .AssertSuccess("native train (8 steps)");
        ProcessResult first = fx.Run(binary, ["train", "--data", data, "--out", "run", "--steps", "4", "--checkpoint-every", "2", .. model],
            work, TimeSpan.FromMinutes(3)).AssertSuccess("native train (4 steps)");
        Assert.Contains("checkpoint saved to", first.Output);
        // The published binary runs the vector kernels this machine has (DECISIONS 51: the default x64 target of
        // NativeAOT left them on their portable path, five times slower than the JIT).
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported)
            Assert.Matches(@"\((AVX2\+FMA|AVX-512) kernels\)", first.Output);
        Assert.True(Directory.Exists(Path.Combine(work, "run", "checkpoint-000000004")), first.Output);
        ProcessResult resumed = fx.Run(binary, ["train", "--out", "run", "--resume", "--steps", "8"], work, TimeSpan.FromMinutes(3))
            .AssertSuccess("native train --resume");
        Assert.Contains("resuming checkpoint-000000004 at step 4", resumed.Output);
        // Bit for bit: the final weights of both runs are the same bytes.
        Assert.Equal(File.ReadAllBytes(Path.Combine(work, "straight", "checkpoint-000000008", "model.safetensors")),
            File.ReadAllBytes(Path.Combine(work, "run", "checkpoint-000000008", "model.safetensors")));

        ProcessResult a = fx.Run(binary, ["sample", "run", "--prompt", "the ", "--length", "40", "--seed", "3"], work, TimeSpan.FromMinutes(1))
            .AssertSuccess("native sample");
        ProcessResult b = fx.Run(binary, ["sample", "run", "--prompt", "the ", "--length", "40", "--seed", "3"], work, TimeSpan.FromMinutes(1));
        Assert.StartsWith("the ", a.Output);
        Assert.Equal(a.Output, b.Output);

        ProcessResult eval = fx.Run(binary, ["eval", "run", "--data", data], work, TimeSpan.FromMinutes(2)).AssertSuccess("native eval");
        Assert.Matches(@"loss \d+\.\d+ nats/char", eval.Output);
        ProcessResult info = fx.Run(binary, ["info", "run"], work, TimeSpan.FromMinutes(1)).AssertSuccess("native info on a checkpoint");
        Assert.Contains("step 8", info.Output);
        Assert.Matches(@"rnn\.weight_ih_l0\s+F32\s+\[48, 6\]", info.Output);

        // int8: quantize the run, then sample and eval the quantized checkpoint natively.
        fx.Run(binary, ["quantize", "run", "run-int8"], work, TimeSpan.FromMinutes(1)).AssertSuccess("native quantize");
        ProcessResult qs = fx.Run(binary, ["sample", "run-int8", "--prompt", "the ", "--length", "40", "--seed", "3"], work, TimeSpan.FromMinutes(1))
            .AssertSuccess("native sample of the int8 checkpoint");
        Assert.StartsWith("the ", qs.Output);
        Assert.Matches(@"loss \d+\.\d+ nats/char", fx.Run(binary, ["eval", "run-int8", "--data", data], work, TimeSpan.FromMinutes(2))
            .AssertSuccess("native eval of the int8 checkpoint").Output);
        Assert.Contains("I8", fx.Run(binary, ["info", "run-int8"], work, TimeSpan.FromMinutes(1)).AssertSuccess("native info on the int8 checkpoint").Output);

        // ONNX export (Recurrent.Onnx's hand-written protobuf writer: no reflection, so it runs under NativeAOT).
        ProcessResult export = fx.Run(binary, ["export", "run", "model.onnx"], work, TimeSpan.FromMinutes(1)).AssertSuccess("native export");
        Assert.Contains("input  tokens: int64[seq, batch]", export.Output);
        Assert.True(new FileInfo(Path.Combine(work, "model.onnx")).Length > 1000);

        // A bad command line: one line, exit code 2, no stack trace (the error policy survives AOT).
        ProcessResult bad = fx.Run(binary, ["train", "--hidden-size", "0", "--out", "bad"], work, TimeSpan.FromMinutes(1));
        Assert.Equal(2, bad.ExitCode);
        Assert.DoesNotContain("   at ", bad.Output);
        Assert.False(Directory.Exists(Path.Combine(work, "bad")));
    }

    [SkippableFact]
    public void ReadsRealPyTorchCheckpoints()
    {
        SkipUnlessLinuxX64();
        Skip.If(fx.RealCheckpoints is null, "../shared/real-checkpoints is not beside the repository");
        string binary = fx.Native.Binary;
        string pt = Path.Combine(fx.RealCheckpoints!, "RWDavid__rnn-instrument-recognition__gru.pt");
        ProcessResult info = fx.Run(binary, ["info", pt], fx.Root, TimeSpan.FromMinutes(1)).AssertSuccess("native info on a .pt");
        Assert.Matches(@"gru\.weight_ih_l0\s+torch\.float32\s+\[48, 13\]", info.Output);
        string output = Path.Combine(fx.NewFolder("convert"), "gru.safetensors");
        fx.Run(binary, ["convert", pt, output], fx.Root, TimeSpan.FromMinutes(1)).AssertSuccess("native convert");
        ProcessResult back = fx.Run(binary, ["info", output], fx.Root, TimeSpan.FromMinutes(1)).AssertSuccess("native info on the converted file");
        Assert.Matches(@"gru\.weight_ih_l0\s+F32\s+\[48, 13\]", back.Output);
        foreach (string file in Directory.EnumerateFiles(fx.RealCheckpoints!).Where(f => !f.EndsWith(".json", StringComparison.Ordinal)))
            fx.Run(binary, ["info", file], fx.Root, TimeSpan.FromMinutes(1)).AssertSuccess($"native info on {Path.GetFileName(file)}");
    }
}
