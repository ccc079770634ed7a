namespace ManycoreMail.Suppression;

/// <summary>A page of entries and where the next one starts (null: this was the last).</summary>
public sealed record SuppressionPage(IReadOnlyList<SuppressionEntry> Entries, string? Next);

/// <summary>What to list: every entry, or one address's; at most <see cref="Limit"/> (1..1000) after the opaque
/// cursor <see cref="After"/> a previous page handed out.</summary>
public sealed record SuppressionQuery
{
    public const int MaxLimit = 1000;

    /// <summary>Normalised with <see cref="SuppressionNames.NormalizeEmail"/> by the store; null: every address.</summary>
    public string? Email { get; init; }

    public int Limit { get; init; } = 100;

    public string? After { get; init; }
}

/// <summary>
/// The suppression list (issue 12): SQLite in <c>storage/path</c> for one process, PostgreSQL shared by every process
/// of a cluster. Entries are keyed by (email, scope, value). Expired entries are ignored by <see cref="FindAsync"/>
/// at once and deleted by <see cref="PurgeExpiredAsync"/> later. Thread-safe.
/// </summary>
public interface ISuppressionStore : IAsyncDisposable
{
    /// <summary>Adds or replaces the entries (one transaction; bulk imports call it with a few thousand at a time).</summary>
    Task AddAsync(IReadOnlyList<SuppressionEntry> entries, CancellationToken cancellationToken);

    /// <summary>Removes the entry (email, scope, value), normalising them as <see cref="SuppressionEntry.Create"/>
    /// does; false when there was none.</summary>
    Task<bool> RemoveAsync(string email, SuppressionScope scope, string? value, CancellationToken cancellationToken);

    /// <summary>One page, ordered by email then scope then value.</summary>
    /// <exception cref="ArgumentException">The cursor is not one this store handed out, or the limit is out of range.</exception>
    Task<SuppressionPage> ListAsync(SuppressionQuery query, CancellationToken cancellationToken);

    /// <summary>The entries active at <paramref name="now"/> for each of <paramref name="emails"/> (already normalised),
    /// in one round trip: the transformer asks once per batch of messages. Addresses without entries are absent.</summary>
    Task<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>> FindAsync(IReadOnlyCollection<string> emails,
        DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Deletes entries expired before <paramref name="now"/> in bounded chunks; returns how many.</summary>
    Task<long> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken);
}
