namespace ManycoreMail.Queue.Embedded;

/// <summary>An item moved out of its queue for good, with why and when.</summary>
public sealed record DeadLetteredItem(
    long Id,
    string Queue,
    MessageEnvelope Envelope,
    ReadOnlyMemory<byte> Body,
    string Reason,
    int Attempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset FailedAt);
