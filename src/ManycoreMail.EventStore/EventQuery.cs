namespace ManycoreMail.EventStore;

/// <summary>A query: every filter given must match. Timestamps compare in whole Unix seconds, since ≤ t &lt; until.</summary>
public sealed record EventQuery
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    public string? Uuid { get; init; }

    /// <summary>Matched without regard to case.</summary>
    public string? Email { get; init; }

    public string? Event { get; init; }

    public DateTimeOffset? Since { get; init; }

    public DateTimeOffset? Until { get; init; }

    /// <summary>At most this many events per page, 1 to <see cref="MaxLimit"/>.</summary>
    public int Limit { get; init; } = DefaultLimit;

    /// <summary>A page's <see cref="EventPage.Next"/>: the answer continues after the event it names.</summary>
    public string? After { get; init; }

    /// <summary>Checks the query and returns the id its cursor names (0 without one).</summary>
    /// <exception cref="ArgumentException">A limit out of range, since after until, or a cursor that is not one a
    /// store handed out; the message says which, fit for an HTTP 400.</exception>
    public long Validate()
    {
        if (Limit is < 1 or > MaxLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(Limit), Limit, $"limit must be between 1 and {MaxLimit}.");
        }

        if (Since is { } since && Until is { } until && since > until)
        {
            throw new ArgumentException("since is after until.", nameof(Since));
        }

        return After is null ? 0 : EventCursor.Decode(After);
    }
}
