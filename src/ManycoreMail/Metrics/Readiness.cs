namespace ManycoreMail.Metrics;

/// <summary>
/// What <c>/readyz</c> answers: ready while the queue store answers a count within <see cref="Deadline"/> and the
/// process is not stopping. A probe that fails takes the pod out of its Service, so the receivers stop getting
/// connections they would refuse with 4xx anyway.
/// </summary>
internal sealed class Readiness(Func<CancellationToken, ValueTask<long>> countSomeQueue)
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(2);

    private int _stopping;

    /// <summary>From now on not ready: the host is stopping its roles.</summary>
    public void MarkStopping() => Interlocked.Exchange(ref _stopping, 1);

    /// <summary>Null when ready, else why not (the probe's 503 body).</summary>
    public async Task<string?> ProblemAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _stopping) == 1)
        {
            return "stopping";
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Deadline);
        try
        {
            // WaitAsync as well: a store that ignores the token (a connect in progress) must not hold the probe.
            await countSomeQueue(deadline.Token).AsTask().WaitAsync(Deadline, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is TimeoutException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return $"the queue store did not answer within {Deadline.TotalSeconds:0} s";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Any failure of the store means not ready; the reason is for the operator reading the probe.
            return "the queue store is not reachable: " + e.Message;
        }
    }
}
