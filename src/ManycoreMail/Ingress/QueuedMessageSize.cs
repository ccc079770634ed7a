namespace ManycoreMail.Ingress;

/// <summary>
/// The typical size of the messages this process queued lately, an exponentially weighted mean over about the last
/// <see cref="Window"/> messages: flow control multiplies the queue depth by it to estimate the bytes waiting, since
/// neither store can say what its ready items weigh without reading them.
/// </summary>
internal sealed class QueuedMessageSize
{
    /// <summary>Long enough that one odd message moves the mean little, short enough that a change of workload shows
    /// within a second of mail.</summary>
    public const int Window = 16;

    private long _meanBytes;

    /// <summary>0 until the first message.</summary>
    public long MeanBytes => Volatile.Read(ref _meanBytes);

    public void Add(long bytes)
    {
        var mean = Volatile.Read(ref _meanBytes);
        var next = mean == 0 ? bytes : mean + (bytes - mean) / Window;
        // One try: a receiver that lost the race to another leaves the mean to it. It is an estimate, and a retry loop
        // here would make every concurrent submission contend on one cache line.
        Interlocked.CompareExchange(ref _meanBytes, next, mean);
    }
}
