using System.Collections.Concurrent;

namespace ManycoreMail.Queue.Embedded;

/// <summary>
/// One pulse per queue: waiters take the current task, the committer completes it (and puts a fresh
/// one in its place) after a commit that made something due sooner on that queue.
/// </summary>
internal sealed class QueueSignals
{
    private readonly ConcurrentDictionary<string, Signal> _byQueue = new(StringComparer.Ordinal);

    /// <summary>Completes at the next pulse of <paramref name="queue"/>. Take it before reading the state
    /// it guards, so a change committed in between is never missed.</summary>
    public Task NextPulse(string queue) => _byQueue.GetOrAdd(queue, static _ => new Signal()).Next;

    /// <summary>Queues nobody ever waited on have no signal and cost nothing.</summary>
    public void Pulse(string queue)
    {
        if (_byQueue.TryGetValue(queue, out var signal))
        {
            signal.Pulse();
        }
    }

    public void PulseAll()
    {
        foreach (var signal in _byQueue.Values)
        {
            signal.Pulse();
        }
    }

    private sealed class Signal
    {
        private TaskCompletionSource _next = NewSource();

        public Task Next => Volatile.Read(ref _next).Task;

        public void Pulse() => Interlocked.Exchange(ref _next, NewSource()).TrySetResult();

        private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
