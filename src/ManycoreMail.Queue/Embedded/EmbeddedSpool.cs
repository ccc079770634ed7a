namespace ManycoreMail.Queue.Embedded;

/// <summary>The durable local spool (one machine, one process).</summary>
/// <remarks>
/// One SQLite file in WAL mode. Every write goes through one committer that applies many callers'
/// transactions in one SQLite transaction and syncs once (synchronous = FULL): when
/// <see cref="EnqueueAsync"/> or <see cref="CommitAsync"/> completes, the change survives a crash.
/// Leases go through the same committer, so leasers never race, but without waiting for the disk:
/// a lease lost in a crash only means its item is leased again. A leased item's due time is its lease
/// expiry, so an expired lease is due again with no sweeper. Bodies stay on disk until leased.
/// A lock file keeps a second process (or a second instance) off the same spool.
/// </remarks>
public sealed class EmbeddedSpool : IQueueStore, IDeadLetterStore
{
    // Even without signals a waiter re-reads due times at least this often and at most this many
    // times per call; both only bound work, they never change what a caller sees.
    private const int MaxWaitRounds = 10_000;
    private static readonly TimeSpan LongestSleep = TimeSpan.FromDays(1);

    private readonly EmbeddedSpoolOptions _options;
    private readonly TimeProvider _time;
    private readonly FileStream _lockFile;
    private readonly SpoolWriter _writer;
    private readonly SpoolCommitter _committer;
    private readonly SpoolReaders _readers;
    private readonly QueueSignals _signals = new();
    private int _disposed;

    private EmbeddedSpool(EmbeddedSpoolOptions options, TimeProvider time, FileStream lockFile, SpoolWriter writer, string databasePath)
    {
        _options = options;
        _time = time;
        _lockFile = lockFile;
        _writer = writer;
        _readers = new SpoolReaders(SpoolSchema.ConnectionString(databasePath), options.MaxReaders);
        _committer = new SpoolCommitter(writer, time, _signals, options);
    }

    /// <summary>Full path of the SQLite file.</summary>
    public string DatabasePath => Path.Combine(_options.Path, SpoolSchema.DatabaseFileName);

    /// <summary>Group commits done since the spool was opened (each is one sync of the disk).</summary>
    public long GroupCommits => _committer.BatchesCommitted;

    internal SpoolCommitter Committer => _committer;

    /// <summary>Opens (or creates) the spool in <see cref="EmbeddedSpoolOptions.Path"/>. Everything
    /// acknowledged before a crash is there, and items a crashed process had leased are due at once
    /// (the exclusive lock proves nobody holds those leases any more).</summary>
    /// <exception cref="IOException">Another process or instance has the spool open.</exception>
    public static ValueTask<EmbeddedSpool> OpenAsync(EmbeddedSpoolOptions options, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentException.ThrowIfNullOrEmpty(options.Path, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.GroupCommitWindow, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.LeaseSweepInterval, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchTransactions, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchBytes, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxPendingWrites, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxReaders, 1, nameof(options));
        cancellationToken.ThrowIfCancellationRequested();

        Directory.CreateDirectory(options.Path);
        var lockFile = LockSpool(options.Path);
        SpoolWriter? writer = null;
        try
        {
            var databasePath = Path.Combine(options.Path, SpoolSchema.DatabaseFileName);
            writer = new SpoolWriter(SpoolSchema.OpenWriter(databasePath));
            writer.ReleaseAllLeases(timeProvider.GetUtcNow().ToUnixTimeMilliseconds());
            return ValueTask.FromResult(new EmbeddedSpool(options, timeProvider, lockFile, writer, databasePath));
        }
        catch
        {
            writer?.Dispose();
            lockFile.Dispose();
            throw;
        }
    }

    public async ValueTask EnqueueAsync(string queue, QueueItem item, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var work = WriteWork.ForEnqueue(queue, item, cancellationToken);
        await _committer.SubmitAsync(work, cancellationToken).ConfigureAwait(false);
        // Not cancellable from here on: the outcome is one batch away and must be definite.
        await work.Completion.ConfigureAwait(false);
    }

    public ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, TimeSpan leaseFor, CancellationToken cancellationToken) =>
        LeaseAsync(queue, max, long.MaxValue, leaseFor, cancellationToken);

    public async ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, long maxBytes, TimeSpan leaseFor, CancellationToken cancellationToken)
    {
        WriteWork.ValidateQueueName(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(leaseFor, TimeSpan.Zero);
        ThrowIfDisposed();

        var work = new LeaseWork(queue, max, maxBytes, leaseFor, cancellationToken);
        await _committer.SubmitAsync(work, cancellationToken).ConfigureAwait(false);
        var grant = await work.Completion.ConfigureAwait(false);
        if (grant.Rows.Length == 0)
        {
            return [];
        }

        // The items are leased now; reading their bodies is not abandoned halfway on cancellation.
        var expiresAt = DateTimeOffset.FromUnixTimeMilliseconds(grant.ExpiresAtMs);
        var items = new List<LeasedItem>(grant.Rows.Length);
        byte[]?[] bodies;
        using (var rental = await _readers.RentAsync(CancellationToken.None).ConfigureAwait(false))
        {
            bodies = rental.Reader.Bodies(grant.Rows);
        }
        for (var i = 0; i < bodies.Length; i++)
        {
            // A missing body means someone settled the item since: this lease is lost already.
            if (bodies[i] is not { } body)
            {
                continue;
            }
            var row = grant.Rows[i];

            items.Add(new LeasedItem
            {
                Id = row.Id,
                Queue = queue,
                Envelope = EnvelopeCodec.Decode(row.Envelope),
                Body = body,
                Attempts = row.Attempts,
                CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAtMs),
                LeaseToken = grant.Token,
                LeaseExpiresAt = expiresAt,
            });
        }

        return items;
    }

    public async ValueTask<IReadOnlyList<LeasedItem>> RenewAsync(IReadOnlyList<LeasedItem> items, TimeSpan leaseFor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(leaseFor, TimeSpan.Zero);
        ThrowIfDisposed();
        if (items.Count == 0)
        {
            return [];
        }

        var work = new RenewWork(items, leaseFor, cancellationToken);
        await _committer.SubmitAsync(work, cancellationToken).ConfigureAwait(false);
        return await work.Completion.ConfigureAwait(false);
    }

    public async ValueTask WaitForItemsAsync(string queue, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        WriteWork.ValidateQueueName(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWait, TimeSpan.Zero);
        ThrowIfDisposed();

        var start = _time.GetUtcNow();
        var deadline = maxWait >= DateTimeOffset.MaxValue - start ? DateTimeOffset.MaxValue : start + maxWait;
        for (var round = 0; round < MaxWaitRounds; round++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Volatile.Read(ref _disposed) != 0)
            {
                return;
            }

            // Take the pulse before reading: a commit landing after the read completes it.
            var pulse = _signals.NextPulse(queue);
            long? earliestDueMs;
            using (var rental = await _readers.RentAsync(cancellationToken).ConfigureAwait(false))
            {
                earliestDueMs = rental.Reader.EarliestDueMs(queue);
            }

            var now = _time.GetUtcNow();
            if (DueTime.NextWake(earliestDueMs, now, deadline) is not { } wakeAt)
            {
                return;
            }

            var sleep = Max(TimeSpan.Zero, Min(wakeAt - now, Min(_options.LeaseSweepInterval, LongestSleep)));
            // The pulse, the sleep or the caller's token ends the wait: one timer and one registration, no linked
            // token source, no second task, nothing thrown (a role waits like this every time its queue runs dry,
            // which under load is every few messages). A cancelled token throws at the top of the next round.
            var waited = pulse.WaitAsync(sleep, _time, cancellationToken);
            await waited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _ = waited.Exception; // the sleep's TimeoutException, seen here so that it is never reported as unobserved
        }
    }

    public async ValueTask CommitAsync(QueueTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ThrowIfDisposed();
        if (transaction.IsEmpty)
        {
            return;
        }

        var work = WriteWork.ForTransaction(transaction, cancellationToken);
        await _committer.SubmitAsync(work, cancellationToken).ConfigureAwait(false);
        await work.Completion.ConfigureAwait(false);
    }

    public async ValueTask<long> CountAsync(string queue, CancellationToken cancellationToken)
    {
        WriteWork.ValidateQueueName(queue);
        ThrowIfDisposed();
        using var rental = await _readers.RentAsync(cancellationToken).ConfigureAwait(false);
        return rental.Reader.Count(queue);
    }

    /// <summary>Items a worker could lease now: due, and not leased. Retries waiting for their time and items being
    /// worked on are not counted (<see cref="CountAsync"/> counts every item).</summary>
    public async ValueTask<long> ReadyCountAsync(string queue, CancellationToken cancellationToken)
    {
        WriteWork.ValidateQueueName(queue);
        ThrowIfDisposed();
        using var rental = await _readers.RentAsync(cancellationToken).ConfigureAwait(false);
        return rental.Reader.ReadyCount(queue, _time.GetUtcNow().ToUnixTimeMilliseconds());
    }

    public async ValueTask<IReadOnlyList<DeadLetteredItem>> ReadDeadLettersAsync(string queue, int max, CancellationToken cancellationToken)
    {
        WriteWork.ValidateQueueName(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ThrowIfDisposed();
        using var rental = await _readers.RentAsync(cancellationToken).ConfigureAwait(false);
        return rental.Reader.DeadLetters(queue, max);
    }

    /// <summary>Items dead-lettered from <paramref name="queue"/> of the spool in <paramref name="directory"/>, read
    /// without opening the spool: a read-only SQLite reader, which WAL mode lets run beside the process that holds
    /// the spool (its lock keeps out only a second writer).</summary>
    /// <exception cref="FileNotFoundException">There is no spool in <paramref name="directory"/>.</exception>
    public static IReadOnlyList<DeadLetteredItem> ReadDeadLettersBeside(string directory, string queue, int max)
    {
        WriteWork.ValidateQueueName(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var databasePath = Path.Combine(directory, SpoolSchema.DatabaseFileName);
        if (!File.Exists(databasePath))
        {
            throw new FileNotFoundException($"There is no spool in {directory}.", databasePath);
        }
        using var reader = new SpoolReader(SpoolSchema.OpenReader(SpoolSchema.ConnectionString(databasePath, readOnly: true)));
        return reader.DeadLetters(queue, max);
    }

    public async ValueTask<int> ReplayDeadLettersAsync(string queue, int max, CancellationToken cancellationToken)
    {
        WriteWork.ValidateQueueName(queue);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ThrowIfDisposed();
        var work = new ReviveWork(queue, max, cancellationToken);
        await _committer.SubmitAsync(work, cancellationToken).ConfigureAwait(false);
        return await work.Completion.ConfigureAwait(false);
    }

    /// <summary>Finishes every write already handed over, wakes waiters, checkpoints the log and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await _committer.StopAsync().ConfigureAwait(false);
            _signals.PulseAll();
            _readers.Dispose();
            try
            {
                // Folds the log into the database so the next open starts with a short WAL; if it fails
                // the log is still complete and is replayed on open.
                _writer.Checkpoint();
            }
            catch (Microsoft.Data.Sqlite.SqliteException)
            {
            }
        }
        finally
        {
            _writer.Dispose();
            await _lockFile.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static FileStream LockSpool(string directory)
    {
        var path = Path.Combine(directory, SpoolSchema.LockFileName);
        try
        {
            // FileShare.None takes an exclusive lock (flock on Unix) held for the spool's lifetime.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException error)
        {
            throw new IOException($"The spool in {directory} is in use by another process or instance.", error);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
