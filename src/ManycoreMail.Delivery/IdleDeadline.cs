namespace ManycoreMail.Delivery;

/// <summary>
/// A connection worker's idle deadline: armed before each wait for a job and reused across waits, since a busy worker
/// waits once per delivery and a fresh timed token source linked to the stop token each time cost two sources, a timer
/// and a registration per message. The token it hands out is cancelled by the deadline or by stopping, whichever
/// comes first; time is read from the site's <see cref="TimeProvider"/>.
/// </summary>
internal sealed class IdleDeadline : IDisposable
{
    private readonly TimeProvider _time;
    private readonly CancellationToken _stopping;
    private readonly CancellationTokenRegistration _onStop;
    private CancellationTokenSource _source;

    public IdleDeadline(TimeProvider time, CancellationToken stopping)
    {
        _time = time;
        _stopping = stopping;
        _source = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        _onStop = stopping.UnsafeRegister(static state => ((IdleDeadline)state!).CancelCurrent(), this);
    }

    /// <summary>A token cancelled after <paramref name="timeout"/> from now, or on stop.</summary>
    public CancellationToken Arm(TimeSpan timeout)
    {
        // A source whose deadline passed cannot be reset: the worker then left idle, so this is rare.
        if (!_source.TryReset())
        {
            var spent = _source;
            Volatile.Write(ref _source, new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time));
            spent.Dispose();
        }
        // The stop flag is set before its callbacks run: a stop that cancelled the source just replaced is seen here.
        if (_stopping.IsCancellationRequested)
        {
            _source.Cancel();
        }
        else
        {
            _source.CancelAfter(timeout);
        }
        return _source.Token;
    }

    private void CancelCurrent()
    {
        try
        {
            Volatile.Read(ref _source).Cancel();
        }
        catch (ObjectDisposedException)
        {
            // replaced and disposed meanwhile; Arm cancels its successor
        }
    }

    public void Dispose()
    {
        _onStop.Dispose();
        _source.Dispose();
    }
}
