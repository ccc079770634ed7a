namespace ManycoreMail.Smtp.Server;

/// <summary>Bytes a listener may hold at once for bodies being received, shared by all its sessions
/// (or requests). Lock-free: taking is a compare-and-swap on one counter.</summary>
public sealed class MemoryBudget
{
    private long _used;

    public MemoryBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    public long Capacity { get; }

    public long Used => Interlocked.Read(ref _used);

    /// <summary>Takes <paramref name="bytes"/> if they fit; false (and nothing taken) when they do not.</summary>
    public bool TryTake(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        // Bounded by contention: each failed exchange means another taker changed the counter.
        while (true)
        {
            var used = Interlocked.Read(ref _used);
            if (used + bytes > Capacity)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _used, used + bytes, used) == used)
            {
                return true;
            }
        }
    }

    /// <summary>Gives back what an earlier <see cref="TryTake"/> took.</summary>
    public void Return(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Interlocked.Add(ref _used, -bytes);
    }
}
