using ManycoreMail.Hosting;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Backdata;

/// <summary>Deletes expired suppression entries (lookups already ignore them), at start and then hourly.</summary>
internal sealed class SuppressionPurge(ISuppressionStore store, TimeProvider time, ILogger<SuppressionPurge> logger)
{
    public IMailerRole AsRole() => HourlyPurge.Role("suppression-purge", PurgeOnceAsync, "the suppression list", logger, time);

    /// <summary>One purge; returns how many entries it deleted.</summary>
    public async Task<long> PurgeOnceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var deleted = await store.PurgeExpiredAsync(now, cancellationToken).ConfigureAwait(false);
        if (deleted > 0)
        {
            logger.LogInformation("Deleted {Count} suppression entries that expired by {Now:O}", deleted, now);
        }
        return deleted;
    }
}
