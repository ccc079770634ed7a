using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace ManycoreMail.Queue.Embedded;

/// <summary>One row chosen by a lease, before its body is read.</summary>
internal readonly record struct LeasedRow(long Id, byte[] Envelope, int Attempts, long CreatedAtMs);

/// <summary>
/// The spool's only writing connection and its prepared statements. Used by the committer loop alone,
/// so nothing here is synchronised.
/// </summary>
internal sealed class SpoolWriter : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly List<SqliteCommand> _commands = [];
    private bool _durable = true;

    private readonly SqliteCommand _synchronousFull;
    private readonly SqliteCommand _synchronousNormal;
    private readonly SqliteCommand _begin;
    private readonly SqliteCommand _commit;
    private readonly SqliteCommand _rollback;
    private readonly SqliteCommand _savepoint;
    private readonly SqliteCommand _releaseSavepoint;
    private readonly SqliteCommand _rollbackToSavepoint;

    private readonly SqliteCommand _insertItem;
    private readonly SqliteParameter _insertQueue, _insertNotBefore, _insertCreatedAt, _insertEnvelope;
    private readonly SqliteCommand _insertBody;
    private readonly SqliteParameter _insertBodyId, _insertBodyBytes;
    private readonly SqliteCommand _insertEmptyBody;
    private readonly SqliteParameter _insertEmptyBodyId, _insertEmptyBodyLength;

    private readonly SqliteCommand _selectDue;
    private readonly SqliteParameter _dueQueue, _dueNow, _dueMax;
    private readonly SqliteCommand _markLeased;
    private readonly SqliteParameter _markId, _markToken, _markUntil;

    private readonly SqliteCommand _renew;
    private readonly SqliteParameter _renewId, _renewToken, _renewUntil;
    private readonly SqliteCommand _leaseHeld;
    private readonly SqliteParameter _leaseHeldId, _leaseHeldToken;
    private readonly SqliteCommand _deleteLeased;
    private readonly SqliteParameter _deleteLeasedId, _deleteLeasedToken;
    private readonly SqliteCommand _deleteBody;
    private readonly SqliteParameter _deleteBodyId;
    private readonly SqliteCommand _deleteBase;
    private readonly SqliteParameter _deleteBaseId;
    private readonly SqliteCommand _selectBase;
    private readonly SqliteParameter _selectBaseId;
    private readonly SqliteCommand _insertForwardBody;
    private readonly SqliteParameter _forwardId, _forwardPrefix, _forwardBase, _forwardOffset;
    private readonly SqliteCommand _retry;
    private readonly SqliteParameter _retryId, _retryToken, _retryNotBefore, _retryEnvelope;
    private readonly SqliteCommand _release;
    private readonly SqliteParameter _releaseId, _releaseToken, _releaseNow;
    private readonly SqliteCommand _deadLetter;
    private readonly SqliteCommand _revive, _reviveBodies, _reviveDelete;
    private readonly SqliteParameter _reviveQueue, _reviveMax, _reviveNow, _reviveBodiesQueue, _reviveDeleteQueue;
    private readonly SqliteParameter _deadId, _deadToken, _deadReason, _deadNow;

    public SpoolWriter(SqliteConnection connection)
    {
        _connection = connection;

        // Prepared once: the committer switches between the two every round that has both leases and writes.
        _synchronousFull = Command("PRAGMA synchronous = FULL");
        _synchronousNormal = Command("PRAGMA synchronous = NORMAL");
        _begin = Command("BEGIN IMMEDIATE");
        _commit = Command("COMMIT");
        _rollback = Command("ROLLBACK");
        _savepoint = Command("SAVEPOINT caller");
        _releaseSavepoint = Command("RELEASE caller");
        _rollbackToSavepoint = Command("ROLLBACK TO caller; RELEASE caller");

        _insertItem = Command("""
            INSERT INTO items (queue, not_before, created_at, envelope)
            VALUES ($queue, $not_before, $created_at, $envelope)
            RETURNING id
            """);
        _insertQueue = SpoolSchema.Parameter(_insertItem, "$queue", SqliteType.Text);
        _insertNotBefore = SpoolSchema.Parameter(_insertItem, "$not_before", SqliteType.Integer);
        _insertCreatedAt = SpoolSchema.Parameter(_insertItem, "$created_at", SqliteType.Integer);
        _insertEnvelope = SpoolSchema.Parameter(_insertItem, "$envelope", SqliteType.Blob);

        _insertBody = Command("INSERT INTO bodies (id, body) VALUES ($id, $body)");
        _insertBodyId = SpoolSchema.Parameter(_insertBody, "$id", SqliteType.Integer);
        _insertBodyBytes = SpoolSchema.Parameter(_insertBody, "$body", SqliteType.Blob);

        _insertEmptyBody = Command("INSERT INTO bodies (id, body) VALUES ($id, zeroblob($length))");
        _insertEmptyBodyId = SpoolSchema.Parameter(_insertEmptyBody, "$id", SqliteType.Integer);
        _insertEmptyBodyLength = SpoolSchema.Parameter(_insertEmptyBody, "$length", SqliteType.Integer);

        // The body's size comes from the record headers (length() reads no overflow page); a forwarded body
        // is its own bytes plus its base's from the offset on.
        _selectDue = Command("""
            SELECT i.id, i.envelope, i.attempts, i.created_at,
                   (SELECT length(b.body) + coalesce(length(base.body) - b.base_offset, 0)
                    FROM bodies AS b LEFT JOIN bodies AS base ON base.id = b.base WHERE b.id = i.id)
            FROM items AS i
            WHERE i.queue = $queue AND i.not_before <= $now
            ORDER BY i.not_before, i.id
            LIMIT $max
            """);
        _dueQueue = SpoolSchema.Parameter(_selectDue, "$queue", SqliteType.Text);
        _dueNow = SpoolSchema.Parameter(_selectDue, "$now", SqliteType.Integer);
        _dueMax = SpoolSchema.Parameter(_selectDue, "$max", SqliteType.Integer);

        _markLeased = Command("UPDATE items SET lease_token = $token, not_before = $until WHERE id = $id");
        _markId = SpoolSchema.Parameter(_markLeased, "$id", SqliteType.Integer);
        _markToken = SpoolSchema.Parameter(_markLeased, "$token", SqliteType.Integer);
        _markUntil = SpoolSchema.Parameter(_markLeased, "$until", SqliteType.Integer);

        _renew = Command("UPDATE items SET not_before = $until WHERE id = $id AND lease_token = $token");
        _renewId = SpoolSchema.Parameter(_renew, "$id", SqliteType.Integer);
        _renewToken = SpoolSchema.Parameter(_renew, "$token", SqliteType.Integer);
        _renewUntil = SpoolSchema.Parameter(_renew, "$until", SqliteType.Integer);

        _leaseHeld = Command("SELECT 1 FROM items WHERE id = $id AND lease_token = $token");
        _leaseHeldId = SpoolSchema.Parameter(_leaseHeld, "$id", SqliteType.Integer);
        _leaseHeldToken = SpoolSchema.Parameter(_leaseHeld, "$token", SqliteType.Integer);

        _deleteLeased = Command("DELETE FROM items WHERE id = $id AND lease_token = $token");
        _deleteLeasedId = SpoolSchema.Parameter(_deleteLeased, "$id", SqliteType.Integer);
        _deleteLeasedToken = SpoolSchema.Parameter(_deleteLeased, "$token", SqliteType.Integer);

        _deleteBody = Command("DELETE FROM bodies WHERE id = $id");
        _deleteBodyId = SpoolSchema.Parameter(_deleteBody, "$id", SqliteType.Integer);

        // Run before _deleteBody on the same id: a forwarded item's base goes with it.
        _deleteBase = Command("DELETE FROM bodies WHERE id = (SELECT base FROM bodies WHERE id = $id)");
        _deleteBaseId = SpoolSchema.Parameter(_deleteBase, "$id", SqliteType.Integer);

        _selectBase = Command("SELECT base IS NULL FROM bodies WHERE id = $id");
        _selectBaseId = SpoolSchema.Parameter(_selectBase, "$id", SqliteType.Integer);

        _insertForwardBody = Command("INSERT INTO bodies (id, body, base, base_offset) VALUES ($id, $prefix, $base, $offset)");
        _forwardId = SpoolSchema.Parameter(_insertForwardBody, "$id", SqliteType.Integer);
        _forwardPrefix = SpoolSchema.Parameter(_insertForwardBody, "$prefix", SqliteType.Blob);
        _forwardBase = SpoolSchema.Parameter(_insertForwardBody, "$base", SqliteType.Integer);
        _forwardOffset = SpoolSchema.Parameter(_insertForwardBody, "$offset", SqliteType.Integer);

        _retry = Command("""
            UPDATE items
            SET attempts = attempts + 1, not_before = $not_before, lease_token = NULL,
                envelope = coalesce($envelope, envelope)
            WHERE id = $id AND lease_token = $token
            """);
        _retryId = SpoolSchema.Parameter(_retry, "$id", SqliteType.Integer);
        _retryToken = SpoolSchema.Parameter(_retry, "$token", SqliteType.Integer);
        _retryNotBefore = SpoolSchema.Parameter(_retry, "$not_before", SqliteType.Integer);
        _retryEnvelope = SpoolSchema.Parameter(_retry, "$envelope", SqliteType.Blob);

        _release = Command("UPDATE items SET not_before = $now, lease_token = NULL WHERE id = $id AND lease_token = $token");
        _releaseId = SpoolSchema.Parameter(_release, "$id", SqliteType.Integer);
        _releaseToken = SpoolSchema.Parameter(_release, "$token", SqliteType.Integer);
        _releaseNow = SpoolSchema.Parameter(_release, "$now", SqliteType.Integer);

        _deadLetter = Command("""
            INSERT INTO dead_letters (id, queue, envelope, body, reason, attempts, created_at, failed_at)
            SELECT i.id, i.queue, i.envelope,
                   CASE WHEN b.base IS NULL THEN b.body ELSE CAST(b.body || substr(base.body, b.base_offset + 1) AS BLOB) END,
                   $reason, i.attempts, i.created_at, $now
            FROM items AS i LEFT JOIN bodies AS b ON b.id = i.id LEFT JOIN bodies AS base ON base.id = b.base
            WHERE i.id = $id AND i.lease_token = $token
            """);
        _deadId = SpoolSchema.Parameter(_deadLetter, "$id", SqliteType.Integer);
        _deadToken = SpoolSchema.Parameter(_deadLetter, "$token", SqliteType.Integer);
        _deadReason = SpoolSchema.Parameter(_deadLetter, "$reason", SqliteType.Text);
        _deadNow = SpoolSchema.Parameter(_deadLetter, "$now", SqliteType.Integer);

        // A dead letter keeps its id (AUTOINCREMENT never hands it out again), so the three steps find the revived
        // rows as the dead letters of the queue that are items again.
        _revive = Command("""
            INSERT INTO items (id, queue, not_before, attempts, created_at, envelope)
            SELECT id, queue, $now, 0, created_at, envelope FROM dead_letters WHERE queue = $queue ORDER BY id LIMIT $max
            """);
        _reviveQueue = SpoolSchema.Parameter(_revive, "$queue", SqliteType.Text);
        _reviveMax = SpoolSchema.Parameter(_revive, "$max", SqliteType.Integer);
        _reviveNow = SpoolSchema.Parameter(_revive, "$now", SqliteType.Integer);
        _reviveBodies = Command("""
            INSERT INTO bodies (id, body)
            SELECT d.id, coalesce(d.body, x'') FROM dead_letters AS d JOIN items AS i ON i.id = d.id WHERE d.queue = $queue
            """);
        _reviveBodiesQueue = SpoolSchema.Parameter(_reviveBodies, "$queue", SqliteType.Text);
        _reviveDelete = Command("""
            DELETE FROM dead_letters WHERE queue = $queue AND id IN (SELECT id FROM items WHERE queue = $queue)
            """);
        _reviveDeleteQueue = SpoolSchema.Parameter(_reviveDelete, "$queue", SqliteType.Text);
    }

    /// <summary>Puts up to <paramref name="max"/> of the oldest dead letters of <paramref name="queue"/> back on it,
    /// due now, attempts 0; returns how many. Inside the caller's transaction.</summary>
    public int Revive(string queue, int max, long nowMs)
    {
        _reviveQueue.Value = queue;
        _reviveMax.Value = max;
        _reviveNow.Value = nowMs;
        var revived = _revive.ExecuteNonQuery();
        _reviveBodiesQueue.Value = queue;
        _reviveBodies.ExecuteNonQuery();
        _reviveDeleteQueue.Value = queue;
        _reviveDelete.ExecuteNonQuery();
        return revived;
    }

    /// <summary>True while a transaction is open. SQLite rolls a whole transaction back by itself on some
    /// errors (I/O, disk full); then there is no savepoint left to return to.</summary>
    public bool InTransaction => raw.sqlite3_get_autocommit(_connection.Handle) == 0;

    /// <summary>Makes every leased item due now. Only for opening: the spool's lock file proves that the
    /// process which held those leases is gone, so waiting for them to expire would only delay mail.</summary>
    public int ReleaseAllLeases(long nowMs)
    {
        using var command = SpoolSchema.Prepare(_connection, "UPDATE items SET lease_token = NULL, not_before = $now WHERE lease_token IS NOT NULL");
        SpoolSchema.Parameter(command, "$now", SqliteType.Integer).Value = nowMs;
        return command.ExecuteNonQuery();
    }

    /// <summary>The highest lease token any item carries, so a reopened spool never hands out a live one again.</summary>
    public long MaxLeaseToken()
    {
        using var command = SpoolSchema.Prepare(_connection, "SELECT coalesce(max(lease_token), 0) FROM items");
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Starts a write transaction. Only durable transactions wait for the disk; leases need not
    /// (a lease lost in a crash only means the item is leased again), and in WAL mode a later durable
    /// commit syncs the earlier frames too, so ordering is kept.</summary>
    public void Begin(bool durable)
    {
        if (durable != _durable)
        {
            (durable ? _synchronousFull : _synchronousNormal).ExecuteNonQuery();
            _durable = durable;
        }

        _begin.ExecuteNonQuery();
    }

    public void Commit() => _commit.ExecuteNonQuery();

    /// <summary>Rolls back whatever is open; used on a failure path, so it never throws.</summary>
    public void RollbackQuietly()
    {
        try
        {
            if (InTransaction)
            {
                _rollback.ExecuteNonQuery();
            }
        }
        catch (SqliteException)
        {
            // The original failure is what the callers need to see; SQLite closes the transaction anyway.
        }
    }

    /// <summary>Whether <paramref name="item"/>'s lease is still held, as of this transaction's own changes.</summary>
    public bool HoldsLease(LeasedItem item)
    {
        _leaseHeldId.Value = item.Id;
        _leaseHeldToken.Value = item.LeaseToken;
        return _leaseHeld.ExecuteScalar() is not null;
    }

    public void Savepoint() => _savepoint.ExecuteNonQuery();

    public void ReleaseSavepoint() => _releaseSavepoint.ExecuteNonQuery();

    public void RollbackToSavepoint() => _rollbackToSavepoint.ExecuteNonQuery();

    public void Apply(QueueOperation operation, byte[]? envelope, long nowMs)
    {
        switch (operation)
        {
            case QueueOperation.Enqueue enqueue:
                Insert(enqueue.Queue, envelope!, enqueue.Item.Body, enqueue.NotBefore is { } due ? due.ToUnixTimeMilliseconds() : nowMs, nowMs);
                break;
            case QueueOperation.Complete complete:
                Delete(complete.Item);
                break;
            case QueueOperation.Retry retry:
                Retry(retry.Item, retry.NotBefore.ToUnixTimeMilliseconds(), envelope);
                break;
            case QueueOperation.Release release:
                Release(release.Item, nowMs);
                break;
            case QueueOperation.DeadLetter deadLetter:
                DeadLetter(deadLetter.Item, deadLetter.Reason, nowMs);
                break;
            case QueueOperation.Forward forward:
                Forward(forward, envelope!, nowMs);
                break;
            default:
                throw new NotSupportedException($"Unknown queue operation {operation.GetType().Name}.");
        }
    }

    /// <summary>Picks up to <paramref name="max"/> due items, oldest due first, and marks them leased.</summary>
    public void Lease(string queue, int max, long maxBytes, long nowMs, long untilMs, long token, List<LeasedRow> into)
    {
        _dueQueue.Value = queue;
        _dueNow.Value = nowMs;
        _dueMax.Value = max;
        using (var reader = _selectDue.ExecuteReader())
        {
            // Read everything first: updating not_before moves rows within the index being scanned.
            long bytes = 0;
            while (bytes < maxBytes && reader.Read())
            {
                into.Add(new LeasedRow(reader.GetInt64(0), reader.GetFieldValue<byte[]>(1), reader.GetInt32(2), reader.GetInt64(3)));
                bytes += reader.IsDBNull(4) ? 0 : reader.GetInt64(4);
            }
        }

        _markToken.Value = token;
        _markUntil.Value = untilMs;
        foreach (var row in into)
        {
            _markId.Value = row.Id;
            _markLeased.ExecuteNonQuery();
        }
    }

    /// <summary>Moves the expiry of <paramref name="item"/>'s lease to <paramref name="untilMs"/>; false when the lease is
    /// no longer held (the item was settled, or leased again under another token).</summary>
    public bool Renew(LeasedItem item, long untilMs)
    {
        _renewId.Value = item.Id;
        _renewToken.Value = item.LeaseToken;
        _renewUntil.Value = untilMs;
        return _renew.ExecuteNonQuery() == 1;
    }

    /// <summary>Test hook: values longer than <paramref name="bytes"/> fail with SQLITE_TOOBIG, an error no
    /// lease check can foresee.</summary>
    internal void LimitValueLength(int bytes) => raw.sqlite3_limit(_connection.Handle, raw.SQLITE_LIMIT_LENGTH, bytes);

    public void Checkpoint()
    {
        using var command = SpoolSchema.Prepare(_connection, "PRAGMA wal_checkpoint(TRUNCATE)");
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        foreach (var command in _commands)
        {
            command.Dispose();
        }

        _connection.Dispose();
    }

    private void Insert(string queue, byte[] envelope, ReadOnlyMemory<byte> body, long notBeforeMs, long nowMs)
    {
        var id = InsertItem(queue, envelope, notBeforeMs, nowMs);

        // Microsoft.Data.Sqlite binds only whole arrays. A body that is exactly one array is bound as it
        // is; any other memory is written straight from its span into a preallocated blob (no copy).
        if (MemoryMarshal.TryGetArray(body, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length)
        {
            _insertBodyId.Value = id;
            _insertBodyBytes.Value = segment.Array;
            _insertBody.ExecuteNonQuery();
            _insertBodyBytes.Value = null;
            return;
        }

        _insertEmptyBodyId.Value = id;
        _insertEmptyBodyLength.Value = body.Length;
        _insertEmptyBody.ExecuteNonQuery();
        if (body.IsEmpty)
        {
            return;
        }

        using var blob = new SqliteBlob(_connection, "bodies", "body", id);
        blob.Write(body.Span);
    }

    private long InsertItem(string queue, byte[] envelope, long notBeforeMs, long nowMs)
    {
        _insertQueue.Value = queue;
        _insertNotBefore.Value = notBeforeMs;
        _insertCreatedAt.Value = nowMs;
        _insertEnvelope.Value = envelope;
        return (long)_insertItem.ExecuteScalar()!;
    }

    private void Delete(LeasedItem item)
    {
        DeleteItemRow(item);
        DeleteBody(item.Id);
    }

    private void DeleteItemRow(LeasedItem item)
    {
        _deleteLeasedId.Value = item.Id;
        _deleteLeasedToken.Value = item.LeaseToken;
        if (_deleteLeased.ExecuteNonQuery() != 1)
        {
            throw LeaseLost(item);
        }
    }

    private void DeleteBody(long id)
    {
        _deleteBaseId.Value = id;
        _deleteBase.ExecuteNonQuery();
        _deleteBodyId.Value = id;
        _deleteBody.ExecuteNonQuery();
    }

    /// <summary>The source's item row goes, its body row stays as the new item's base: only the new bytes are
    /// written. A source that is itself forwarded is written out whole instead, so bases never chain.</summary>
    private void Forward(QueueOperation.Forward forward, byte[] envelope, long nowMs)
    {
        var source = forward.Source;
        DeleteItemRow(source);
        _selectBaseId.Value = source.Id;
        if (_selectBase.ExecuteScalar() is not long isPlain || isPlain == 0)
        {
            DeleteBody(source.Id);
            Insert(forward.Queue, envelope, forward.Body(), nowMs, nowMs);
            return;
        }

        var id = InsertItem(forward.Queue, envelope, nowMs, nowMs);
        _forwardId.Value = id;
        _forwardPrefix.Value = forward.Prefix.ToArray();
        _forwardBase.Value = source.Id;
        _forwardOffset.Value = forward.SourceOffset;
        _insertForwardBody.ExecuteNonQuery();
    }

    private void Retry(LeasedItem item, long notBeforeMs, byte[]? envelope)
    {
        _retryId.Value = item.Id;
        _retryToken.Value = item.LeaseToken;
        _retryNotBefore.Value = notBeforeMs;
        _retryEnvelope.Value = envelope is null ? DBNull.Value : envelope;
        if (_retry.ExecuteNonQuery() != 1)
        {
            throw LeaseLost(item);
        }
    }

    private void Release(LeasedItem item, long nowMs)
    {
        _releaseId.Value = item.Id;
        _releaseToken.Value = item.LeaseToken;
        _releaseNow.Value = nowMs;
        if (_release.ExecuteNonQuery() != 1)
        {
            throw LeaseLost(item);
        }
    }

    private void DeadLetter(LeasedItem item, string reason, long nowMs)
    {
        _deadId.Value = item.Id;
        _deadToken.Value = item.LeaseToken;
        _deadReason.Value = reason;
        _deadNow.Value = nowMs;
        if (_deadLetter.ExecuteNonQuery() != 1)
        {
            throw LeaseLost(item);
        }

        // The lease was checked above, in this same transaction.
        DeleteItemRow(item);
        DeleteBody(item.Id);
    }

    internal static LeaseLostException LeaseLost(LeasedItem item) =>
        new($"The lease on item {item.Id} of queue '{item.Queue}' (token {item.LeaseToken}) is no longer held.");

    private SqliteCommand Command(string sql)
    {
        var command = SpoolSchema.Prepare(_connection, sql);
        _commands.Add(command);
        return command;
    }
}
