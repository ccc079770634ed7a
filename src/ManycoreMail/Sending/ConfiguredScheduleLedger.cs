using ManycoreMail.Config;

namespace ManycoreMail.Sending;

/// <summary>
/// The process's schedule ledger, opened at first use (a process that never schedules or cancels opens nothing):
/// with <c>events/store: postgresql</c> the table <c>scheduled_messages</c> in that database, shared by every process
/// of a cluster; otherwise SQLite in <c>storage/path</c>/schedule.db. Chosen as the template store is.
/// </summary>
internal sealed class ConfiguredScheduleLedger(MailerOptions options, TimeProvider time) : IScheduleLedger, IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Opened? _opened;
    private bool _closed;

    public async ValueTask RecordAsync(IReadOnlyList<ScheduledEntry> entries, CancellationToken cancellationToken) =>
        await (await GetAsync(cancellationToken).ConfigureAwait(false)).Ledger.RecordAsync(entries, cancellationToken).ConfigureAwait(false);

    public async ValueTask<bool> TryMarkSentAsync(string uuid, CancellationToken cancellationToken) =>
        await (await GetAsync(cancellationToken).ConfigureAwait(false)).Ledger.TryMarkSentAsync(uuid, cancellationToken).ConfigureAwait(false);

    public async ValueTask<CancelOutcome> CancelAsync(string uuid, string? tenant, CancellationToken cancellationToken) =>
        await (await GetAsync(cancellationToken).ConfigureAwait(false)).Ledger.CancelAsync(uuid, tenant, cancellationToken).ConfigureAwait(false);

    /// <summary>Deletes sent and cancelled entries older than a week; how many.</summary>
    public async Task<long> PurgeAsync(CancellationToken cancellationToken) =>
        await (await GetAsync(cancellationToken).ConfigureAwait(false)).Purge(cancellationToken).ConfigureAwait(false);

    private async ValueTask<Opened> GetAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _opened) is { } opened)
        {
            return opened;
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            return _opened ??= await OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<Opened> OpenAsync(CancellationToken cancellationToken)
    {
        if (options.Events.Postgresql is { } connectionString)
        {
            var postgres = await PostgresScheduleLedger.OpenAsync(connectionString, time, cancellationToken).ConfigureAwait(false);
            return new Opened(postgres, postgres.PurgeAsync, postgres);
        }
        var sqlite = SqliteScheduleLedger.Open(Path.Combine(options.Storage.Path, SqliteScheduleLedger.FileName), time);
        return new Opened(sqlite, sqlite.PurgeAsync, sqlite);
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _closed = true;
            if (_opened is { } opened)
            {
                await opened.Disposable.DisposeAsync().ConfigureAwait(false);
                _opened = null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private sealed record Opened(IScheduleLedger Ledger, Func<CancellationToken, Task<long>> Purge, IAsyncDisposable Disposable);
}
