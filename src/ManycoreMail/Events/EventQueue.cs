using ManycoreMail.Queue;

namespace ManycoreMail.Events;

/// <summary>
/// The one way every role reports an outcome: events go onto the durable events queue, either inside the
/// transaction that changes a message's state (<see cref="AddTo"/>) or on their own (<see cref="EmitAsync"/>).
/// Only the backdata role talks to the webhook.
/// </summary>
internal sealed class EventQueue(IQueueStore store, string queueName)
{
    public string QueueName { get; } = queueName;

    public ValueTask EmitAsync(MailEvent mailEvent, CancellationToken cancellationToken) =>
        store.EnqueueAsync(QueueName, ToItem(mailEvent), cancellationToken);

    public QueueTransaction AddTo(QueueTransaction transaction, MailEvent mailEvent) =>
        transaction.Enqueue(QueueName, ToItem(mailEvent));

    private static QueueItem ToItem(MailEvent mailEvent) =>
        new(new MessageEnvelope { Uuid = mailEvent.Uuid }, mailEvent.ToJsonBytes());
}
