namespace ManycoreMail.Smtp.Server;

/// <summary>
/// Flow control at the door (Postfix's <c>in_flow_delay</c>): the host may hold a new message before its content is
/// read while mail arrives faster than it leaves, so that a client sending as fast as it can is slowed to the rate
/// of delivery instead of filling the queues. It only delays: the message is then taken as usual.
/// </summary>
public interface IInFlowControl
{
    /// <summary>Completes when a new message may be received: at once (synchronously) while mail is flowing,
    /// otherwise when the backlog shrinks or the host's delay runs out. Throws only when cancelled.</summary>
    ValueTask WaitAsync(CancellationToken cancellationToken);
}
