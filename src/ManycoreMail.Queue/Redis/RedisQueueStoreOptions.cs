namespace ManycoreMail.Queue.Redis;

/// <summary>Settings of <see cref="RedisQueueStore"/> beyond the connection.</summary>
public sealed record RedisQueueStoreOptions
{
    /// <summary>Prefix of every key of our own (metadata, leases, schedules, dead letters). The ready lists
    /// themselves are named exactly as the queues, for compatibility with the original modules.</summary>
    public string KeyPrefix { get; init; } = "mm:";

    /// <summary>Server-side timeout of one blocking wait (BLMOVE); a waiter re-reads due times at least this
    /// often in real time, so retries and expired leases held by other processes are noticed.</summary>
    public TimeSpan BlockInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Most due retries and expired leases one lease call moves back onto the ready list.</summary>
    public int SweepLimit { get; init; } = 1000;

    /// <summary>One lease call stops taking items once their bodies reach this many bytes (it always takes at
    /// least one; Redis does not read the bodies, so the store asks for as many as the sizes seen so far say fit).
    /// Redis runs a transaction alone: every body leased is copied twice inside it and sent at 64 KB per
    /// connection per turn of its event loop, so a large lease is spread over the shared connections. 4 MiB was
    /// measured end to end with 100 KB messages: against 1 MiB, 12% more messages a second for 10% less machine CPU
    /// (the transformer's batch grows from ~10 messages to ~40), 70 MB more peak RSS; 8 MiB gained nothing more.</summary>
    public int MaxLeaseBytes { get; init; } = 4 * 1024 * 1024;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLeaseBytes, 1, nameof(MaxLeaseBytes));
        ArgumentException.ThrowIfNullOrEmpty(KeyPrefix, nameof(KeyPrefix));
        ArgumentOutOfRangeException.ThrowIfLessThan(BlockInterval, TimeSpan.FromMilliseconds(10), nameof(BlockInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(SweepLimit, 1, nameof(SweepLimit));
    }
}
