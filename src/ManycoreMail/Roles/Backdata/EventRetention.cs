using ManycoreMail.EventStore;
using ManycoreMail.Hosting;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Backdata;

/// <summary>Deletes the events older than <c>events/retention-days</c> from the store, at start and then hourly.</summary>
internal sealed class EventRetention(IEventStore store, TimeSpan retention, TimeProvider time, ILogger<EventRetention> logger)
{
    public IMailerRole AsRole() => HourlyPurge.Role("event-retention", PurgeOnceAsync, "the event store", logger, time);

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
}
