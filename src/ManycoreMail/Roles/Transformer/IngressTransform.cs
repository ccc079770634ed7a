using ManycoreMail.Ingress;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Transformer;

/// <summary>
/// The transformer's work done at the door (<see cref="IIngressTransform"/>): the same reading, suppression lookup,
/// transformation and hand-off as <see cref="TransformerRole"/>, for one message that was never queued. Whatever the
/// role would not send at once (a message it cannot transform, a suppression list it cannot read) is left to the
/// role, by way of the ingress queue, so that it gets the role's dead letter, error event or retry exactly as before.
/// The suppression lookups of messages accepted together go to the list together (the role asks once per batch).
/// </summary>
internal sealed class IngressTransform(MessageTransformer transformer, CoalescingSuppressionLookup suppressions, TransformerHandOffs handOffs,
    MetricsRegistry metrics, TimeProvider time, ILogger logger) : IIngressTransform
{
    private readonly Counter _atDoor = metrics.Counter("transformer_at_door_total",
        "Messages transformed when they were accepted, in a process running the transformer beside its receivers, without the ingress queue.");

    public async ValueTask<IngressHandOff?> TryTransformAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        // Off the socket's thread first: the receivers' continuations run on the epoll thread that saw the data
        // (Program.cs), and signing (and the suppression list's SQLite reads) would hold every other socket's events.
        await Task.Yield();
        var now = time.GetUtcNow();
        SubmittedMessage? submitted;
        TransformOutcome outcome;
        try
        {
            if (!transformer.TryRead(message, out submitted, out _))
            {
                return null;
            }
            var addresses = new HashSet<string>(submitted.LookupAddresses(), StringComparer.Ordinal);
            var found = addresses.Count == 0 ? MessageTransformer.NoSuppressions
                : await suppressions.FindAsync(addresses, now, cancellationToken).ConfigureAwait(false);
            outcome = transformer.Transform(submitted, found, now);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // The role will meet the same failure and report it (an error event, or a retry of the lookup).
            logger.LogDebug(e, "Message {Uuid} not transformed at the door; it takes the ingress queue", envelope.Uuid);
            return null;
        }
        if (outcome is not TransformOutcome.Ready ready)
        {
            return null;
        }
        var transaction = new QueueTransaction();
        handOffs.Add(transaction, ready, envelope, message, now, submitted.Uuid, now, leased: null);
        return new IngressHandOff(transaction, () =>
        {
            _atDoor.Increment();
            handOffs.Committed(ready, now);
        });
    }
}
