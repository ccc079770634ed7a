using ManycoreMail.Queue;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Ingress;

/// <summary>
/// How many messages wait in the queues behind the receivers, read once per <see cref="Interval"/> for the whole process
/// (not once per message): every receiver's <see cref="InFlowGate"/> looks at the last reading and waits for the next.
/// While a receiver holds messages the readings come every <see cref="HoldingInterval"/>, so that held messages come in
/// as soon as the queues have room: with a short queue (large messages under the byte mark) a 50 ms wait to notice
/// the room left the transformer without work.
/// </summary>
/// <param name="readDepth">The depth now: the messages waiting on the transformer's input queues and the sender's.</param>
internal sealed class QueueDepthWatch(Func<CancellationToken, ValueTask<long>> readDepth, TimeProvider time, ILogger<QueueDepthWatch> logger)
{
    /// <summary>Short against the one-second delay a held message may get, long against one Redis round trip.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    /// <summary>A few messages' time at full speed; a reading costs one LLEN per queue on Redis, an index count on the spool.</summary>
    public static readonly TimeSpan HoldingInterval = TimeSpan.FromMilliseconds(10);

    private readonly List<Func<long, bool>> _listeners = [];
    /// <summary>Whether a listener said it holds messages at the last reading. Only the loop reads and writes it.</summary>
    private bool _holding;
    /// <summary>Whether the last reading failed (one warning per outage). Readings never overlap.</summary>
    private bool _unreadable;
    private long _depth;
    private TaskCompletionSource _nextReading = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The last reading; 0 before the first, while the store does not answer, and once stopped.</summary>
    public long Depth => Volatile.Read(ref _depth);

    /// <summary>Completes at the next reading (fetch it before looking at <see cref="Depth"/>, so none is missed).</summary>
    public Task NextReading => Volatile.Read(ref _nextReading).Task;

    /// <summary>How long until the next reading, as the last one left it.</summary>
    internal TimeSpan NextInterval => _holding ? HoldingInterval : Interval;

    /// <summary>Called with every reading, on the watch's loop; returns whether it holds messages at that depth (then the
    /// next reading comes sooner). Register before <see cref="RunAsync"/> starts (the list is not guarded: it is only
    /// read once the loop runs).</summary>
    public void OnReading(Func<long, bool> listener) => _listeners.Add(listener);

    /// <summary>Reads the depth every <see cref="Interval"/> until stopped.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            // Bounded by the stopping token: one reading per interval until the process stops.
            while (true)
            {
                await ReadAsync(stopping).ConfigureAwait(false);
                await Task.Delay(NextInterval, time, stopping).ConfigureAwait(false);
            }
        }
        finally
        {
            // Stopping releases whoever waits: the process is going, and their messages should be taken or refused now.
            Publish(0);
        }
    }

    /// <summary>One reading. Taken once before the receivers listen, so that a process started on a long backlog holds
    /// its first messages too; then by <see cref="RunAsync"/>.</summary>
    public async Task ReadAsync(CancellationToken cancellationToken)
    {
        long depth;
        try
        {
            depth = await readDepth(cancellationToken).ConfigureAwait(false);
            if (_unreadable)
            {
                logger.LogInformation("The queue depth can be read again: {Depth} messages wait", depth);
                _unreadable = false;
            }
        }
        catch (Exception e) when (e is QueueUnavailableException or QueueStoreException or ObjectDisposedException)
        {
            // An unknown depth holds nobody: queueing the message says whether the store can take it.
            if (!_unreadable)
            {
                logger.LogWarning("The queue depth cannot be read ({Error}); receivers take mail without flow control until it can", e.Message);
                _unreadable = true;
            }
            depth = 0;
        }
        Publish(depth);
    }

    private void Publish(long depth)
    {
        // The depth first, then the signal: a waiter that saw the old signal finds the new depth when it fires.
        Volatile.Write(ref _depth, depth);
        var holding = false;
        foreach (var listener in _listeners)
        {
            holding |= listener(depth);
        }
        _holding = holding;
        Interlocked.Exchange(ref _nextReading, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }
}
