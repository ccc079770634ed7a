namespace ManycoreMail.Sending;

/// <summary>
/// What both ledgers (SQLite and PostgreSQL) store and how: one row per uuid with its state and when the state last
/// changed, which the purge reads. The statements are the same text on both engines (parameters as @name).
/// </summary>
internal static class ScheduleLedgerSql
{
    public const string TableName = "scheduled_messages";

    /// <summary>The states a row goes through: scheduled, then sent or cancelled, never back.</summary>
    public const string Scheduled = "scheduled";
    public const string Sent = "sent";
    public const string Cancelled = "cancelled";

    /// <summary>Sent and cancelled entries are kept this long, so a late cancel still answers 409 rather than 404.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(7);

    public const string Record = """
        INSERT INTO scheduled_messages (uuid, send_at, status, changed, tenant) VALUES (@uuid, @send_at, 'scheduled', @now, @tenant)
        ON CONFLICT (uuid) DO UPDATE SET send_at = excluded.send_at, status = 'scheduled', changed = excluded.changed, tenant = excluded.tenant
        """;

    /// <summary>A message already marked sent is marked again: a hand-off retried after a crash goes through.</summary>
    public const string MarkSent = "UPDATE scheduled_messages SET status = 'sent', changed = @now WHERE uuid = @uuid AND status <> 'cancelled'";

    /// <summary>A null @tenant (a login without one) matches every row; a tenant matches only its own rows, so a row of
    /// another tenant (or of none) is as absent.</summary>
    public const string Cancel = "UPDATE scheduled_messages SET status = 'cancelled', changed = @now WHERE uuid = @uuid AND status = 'scheduled' AND (@tenant IS NULL OR tenant = @tenant)";

    /// <summary>The status as @tenant may see it (<see cref="Cancel"/>'s rule; null for the scheduler, which sees all).</summary>
    public const string Status = "SELECT status FROM scheduled_messages WHERE uuid = @uuid AND (@tenant IS NULL OR tenant = @tenant)";

    public const string Purge = "DELETE FROM scheduled_messages WHERE status <> 'scheduled' AND changed < @before";

    /// <summary>What a cancel that changed no row found instead.</summary>
    public static CancelOutcome CancelOutcomeOf(string? status) => status switch
    {
        Sent => CancelOutcome.AlreadySent,
        Cancelled => CancelOutcome.AlreadyCancelled,
        // A scheduled row the update did not change cannot be: it was changed in between, so it is sent now.
        Scheduled => CancelOutcome.AlreadySent,
        _ => CancelOutcome.Unknown,
    };

    /// <summary>Whether a due message whose mark-sent changed no row may still be sent: not when it was cancelled;
    /// yes when the ledger does not know it (purged, or recorded before a crash lost the row), since a message is
    /// never dropped for want of a record.</summary>
    public static bool MaySendWith(string? status) => status != Cancelled;
}
