using ManycoreMail.Events;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Tracker;

/// <summary>
/// Puts the tracker's events on the durable events queue without ever holding up the answer for long: a pixel or
/// a redirect that waited for a slow or unreachable queue would show the recipient a broken image or a hanging
/// link. An event the queue does not take within <paramref name="deadline"/> is logged and counted
/// (<c>tracker_events_failed_total</c>); the request is answered all the same.
/// </summary>
internal sealed class TrackerEvents(EventQueue queue, TimeSpan deadline, TrackerMetrics metrics, ILogger logger)
{
    public async Task EmitAsync(MailEvent mailEvent)
    {
        // Not the request's token: a client that hangs up once it has its answer (a scanner's HEAD) must not
        // take its event with it.
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            // WaitAsync as well: a store that does not watch its token still cannot hold the answer.
            await queue.EmitAsync(mailEvent, timeout.Token).AsTask().WaitAsync(deadline).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            metrics.EventsFailed.Increment();
            // Counted as lost: a store that ignored its token may still write it later, but nobody waits to see.
            logger.LogWarning("The {Kind} event of {Uuid} was not queued within {Deadline} s and is counted as lost: {Error}",
                mailEvent.Kind, mailEvent.Uuid, deadline.TotalSeconds, e.Message);
        }
    }
}
