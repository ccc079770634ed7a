using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Queue.Embedded;

/// <summary>
/// The single writer. Every change to the spool is handed to one loop that takes whatever has piled up,
/// applies it in one SQLite transaction and syncs once (group commit). Each caller's part is all or nothing:
/// its leases are checked before any of it is applied, and an unforeseen failure replays the batch with a
/// savepoint per caller.
/// While one batch waits for the disk the next one gathers, so under load thousands of callers share
/// a sync, and a lone caller waits about one sync.
/// </summary>
internal sealed class SpoolCommitter
{
    private readonly SpoolWriter _writer;
    private readonly TimeProvider _time;
    private readonly QueueSignals _signals;
    private readonly EmbeddedSpoolOptions _options;
    private readonly Channel<SpoolWork> _pending;
    private readonly List<WriteWork> _writes = [];
    private readonly List<LeaseWork> _leases = [];
    private readonly List<ReviveWork> _revivals = [];
    private readonly List<RenewWork> _renewals = [];
    // Rows picked by one lease, reused: most leases of a busy role take a few rows or none, and a list sized for the
    // lease's maximum per call cost more than the rows themselves. Only the committer's loop touches it.
    private readonly List<LeasedRow> _leaseRows = new(64);
    private readonly HashSet<string> _touchedQueues = new(StringComparer.Ordinal);
    private readonly HashSet<long> _settledInWork = [];
    private readonly Task _loop;
    private long _lastLeaseToken;
    private int _previousBatchSize;
    private long _batchesCommitted;
    private TaskCompletionSource? _hold;

    public SpoolCommitter(SpoolWriter writer, TimeProvider time, QueueSignals signals, EmbeddedSpoolOptions options)
    {
        _writer = writer;
        _time = time;
        _signals = signals;
        _options = options;

        // Tokens must never repeat for the same item, including across restarts of the process while a
        // stale holder could still exist; so start above both what is on disk and the real clock in µs.
        // (The real clock on purpose: this is about uniqueness, not about queue time.)
        _lastLeaseToken = Math.Max(writer.MaxLeaseToken(), TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() * 1000);

        _pending = Channel.CreateBounded<SpoolWork>(new BoundedChannelOptions(options.MaxPendingWrites)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Group commits done so far (for tests and metrics).</summary>
    public long BatchesCommitted => Interlocked.Read(ref _batchesCommitted);

    public async ValueTask SubmitAsync(SpoolWork work, CancellationToken cancellationToken)
    {
        try
        {
            await _pending.Writer.WriteAsync(work, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException closed)
        {
            if (closed.InnerException is { } fault)
            {
                throw new InvalidOperationException("The spool's committer has failed.", fault);
            }

            throw new ObjectDisposedException(nameof(EmbeddedSpool));
        }
    }

    /// <summary>Stops taking work, finishes everything already handed over, then returns.</summary>
    public Task StopAsync()
    {
        _pending.Writer.TryComplete();
        return _loop;
    }

    /// <summary>Test hook: the committer stops before its next batch until the returned handle is disposed,
    /// so that a test can make many callers land in one group commit.</summary>
    internal IDisposable HoldCommits()
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _hold, hold);
        return new HoldRelease(this, hold);
    }

    /// <summary>Test hook, see <see cref="SpoolWriter.LimitValueLength"/>; call only while commits are held.</summary>
    internal void LimitValueLength(int bytes) => _writer.LimitValueLength(bytes);

    private async Task RunAsync()
    {
        var reader = _pending.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                if (Volatile.Read(ref _hold) is { } hold)
                {
                    await hold.Task.ConfigureAwait(false);
                }

                long bodyBytes = 0;
                Drain(reader, ref bodyBytes);
                RunLeases();

                if (ShouldGatherMore(bodyBytes))
                {
                    bodyBytes = await GatherMoreAsync(reader, bodyBytes).ConfigureAwait(false);
                    RunLeases();
                }

                RunWrites();
                RunRevivals();
            }
        }
        catch (Exception fault)
        {
            // A bug, not a database error (those fail only their batch). Nobody may wait forever.
            _pending.Writer.TryComplete(fault);
            FailAll(fault);
            while (reader.TryRead(out var work))
            {
                work.Fail(fault);
            }
        }
    }

    private void Drain(ChannelReader<SpoolWork> reader, ref long bodyBytes)
    {
        // Bounded by the batch limits and by the channel's capacity (leases do not count toward the former).
        while (_writes.Count < _options.MaxBatchTransactions && bodyBytes < _options.MaxBatchBytes && reader.TryRead(out var work))
        {
            switch (work)
            {
                case WriteWork write:
                    _writes.Add(write);
                    bodyBytes += write.BodyBytes;
                    break;
                case LeaseWork lease:
                    _leases.Add(lease);
                    break;
                case ReviveWork revive:
                    _revivals.Add(revive);
                    break;
                case RenewWork renewal:
                    _renewals.Add(renewal);
                    break;
            }
        }
    }

    /// <summary>Waiting only pays when writers are on their way: the last batch was bigger than this one,
    /// so its callers are probably about to submit again. A lone writer therefore never waits.</summary>
    private bool ShouldGatherMore(long bodyBytes) =>
        _options.GroupCommitWindow > TimeSpan.Zero
        && _writes.Count > 0
        && _writes.Count < _previousBatchSize
        && _writes.Count < _options.MaxBatchTransactions
        && bodyBytes < _options.MaxBatchBytes;

    private async Task<long> GatherMoreAsync(ChannelReader<SpoolWork> reader, long bodyBytes)
    {
        var started = Stopwatch.GetTimestamp();
        using var timeout = new CancellationTokenSource();
        // Each round either takes new work or ends the wait; the window bounds the rounds.
        while (_writes.Count < _previousBatchSize && _writes.Count < _options.MaxBatchTransactions && bodyBytes < _options.MaxBatchBytes)
        {
            var remaining = _options.GroupCommitWindow - Stopwatch.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            var ready = reader.WaitToReadAsync();
            bool more;
            if (ready.IsCompleted)
            {
                more = ready.Result;
            }
            else
            {
                var readyTask = ready.AsTask();
                var delay = Task.Delay(remaining, timeout.Token);
                if (await Task.WhenAny(readyTask, delay).ConfigureAwait(false) != readyTask)
                {
                    break;
                }

                more = readyTask.Result;
            }

            if (!more)
            {
                break;
            }

            Drain(reader, ref bodyBytes);
        }

        await timeout.CancelAsync().ConfigureAwait(false);
        return bodyBytes;
    }

    /// <summary>Leases and renewals, in one transaction that does not wait for the disk: a crash ends every lease anyway.</summary>
    private void RunLeases()
    {
        if (_leases.Count == 0 && _renewals.Count == 0)
        {
            return;
        }

        Exception? batchError = null;
        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        try
        {
            _writer.Begin(durable: false);
            foreach (var lease in _leases)
            {
                if (lease.CancellationToken.IsCancellationRequested)
                {
                    lease.Error = new OperationCanceledException(lease.CancellationToken);
                    continue;
                }

                var token = ++_lastLeaseToken;
                var untilMs = LeaseExpiry(nowMs, lease.LeaseFor);
                _leaseRows.Clear();
                _writer.Lease(lease.Queue, lease.Max, lease.MaxBytes, nowMs, untilMs, token, _leaseRows);
                lease.Answer = new LeaseGrant(_leaseRows.Count == 0 ? [] : _leaseRows.ToArray(), token, untilMs);
            }

            foreach (var renewal in _renewals)
            {
                if (renewal.CancellationToken.IsCancellationRequested)
                {
                    renewal.Error = new OperationCanceledException(renewal.CancellationToken);
                    continue;
                }

                var untilMs = LeaseExpiry(nowMs, renewal.LeaseFor);
                renewal.Answer = renewal.Items.Where(item => !_writer.Renew(item, untilMs)).ToList();
            }

            _writer.Commit();
        }
        catch (Exception error)
        {
            batchError = error;
            _writer.RollbackQuietly();
        }

        foreach (var lease in _leases)
        {
            lease.Finish(batchError);
        }

        foreach (var renewal in _renewals)
        {
            renewal.Finish(batchError);
        }

        _leases.Clear();
        _renewals.Clear();
    }

    /// <summary>Operators' replays of dead letters: rare, so each is a durable transaction of its own.</summary>
    private void RunRevivals()
    {
        foreach (var revive in _revivals)
        {
            if (revive.CancellationToken.IsCancellationRequested)
            {
                revive.Fail(new OperationCanceledException(revive.CancellationToken));
                continue;
            }
            try
            {
                _writer.Begin(durable: true);
                var revived = _writer.Revive(revive.Queue, revive.Max, _time.GetUtcNow().ToUnixTimeMilliseconds());
                _writer.Commit();
                revive.Finish(revived);
                _signals.Pulse(revive.Queue);
            }
            catch (SqliteException error)
            {
                _writer.RollbackQuietly();
                revive.Fail(error);
            }
        }
        _revivals.Clear();
    }

    private void RunWrites()
    {
        if (_writes.Count == 0)
        {
            return;
        }

        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        // When something the checks did not foresee breaks the batch (a full disk, a body too big for SQLite), it
        // is rolled back and done again with each caller in its own savepoint, so that only the callers whose own
        // operations fail hear about it.
        var batchError = TryCommitChecked(nowMs) ? null : CommitIsolated(nowMs);

        foreach (var work in _writes)
        {
            work.Finish(batchError);
        }

        // Wake waiters only after the commit: what they then read is there.
        foreach (var queue in _touchedQueues)
        {
            _signals.Pulse(queue);
        }

        _previousBatchSize = _writes.Count;
        _writes.Clear();
        _touchedQueues.Clear();
    }

    /// <summary>The common case: every caller's leases are checked before any of its operations is applied, so
    /// no caller's part can fail halfway and nothing needs a savepoint. (A savepoint per caller made SQLite keep
    /// a copy of every page it touched, 16 KiB each, several per message: more bytes than the messages.)</summary>
    private bool TryCommitChecked(long nowMs)
    {
        try
        {
            _writer.Begin(durable: true);
            foreach (var work in _writes)
            {
                work.Error = null;
                if (work.CancellationToken.IsCancellationRequested)
                {
                    work.Error = new OperationCanceledException(work.CancellationToken);
                }
                else if (FirstLostLease(work) is { } lost)
                {
                    work.Error = SpoolWriter.LeaseLost(lost);
                }
                else
                {
                    ApplyAll(work, nowMs);
                }
            }

            _writer.Commit();
            Interlocked.Increment(ref _batchesCommitted);
            return true;
        }
        catch (Exception)
        {
            _writer.RollbackQuietly();
            _touchedQueues.Clear();
            return false;
        }
    }

    /// <summary>The item of the first settlement in <paramref name="work"/> whose lease is no longer held,
    /// counting items this same caller settles more than once.</summary>
    private LeasedItem? FirstLostLease(WriteWork work)
    {
        _settledInWork.Clear();
        foreach (var operation in work.Operations)
        {
            if (operation.Operation.SettledItem is { } item && (!_settledInWork.Add(item.Id) || !_writer.HoldsLease(item)))
            {
                return item;
            }
        }

        return null;
    }

    /// <summary>The fallback: each caller in its own savepoint. Returns the error that failed the whole batch, if any.</summary>
    private Exception? CommitIsolated(long nowMs)
    {
        try
        {
            _writer.Begin(durable: true);
            foreach (var work in _writes)
            {
                ApplyInSavepoint(work, nowMs);
            }

            _writer.Commit();
            Interlocked.Increment(ref _batchesCommitted);
            return null;
        }
        catch (Exception error)
        {
            // Nothing of this batch is on disk: every caller in it hears the failure, even those whose
            // own savepoint went well.
            _writer.RollbackQuietly();
            _touchedQueues.Clear();
            return error;
        }
    }

    private void ApplyInSavepoint(WriteWork work, long nowMs)
    {
        work.Error = null;
        if (work.CancellationToken.IsCancellationRequested)
        {
            work.Error = new OperationCanceledException(work.CancellationToken);
            return;
        }

        _writer.Savepoint();
        try
        {
            foreach (var operation in work.Operations)
            {
                _writer.Apply(operation.Operation, operation.Envelope, nowMs);
            }

            _writer.ReleaseSavepoint();
        }
        catch (Exception error) when (error is LeaseLostException || (error is SqliteException && _writer.InTransaction))
        {
            // Only this caller's operations are undone; the rest of the batch goes on.
            _writer.RollbackToSavepoint();
            work.Error = error;
            return;
        }

        NoteTouchedQueues(work);
    }

    private void ApplyAll(WriteWork work, long nowMs)
    {
        foreach (var operation in work.Operations)
        {
            _writer.Apply(operation.Operation, operation.Envelope, nowMs);
        }

        NoteTouchedQueues(work);
    }

    private void NoteTouchedQueues(WriteWork work)
    {
        foreach (var operation in work.Operations)
        {
            switch (operation.Operation)
            {
                case QueueOperation.Enqueue enqueue:
                    _touchedQueues.Add(enqueue.Queue);
                    break;
                case QueueOperation.Retry retry:
                    _touchedQueues.Add(retry.Item.Queue);
                    break;
                case QueueOperation.Release release:
                    _touchedQueues.Add(release.Item.Queue);
                    break;
                case QueueOperation.Forward forward:
                    _touchedQueues.Add(forward.Queue);
                    break;
            }
        }
    }

    private void FailAll(Exception fault)
    {
        foreach (var work in _writes)
        {
            work.Fail(fault);
        }

        foreach (var lease in _leases)
        {
            lease.Fail(fault);
        }

        foreach (var renewal in _renewals)
        {
            renewal.Fail(fault);
        }

        _writes.Clear();
        _leases.Clear();
        _renewals.Clear();
    }

    private static long LeaseExpiry(long nowMs, TimeSpan leaseFor)
    {
        var maxMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();
        var forMs = Math.Max(1, (long)Math.Ceiling(Math.Min(leaseFor.TotalMilliseconds, maxMs)));
        return forMs > maxMs - nowMs ? maxMs : nowMs + forMs;
    }

    private sealed class HoldRelease(SpoolCommitter committer, TaskCompletionSource hold) : IDisposable
    {
        public void Dispose()
        {
            Interlocked.CompareExchange(ref committer._hold, null, hold);
            hold.TrySetResult();
        }
    }
}
