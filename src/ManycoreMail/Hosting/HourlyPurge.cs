using System.Data.Common;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>A store's clean-up as a role: once at start, then hourly, until stopped.</summary>
internal static class HourlyPurge
{
    private static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    /// <param name="purgeOnce">One purge (it logs what it deleted).</param>
    /// <param name="what">The store, for the warning when a purge fails ("the event store").</param>
    public static IMailerRole Role(string name, Func<CancellationToken, Task<long>> purgeOnce, string what, ILogger logger, TimeProvider time) =>
        new BackgroundLoop(name, async stopping =>
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    await purgeOnce(stopping).ConfigureAwait(false);
                }
                catch (Exception e) when (e is DbException or IOException && !stopping.IsCancellationRequested)
                {
                    // A busy or full disk, or an unreachable database, now is no reason to stop purging later.
                    logger.LogWarning("Purging {Store} failed ({Error}); trying again in {Interval}", what, e.Message, Interval);
                }
                await Task.Delay(Interval, time, stopping).ConfigureAwait(false);
            }
        }, logger, time);
}
