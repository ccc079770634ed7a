namespace ManycoreMail.Sending;

/// <summary>One message held until its send time, as the ledger records it; <paramref name="Tenant"/> is the tenant it
/// was accepted for (null when none), which decides which logins may cancel it.</summary>
internal sealed record ScheduledEntry(string Uuid, DateTimeOffset SendAt, string? Tenant);

/// <summary>What cancelling a scheduled message did.</summary>
internal enum CancelOutcome
{
    /// <summary>It was waiting and will not be sent (<c>DELETE /v1/messages/{uuid}</c> answers 200).</summary>
    Cancelled,

    /// <summary>Its time came and it was handed on (409).</summary>
    AlreadySent,

    /// <summary>No scheduled message has this uuid, or none the canceller's tenant may see (404).</summary>
    Unknown,

    /// <summary>It was cancelled before (200 again, but no second <c>cancelled</c> event).</summary>
    AlreadyCancelled,
}

/// <summary>
/// The state of every scheduled message by uuid: scheduled, sent or cancelled. The queue holds the message
/// itself (due at its send time); the ledger is what lets a cancel find it, and what the scheduler asks before
/// it hands a due message on. A message is recorded before it is queued, so a crash between the two leaves at
/// most a ledger entry without a message, never a message nobody can cancel.
/// </summary>
internal interface IScheduleLedger
{
    /// <summary>Records <paramref name="entries"/> as scheduled (replacing an earlier entry with the same uuid).</summary>
    ValueTask RecordAsync(IReadOnlyList<ScheduledEntry> entries, CancellationToken cancellationToken);

    /// <summary>Marks the message sent; false when it was cancelled (the scheduler then drops it with a
    /// <c>cancelled</c> event). True again for a message already marked sent, so a hand-off retried after a crash
    /// goes through.</summary>
    ValueTask<bool> TryMarkSentAsync(string uuid, CancellationToken cancellationToken);

    /// <summary>Cancels the message if it is still scheduled. With a <paramref name="tenant"/>, only a message recorded for
    /// that tenant: any other is <see cref="CancelOutcome.Unknown"/> whatever its state, so that a tenant's login cannot
    /// learn that another tenant's uuid exists. Null (a login without a tenant) cancels any message.</summary>
    ValueTask<CancelOutcome> CancelAsync(string uuid, string? tenant, CancellationToken cancellationToken);
}
