using System.Data.Common;
using ManycoreMail.EventStore;
using ManycoreMail.Hosting;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Backdata;

/// <summary>Deletes the events older than <c>events/retention-days</c> from the store, at start and then hourly.</summary>
internal sealed class EventRetention(IEventStore store, TimeSpan retention, TimeProvider time, ILogger<EventRetention> logger)
{
    private static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    public IMailerRole AsRole() => new BackgroundLoop("event-retention", RunAsync, logger, time);

    /// <summary>One purge; returns how many events it deleted.</summary>
    public async Task<long> PurgeOnceAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - retention;
        var deleted = await store.PurgeOlderThanAsync(cutoff, cancellationToken).ConfigureAwait(false);
        if (deleted > 0)
        {
            logger.LogInformation("Deleted {Count} events older than {Cutoff:O} from the event store", deleted, cutoff);
        }
        return deleted;
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await PurgeOnceAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (e is DbException or IOException && !stopping.IsCancellationRequested)
            {
                // A busy or full disk now is no reason to stop purging later.
                logger.LogWarning("Purging the event store failed ({Error}); trying again in {Interval}", e.Message, Interval);
            }
            await Task.Delay(Interval, time, stopping).ConfigureAwait(false);
        }
    }
}
