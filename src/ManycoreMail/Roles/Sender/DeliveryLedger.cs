using System.Collections.Concurrent;

namespace ManycoreMail.Roles.Sender;

/// <summary>Where a message known to this sender stands.</summary>
internal enum LedgerState
{
    /// <summary>Leased: in a ready queue or on the wire.</summary>
    Delivering,
    /// <summary>Handed back to the durable queue until <see cref="LedgerEntry.RetryAt"/>.</summary>
    Deferred,
}

/// <summary>What an operator sees of one message: its durable id, the customer's uuid, the scheduled queue of each
/// recipient still pending, and the last reason it was deferred.</summary>
internal sealed record LedgerEntry(long Id, string? Uuid, LedgerState State, IReadOnlyList<LedgerRecipient> Recipients, int Attempts,
    int UncountedAttempts, DateTimeOffset CreatedAt, DateTimeOffset? RetryAt, string? LastError);

internal sealed record LedgerRecipient(string Address, string Queue);

/// <summary>
/// The messages this sender process has leased, delivering or deferred, for the operations endpoint (list and inspect)
/// and to remember which retries were only rescheduling (rate limit, back-off, suspension) and must not count as
/// attempts. The durable queue contracts have no way to browse or re-time items, so this is in memory: after a restart
/// a deferred message reappears here when it falls due again. Bounded: beyond <see cref="MaxEntries"/> new messages
/// are simply not tracked (they are delivered as usual, their reschedules then count as attempts).
/// </summary>
internal sealed class DeliveryLedger(int maxEntries = DeliveryLedger.DefaultMaxEntries)
{
    public const int DefaultMaxEntries = 200_000;

    private readonly ConcurrentDictionary<long, LedgerEntry> _entries = new();

    public int MaxEntries => maxEntries;
    public int Count => _entries.Count;
    public IEnumerable<LedgerEntry> Entries => _entries.Values;

    /// <summary>Reschedules of message <paramref name="id"/> that were not real attempts, as far as this process knows.</summary>
    public int UncountedAttempts(long id) => _entries.TryGetValue(id, out var entry) ? entry.UncountedAttempts : 0;

    public void Delivering(long id, string? uuid, IReadOnlyList<LedgerRecipient> recipients, int attempts, DateTimeOffset createdAt)
    {
        var uncounted = UncountedAttempts(id);
        var previous = _entries.GetValueOrDefault(id);
        if (previous is null && _entries.Count >= maxEntries)
        {
            return;
        }
        _entries[id] = new LedgerEntry(id, uuid, LedgerState.Delivering, recipients, attempts, uncounted, createdAt, null, previous?.LastError);
    }

    /// <summary>The message went back to the durable queue; <paramref name="counted"/> is false when no server was asked
    /// about it in this round (only a local limit or an operator held it).</summary>
    public void Deferred(long id, IReadOnlyList<LedgerRecipient> pending, DateTimeOffset retryAt, string lastError, bool counted)
    {
        if (_entries.TryGetValue(id, out var entry))
        {
            _entries[id] = entry with
            {
                State = LedgerState.Deferred,
                Recipients = pending,
                RetryAt = retryAt,
                LastError = lastError,
                UncountedAttempts = entry.UncountedAttempts + (counted ? 0 : 1),
            };
        }
    }

    /// <summary>Every recipient has a final outcome, or the message left this process.</summary>
    public void Forget(long id) => _entries.TryRemove(id, out _);

    /// <summary>By durable id or by the customer's uuid (X-Uuid).</summary>
    public LedgerEntry? Find(string key)
    {
        if (long.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id)
            && _entries.TryGetValue(id, out var byId))
        {
            return byId;
        }
        return _entries.Values.FirstOrDefault(e => string.Equals(e.Uuid, key, StringComparison.OrdinalIgnoreCase));
    }
}
