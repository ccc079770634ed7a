using ManycoreMail.Queue;

namespace ManycoreMail.Ingress;

/// <summary>
/// Transforms an accepted message at the door, in a process that runs the transformer beside its receivers: the
/// message goes to the outbound queue in the transaction that accepts it, instead of waiting on an ingress queue for
/// the transformer's lease. That is one queue hop less per message: a commit, a lease and a wake-up, and on Redis a
/// copy of the body in the append-only file.
/// </summary>
internal interface IIngressTransform
{
    /// <summary>The hand-off of the accepted message to the outbound queue; or null when it is to take its ingress queue
    /// as before, because it cannot be transformed (the transformer then dead-letters it with its error event) or
    /// the suppression list cannot be read now (the transformer then retries it). <paramref name="message"/> is valid
    /// only during the call and the commit that follows it.</summary>
    ValueTask<IngressHandOff?> TryTransformAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> message, CancellationToken cancellationToken);
}

/// <summary>What the door commits in place of the ingress enqueue, and what it counts once that is committed.</summary>
internal sealed record IngressHandOff(QueueTransaction Transaction, Action Committed);
