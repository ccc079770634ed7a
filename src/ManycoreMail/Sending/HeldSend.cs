namespace ManycoreMail.Sending;

/// <summary>
/// A JSON send (<c>POST /v1/messages</c> with <c>send_at</c>) held on the scheduled queue until its time, for one
/// recipient. It is held as a request, not as a composed message, because templates, suppression and tracking
/// apply when the message is sent, not when it was accepted.
/// </summary>
internal static class HeldSend
{
    /// <summary>The <c>MessageEnvelope.BodyFormat</c> of a held send; a held item without it is a raw message.</summary>
    public const string BodyFormat = "send-request";
}

/// <summary>What composing a held send at its time gave.</summary>
internal abstract record HeldSendOutcome
{
    private HeldSendOutcome() { }

    /// <summary>The raw message to put on the primary (<paramref name="IsPrimary"/>) or default ingress queue.</summary>
    public sealed record Composed(ReadOnlyMemory<byte> Message, bool IsPrimary) : HeldSendOutcome;

    /// <summary>It can no longer be composed (its template was deleted, a strict render now fails): the message is
    /// not sent and its recipient gets an <c>error</c> event with this reason.</summary>
    public sealed record Failed(string Reason) : HeldSendOutcome;
}

/// <summary>Composes a held send at its send time: the scheduler's side of the JSON send API.</summary>
internal interface IHeldSendComposer
{
    /// <summary>Renders and composes <paramref name="heldRequest"/> (the body of a held item whose BodyFormat is
    /// <see cref="HeldSend.BodyFormat"/>). Throws only when it cannot tell now (a store outage): the item is retried.</summary>
    ValueTask<HeldSendOutcome> ComposeAsync(ReadOnlyMemory<byte> heldRequest, CancellationToken cancellationToken);
}
