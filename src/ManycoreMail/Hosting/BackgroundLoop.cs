using Microsoft.Extensions.Logging;

namespace ManycoreMail.Hosting;

/// <summary>
/// Runs a role's work loop until stopped. An unexpected exception is logged and the loop restarts after a
/// pause, so one bad moment never takes a role down for good.
/// </summary>
internal sealed class BackgroundLoop(string name, Func<CancellationToken, Task> body, ILogger logger, TimeProvider time)
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _running = Task.CompletedTask;

    public void Start() => _running = Task.Run(RunAsync);

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
                logger.LogError(e, "{Loop} failed; restarting in {Pause}", name, pause);
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
