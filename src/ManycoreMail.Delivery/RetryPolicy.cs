namespace ManycoreMail.Delivery;

/// <summary>The retry settings <see cref="RetrySchedule"/> follows: the first and longest wait between attempts,
/// the default queue lifetime and its per-queue overrides.</summary>
internal sealed record RetryPolicy(TimeSpan FirstRetryDelay, TimeSpan MaxRetryDelay, TimeSpan MaxQueueLifetime, IReadOnlyList<QueueLifetime> QueueLifetimes);
