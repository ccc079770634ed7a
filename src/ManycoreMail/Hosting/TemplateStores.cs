using ManycoreMail.Config;
using ManycoreMail.Templates;
using ManycoreMail.Templates.Postgres;
using ManycoreMail.Templates.Sqlite;

namespace ManycoreMail.Hosting;

/// <summary>The process's template store, opened at first use: with <c>events/store: postgresql</c> in the same
/// PostgreSQL database (<c>events/postgresql</c>), shared by every process of a cluster; otherwise SQLite in
/// <c>storage/path</c>/templates.db.</summary>
internal sealed class TemplateStores(MailerOptions options) : IAsyncDisposable
{
    public const string SqliteFileName = "templates.db";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private ITemplateStore? _store;
    private bool _closed;

    public async Task<ITemplateStore> GetAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _store) is { } opened)
        {
            return opened;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            return _store ??= await OpenAsync(options, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public static async Task<ITemplateStore> OpenAsync(MailerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Events.Postgresql is { } connectionString)
        {
            return await PostgresTemplateStore.OpenAsync(connectionString, cancellationToken).ConfigureAwait(false);
        }

        return SqliteTemplateStore.Open(Path.Combine(options.Storage.Path, SqliteFileName));
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _closed = true;
            if (_store is not null)
            {
                await _store.DisposeAsync().ConfigureAwait(false);
                _store = null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
