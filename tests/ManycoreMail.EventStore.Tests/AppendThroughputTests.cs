using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;
using static ManycoreMail.EventStore.Tests.TempStore;

namespace ManycoreMail.EventStore.Tests;

/// <summary>
/// The throughput figure (100,000 events in batches of 500; target 5,000 events/s on SQLite), printed and not
/// asserted: a shared machine's speed is no property of the code. Run with <c>--logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class AppendThroughputTests(ITestOutputHelper output) : IDisposable
{
    private const int Events = 100_000;
    private const int BatchSize = 500;
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Appending_100000_events_in_batches_of_500_prints_events_per_second()
    {
        var batches = Enumerable.Range(0, Events / BatchSize)
            .Select(b => (IReadOnlyList<StoredEventInput>)[.. Enumerable.Range(b * BatchSize, BatchSize).Select(i => Bounce("uuid-" + N(i / 3), "rcpt" + N(i % 5000) + "@example.com", 1_700_000_000 + i))])
            .ToList();
        await using var store = _temp.Open();

        var clock = Stopwatch.StartNew();
        foreach (var batch in batches)
        {
            await store.AppendAsync(batch, CancellationToken.None);
        }

        clock.Stop();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"SQLite event store: {Events} events in batches of {BatchSize}: {clock.Elapsed.TotalSeconds:F2} s, {Events / clock.Elapsed.TotalSeconds:F0} events/s"));
        var page = await store.QueryAsync(new EventQuery { Uuid = "uuid-1000" }, CancellationToken.None);
        Assert.Equal(3, page.Events.Count);
    }
}
