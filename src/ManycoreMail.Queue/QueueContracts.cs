namespace ManycoreMail.Queue;

/// <summary>
/// What travels with a queued message besides its bytes. Events and ingress messages use only
/// <see cref="Uuid"/>; outbound messages carry the envelope the sender needs.
/// </summary>
public sealed record MessageEnvelope
{
    public static readonly MessageEnvelope Empty = new();

    /// <summary>The customer's X-Uuid, when known.</summary>
    public string? Uuid { get; init; }

    /// <summary>Campaign (X-Stream-Id), when set.</summary>
    public string? Campaign { get; init; }

    /// <summary>Tenant, when set.</summary>
    public string? Tenant { get; init; }

    /// <summary>Envelope sender (MAIL FROM); null for ingress messages and events.</summary>
    public string? ReturnPath { get; init; }

    /// <summary>Envelope recipients still to be delivered.</summary>
    public IReadOnlyList<string> Recipients { get; init; } = [];

    /// <summary>When the customer's message was accepted (its 250 or 200), carried from the ingress queue to
    /// delivery so that the time between the two can be measured; null on ingress items (their own creation
    /// time is that moment).</summary>
    public DateTimeOffset? AcceptedAt { get; init; }

    /// <summary>What the body holds when it is not a raw RFC 5322 message (or an event's JSON): for example
    /// <c>send-request</c>, a JSON send held until its send time and composed then. Null for raw messages.</summary>
    public string? BodyFormat { get; init; }

    /// <summary>The RFC 3461 parameters the submitting client gave (RET, ENVID, and NOTIFY and ORCPT per recipient),
    /// for the outbound client to pass on; null when it gave none.</summary>
    public EnvelopeDsn? Dsn { get; init; }

    /// <summary>True when the submitting client declared SMTPUTF8 (RFC 6531) on MAIL FROM; null otherwise.</summary>
    public bool? Smtputf8 { get; init; }
}

/// <summary>RFC 3461 requests for a message, in their wire words so the JSON reads like the commands did.</summary>
/// <param name="Return">RET: "FULL" or "HDRS"; null when not given.</param>
/// <param name="EnvelopeId">ENVID, xtext-decoded; null when not given.</param>
/// <param name="Recipients">NOTIFY and ORCPT per envelope recipient that gave either.</param>
public sealed record EnvelopeDsn(string? Return, string? EnvelopeId, IReadOnlyList<RecipientDsn> Recipients)
{
    /// <summary>The same requests for only <paramref name="recipients"/> (the recipients of one outbound copy);
    /// null when nothing is left to carry.</summary>
    public EnvelopeDsn? For(IReadOnlyList<string> recipients)
    {
        var kept = Recipients.Where(r => recipients.Contains(r.Address, StringComparer.OrdinalIgnoreCase)).ToArray();
        return kept.Length == 0 && Return is null && EnvelopeId is null ? null : this with { Recipients = kept };
    }
}

/// <param name="Address">The recipient as given on RCPT TO.</param>
/// <param name="Notify">NOTIFY: "NEVER" or a comma list of SUCCESS, FAILURE, DELAY; null when not given.</param>
/// <param name="OriginalRecipient">ORCPT as addr-type ";" address, decoded (for example "rfc822;a@example.com").</param>
public sealed record RecipientDsn(string Address, string? Notify, string? OriginalRecipient);

/// <summary>An item to put on a queue: envelope plus raw bytes (a message or an event's JSON).</summary>
public sealed record QueueItem(MessageEnvelope Envelope, ReadOnlyMemory<byte> Body);

/// <summary>An item taken from a queue under a lease. Only the holder of the lease may settle it.</summary>
public sealed class LeasedItem
{
    public required long Id { get; init; }
    public required string Queue { get; init; }
    public required MessageEnvelope Envelope { get; init; }
    public required ReadOnlyMemory<byte> Body { get; init; }
    /// <summary>How many times the item was retried (0 on the first lease).</summary>
    public required int Attempts { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>Identifies this lease; settling with a stale token fails with <see cref="LeaseLostException"/>.</summary>
    public required long LeaseToken { get; init; }
    public required DateTimeOffset LeaseExpiresAt { get; init; }
}

/// <summary>Thrown when a transaction settles an item whose lease expired and was taken by someone else.</summary>
public sealed class LeaseLostException(string message) : Exception(message);

/// <summary>
/// A set of queue operations applied atomically: either all of them are durable or none is.
/// This is how a message moves between queues without ever being lost or doubled.
/// </summary>
public sealed class QueueTransaction
{
    private readonly List<QueueOperation> _operations = [];

    public IReadOnlyList<QueueOperation> Operations => _operations;

    public bool IsEmpty => _operations.Count == 0;

    /// <summary>Remove a leased item for good (it was handled).</summary>
    public QueueTransaction Complete(LeasedItem item) => Add(new QueueOperation.Complete(item));

    /// <summary>Add a new item to <paramref name="queue"/>, due at <paramref name="notBefore"/> (now when null).</summary>
    public QueueTransaction Enqueue(string queue, QueueItem item, DateTimeOffset? notBefore = null) =>
        Add(new QueueOperation.Enqueue(queue, item, notBefore));

    /// <summary>Remove <paramref name="source"/> and add to <paramref name="queue"/> a new item whose body is
    /// <paramref name="prefix"/> followed by the source's body from <paramref name="sourceOffset"/> on: a message
    /// whose header block was rewritten. The same as <see cref="Complete"/> plus <see cref="Enqueue"/> of those
    /// bytes, except that a store may keep the source's bytes instead of writing them again.</summary>
    public QueueTransaction Forward(LeasedItem source, string queue, MessageEnvelope envelope, ReadOnlyMemory<byte> prefix, int sourceOffset) =>
        Add(new QueueOperation.Forward(source, queue, envelope, prefix, sourceOffset));

    /// <summary>Give a leased item back for another attempt at <paramref name="notBefore"/>; attempts + 1.
    /// A new envelope replaces the old one (for example fewer recipients left).</summary>
    public QueueTransaction Retry(LeasedItem item, DateTimeOffset notBefore, MessageEnvelope? envelope = null) =>
        Add(new QueueOperation.Retry(item, notBefore, envelope));

    /// <summary>Give a leased item back untouched, due now (used on shutdown).</summary>
    public QueueTransaction Release(LeasedItem item) => Add(new QueueOperation.Release(item));

    /// <summary>Move a leased item to the dead-letter store with a reason.</summary>
    public QueueTransaction DeadLetter(LeasedItem item, string reason) => Add(new QueueOperation.DeadLetter(item, reason));

    private QueueTransaction Add(QueueOperation operation)
    {
        _operations.Add(operation);
        return this;
    }
}

public abstract record QueueOperation
{
    private QueueOperation() { }
    public sealed record Complete(LeasedItem Item) : QueueOperation;
    public sealed record Enqueue(string Queue, QueueItem Item, DateTimeOffset? NotBefore) : QueueOperation;
    public sealed record Retry(LeasedItem Item, DateTimeOffset NotBefore, MessageEnvelope? Envelope) : QueueOperation;
    public sealed record Release(LeasedItem Item) : QueueOperation;
    public sealed record DeadLetter(LeasedItem Item, string Reason) : QueueOperation;

    /// <summary>See <see cref="QueueTransaction.Forward"/>.</summary>
    public sealed record Forward(LeasedItem Source, string Queue, MessageEnvelope Envelope, ReadOnlyMemory<byte> Prefix, int SourceOffset) : QueueOperation
    {
        /// <summary>The new item's bytes, in one block.</summary>
        public byte[] Body()
        {
            var tail = Source.Body.Span[SourceOffset..];
            var body = GC.AllocateUninitializedArray<byte>(Prefix.Length + tail.Length);
            Prefix.Span.CopyTo(body);
            tail.CopyTo(body.AsSpan(Prefix.Length));
            return body;
        }
    }

    /// <summary>The item this operation settles, if it settles one.</summary>
    public LeasedItem? SettledItem => this switch
    {
        Complete complete => complete.Item,
        Retry retry => retry.Item,
        Release release => release.Item,
        DeadLetter deadLetter => deadLetter.Item,
        Forward forward => forward.Source,
        _ => null,
    };
}

/// <summary>
/// Durable named queues. Implementations: the embedded spool and (later) Redis. Both pass the same
/// contract test suite. Every method is safe to call concurrently.
/// A store reads an item's body only until <see cref="EnqueueAsync"/> or <see cref="CommitAsync"/> returns (or
/// throws): it never keeps the caller's memory, so a caller may queue from a pooled buffer and reuse it at once.
/// </summary>
public interface IQueueStore : IAsyncDisposable
{
    /// <summary>Durably add one item; when the returned task completes the item survives a crash.</summary>
    ValueTask EnqueueAsync(string queue, QueueItem item, CancellationToken cancellationToken);

    /// <summary>Take up to <paramref name="max"/> due items, oldest due first, leased for <paramref name="leaseFor"/>.
    /// Returns at once, possibly with nothing.</summary>
    ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, TimeSpan leaseFor, CancellationToken cancellationToken);

    /// <summary>The same, but the lease stops taking items once their bodies reach <paramref name="maxBytes"/>
    /// (it takes the item that reaches it, and always at least one): the caller holds what it leases in memory.</summary>
    ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, long maxBytes, TimeSpan leaseFor, CancellationToken cancellationToken);

    /// <summary>Extends the leases of <paramref name="items"/>, which the caller holds and is still working on, to
    /// <paramref name="leaseFor"/> from now. Returns those whose lease is no longer held (settled, or expired and leased
    /// again by someone else): settling them fails with <see cref="LeaseLostException"/>. A lease that expired but
    /// whose item nobody took since is still held, and is renewed.</summary>
    ValueTask<IReadOnlyList<LeasedItem>> RenewAsync(IReadOnlyList<LeasedItem> items, TimeSpan leaseFor, CancellationToken cancellationToken);

    /// <summary>Completes when <paramref name="queue"/> may have due items (something was enqueued, or a retry fell due),
    /// or after <paramref name="maxWait"/> at the latest. Never throws on timeout.</summary>
    ValueTask WaitForItemsAsync(string queue, TimeSpan maxWait, CancellationToken cancellationToken);

    /// <summary>Apply all operations atomically and durably.</summary>
    /// <exception cref="LeaseLostException">A settled item's lease is no longer held; nothing was applied.</exception>
    ValueTask CommitAsync(QueueTransaction transaction, CancellationToken cancellationToken);

    /// <summary>Number of items on the queue (due or scheduled, leased or not).</summary>
    ValueTask<long> CountAsync(string queue, CancellationToken cancellationToken);

    /// <summary>Number of items a worker could lease now: neither leased nor waiting for a later time. What flow
    /// control weighs (the work waiting for someone), not what is stored (<see cref="CountAsync"/>).</summary>
    ValueTask<long> ReadyCountAsync(string queue, CancellationToken cancellationToken);
}
