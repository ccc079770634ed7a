using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/ManycoreMail.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
