using ManycoreMail.Config;

namespace ManycoreMail.Roles.Sender;

/// <summary>Exponential back-off with jitter, capped, and the queue lifetime after which we give up.</summary>
internal sealed class RetrySchedule(SenderOptions options)
{
    /// <summary>When to try again after <paramref name="attempts"/> failed attempts (0 = the first one failed),
    /// or null when the next attempt would fall after the message's lifetime.</summary>
    public DateTimeOffset? Next(int attempts, DateTimeOffset createdAt, DateTimeOffset now)
    {
        var factor = Math.Pow(2, Math.Min(attempts, 30));
        var delay = Math.Min(options.FirstRetryDelay.TotalSeconds * factor, options.MaxRetryDelay.TotalSeconds);
        // ±10% jitter so that a burst of deferrals does not come back as a burst.
        delay *= 0.9 + (Random.Shared.NextDouble() * 0.2);
        var next = now + TimeSpan.FromSeconds(delay);
        return next - createdAt > options.MaxQueueLifetime ? null : next;
    }
}
