using System.Data.Common;
using ManycoreMail.Hosting;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Backdata;

/// <summary>Deletes expired suppression entries (lookups already ignore them), at start and then hourly.</summary>
internal sealed class SuppressionPurge(ISuppressionStore store, TimeProvider time, ILogger<SuppressionPurge> logger)
{
    private static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    public IMailerRole AsRole() => new BackgroundLoop("suppression-purge", RunAsync, logger, time);

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
                // A busy file or an unreachable database now is no reason to stop purging later.
                logger.LogWarning("Purging the suppression list failed ({Error}); trying again in {Interval}", e.Message, Interval);
            }
            await Task.Delay(Interval, time, stopping).ConfigureAwait(false);
        }
    }
}
