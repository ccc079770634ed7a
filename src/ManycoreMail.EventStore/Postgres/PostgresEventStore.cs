using System.Threading.Channels;
using ManycoreMail.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace ManycoreMail.EventStore.Postgres;

/// <summary>
/// The event store in a PostgreSQL database, shared by every process of a cluster. One writer task per store commits
/// whatever callers' batches have gathered in one transaction (group commit), written with a binary COPY. Every
/// append transaction holds <see cref="PostgresEventSchema.AppendLock"/> from drawing its ids to its commit, so ids
/// become visible in id order across processes and a reader following with <c>after</c> never skips one. Queries
/// and purges use pooled connections of their own and never wait for the writer.
/// </summary>
public sealed class PostgresEventStore : IEventStore
{
    private readonly PostgresEventStoreOptions _options;
    private readonly NpgsqlDataSource _dataSource;
    private readonly Channel<PendingAppend> _pending = Channel.CreateUnbounded<PendingAppend>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private int _disposed;

    private PostgresEventStore(PostgresEventStoreOptions options, NpgsqlDataSource dataSource)
    {
        _options = options;
        _dataSource = dataSource;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Connects, creates the schema if the database has none, and starts the writer.</summary>
    /// <exception cref="ArgumentException">The connection string is not one Npgsql understands.</exception>
    /// <exception cref="InvalidOperationException">The database has a schema version this build does not know.</exception>
    /// <exception cref="NpgsqlException">The server cannot be reached or refused the login.</exception>
    public static async Task<PostgresEventStore> OpenAsync(PostgresEventStoreOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxEventsPerTransaction, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PurgeChunk, 1);
        var dataSource = PostgresDataSources.Create(options.ConnectionString);
        try
        {
            await PostgresEventSchema.EnsureAsync(dataSource, cancellationToken).ConfigureAwait(false);
            return new PostgresEventStore(options, dataSource);
        }
        catch
        {
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public Task AppendAsync(IReadOnlyList<StoredEventInput> events, CancellationToken cancellationToken)
    {
        if (StoredEventInput.IsEmptyBatch(events))
        {
            return Task.CompletedTask;
        }

        cancellationToken.ThrowIfCancellationRequested();
        var append = new PendingAppend(events, cancellationToken);
        if (Volatile.Read(ref _disposed) != 0 || !_pending.Writer.TryWrite(append))
        {
            throw new ObjectDisposedException(nameof(PostgresEventStore));
        }

        return append.Done.Task.WaitAsync(cancellationToken);
    }

    public async Task<EventPage> QueryAsync(EventQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var afterId = query.Validate();
        await using var command = _dataSource.CreateCommand();
        EventSql.BuildQuery(command, query, afterId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await EventSql.ReadPageAsync(reader, query.Limit, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Queries a database without opening a store on it (no writer, no schema check): for a reader in a process
    /// that does not append, such as the CLI or an API-only instance. Null when the database has no event store yet.
    /// </summary>
    /// <exception cref="ArgumentException">The query's cursor is not one a store handed out.</exception>
    public static async Task<EventPage?> QueryDatabaseAsync(string connectionString, EventQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(query);
        var afterId = query.Validate();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        EventSql.BuildQuery(command, query, afterId);
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await EventSql.ReadPageAsync(reader, query.Limit, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return null;
        }
    }

    public async Task<long> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var total = 0L;
        while (true)
        {
            // Each chunk commits on its own (no explicit transaction): row locks on old events never block appends,
            // and no transaction grows with the backlog.
            await using var command = _dataSource.CreateCommand(EventSql.PurgeChunk);
            EventSql.Add(command, "@cutoff", cutoff.ToUnixTimeSeconds());
            EventSql.Add(command, "@chunk", _options.PurgeChunk);
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

        // Writes already queued are still committed: their callers are waiting for them.
        _pending.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<PendingAppend>();
        var reader = _pending.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var events = 0;
            while (events < _options.MaxEventsPerTransaction && reader.TryRead(out var append))
            {
                if (append.CancellationToken.IsCancellationRequested)
                {
                    // Its caller has stopped waiting and will append again; writing it would only duplicate.
                    append.Done.TrySetCanceled(append.CancellationToken);
                    continue;
                }

                batch.Add(append);
                events += append.Events.Count;
            }

            await CommitAsync(batch).ConfigureAwait(false);
        }
    }

    private async Task CommitAsync(List<PendingAppend> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            // Not cancellable: the callers sharing the transaction each decide alone whether to stop waiting.
            await using (var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false))
            await using (var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false))
            {
                await using (var lockAppends = new NpgsqlCommand(PostgresEventSchema.LockAppends, connection))
                {
                    await lockAppends.ExecuteNonQueryAsync().ConfigureAwait(false);
                }

                await using (var copy = await connection.BeginBinaryImportAsync(PostgresEventSchema.Copy).ConfigureAwait(false))
                {
                    foreach (var append in batch)
                    {
                        foreach (var input in append.Events)
                        {
                            await copy.StartRowAsync().ConfigureAwait(false);
                            await copy.WriteAsync(input.Timestamp, NpgsqlDbType.Bigint).ConfigureAwait(false);
                            await copy.WriteAsync(input.Event, NpgsqlDbType.Text).ConfigureAwait(false);
                            await WriteNullableAsync(copy, input.Uuid).ConfigureAwait(false);
                            await WriteNullableAsync(copy, input.Email).ConfigureAwait(false);
                            await copy.WriteAsync(input.Json, NpgsqlDbType.Bytea).ConfigureAwait(false);
                        }
                    }

                    await copy.CompleteAsync().ConfigureAwait(false);
                }

                await transaction.CommitAsync().ConfigureAwait(false);
            }

            foreach (var append in batch)
            {
                append.Done.TrySetResult();
            }
        }
        catch (Exception e)
        {
            // Whatever it was (the server restarting, a full disk), the writer lives on for the next batch; the pool
            // drops a broken connection. The transaction rolled back: every caller in it learns so and keeps its
            // events queued.
            foreach (var append in batch)
            {
                append.Done.TrySetException(e);
            }
        }
        finally
        {
            batch.Clear();
        }
    }

    private static Task WriteNullableAsync(NpgsqlBinaryImporter copy, string? value) =>
        value is null ? copy.WriteNullAsync() : copy.WriteAsync(value, NpgsqlDbType.Text);

    private sealed class PendingAppend(IReadOnlyList<StoredEventInput> events, CancellationToken cancellationToken)
    {
        public IReadOnlyList<StoredEventInput> Events { get; } = events;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
