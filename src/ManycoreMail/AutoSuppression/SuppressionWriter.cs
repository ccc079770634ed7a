using System.Threading.Channels;
using ManycoreMail.Config;
using ManycoreMail.Metrics;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.AutoSuppression;

/// <summary>
/// Adds the automatic suppression entries of the sender and the MX server to the store in batches, off their paths:
/// <see cref="Add"/> never waits for the store, so a slow or failing store neither holds up a delivery's settlement nor
/// makes the MX server answer 4xx (the reporting MTA would send the same report again and again). A failed batch is
/// logged and counted (<c>suppression_add_failed_total</c>) and dropped: the next report of the same address adds it.
/// Entries whose reason <c>suppression/auto</c> does not name are dropped here, the one place that decides it.
/// </summary>
internal sealed class SuppressionWriter : IAsyncDisposable
{
    /// <summary>Entries waiting for the store at most; past it new ones count as failed rather than take memory.</summary>
    private const int Capacity = 10_000;
    private const int BatchSize = 500;

    private readonly ISuppressionStore _store;
    private readonly SuppressionOptions _options;
    private readonly ILogger _logger;
    private readonly Counter _added;
    private readonly Counter _failed;
    private readonly Channel<SuppressionEntry> _pending = Channel.CreateBounded<SuppressionEntry>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Task _writing;

    public SuppressionWriter(ISuppressionStore store, SuppressionOptions options, MetricsRegistry metrics, ILogger<SuppressionWriter> logger)
    {
        _store = store;
        _options = options;
        _logger = logger;
        _added = metrics.Counter("suppression_added_total", "Suppression entries added automatically (bounces, complaints, unsubscribe mails).");
        _failed = metrics.Counter("suppression_add_failed_total", "Automatic suppression entries the store did not take (logged and dropped).");
        _writing = Task.Run(WriteAsync);
    }

    /// <summary>Queues <paramref name="entries"/> whose reason <c>suppression/auto</c> names; returns at once.</summary>
    public void Add(IEnumerable<SuppressionEntry> entries)
    {
        foreach (var entry in entries)
        {
            if (!_options.Adds(entry.Reason))
            {
                continue;
            }
            if (!_pending.Writer.TryWrite(entry))
            {
                _failed.Increment();
                _logger.LogWarning("Suppression entry for {Email} ({Reason}) dropped: {Capacity} entries are already waiting for the store",
                    entry.Email, SuppressionNames.Name(entry.Reason), Capacity);
            }
        }
    }

    /// <summary>True when <c>suppression/auto</c> names <paramref name="reason"/> (a caller can skip work it would not need).</summary>
    public bool Adds(SuppressionReason reason) => _options.Adds(reason);

    /// <summary>Writes what is queued, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        await _writing.ConfigureAwait(false);
    }

    private async Task WriteAsync()
    {
        var batch = new List<SuppressionEntry>(BatchSize);
        while (await _pending.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Whatever arrived while the last batch was written goes in one transaction.
            while (batch.Count < BatchSize && _pending.Reader.TryRead(out var entry))
            {
                batch.Add(entry);
            }
            try
            {
                await _store.AddAsync(batch, CancellationToken.None).ConfigureAwait(false);
                _added.Increment(batch.Count);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Any failure of the store: the entries are lost, never the delivery or the mail that reported them.
                _failed.Increment(batch.Count);
                _logger.LogError("Adding {Count} suppression entries failed ({Error}); first: {Email} ({Reason})",
                    batch.Count, e.Message, batch[0].Email, SuppressionNames.Name(batch[0].Reason));
            }
            batch.Clear();
        }
    }
}
