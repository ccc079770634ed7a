using Microsoft.Data.Sqlite;

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
    private readonly SqliteCommand _count;
    private readonly SqliteParameter _countQueue;
    private readonly SqliteCommand _earliestDue;
    private readonly SqliteParameter _earliestQueue;
    private readonly SqliteCommand _body;
    private readonly SqliteParameter _bodyId;
    private readonly SqliteCommand _deadLetters;
    private readonly SqliteParameter _deadQueue, _deadMax;

    public SpoolReader(SqliteConnection connection)
    {
        _connection = connection;
        _count = SpoolSchema.Prepare(connection, "SELECT count(*) FROM items WHERE queue = $queue");
        _countQueue = SpoolSchema.Parameter(_count, "$queue", SqliteType.Text);
        _earliestDue = SpoolSchema.Prepare(connection, "SELECT min(not_before) FROM items WHERE queue = $queue");
        _earliestQueue = SpoolSchema.Parameter(_earliestDue, "$queue", SqliteType.Text);
        _body = SpoolSchema.Prepare(connection, """
            SELECT b.body, b.base_offset, base.body FROM bodies AS b LEFT JOIN bodies AS base ON base.id = b.base
            WHERE b.id = $id
            """);
        _bodyId = SpoolSchema.Parameter(_body, "$id", SqliteType.Integer);
        _deadLetters = SpoolSchema.Prepare(connection, """
            SELECT id, envelope, body, reason, attempts, created_at, failed_at FROM dead_letters
            WHERE queue = $queue ORDER BY id LIMIT $max
            """);
        _deadQueue = SpoolSchema.Parameter(_deadLetters, "$queue", SqliteType.Text);
        _deadMax = SpoolSchema.Parameter(_deadLetters, "$max", SqliteType.Integer);
    }

    public long Count(string queue)
    {
        _countQueue.Value = queue;
        return (long)_count.ExecuteScalar()!;
    }

    /// <summary>The soonest due time (unix ms) on the queue, counting lease expiries; null when empty.</summary>
    public long? EarliestDueMs(string queue)
    {
        _earliestQueue.Value = queue;
        return _earliestDue.ExecuteScalar() is long due ? due : null;
    }

    /// <summary>The bodies of <paramref name="ids"/> (null where the item is gone), read in one transaction: one
    /// snapshot of the log and one set of locks for a whole lease instead of one per item.</summary>
    public byte[]?[] Bodies(IReadOnlyList<long> ids)
    {
        var bodies = new byte[]?[ids.Count];
        if (ids.Count == 1)
        {
            bodies[0] = Body(ids[0]);
            return bodies;
        }
        using var transaction = _connection.BeginTransaction(deferred: true);
        _body.Transaction = transaction;
        try
        {
            for (var i = 0; i < bodies.Length; i++)
            {
                bodies[i] = Body(ids[i]);
            }
        }
        finally
        {
            _body.Transaction = null;
        }
        transaction.Commit();
        return bodies;
    }

    /// <summary>The body of an item, or null when the item is gone.</summary>
    public byte[]? Body(long id)
    {
        _bodyId.Value = id;
        using var reader = _body.ExecuteReader();
        if (!reader.Read())
        {
            return null;
        }
        if (reader.IsDBNull(2))
        {
            return reader.GetFieldValue<byte[]>(0);
        }

        // A forwarded item: its own bytes, then its base's from the offset on, read straight into one array.
        var prefixLength = (int)reader.GetBytes(0, 0, null, 0, 0);
        var offset = reader.GetInt64(1);
        var tailLength = (int)(reader.GetBytes(2, 0, null, 0, 0) - offset);
        var body = GC.AllocateUninitializedArray<byte>(prefixLength + tailLength);
        reader.GetBytes(0, 0, body, 0, prefixLength);
        reader.GetBytes(2, offset, body, prefixLength, tailLength);
        return body;
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
        _earliestDue.Dispose();
        _body.Dispose();
        _deadLetters.Dispose();
        _connection.Dispose();
    }
}
