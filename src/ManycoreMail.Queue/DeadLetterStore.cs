using ManycoreMail.Queue.Embedded;

namespace ManycoreMail.Queue;

/// <summary>The items a store moved out of their queue for good (<see cref="QueueTransaction.DeadLetter"/>): what an
/// operator lists and, once the cause is fixed, puts back.</summary>
public interface IDeadLetterStore
{
    /// <summary>Items dead-lettered from <paramref name="queue"/>, oldest first.</summary>
    ValueTask<IReadOnlyList<DeadLetteredItem>> ReadDeadLettersAsync(string queue, int max, CancellationToken cancellationToken);

    /// <summary>Moves up to <paramref name="max"/> of the oldest dead letters of <paramref name="queue"/> back onto it,
    /// due now, with their attempts reset, in one atomic step; returns how many.</summary>
    ValueTask<int> ReplayDeadLettersAsync(string queue, int max, CancellationToken cancellationToken);
}
