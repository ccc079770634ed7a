namespace ManycoreMail.Delivery;

/// <summary>Exponential back-off with jitter, capped, and the queue lifetime after which we give up.</summary>
internal sealed class RetrySchedule(RetryPolicy options, Random? random = null)
{
    private readonly Random _random = random ?? Random.Shared;

    /// <summary>The lifetime of a scheduled queue (campaign:tenant@domain): the first matching override, else the default.</summary>
    public TimeSpan LifetimeOf(string queue)
    {
        foreach (var rule in options.QueueLifetimes)
        {
            if (rule.Matches(queue))
            {
                return rule.Lifetime;
            }
        }
        return options.MaxQueueLifetime;
    }

    /// <summary>When to try again after <paramref name="attempts"/> failed attempts (0 = the first one failed),
    /// or null when the next attempt would fall after the message's lifetime.</summary>
    public DateTimeOffset? Next(int attempts, DateTimeOffset createdAt, DateTimeOffset now, TimeSpan lifetime)
    {
        var factor = Math.Pow(2, Math.Min(attempts, 30));
        var delay = Math.Min(options.FirstRetryDelay.TotalSeconds * factor, options.MaxRetryDelay.TotalSeconds);
        // ±10% jitter so that a burst of deferrals does not come back as a burst.
        double jitter;
        lock (_random)
        {
            jitter = 0.9 + (_random.NextDouble() * 0.2);
        }
        var next = now + TimeSpan.FromSeconds(delay * jitter);
        return Within(next, createdAt, lifetime);
    }

    /// <summary><paramref name="at"/>, or null when it falls after the message's lifetime.</summary>
    public static DateTimeOffset? Within(DateTimeOffset at, DateTimeOffset createdAt, TimeSpan lifetime) =>
        at - createdAt > lifetime ? null : at;
}
