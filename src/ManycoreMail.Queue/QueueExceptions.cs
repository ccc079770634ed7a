namespace ManycoreMail.Queue;

/// <summary>
/// The queue's store cannot be reached now, or the connection broke while an operation was in flight (then it may
/// or may not have taken effect). Every backend raises this for an outage, so that the host waits and retries on one
/// type, whatever the store (Redis raises <see cref="Redis.RedisConnectionException"/>, which is one).
/// </summary>
public class QueueUnavailableException : Exception
{
    public QueueUnavailableException(string message) : base(message) { }

    public QueueUnavailableException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>The queue's store answered but refused an operation (the connection is fine).</summary>
public class QueueStoreException(string message) : Exception(message)
{
    /// <summary>The refusal passes by itself (the store is still loading, busy, failing over): the same operation
    /// may simply be tried again later, as after an outage.</summary>
    public virtual bool IsTransient => false;
}
