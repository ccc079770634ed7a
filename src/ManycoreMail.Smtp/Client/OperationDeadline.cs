namespace ManycoreMail.Smtp.Client;

/// <summary>
/// The time limit of one wait of a connection (a flush, a reply), reused from wait to wait: a connection waits six or
/// seven times per message, and a linked token source with a timer of its own each time was most of what the client
/// allocated per message. One wait at a time, as the connection itself.
/// </summary>
internal sealed class OperationDeadline : IDisposable
{
    private CancellationTokenSource _source = new();
    private CancellationTokenRegistration _caller;
    private bool _disposed;

    /// <summary>A token cancelled after <paramref name="timeout"/> or with <paramref name="cancellationToken"/>;
    /// <see cref="End"/> after the wait.</summary>
    public CancellationToken Start(TimeSpan timeout, CancellationToken cancellationToken)
    {
        _source.CancelAfter(timeout);
        if (cancellationToken.CanBeCanceled)
        {
            _caller = cancellationToken.UnsafeRegister(static source => ((CancellationTokenSource)source!).Cancel(), _source);
        }
        return _source.Token;
    }

    public void End()
    {
        // Waits for a cancellation callback that is running, so it never cancels the next wait's source.
        _caller.Dispose();
        _caller = default;
        if (!_disposed && !_source.TryReset())
        {
            _source.Dispose();
            _source = new CancellationTokenSource();
        }
    }

    /// <summary>The connection closes; a wait still running ends by its own failure.</summary>
    public void Dispose()
    {
        _disposed = true;
        _caller.Dispose();
        _source.Dispose();
    }
}
