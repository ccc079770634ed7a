namespace ManycoreMail.Queue;

/// <summary>The decision every <see cref="IQueueStore.WaitForItemsAsync"/> makes after reading a queue's earliest
/// due time: return now, or sleep until that time or the caller's deadline, whichever comes first.</summary>
internal static class DueTime
{
    /// <returns>Null when the wait is over (something is due, or the deadline has passed); otherwise when to look again.</returns>
    public static DateTimeOffset? NextWake(long? earliestDueMs, DateTimeOffset now, DateTimeOffset deadline)
    {
        if (earliestDueMs <= now.ToUnixTimeMilliseconds() || now >= deadline)
        {
            return null;
        }
        return earliestDueMs is { } dueMs && dueMs < deadline.ToUnixTimeMilliseconds()
            ? DateTimeOffset.FromUnixTimeMilliseconds(dueMs)
            : deadline;
    }
}
