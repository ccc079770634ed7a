using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.EventStore.Sqlite;

/// <summary>
/// The event store in one SQLite file. One writer task owns the write connection: callers' batches wait in a channel
/// and the writer commits whatever has gathered in one transaction (group commit), so many small appends cost one
/// commit. Queries open their own read-only connection; in WAL mode they neither wait for nor block the writer.
/// </summary>
public sealed class SqliteEventStore : IEventStore
{
    private readonly string _path;
    private readonly SqliteEventStoreOptions _options;
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    private readonly SqliteCommand _purge;
    private readonly Channel<PendingWrite> _pending = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;
    private int _disposed;

    private SqliteEventStore(SqliteEventStoreOptions options, SqliteConnection connection)
    {
        _options = options;
        _path = options.Path;
        _connection = connection;
        _insert = SqliteEventSchema.Prepare(connection, EventSql.Insert);
        foreach (var name in (ReadOnlySpan<string>)["@ts", "@event", "@uuid", "@email", "@body"])
        {
            EventSql.Add(_insert, name, null);
        }

        _insert.Prepare();
        _purge = SqliteEventSchema.Prepare(connection, EventSql.PurgeChunk);
        EventSql.Add(_purge, "@cutoff", 0L);
        EventSql.Add(_purge, "@chunk", options.PurgeChunk);
        _purge.Prepare();
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Opens (creating if needed) the store and starts its writer.</summary>
    /// <exception cref="InvalidOperationException">The file has a schema version this build does not know, or cannot use WAL.</exception>
    public static SqliteEventStore Open(SqliteEventStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxEventsPerTransaction, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PurgeChunk, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BusyTimeout, TimeSpan.FromSeconds(1));
        var connection = SqliteEventSchema.OpenWriter(options.Path, options.BusyTimeout);
        try
        {
            return new SqliteEventStore(options, connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public Task AppendAsync(IReadOnlyList<StoredEventInput> events, CancellationToken cancellationToken)
    {
        if (StoredEventInput.IsEmptyBatch(events))
        {
            return Task.CompletedTask;
        }

        var append = new PendingAppend(events, cancellationToken);
        return Submit(append, append.Done, cancellationToken);
    }

    public Task<EventPage> QueryAsync(EventQuery query, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return QueryAsync(_path, query, _options.BusyTimeout, cancellationToken);
    }

    /// <summary>
    /// Queries a store's file without opening it for writing: for a reader beside a running mailer (the CLI), which
    /// takes no lock and sees every committed append.
    /// </summary>
    public static Task<EventPage> QueryFileAsync(string path, EventQuery query, CancellationToken cancellationToken) =>
        QueryAsync(path, query, SqliteEventSchema.DefaultBusyTimeout, cancellationToken);

    private static async Task<EventPage> QueryAsync(string path, EventQuery query, TimeSpan busyTimeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(query);
        var afterId = query.Validate();
        using var connection = SqliteEventSchema.OpenReader(path, busyTimeout);
        using var command = connection.CreateCommand();
        EventSql.BuildQuery(command, query, afterId);
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await EventSql.ReadPageAsync(reader, query.Limit, cancellationToken).ConfigureAwait(false);
    }

    public async Task<long> PurgeOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        var total = 0L;
        while (true)
        {
            // One chunk per trip through the writer, so appends queued meanwhile go between chunks.
            var chunk = new PendingPurge(cutoff.ToUnixTimeSeconds());
            var deleted = await Submit(chunk, chunk.Done, cancellationToken).ConfigureAwait(false);
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
        _insert.Dispose();
        _purge.Dispose();
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    private Task<T> Submit<T>(PendingWrite write, TaskCompletionSource<T> done, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Volatile.Read(ref _disposed) != 0 || !_pending.Writer.TryWrite(write))
        {
            throw new ObjectDisposedException(nameof(SqliteEventStore));
        }

        return done.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<PendingAppend>();
        var reader = _pending.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var events = 0;
            while (events < _options.MaxEventsPerTransaction && reader.TryRead(out var write))
            {
                switch (write)
                {
                    case PendingAppend append when append.CancellationToken.IsCancellationRequested:
                        // Its caller has stopped waiting and will append again; writing it would only duplicate.
                        append.Done.TrySetCanceled(append.CancellationToken);
                        break;
                    case PendingAppend append:
                        batch.Add(append);
                        events += append.Events.Count;
                        break;
                    case PendingPurge purge:
                        // Appends queued before the purge commit first, so the purge sees them as a caller would expect.
                        Commit(batch);
                        events = 0;
                        RunPurge(purge);
                        break;
                }
            }

            Commit(batch);
        }
    }

    private void Commit(List<PendingAppend> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            using (var transaction = _connection.BeginTransaction(deferred: false))
            {
                _insert.Transaction = transaction;
                var parameters = _insert.Parameters;
                foreach (var append in batch)
                {
                    foreach (var input in append.Events)
                    {
                        parameters[0].Value = input.Timestamp;
                        parameters[1].Value = input.Event;
                        parameters[2].Value = (object?)input.Uuid ?? DBNull.Value;
                        parameters[3].Value = (object?)input.Email ?? DBNull.Value;
                        parameters[4].Value = WholeArray(input.Json);
                        _insert.ExecuteNonQuery();
                    }
                }

                transaction.Commit();
            }

            foreach (var append in batch)
            {
                append.Done.TrySetResult(true);
            }
        }
        catch (Exception e)
        {
            // Whatever it was (a full disk, an I/O error), the writer lives on for the next batch. The whole transaction rolled back: every caller in it learns so and keeps its events queued.
            foreach (var append in batch)
            {
                append.Done.TrySetException(e);
            }
        }
        finally
        {
            _insert.Transaction = null;
            batch.Clear();
        }
    }

    private void RunPurge(PendingPurge purge)
    {
        try
        {
            using var transaction = _connection.BeginTransaction(deferred: false);
            _purge.Transaction = transaction;
            _purge.Parameters[0].Value = purge.Cutoff;
            var deleted = _purge.ExecuteNonQuery();
            transaction.Commit();
            purge.Done.TrySetResult(deleted);
        }
        catch (Exception e)
        {
            purge.Done.TrySetException(e);
        }
        finally
        {
            _purge.Transaction = null;
        }
    }

    /// <summary>The caller's array itself when the memory is all of one (the usual case), else a copy.</summary>
    private static byte[] WholeArray(ReadOnlyMemory<byte> json) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(json, out var segment)
            && segment.Array is { } array && segment.Offset == 0 && segment.Count == array.Length
            ? array
            : json.ToArray();

    private abstract class PendingWrite;

    private sealed class PendingAppend(IReadOnlyList<StoredEventInput> events, CancellationToken cancellationToken) : PendingWrite
    {
        public IReadOnlyList<StoredEventInput> Events { get; } = events;
        public CancellationToken CancellationToken { get; } = cancellationToken;
        public TaskCompletionSource<bool> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class PendingPurge(long cutoff) : PendingWrite
    {
        public long Cutoff { get; } = cutoff;
        public TaskCompletionSource<long> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
