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
    private readonly List<SpoolStatement> _statements = [];
    private bool _durable = true;

    private readonly SqliteCommand _synchronousFull;
    private readonly SqliteCommand _synchronousNormal;
    private readonly SqliteCommand _begin;
    private readonly SqliteCommand _commit;
    private readonly SqliteCommand _rollback;
    private readonly SqliteCommand _savepoint;
    private readonly SqliteCommand _releaseSavepoint;
    private readonly SqliteCommand _rollbackToSavepoint;

    // The statements every message passes (insert, lease, forward, settle) run through SQLite's own API
    // (SpoolStatement); the rare ones (dead letters, revival, opening) keep Microsoft.Data.Sqlite's commands.
    private readonly SpoolStatement _insertItem;
    private readonly int _insertQueue, _insertNotBefore, _insertCreatedAt, _insertEnvelope;
    private readonly SpoolStatement _insertBody;
    private readonly int _insertBodyId, _insertBodyBytes;

    private readonly SpoolStatement _selectDue;
    private readonly int _dueQueue, _dueNow, _dueMax;
    private readonly SpoolStatement _markLeased;
    private readonly int _markId, _markToken, _markUntil;

    private readonly SpoolStatement _renew;
    private readonly int _renewId, _renewToken, _renewUntil;
    private readonly SpoolStatement _leaseHeld;
    private readonly int _leaseHeldId, _leaseHeldToken;
    private readonly SpoolStatement _deleteLeased;
    private readonly int _deleteLeasedId, _deleteLeasedToken;
    private readonly SpoolStatement _deleteBody;
    private readonly int _deleteBodyId;
    private readonly SpoolStatement _deleteBase;
    private readonly int _deleteBaseId;
    private readonly SpoolStatement _selectBase;
    private readonly int _selectBaseId;
    private readonly SpoolStatement _insertForwardBody;
    private readonly int _forwardId, _forwardPrefix, _forwardBase, _forwardOffset;
    private readonly SpoolStatement _retry;
    private readonly int _retryId, _retryToken, _retryNotBefore, _retryEnvelope;
    private readonly SpoolStatement _release;
    private readonly int _releaseId, _releaseToken, _releaseNow;
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

        _insertItem = Statement("""
            INSERT INTO items (queue, not_before, created_at, envelope)
            VALUES ($queue, $not_before, $created_at, $envelope)
            RETURNING id
            """);
        _insertQueue = _insertItem.Parameter("$queue");
        _insertNotBefore = _insertItem.Parameter("$not_before");
        _insertCreatedAt = _insertItem.Parameter("$created_at");
        _insertEnvelope = _insertItem.Parameter("$envelope");

        _insertBody = Statement("INSERT INTO bodies (id, body) VALUES ($id, $body)");
        _insertBodyId = _insertBody.Parameter("$id");
        _insertBodyBytes = _insertBody.Parameter("$body");

        // The body's size comes from the record headers (length() reads no overflow page); a forwarded body
        // is its own bytes plus its base's from the offset on.
        _selectDue = Statement("""
            SELECT i.id, i.envelope, i.attempts, i.created_at,
                   (SELECT length(b.body) + coalesce(length(base.body) - b.base_offset, 0)
                    FROM bodies AS b LEFT JOIN bodies AS base ON base.id = b.base WHERE b.id = i.id)
            FROM items AS i
            WHERE i.queue = $queue AND i.not_before <= $now
            ORDER BY i.not_before, i.id
            LIMIT $max
            """);
        _dueQueue = _selectDue.Parameter("$queue");
        _dueNow = _selectDue.Parameter("$now");
        _dueMax = _selectDue.Parameter("$max");

        _markLeased = Statement("UPDATE items SET lease_token = $token, not_before = $until WHERE id = $id");
        _markId = _markLeased.Parameter("$id");
        _markToken = _markLeased.Parameter("$token");
        _markUntil = _markLeased.Parameter("$until");

        _renew = Statement("UPDATE items SET not_before = $until WHERE id = $id AND lease_token = $token");
        _renewId = _renew.Parameter("$id");
        _renewToken = _renew.Parameter("$token");
        _renewUntil = _renew.Parameter("$until");

        _leaseHeld = Statement("SELECT 1 FROM items WHERE id = $id AND lease_token = $token");
        _leaseHeldId = _leaseHeld.Parameter("$id");
        _leaseHeldToken = _leaseHeld.Parameter("$token");

        _deleteLeased = Statement("DELETE FROM items WHERE id = $id AND lease_token = $token");
        _deleteLeasedId = _deleteLeased.Parameter("$id");
        _deleteLeasedToken = _deleteLeased.Parameter("$token");

        _deleteBody = Statement("DELETE FROM bodies WHERE id = $id");
        _deleteBodyId = _deleteBody.Parameter("$id");

        // Run before _deleteBody on the same id: a forwarded item's base goes with it.
        _deleteBase = Statement("DELETE FROM bodies WHERE id = (SELECT base FROM bodies WHERE id = $id)");
        _deleteBaseId = _deleteBase.Parameter("$id");

        _selectBase = Statement("SELECT base IS NULL FROM bodies WHERE id = $id");
        _selectBaseId = _selectBase.Parameter("$id");

        _insertForwardBody = Statement("INSERT INTO bodies (id, body, base, base_offset) VALUES ($id, $prefix, $base, $offset)");
        _forwardId = _insertForwardBody.Parameter("$id");
        _forwardPrefix = _insertForwardBody.Parameter("$prefix");
        _forwardBase = _insertForwardBody.Parameter("$base");
        _forwardOffset = _insertForwardBody.Parameter("$offset");

        _retry = Statement("""
            UPDATE items
            SET attempts = attempts + 1, not_before = $not_before, lease_token = NULL,
                envelope = coalesce($envelope, envelope)
            WHERE id = $id AND lease_token = $token
            """);
        _retryId = _retry.Parameter("$id");
        _retryToken = _retry.Parameter("$token");
        _retryNotBefore = _retry.Parameter("$not_before");
        _retryEnvelope = _retry.Parameter("$envelope");

        _release = Statement("UPDATE items SET not_before = $now, lease_token = NULL WHERE id = $id AND lease_token = $token");
        _releaseId = _release.Parameter("$id");
        _releaseToken = _release.Parameter("$token");
        _releaseNow = _release.Parameter("$now");

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
        return _leaseHeld.Bind(_leaseHeldId, item.Id).Bind(_leaseHeldToken, item.LeaseToken).ScalarInt64() is not null;
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
        _selectDue.Bind(_dueQueue, queue).Bind(_dueNow, nowMs).Bind(_dueMax, max);
        try
        {
            // Read everything first: updating not_before moves rows within the index being scanned.
            long bytes = 0;
            while (bytes < maxBytes && _selectDue.Step())
            {
                into.Add(new LeasedRow(_selectDue.Int64(0), _selectDue.Blob(1).ToArray(), (int)_selectDue.Int64(2), _selectDue.Int64(3)));
                bytes += _selectDue.IsNull(4) ? 0 : _selectDue.Int64(4);
            }
        }
        finally
        {
            _selectDue.Reset();
        }

        foreach (var row in into)
        {
            _markLeased.Bind(_markId, row.Id).Bind(_markToken, token).Bind(_markUntil, untilMs).Execute();
        }
    }

    /// <summary>Moves the expiry of <paramref name="item"/>'s lease to <paramref name="untilMs"/>; false when the lease is
    /// no longer held (the item was settled, or leased again under another token).</summary>
    public bool Renew(LeasedItem item, long untilMs)
    {
        return _renew.Bind(_renewId, item.Id).Bind(_renewToken, item.LeaseToken).Bind(_renewUntil, untilMs).Execute() == 1;
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
        foreach (var statement in _statements)
        {
            statement.Dispose();
        }

        foreach (var command in _commands)
        {
            command.Dispose();
        }

        _connection.Dispose();
    }

    private void Insert(string queue, byte[] envelope, ReadOnlyMemory<byte> body, long notBeforeMs, long nowMs)
    {
        var id = InsertItem(queue, envelope, notBeforeMs, nowMs);
        // Bound straight from its span, whatever memory holds it.
        _insertBody.Bind(_insertBodyId, id).Bind(_insertBodyBytes, body.Span).Execute();
    }

    private long InsertItem(string queue, byte[] envelope, long notBeforeMs, long nowMs)
    {
        return _insertItem.Bind(_insertQueue, queue).Bind(_insertNotBefore, notBeforeMs).Bind(_insertCreatedAt, nowMs).Bind(_insertEnvelope, envelope)
            .ScalarInt64() ?? throw new InvalidOperationException("INSERT ... RETURNING id returned no row.");
    }

    private void Delete(LeasedItem item)
    {
        DeleteItemRow(item);
        DeleteBody(item.Id);
    }

    private void DeleteItemRow(LeasedItem item)
    {
        if (_deleteLeased.Bind(_deleteLeasedId, item.Id).Bind(_deleteLeasedToken, item.LeaseToken).Execute() != 1)
        {
            throw LeaseLost(item);
        }
    }

    private void DeleteBody(long id)
    {
        _deleteBase.Bind(_deleteBaseId, id).Execute();
        _deleteBody.Bind(_deleteBodyId, id).Execute();
    }

    /// <summary>The source's item row goes, its body row stays as the new item's base: only the new bytes are
    /// written. A source that is itself forwarded is written out whole instead, so bases never chain.</summary>
    private void Forward(QueueOperation.Forward forward, byte[] envelope, long nowMs)
    {
        var source = forward.Source;
        DeleteItemRow(source);
        if (_selectBase.Bind(_selectBaseId, source.Id).ScalarInt64() is not { } isPlain || isPlain == 0)
        {
            DeleteBody(source.Id);
            Insert(forward.Queue, envelope, forward.Body(), nowMs, nowMs);
            return;
        }

        var id = InsertItem(forward.Queue, envelope, nowMs, nowMs);
        _insertForwardBody.Bind(_forwardId, id).Bind(_forwardPrefix, forward.Prefix.Span).Bind(_forwardBase, source.Id)
            .Bind(_forwardOffset, forward.SourceOffset).Execute();
    }

    private void Retry(LeasedItem item, long notBeforeMs, byte[]? envelope)
    {
        _retry.Bind(_retryId, item.Id).Bind(_retryToken, item.LeaseToken).Bind(_retryNotBefore, notBeforeMs);
        if (envelope is null)
        {
            _retry.BindNull(_retryEnvelope);
        }
        else
        {
            _retry.Bind(_retryEnvelope, envelope);
        }
        if (_retry.Execute() != 1)
        {
            throw LeaseLost(item);
        }
    }

    private void Release(LeasedItem item, long nowMs)
    {
        if (_release.Bind(_releaseId, item.Id).Bind(_releaseToken, item.LeaseToken).Bind(_releaseNow, nowMs).Execute() != 1)
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

    private SpoolStatement Statement(string sql)
    {
        var statement = new SpoolStatement(_connection, sql);
        _statements.Add(statement);
        return statement;
    }

    private SqliteCommand Command(string sql)
    {
        var command = SpoolSchema.Prepare(_connection, sql);
        _commands.Add(command);
        return command;
    }
}
