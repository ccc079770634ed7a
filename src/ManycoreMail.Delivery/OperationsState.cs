using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Delivery;

/// <summary>What an operations entry records: an operator's hold or bounce, or an adaptive action.</summary>
internal enum OperationKind
{
    /// <summary>An operator suspended a site (<c>mailer site suspend</c>); no expiry.</summary>
    SiteSuspended,
    /// <summary>An operator suspended a scheduled queue pattern; no expiry.</summary>
    QueueSuspended,
    /// <summary>A queue pattern bounced by an operator or adaptive shaping, until its directive lapses.</summary>
    QueueBounced,
    /// <summary>Adaptive shaping suspended a source towards every site, until a time.</summary>
    SourceSuspended,
    /// <summary>Adaptive shaping suspended a site until a time; <see cref="OperationEntry.Detail"/> holds the rule and reply.</summary>
    SiteAdaptiveSuspended,
    /// <summary>Adaptive shaping throttled a site until a time (the rule's limits); <see cref="OperationEntry.Detail"/> as above.</summary>
    SiteThrottled,
}

/// <summary>One standing operations entry, keyed by (<see cref="Kind"/>, <see cref="Target"/>). <see cref="Until"/> null:
/// until lifted. <see cref="Detail"/>: for a site adaptation the rule name and the reply, on two lines.</summary>
internal sealed record OperationEntry(OperationKind Kind, string Target, DateTimeOffset? Until, string Detail = "")
{
    public bool Stands(DateTimeOffset now) => Until is not { } until || until > now;

    public static OperationEntry Adaptive(OperationKind kind, string site, AdaptationView view) =>
        new(kind, site, view.Until, view.Rule + "\n" + view.Reply);

    /// <summary>The adaptation a site adaptation entry records.</summary>
    public AdaptationView AsAdaptation()
    {
        var newline = Detail.IndexOf('\n', StringComparison.Ordinal);
        var (rule, reply) = newline < 0 ? (Detail, "") : (Detail[..newline], Detail[(newline + 1)..]);
        return new AdaptationView(rule, Kind == OperationKind.SiteThrottled ? "throttle" : "suspend", Until ?? DateTimeOffset.MaxValue, reply);
    }
}

/// <summary>A change to the operations state: an entry put, or (when <see cref="Removed"/>) taken away.</summary>
internal sealed record OperationChange(OperationEntry Entry, bool Removed = false);

/// <summary>
/// Where suspensions, bounces and adaptive actions outlive the process and reach the other sender processes: SQLite
/// beside the spool on the embedded queue, Redis keys of our own on <c>--queue redis</c>. Small (a handful of rows), so
/// it is read whole.
/// </summary>
internal interface IDeliveryStateStore
{
    /// <summary>Every entry still standing at <paramref name="now"/> (lapsed ones may be dropped on the way).</summary>
    Task<IReadOnlyList<OperationEntry>> LoadAsync(DateTimeOffset now, CancellationToken cancellationToken);

    Task PutAsync(OperationEntry entry, CancellationToken cancellationToken);

    Task RemoveAsync(OperationKind kind, string target, CancellationToken cancellationToken);
}

/// <summary>
/// Keeps the engine's operations state and the store together: the engine reports each change (written in order by
/// one loop), and the same loop reloads the store every <see cref="PollInterval"/> and applies what other processes
/// changed. A reload never overrides a local change still waiting to be written.
/// </summary>
internal sealed class OperationsSync(DeliveryEngine engine, IDeliveryStateStore store, TimeProvider time, ILogger logger)
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    // Not SingleReader: the single-reader channel cannot count, and the loop asks whether changes are still waiting.
    private readonly Channel<OperationChange> _changes = Channel.CreateUnbounded<OperationChange>();

    /// <summary>Hands a change to the writer (the engine calls this; never blocks).</summary>
    public void Publish(OperationChange change) => _changes.Writer.TryWrite(change);

    /// <summary>Loads the stored state into the engine once, before the first delivery.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken) =>
        engine.ApplyOperations(await store.LoadAsync(time.GetUtcNow(), cancellationToken).ConfigureAwait(false));

    /// <summary>Writes changes as they come and reloads between them, until stopped. A store that does not answer is
    /// logged and retried: the engine keeps its own state meanwhile.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                while (_changes.Reader.TryPeek(out var change))
                {
                    await WriteAsync(change, stopping).ConfigureAwait(false);
                    _changes.Reader.TryRead(out _);
                }
                var entries = await store.LoadAsync(time.GetUtcNow(), stopping).ConfigureAwait(false);
                if (_changes.Reader.Count == 0)
                {
                    engine.ApplyOperations(entries);
                }
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                wake.CancelAfter(PollInterval);
                await _changes.Reader.WaitToReadAsync(wake.Token).AsTask().ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // the store's failure must not stop the loop: the next round retries
            catch (Exception e)
#pragma warning restore CA1031
            {
                logger.LogWarning("Operations state store unavailable ({Error}); retrying", e.Message);
                await Task.Delay(PollInterval, time, stopping).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            }
        }
    }

    private Task WriteAsync(OperationChange change, CancellationToken cancellationToken) => change.Removed
        ? store.RemoveAsync(change.Entry.Kind, change.Entry.Target, cancellationToken)
        : store.PutAsync(change.Entry, cancellationToken);
}

/// <summary>The store of tests and of engines made without one.</summary>
internal sealed class InMemoryDeliveryStateStore : IDeliveryStateStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(OperationKind, string), OperationEntry> _entries = [];

    public Task<IReadOnlyList<OperationEntry>> LoadAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<OperationEntry>>(_entries.Values.Where(e => e.Stands(now)).ToArray());
        }
    }

    public Task PutAsync(OperationEntry entry, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _entries[(entry.Kind, entry.Target)] = entry;
        }
        return Task.CompletedTask;
    }

    public Task RemoveAsync(OperationKind kind, string target, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _entries.Remove((kind, target));
        }
        return Task.CompletedTask;
    }
}
