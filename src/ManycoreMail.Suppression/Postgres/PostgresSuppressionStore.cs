using ManycoreMail.Postgres;
using Npgsql;

namespace ManycoreMail.Suppression.Postgres;

/// <summary>
/// The suppression list in a PostgreSQL database, shared by every process of a cluster. Each call runs on a pooled
/// connection of its own (a batch of adds is one statement over column arrays), so lookups go on during an import.
/// The schema is created on first use, not at open: a process that starts while the server is away opens its store
/// all the same, and its first call that reaches the server creates or checks the tables.
/// </summary>
public sealed class PostgresSuppressionStore : ISuppressionStore
{
    private readonly PostgresSuppressionStoreOptions _options;
    private readonly NpgsqlDataSource _dataSource;
    private readonly SemaphoreSlim _schemaGate = new(1, 1);
    private volatile bool _schemaReady;
    private int _disposed;

    private PostgresSuppressionStore(PostgresSuppressionStoreOptions options, NpgsqlDataSource dataSource)
    {
        _options = options;
        _dataSource = dataSource;
    }

    /// <exception cref="ArgumentException">The connection string is not one Npgsql understands.</exception>
    public static PostgresSuppressionStore Open(PostgresSuppressionStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PurgeChunk, 1);
        return new PostgresSuppressionStore(options, PostgresDataSources.Create(options.ConnectionString));
    }

    public async Task AddAsync(IReadOnlyList<SuppressionEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        // The last of entries with the same key wins, as if they were added one after the other.
        var latest = new Dictionary<SuppressionKey, SuppressionEntry>(entries.Count);
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i] ?? throw new ArgumentException($"Entry {i} is null.", nameof(entries));
            latest[SuppressionKey.Of(entry)] = entry;
        }

        if (latest.Count == 0)
        {
            return;
        }

        var batch = latest.Values;
        await using var command = await CommandAsync(PostgresSuppressionSql.Upsert, cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("emails", batch.Select(e => e.Email).ToArray());
        command.Parameters.AddWithValue("scopes", batch.Select(e => SuppressionNames.Name(e.Scope)).ToArray());
        command.Parameters.AddWithValue("values", batch.Select(e => e.Value).ToArray());
        command.Parameters.AddWithValue("reasons", batch.Select(e => SuppressionNames.Name(e.Reason)).ToArray());
        command.Parameters.AddWithValue("created", batch.Select(e => e.Created.ToUnixTimeMilliseconds()).ToArray());
        command.Parameters.AddWithValue("expires", batch.Select(e => e.Expires?.ToUnixTimeMilliseconds()).ToArray());
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RemoveAsync(string email, SuppressionScope scope, string? value, CancellationToken cancellationToken)
    {
        var normalizedEmail = SuppressionNames.NormalizeEmail(email);
        var normalizedValue = SuppressionNames.NormalizeValue(scope, value);
        await using var command = await CommandAsync(PostgresSuppressionSql.Delete, cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("email", normalizedEmail);
        command.Parameters.AddWithValue("scope", SuppressionNames.Name(scope));
        command.Parameters.AddWithValue("value", normalizedValue);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
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
        await using var command = await CommandAsync(email is null ? PostgresSuppressionSql.ListAll : PostgresSuppressionSql.ListEmail, cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("after_email", after.Email);
        // The first page's key sorts before every entry whatever its scope, since its address is empty.
        command.Parameters.AddWithValue("after_scope", query.After is null ? "" : SuppressionNames.Name(after.Scope));
        command.Parameters.AddWithValue("after_value", after.Value);
        command.Parameters.AddWithValue("limit", query.Limit + 1);
        if (email is not null)
        {
            command.Parameters.AddWithValue("email", email);
        }

        var entries = new List<SuppressionEntry>(Math.Min(query.Limit + 1, 128));
        await using (var rows = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                entries.Add(PostgresSuppressionSql.Read(rows));
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

    public async Task<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>> FindAsync(IReadOnlyCollection<string> emails,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(emails);
        var found = new Dictionary<string, IReadOnlyList<SuppressionEntry>>(StringComparer.Ordinal);
        if (emails.Count == 0)
        {
            return found;
        }

        await using var command = await CommandAsync(PostgresSuppressionSql.Find, cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("emails", emails.ToArray());
        command.Parameters.AddWithValue("now", now.ToUnixTimeMilliseconds());
        await using var rows = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var entry = PostgresSuppressionSql.Read(rows);
            if (!found.TryGetValue(entry.Email, out var list))
            {
                found.Add(entry.Email, list = new List<SuppressionEntry>(1));
            }

            ((List<SuppressionEntry>)list).Add(entry);
        }

        return found;
    }

    public async Task<long> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var total = 0L;
        while (true)
        {
            // Each chunk commits on its own, so no transaction grows with the backlog.
            await using var command = await CommandAsync(PostgresSuppressionSql.PurgeChunk, cancellationToken).ConfigureAwait(false);
            command.Parameters.AddWithValue("now", now.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("chunk", _options.PurgeChunk);
            var deleted = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
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

        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _schemaGate.Dispose();
    }

    /// <summary>A command on the data source (a pooled connection for its one statement), once the schema is there.</summary>
    private async Task<NpgsqlCommand> CommandAsync(string sql, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_schemaReady)
        {
            await _schemaGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (!_schemaReady)
                {
                    // A failure (the server away) leaves the flag down: the next call tries again.
                    await PostgresSuppressionSql.EnsureAsync(_dataSource, cancellationToken).ConfigureAwait(false);
                    _schemaReady = true;
                }
            }
            finally
            {
                _schemaGate.Release();
            }
        }

        return _dataSource.CreateCommand(sql);
    }
}
