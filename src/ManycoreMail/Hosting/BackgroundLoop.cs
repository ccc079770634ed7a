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
                logger.LogError(e, "{Role} failed; restarting in {Pause}", Name, pause);
                try
                {
                    await Task.Delay(pause, time, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }
}
