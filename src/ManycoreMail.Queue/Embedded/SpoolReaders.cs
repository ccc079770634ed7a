using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace ManycoreMail.Queue.Embedded;

/// <summary>
/// A small pool of read connections. WAL lets them read while the committer writes; each one
/// keeps its statements prepared for the life of the spool.
/// </summary>
internal sealed class SpoolReaders : IDisposable
{
    private readonly string _connectionString;
    private readonly Stack<SpoolReader> _idle = new();
    // Never disposed: callers may still be waiting on it while the spool shuts down, and without
    // AvailableWaitHandle it holds nothing that needs disposing.
    private readonly SemaphoreSlim _slots;
    private bool _disposed;

    public SpoolReaders(string connectionString, int maxReaders)
    {
        _connectionString = connectionString;
        _slots = new SemaphoreSlim(maxReaders, maxReaders);
    }

    public async ValueTask<Rental> RentAsync(CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_idle)
            {
                ObjectDisposedException.ThrowIf(_disposed, typeof(EmbeddedSpool));
                if (_idle.TryPop(out var idle))
                {
                    return new Rental(this, idle);
                }
            }

            return new Rental(this, new SpoolReader(SpoolSchema.OpenReader(_connectionString)));
        }
        catch
        {
            _slots.Release();
            throw;
        }
    }

    public void Dispose()
    {
        lock (_idle)
        {
            _disposed = true;
            while (_idle.TryPop(out var reader))
            {
                reader.Dispose();
            }
        }
    }

    private void Return(SpoolReader reader)
    {
        lock (_idle)
        {
            if (_disposed)
            {
                reader.Dispose();
            }
            else
            {
                _idle.Push(reader);
            }
        }

        _slots.Release();
    }

    public readonly struct Rental(SpoolReaders pool, SpoolReader reader) : IDisposable
    {
        public SpoolReader Reader { get; } = reader;

        public void Dispose() => pool.Return(Reader);
    }
}

/// <summary>One read connection with its prepared statements; used by one caller at a time.</summary>
internal sealed class SpoolReader : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SpoolStatement _count;
    private readonly int _countQueue;
    // Asked by the receivers' flow control every 50 ms: the (queue, not_before) index answers it without a row read.
    private readonly SpoolStatement _readyCount;
    private readonly int _readyQueue;
    private readonly int _readyNow;
    // Asked each time a role finds its queue empty and waits: under a steady flow, about once per lease.
    private readonly SpoolStatement _earliestDue;
    private readonly int _earliestQueue;
    // Read through SQLite's own API: Microsoft.Data.Sqlite copies a blob into an array of its own before
    // handing out any of it, and reads a blob in parts through an incremental blob handle (looking up the
    // table, column and rowid names first); here the bytes are copied once, from SQLite's row into the body.
    private readonly sqlite3_stmt _body;
    // Prepared once: Microsoft.Data.Sqlite's BeginTransaction parses and prepares BEGIN and COMMIT anew each time.
    private readonly SpoolStatement _begin;
    private readonly SpoolStatement _end;
    private readonly SqliteCommand _deadLetters;
    private readonly SqliteParameter _deadQueue, _deadMax;

    public SpoolReader(SqliteConnection connection)
    {
        _connection = connection;
        _count = new SpoolStatement(connection, "SELECT count(*) FROM items WHERE queue = $queue");
        _countQueue = _count.Parameter("$queue");
        _readyCount = new SpoolStatement(connection, "SELECT count(*) FROM items WHERE queue = $queue AND not_before <= $now");
        _readyQueue = _readyCount.Parameter("$queue");
        _readyNow = _readyCount.Parameter("$now");
        _earliestDue = new SpoolStatement(connection, "SELECT min(not_before) FROM items WHERE queue = $queue");
        _earliestQueue = _earliestDue.Parameter("$queue");
        Check(raw.sqlite3_prepare_v3(connection.Handle, """
            SELECT b.body, b.base_offset, base.body FROM bodies AS b LEFT JOIN bodies AS base ON base.id = b.base
            WHERE b.id = ?1
            """, raw.SQLITE_PREPARE_PERSISTENT, out _body));
        _begin = new SpoolStatement(connection, "BEGIN");
        _end = new SpoolStatement(connection, "COMMIT");
        _deadLetters = SpoolSchema.Prepare(connection, """
            SELECT id, envelope, body, reason, attempts, created_at, failed_at FROM dead_letters
            WHERE queue = $queue ORDER BY id LIMIT $max
            """);
        _deadQueue = SpoolSchema.Parameter(_deadLetters, "$queue", SqliteType.Text);
        _deadMax = SpoolSchema.Parameter(_deadLetters, "$max", SqliteType.Integer);
    }

    public long Count(string queue)
    {
        return _count.Bind(_countQueue, queue).ScalarInt64() ?? 0;
    }

    /// <summary>Items due at <paramref name="nowMs"/> and not leased (a lease moves not_before to its expiry).</summary>
    public long ReadyCount(string queue, long nowMs)
    {
        return _readyCount.Bind(_readyQueue, queue).Bind(_readyNow, nowMs).ScalarInt64() ?? 0;
    }

    /// <summary>The soonest due time (unix ms) on the queue, counting lease expiries; null when empty.</summary>
    public long? EarliestDueMs(string queue)
    {
        return _earliestDue.Bind(_earliestQueue, queue).ScalarInt64();
    }

    /// <summary>The bodies of <paramref name="rows"/> (null where the item is gone), read in one transaction: one
    /// snapshot of the log and one set of locks for a whole lease instead of one per item.</summary>
    public byte[]?[] Bodies(LeasedRow[] rows)
    {
        var bodies = new byte[]?[rows.Length];
        if (rows.Length == 1)
        {
            bodies[0] = Body(rows[0].Id);
            return bodies;
        }
        _begin.Execute();
        try
        {
            for (var i = 0; i < bodies.Length; i++)
            {
                bodies[i] = Body(rows[i].Id);
            }
        }
        finally
        {
            // Only reads happened: ending the transaction either way is the same. SQLite may have ended it already
            // after an error, and then COMMIT would hide that error.
            if (raw.sqlite3_get_autocommit(_connection.Handle) == 0)
            {
                _end.Execute();
            }
        }
        return bodies;
    }

    /// <summary>The body of an item, or null when the item is gone.</summary>
    public byte[]? Body(long id)
    {
        try
        {
            Check(raw.sqlite3_bind_int64(_body, 1, id));
            var step = raw.sqlite3_step(_body);
            if (step == raw.SQLITE_DONE)
            {
                return null;
            }
            if (step != raw.SQLITE_ROW)
            {
                Check(step);
            }
            var own = raw.sqlite3_column_blob(_body, 0);
            if (raw.sqlite3_column_type(_body, 2) == raw.SQLITE_NULL)
            {
                return own.ToArray();
            }

            // A forwarded item: its own bytes, then its base's from the offset on, copied into one array.
            var tail = raw.sqlite3_column_blob(_body, 2)[(int)raw.sqlite3_column_int64(_body, 1)..];
            var body = GC.AllocateUninitializedArray<byte>(own.Length + tail.Length);
            own.CopyTo(body);
            tail.CopyTo(body.AsSpan(own.Length));
            return body;
        }
        finally
        {
            raw.sqlite3_reset(_body);
        }
    }

    private void Check(int result)
    {
        if (result != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(result, _connection.Handle);
        }
    }

    public List<DeadLetteredItem> DeadLetters(string queue, int max)
    {
        _deadQueue.Value = queue;
        _deadMax.Value = max;
        var items = new List<DeadLetteredItem>();
        using var reader = _deadLetters.ExecuteReader();
        while (reader.Read())
        {
            items.Add(new DeadLetteredItem(
                Id: reader.GetInt64(0),
                Queue: queue,
                Envelope: EnvelopeCodec.Decode(reader.GetFieldValue<byte[]>(1)),
                Body: reader.IsDBNull(2) ? ReadOnlyMemory<byte>.Empty : reader.GetFieldValue<byte[]>(2),
                Reason: reader.GetString(3),
                Attempts: reader.GetInt32(4),
                CreatedAt: DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
                FailedAt: DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))));
        }

        return items;
    }

    public void Dispose()
    {
        _count.Dispose();
        _readyCount.Dispose();
        _earliestDue.Dispose();
        _body.Dispose(); // sqlite3_finalize, before the connection closes
        _begin.Dispose();
        _end.Dispose();
        _deadLetters.Dispose();
        _connection.Dispose();
    }
}
