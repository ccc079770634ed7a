using BenchmarkDotNet.Attributes;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;

namespace ManycoreMail.Benchmarks;

/// <summary>Durable enqueue (group commit) and lease + complete, with concurrent writers as a receiver has.</summary>
public class SpoolBenchmarks
{
    private const int Operations = 2_000;
    private string _directory = "";
    private EmbeddedSpool _spool = null!;
    private QueueItem _item = null!;

    [Params(1, 50)]
    public int Writers { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "mm-bench-spool-" + Guid.NewGuid().ToString("N"));
        _spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = _directory }, TimeProvider.System, CancellationToken.None);
        _item = new QueueItem(new MessageEnvelope { Uuid = "u" }, Messages.Create(5_000));
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _spool.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public async Task EnqueueThenLeaseAndComplete()
    {
        var queue = Guid.NewGuid().ToString("N");
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(async _ =>
        {
            for (var i = 0; i < Operations / Writers; i++)
            {
                await _spool.EnqueueAsync(queue, _item, CancellationToken.None);
            }
        }));
        var left = Operations - (Operations % Writers);
        while (left > 0)
        {
            var batch = await _spool.LeaseAsync(queue, 64, TimeSpan.FromMinutes(1), CancellationToken.None);
            var transaction = new QueueTransaction();
            foreach (var item in batch)
            {
                transaction.Complete(item);
            }
            await _spool.CommitAsync(transaction, CancellationToken.None);
            left -= batch.Count;
        }
    }
}
