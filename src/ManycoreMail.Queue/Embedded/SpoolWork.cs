namespace ManycoreMail.Queue.Embedded;

/// <summary>Something only the committer may do to the database, with the caller waiting for it.</summary>
internal abstract class SpoolWork(CancellationToken cancellationToken)
{
    /// <summary>Checked when the committer picks the work up: a caller that gave up before then gets
    /// <see cref="OperationCanceledException"/> and nothing is applied. After that the outcome is definite.</summary>
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Set by the committer when this caller's part failed on its own (lost lease, cancelled).</summary>
    public Exception? Error { get; set; }

    public abstract void Fail(Exception error);

    protected static void Settle(TaskCompletionSource completion, Exception error)
    {
        if (error is OperationCanceledException canceled)
        {
            completion.TrySetCanceled(canceled.CancellationToken);
        }
        else
        {
            completion.TrySetException(error);
        }
    }
}

/// <summary>A queue operation with its envelope already encoded (on the caller's thread, not the committer's).</summary>
internal readonly record struct PreparedOperation(QueueOperation Operation, byte[]? Envelope);

/// <summary>One caller transaction (or one enqueue): applied all or nothing within a group commit.</summary>
internal sealed class WriteWork : SpoolWork
{
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WriteWork(PreparedOperation[] operations, long bodyBytes, CancellationToken cancellationToken)
        : base(cancellationToken)
    {
        Operations = operations;
        BodyBytes = bodyBytes;
    }

    public PreparedOperation[] Operations { get; }

    /// <summary>Bytes of message bodies this work writes; bounds the size of one group commit.</summary>
    public long BodyBytes { get; }

    public Task Completion => _completion.Task;

    public static WriteWork ForEnqueue(string queue, QueueItem item, CancellationToken cancellationToken)
    {
        ValidateQueueName(queue);
        ArgumentNullException.ThrowIfNull(item);
        ArgumentNullException.ThrowIfNull(item.Envelope, nameof(item));
        var operation = new PreparedOperation(new QueueOperation.Enqueue(queue, item, null), EnvelopeCodec.Encode(item.Envelope));
        return new WriteWork([operation], item.Body.Length, cancellationToken);
    }

    /// <summary>Snapshots the transaction (the caller may reuse it once it has handed it over) and checks it.</summary>
    public static WriteWork ForTransaction(QueueTransaction transaction, CancellationToken cancellationToken)
    {
        var source = transaction.Operations;
        var operations = new PreparedOperation[source.Count];
        long bodyBytes = 0;
        for (var i = 0; i < operations.Length; i++)
        {
            var operation = source[i];
            byte[]? envelope = null;
            switch (operation)
            {
                case QueueOperation.Enqueue enqueue:
                    ValidateQueueName(enqueue.Queue);
                    ArgumentNullException.ThrowIfNull(enqueue.Item, nameof(transaction));
                    ArgumentNullException.ThrowIfNull(enqueue.Item.Envelope, nameof(transaction));
                    envelope = EnvelopeCodec.Encode(enqueue.Item.Envelope);
                    bodyBytes += enqueue.Item.Body.Length;
                    break;
                case QueueOperation.Retry retry:
                    ArgumentNullException.ThrowIfNull(retry.Item, nameof(transaction));
                    envelope = retry.Envelope is null ? null : EnvelopeCodec.Encode(retry.Envelope);
                    break;
                case QueueOperation.Complete complete:
                    ArgumentNullException.ThrowIfNull(complete.Item, nameof(transaction));
                    break;
                case QueueOperation.Release release:
                    ArgumentNullException.ThrowIfNull(release.Item, nameof(transaction));
                    break;
                case QueueOperation.DeadLetter deadLetter:
                    ArgumentNullException.ThrowIfNull(deadLetter.Item, nameof(transaction));
                    ArgumentNullException.ThrowIfNull(deadLetter.Reason, nameof(transaction));
                    break;
                case QueueOperation.Forward forward:
                    ValidateQueueName(forward.Queue);
                    ArgumentNullException.ThrowIfNull(forward.Source, nameof(transaction));
                    ArgumentNullException.ThrowIfNull(forward.Envelope, nameof(transaction));
                    ArgumentOutOfRangeException.ThrowIfNegative(forward.SourceOffset, nameof(transaction));
                    ArgumentOutOfRangeException.ThrowIfGreaterThan(forward.SourceOffset, forward.Source.Body.Length, nameof(transaction));
                    envelope = EnvelopeCodec.Encode(forward.Envelope);
                    bodyBytes += forward.Prefix.Length;
                    break;
                default:
                    throw new ArgumentException($"Unknown queue operation {operation?.GetType().Name ?? "null"}.", nameof(transaction));
            }

            operations[i] = new PreparedOperation(operation, envelope);
        }

        return new WriteWork(operations, bodyBytes, cancellationToken);
    }

    public static void ValidateQueueName(string queue) => ArgumentException.ThrowIfNullOrEmpty(queue);

    /// <summary>Reports the outcome once the batch is over: <paramref name="batchError"/> when the whole
    /// group commit failed, otherwise this caller's own <see cref="SpoolWork.Error"/>, if any.</summary>
    public void Finish(Exception? batchError)
    {
        var error = batchError ?? Error;
        if (error is null)
        {
            _completion.TrySetResult();
        }
        else
        {
            Settle(_completion, error);
        }
    }

    public override void Fail(Exception error) => Settle(_completion, error);
}

/// <summary>The rows a lease picked, with the token and expiry they were leased under.</summary>
internal sealed record LeaseGrant(LeasedRow[] Rows, long Token, long ExpiresAtMs);

/// <summary>Work whose caller waits for an answer the committer sets (<see cref="Answer"/>) in a batch that does not
/// wait for the disk.</summary>
internal abstract class AnsweredWork<T>(CancellationToken cancellationToken) : SpoolWork(cancellationToken)
    where T : class
{
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<T> Completion => _completion.Task;

    /// <summary>Set by the committer once the work is done.</summary>
    public T? Answer { get; set; }

    public void Finish(Exception? batchError)
    {
        var error = batchError ?? Error;
        if (error is null && Answer is { } answer)
        {
            _completion.TrySetResult(answer);
        }
        else
        {
            Fail(error ?? new InvalidOperationException("The spool's committer did not do the work."));
        }
    }

    public override void Fail(Exception error)
    {
        if (error is OperationCanceledException canceled)
        {
            _completion.TrySetCanceled(canceled.CancellationToken);
        }
        else
        {
            _completion.TrySetException(error);
        }
    }
}

/// <summary>A request to lease due items; goes through the committer so leasers never race each other.</summary>
internal sealed class LeaseWork(string queue, int max, long maxBytes, TimeSpan leaseFor, CancellationToken cancellationToken)
    : AnsweredWork<LeaseGrant>(cancellationToken)
{
    public string Queue { get; } = queue;
    public int Max { get; } = max;
    public long MaxBytes { get; } = maxBytes;
    public TimeSpan LeaseFor { get; } = leaseFor;
}

/// <summary>A request to extend leases; the answer is the items whose lease was no longer held. Goes through the
/// committer, like leases, so it never races a lease or a settlement.</summary>
internal sealed class RenewWork(IReadOnlyList<LeasedItem> items, TimeSpan leaseFor, CancellationToken cancellationToken)
    : AnsweredWork<IReadOnlyList<LeasedItem>>(cancellationToken)
{
    public IReadOnlyList<LeasedItem> Items { get; } = items;
    public TimeSpan LeaseFor { get; } = leaseFor;
}

/// <summary>A request to put dead letters back on their queue (<see cref="EmbeddedSpool.ReplayDeadLettersAsync"/>).</summary>
internal sealed class ReviveWork(string queue, int max, CancellationToken cancellationToken) : SpoolWork(cancellationToken)
{
    private readonly TaskCompletionSource<int> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Queue { get; } = queue;

    public int Max { get; } = max;

    public Task<int> Completion => _completion.Task;

    public void Finish(int revived) => _completion.TrySetResult(revived);

    public override void Fail(Exception error)
    {
        if (error is OperationCanceledException canceled)
        {
            _completion.TrySetCanceled(canceled.CancellationToken);
        }
        else
        {
            _completion.TrySetException(error);
        }
    }
}
