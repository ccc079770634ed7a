using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>
/// A worker role: runs its loop until stopped. An unexpected exception is logged and the loop restarts
/// after a pause, so one bad moment never takes a role down for good.
/// </summary>
internal sealed class BackgroundLoop(string name, Func<CancellationToken, Task> body, ILogger logger, TimeProvider time) : IMailerRole
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _running = Task.CompletedTask;

    public string Name { get; } = name;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _running = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _running.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var pause = TimeSpan.FromMilliseconds(100);
        while (!_stopping.IsCancellationRequested)
        {
            var started = time.GetTimestamp();
            try
            {
                await body(_stopping.Token).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // A loop that ran a good while before failing starts its back-off afresh.
                if (time.GetElapsedTime(started) > TimeSpan.FromMinutes(1))
                {
                    pause = TimeSpan.FromMilliseconds(100);
                }
                var outage = e is Queue.QueueUnavailableException or Queue.QueueStoreException { IsTransient: true };
                if (outage)
                {
                    // An outage, not a bug: one line per retry (the back-off keeps them few), no stack trace.
                    logger.LogWarning("{Role} paused: Redis unavailable ({Error}); retrying in {Pause}", Name, e.Message, pause);
                }
                else
                {
                    logger.LogError(e, "{Role} failed; restarting in {Pause}", Name, pause);
                }
                try
                {
                    await Task.Delay(pause, time, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                // Redis outages retry at most every 5 s, so work resumes soon after it is back.
                var cap = outage ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(30);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, cap.Ticks));
            }
        }
    }
}
