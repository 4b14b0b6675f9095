// Kernel micro-benchmarks (BenchmarkDotNet): `dotnet run -c Release --project bench/Recurrent.Micro -- --filter '*'`
// (add `--job short` for a quick pass). Each class marks a naive baseline; MemoryDiagnoser reports
// managed allocation per operation.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Recurrent.Micro.GemmBenchmarks).Assembly).Run(args);
