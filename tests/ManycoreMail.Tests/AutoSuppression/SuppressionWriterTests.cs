using ManycoreMail.AutoSuppression;
using ManycoreMail.Config;
using ManycoreMail.Metrics;
using ManycoreMail.Suppression;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests.AutoSuppression;

/// <summary>The automatic entries reach the store in batches, only for the reasons <c>suppression/auto</c> names, and a
/// failing store costs a count and a log line, never an exception to the caller.</summary>
public sealed class SuppressionWriterTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 4, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static SuppressionEntry Entry(string email, SuppressionReason reason) =>
        SuppressionEntry.Create(email, SuppressionScope.Global, null, reason, Now);

    [Fact]
    public async Task Entries_are_added_in_batches()
    {
        var store = new RecordingSuppressionStore();
        await using (var writer = new SuppressionWriter(store, new SuppressionOptions(), new MetricsRegistry(), NullLogger<SuppressionWriter>.Instance))
        {
            writer.Add(Enumerable.Range(0, 1200).Select(i => Entry($"user{i}@x.test", SuppressionReason.Bounce)));
        }

        Assert.Equal(1200, store.Entries.Count);
        // Never one transaction per entry: at most 500 each, so three batches at least and far fewer than 1200.
        Assert.InRange(store.Batches.Count, 3, 100);
        Assert.All(store.Batches, size => Assert.InRange(size, 1, 500));
    }

    [Fact]
    public async Task A_reason_suppression_auto_does_not_name_adds_nothing()
    {
        var store = new RecordingSuppressionStore();
        var options = new SuppressionOptions { Auto = new HashSet<SuppressionReason> { SuppressionReason.Complaint } };
        await using (var writer = new SuppressionWriter(store, options, new MetricsRegistry(), NullLogger<SuppressionWriter>.Instance))
        {
            Assert.False(writer.Adds(SuppressionReason.Bounce));
            writer.Add([Entry("gone@x.test", SuppressionReason.Bounce), Entry("unsub@x.test", SuppressionReason.Unsubscribe), Entry("angry@x.test", SuppressionReason.Complaint)]);
        }

        Assert.Equal(["angry@x.test"], store.Entries.Select(e => e.Email));
    }

    [Fact]
    public async Task A_failing_store_is_counted_and_the_writer_goes_on()
    {
        var store = new RecordingSuppressionStore { Failing = true };
        var metrics = new MetricsRegistry();
        await using (var writer = new SuppressionWriter(store, new SuppressionOptions(), metrics, NullLogger<SuppressionWriter>.Instance))
        {
            writer.Add([Entry("lost@x.test", SuppressionReason.Bounce)]);
            await Eventually.TrueAsync(async () => (await metrics.RenderAsync(CancellationToken.None)).Contains("suppression_add_failed_total 1", StringComparison.Ordinal),
                Patience, "the failed add counted");

            store.Failing = false;
            writer.Add([Entry("kept@x.test", SuppressionReason.Bounce)]);
        }

        Assert.Equal(["kept@x.test"], store.Entries.Select(e => e.Email));
    }
}
