using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Suppression.Sqlite;

/// <summary>
/// The suppression list in one SQLite file (WAL). One write connection, taken in turn, holds the prepared upsert,
/// delete and purge statements; lookups and pages run on read-only connections of their own, which in WAL mode
/// neither wait for nor block the writer, so the transformer's lookups go on during an import.
/// </summary>
public sealed class SqliteSuppressionStore : ISuppressionStore
{
    private readonly SqliteSuppressionStoreOptions _options;
    private readonly SqliteConnection _writer;
    private readonly SqliteCommand _upsert;
    private readonly SqliteCommand _delete;
    private readonly SqliteCommand _purge;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly ConcurrentBag<Reader> _idleReaders = [];
    private int _disposed;

    private SqliteSuppressionStore(SqliteSuppressionStoreOptions options, SqliteConnection writer)
    {
        _options = options;
        _writer = writer;
        _upsert = SqliteSuppressionSql.Prepare(writer, SqliteSuppressionSql.Upsert, "@email", "@scope", "@value", "@reason", "@created", "@expires");
        _delete = SqliteSuppressionSql.Prepare(writer, SqliteSuppressionSql.Delete, "@email", "@scope", "@value");
        _purge = SqliteSuppressionSql.Prepare(writer, SqliteSuppressionSql.PurgeChunk, "@now", "@chunk");
    }

    /// <summary>Opens (creating if needed) the store's file.</summary>
    /// <exception cref="InvalidOperationException">The file has a schema version this build does not know, or cannot use WAL.</exception>
    public static SqliteSuppressionStore Open(SqliteSuppressionStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PurgeChunk, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BusyTimeout, TimeSpan.FromSeconds(1));
        ArgumentOutOfRangeException.ThrowIfNegative(options.IdleReaders);
        var writer = SqliteSuppressionSql.OpenWriter(options.Path, options.BusyTimeout);
        try
        {
            return new SqliteSuppressionStore(options, writer);
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    public Task AddAsync(IReadOnlyList<SuppressionEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        for (var i = 0; i < entries.Count; i++)
        {
            if (entries[i] is null)
            {
                throw new ArgumentException($"Entry {i} is null.", nameof(entries));
            }
        }

        return entries.Count == 0 ? Task.CompletedTask : WriteAsync(() =>
        {
            var parameters = _upsert.Parameters;
            foreach (var entry in entries)
            {
                parameters[0].Value = entry.Email;
                parameters[1].Value = SuppressionNames.Name(entry.Scope);
                parameters[2].Value = entry.Value;
                parameters[3].Value = SuppressionNames.Name(entry.Reason);
                parameters[4].Value = SqliteSuppressionSql.Time(entry.Created);
                parameters[5].Value = SqliteSuppressionSql.Time(entry.Expires);
                _upsert.ExecuteNonQuery();
            }

            return true;
        }, _upsert, cancellationToken);
    }

    public Task<bool> RemoveAsync(string email, SuppressionScope scope, string? value, CancellationToken cancellationToken)
    {
        var normalizedEmail = SuppressionNames.NormalizeEmail(email);
        var normalizedValue = SuppressionNames.NormalizeValue(scope, value);
        return WriteAsync(() =>
        {
            _delete.Parameters[0].Value = normalizedEmail;
            _delete.Parameters[1].Value = SuppressionNames.Name(scope);
            _delete.Parameters[2].Value = normalizedValue;
            return _delete.ExecuteNonQuery() > 0;
        }, _delete, cancellationToken);
    }

    public async Task<SuppressionPage> ListAsync(SuppressionQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Limit is < 1 or > SuppressionQuery.MaxLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.Limit, $"The limit must be between 1 and {SuppressionQuery.MaxLimit}.");
        }

        var email = query.Email is null ? null : SuppressionNames.NormalizeEmail(query.Email);
        var after = query.After is null ? new SuppressionKey("", SuppressionScope.Global, "") : SuppressionCursor.Decode(query.After);
        var reader = Rent();
        try
        {
            var command = email is null ? reader.ListAll : reader.ListEmail;
            var parameters = command.Parameters;
            parameters[0].Value = after.Email;
            // The first page's key sorts before every entry whatever its scope, since its address is empty.
            parameters[1].Value = query.After is null ? "" : SuppressionNames.Name(after.Scope);
            parameters[2].Value = after.Value;
            parameters[3].Value = query.Limit + 1;
            if (email is not null)
            {
                parameters[4].Value = email;
            }

            var entries = new List<SuppressionEntry>(Math.Min(query.Limit + 1, 128));
            using (var rows = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    entries.Add(SqliteSuppressionSql.Read(rows));
                }
            }

            // One row more than asked says there is a next page, without a count or a second query.
            if (entries.Count <= query.Limit)
            {
                return new SuppressionPage(entries, null);
            }

            entries.RemoveAt(entries.Count - 1);
            return new SuppressionPage(entries, SuppressionCursor.Encode(SuppressionKey.Of(entries[^1])));
        }
        finally
        {
            Return(reader);
        }
    }

    public async Task<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>> FindAsync(IReadOnlyCollection<string> emails,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(emails);
        var found = new Dictionary<string, IReadOnlyList<SuppressionEntry>>(StringComparer.Ordinal);
        if (emails.Count == 0)
        {
            return found;
        }

        var reader = Rent();
        try
        {
            reader.Find.Parameters[0].Value = JsonSerializer.Serialize(emails, SuppressionJson.Default.IReadOnlyCollectionString);
            reader.Find.Parameters[1].Value = now.ToUnixTimeMilliseconds();
            using var rows = await reader.Find.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var entry = SqliteSuppressionSql.Read(rows);
                if (!found.TryGetValue(entry.Email, out var list))
                {
                    found.Add(entry.Email, list = new List<SuppressionEntry>(1));
                }

                ((List<SuppressionEntry>)list).Add(entry);
            }

            return found;
        }
        finally
        {
            Return(reader);
        }
    }

    public async Task<long> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var total = 0L;
        while (true)
        {
            // One chunk per turn at the writer, so adds waiting meanwhile go between chunks.
            var deleted = await WriteAsync(() =>
            {
                _purge.Parameters[0].Value = now.ToUnixTimeMilliseconds();
                _purge.Parameters[1].Value = _options.PurgeChunk;
                return _purge.ExecuteNonQuery();
            }, _purge, cancellationToken).ConfigureAwait(false);
            total += deleted;
            if (deleted < _options.PurgeChunk)
            {
                return total;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // A write in progress finishes first: its caller is waiting for it.
        await _writing.WaitAsync().ConfigureAwait(false);
        _upsert.Dispose();
        _delete.Dispose();
        _purge.Dispose();
        await _writer.DisposeAsync().ConfigureAwait(false);
        while (_idleReaders.TryTake(out var reader))
        {
            reader.Dispose();
        }
    }

    /// <summary>Runs <paramref name="write"/> in its own immediate transaction on the writer connection, one caller at
    /// a time; a failure rolls the whole transaction back.</summary>
    private async Task<T> WriteAsync<T>(Func<T> write, SqliteCommand command, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            cancellationToken.ThrowIfCancellationRequested();
            using var transaction = _writer.BeginTransaction(deferred: false);
            command.Transaction = transaction;
            var result = write();
            transaction.Commit();
            return result;
        }
        finally
        {
            command.Transaction = null;
            _writing.Release();
        }
    }

    private Reader Rent()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _idleReaders.TryTake(out var reader) ? reader : new Reader(_options);
    }

    private void Return(Reader reader)
    {
        // A reader returned after (or while) the store is disposed, or beyond the idle limit, is closed at once.
        if (Volatile.Read(ref _disposed) != 0 || _idleReaders.Count >= _options.IdleReaders)
        {
            reader.Dispose();
            return;
        }

        _idleReaders.Add(reader);
        if (Volatile.Read(ref _disposed) != 0 && _idleReaders.TryTake(out var late))
        {
            late.Dispose();
        }
    }

    /// <summary>A read-only connection and its prepared statements.</summary>
    private sealed class Reader : IDisposable
    {
        private readonly SqliteConnection _connection;

        public Reader(SqliteSuppressionStoreOptions options)
        {
            _connection = SqliteSuppressionSql.OpenReader(options.Path, options.BusyTimeout);
            try
            {
                Find = SqliteSuppressionSql.Prepare(_connection, SqliteSuppressionSql.Find, "@emails", "@now");
                ListAll = SqliteSuppressionSql.Prepare(_connection, SqliteSuppressionSql.ListAll, "@after_email", "@after_scope", "@after_value", "@limit");
                ListEmail = SqliteSuppressionSql.Prepare(_connection, SqliteSuppressionSql.ListEmail, "@after_email", "@after_scope", "@after_value", "@limit", "@email");
            }
            catch
            {
                _connection.Dispose();
                throw;
            }
        }

        public SqliteCommand Find { get; }

        public SqliteCommand ListAll { get; }

        public SqliteCommand ListEmail { get; }

        public void Dispose()
        {
            Find.Dispose();
            ListAll.Dispose();
            ListEmail.Dispose();
            _connection.Dispose();
        }
    }
}
