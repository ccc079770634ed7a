using BenchmarkDotNet.Attributes;
using ManycoreMail.Mime;

namespace ManycoreMail.Benchmarks;

[MemoryDiagnoser]
public class MimeBenchmarks
{
    private byte[] _message = [];

    [Params(5_000, 100_000)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup() => _message = Messages.Create(Size);

    [Benchmark]
    public int ParseHeaders() => MessageHeaders.TryParse(_message, out var headers, out _) ? headers.Fields.Count : -1;

    [Benchmark]
    public int ParseAndRewrite()
    {
        MessageHeaders.TryParse(_message, out var headers, out _);
        return new MessageRewriter(_message, headers).Remove("X-Uuid").Remove("X-Stream-Id").Append("X-Mailer", "Manycore-Mail").ToArray().Length;
    }
}
