using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;

namespace ManycoreMail.Queue.Redis;

/// <summary>
/// Commits the transactions of concurrent callers together: whatever has been submitted while the previous group
/// was on its way goes to Redis as one MULTI (the new bodies as plain RPUSHes, then one run of
/// <see cref="RedisQueueScripts.Commit"/> for all of them), as the embedded spool's group commit does with SQLite.
/// Each caller's transaction still stands or falls alone: the script checks every caller's leases apart, takes back
/// only the new bodies of a caller who lost one, and answers per caller.
/// </summary>
/// <remarks>
/// Under load a role commits for many messages at once (the receiver for every session, the sender for every
/// delivery), and each commit alone cost a MULTI, an EXEC and a script run with its fixed part (the script's text
/// hashed to find it, Lua set up, the replies read and written). A group pays those once: at 1,000 5 KB messages a
/// second about nine commits share one, and Redis' CPU per message fell by a sixth (bench/results/redis-group-commit.md).
/// With nothing else waiting a commit goes out at once, alone: grouping never holds one back to wait for others. A
/// commit carrying large bodies is never grouped (see <see cref="SoloBodyBytes"/>).
/// Two committers, not one: with one, 5 KB messages went slightly better and 100 KB ones 7% slower.
/// </remarks>
internal sealed class RedisCommitGroups : IAsyncDisposable
{
    // Two groups in flight: one is built and sent while Redis runs and syncs the other (see the remarks).
    private const int Committers = 2;
    private const int MaxCommitsPerGroup = 64;
    // A group stops growing past this many body bytes. Redis reads a connection 16 KB per turn of its event loop, so a
    // group of small bodies is read in a few turns while other connections are read beside it.
    private const long MaxBodyBytesPerGroup = 256 * 1024;
    // A commit with this many body bytes or more goes alone, at once, on a connection of its own: Redis reads one large
    // argument per connection per turn (and syncs the AOF at the end of each turn that wrote), so large bodies
    // spread over the connections are read side by side, where a group of them would be read one after the other
    // (measured at 100 KB: grouped, 15% fewer messages a second). Redis' own threshold for a large argument is 32 KB.
    internal const long SoloBodyBytes = 32 * 1024;

    private readonly RedisClient _client;
    private readonly TimeProvider _time;
    private readonly Func<string, byte[]> _readyList;
    private readonly byte[] _idsKey;
    private readonly byte[] _prefix;
    private readonly string _stagePrefix;
    // Marks a body being taken back; no message is this string (it names this store's stages).
    private readonly byte[] _takeBackMark;
    private readonly Channel<PendingCommit> _pending = Channel.CreateUnbounded<PendingCommit>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    private readonly Task[] _committers;
    private readonly ConcurrentDictionary<PendingCommit, byte> _alone = new(ReferenceEqualityComparer.Instance);
    private long _stageCounter;

    public RedisCommitGroups(RedisClient client, TimeProvider time, string keyPrefix, Func<string, byte[]> readyList)
    {
        _client = client;
        _time = time;
        _readyList = readyList;
        _idsKey = Encoding.UTF8.GetBytes(keyPrefix + "ids");
        _prefix = Encoding.UTF8.GetBytes(keyPrefix);
        // Names this store's commit stages apart from every other process's.
        _stagePrefix = $"{keyPrefix}stage:{Guid.NewGuid():N}:";
        _takeBackMark = Encoding.ASCII.GetBytes(_stagePrefix + "taken-back");
        _committers = new Task[Committers];
        for (var i = 0; i < _committers.Length; i++)
        {
            _committers[i] = Task.Run(CommitLoopAsync);
        }
    }

    /// <summary>Commits <paramref name="steps"/> in the next group. Not cancellable: once submitted, the outcome must be
    /// definite for the caller's bookkeeping.</summary>
    /// <exception cref="LeaseLostException">A lease of the transaction is no longer held; nothing of it was applied.</exception>
    public Task CommitAsync(IReadOnlyList<CommitStep> steps)
    {
        var commit = new PendingCommit(steps);
        if (commit.BodyBytes >= SoloBodyBytes)
        {
            return CommitAloneAsync(commit);
        }
        return _pending.Writer.TryWrite(commit) ? commit.Completion.Task : throw new ObjectDisposedException(nameof(RedisQueueStore));
    }

    private async Task CommitAloneAsync(PendingCommit commit)
    {
        _alone.TryAdd(commit, 0);
        try
        {
            await CommitGroupAsync([commit]).ConfigureAwait(false);
        }
        finally
        {
            _alone.TryRemove(commit, out _);
        }
        await commit.Completion.Task.ConfigureAwait(false);
    }

    /// <summary>Commits what was submitted before, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        await Task.WhenAll(_committers).ConfigureAwait(false);
        // Commits that went alone finish too; their callers see how, so a failure is not this method's to raise.
        await Task.WhenAll(_alone.Keys.Select(commit => commit.Completion.Task))
            .ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
    }

    /// <summary>The entries of the commit script. Redis lists hold whole bodies, so a forward is written as what it
    /// means: a new item (its body from the rewritten header block and the source's tail) and a complete.</summary>
    public static List<CommitStep> StepsOf(IReadOnlyList<QueueOperation> operations)
    {
        var steps = new List<CommitStep>(operations.Count + 1);
        foreach (var operation in operations)
        {
            switch (operation)
            {
                case QueueOperation.Enqueue enqueue:
                    steps.Add(new CommitStep(new NewItem(enqueue.Queue, enqueue.Item.Envelope, enqueue.NotBefore, enqueue.Item.Body, ReadOnlyMemory<byte>.Empty), null));
                    break;
                case QueueOperation.Forward forward:
                    steps.Add(new CommitStep(new NewItem(forward.Queue, forward.Envelope, null, forward.Prefix, forward.Source.Body[forward.SourceOffset..]), null));
                    steps.Add(new CommitStep(null, new QueueOperation.Complete(forward.Source)));
                    break;
                default:
                    steps.Add(new CommitStep(null, operation));
                    break;
            }
        }
        return steps;
    }

    private async Task CommitLoopAsync()
    {
        var reader = _pending.Reader;
        var group = new List<PendingCommit>(MaxCommitsPerGroup);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            long bytes = 0;
            while (group.Count < MaxCommitsPerGroup && bytes < MaxBodyBytesPerGroup && reader.TryRead(out var commit))
            {
                group.Add(commit);
                bytes += commit.BodyBytes;
            }
            if (group.Count > 0)
            {
                await CommitGroupAsync(group).ConfigureAwait(false);
                group.Clear();
            }
        }
    }

    /// <summary>Sends one group and settles each of its commits with its own outcome; never throws.</summary>
    private async Task CommitGroupAsync(List<PendingCommit> group)
    {
        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var pushes = 0;
        var operations = 0;
        var size = 256 + _takeBackMark.Length;
        foreach (var commit in group)
        {
            foreach (var step in commit.Steps)
            {
                pushes += step.Push is null ? 0 : 1;
                size += step.Push is null ? 128 : 512; // a body travels beside the script, not in it
            }
            operations += commit.Steps.Count;
        }

        var requests = new List<RespRequest>(4 + pushes);
        RespValue reply;
        try
        {
            // New bodies go to Redis as plain RPUSHes in the same MULTI as the script; a group without any is the
            // script alone.
            var stageOf = new byte[pushes][];
            if (pushes > 0)
            {
                requests.Add(RespRequest.Create(1).Add("MULTI"u8));
                var p = 0;
                foreach (var commit in group)
                {
                    foreach (var step in commit.Steps)
                    {
                        if (step.Push is { } push)
                        {
                            var stage = push.DueMs(nowMs) <= nowMs ? [] : NewStageKey();
                            stageOf[p++] = stage;
                            // A forwarded body goes from its two parts straight into the request, never joined first.
                            requests.Add(RespRequest.Create(3, push.Head.Length + push.Tail.Length + 64).Add("RPUSH"u8)
                                .Add(stage.Length == 0 ? _readyList(push.Queue) : stage).Add(push.Head.Span, push.Tail.Span));
                        }
                    }
                }
            }
            var keysAndArguments = 4 + group.Count + (RedisQueueScripts.CommitStride * operations);
            var script = pushes > 0
                ? RespRequest.Eval(RedisQueueScripts.Commit, keyCount: 1, keysAndArguments, size)
                : RespRequest.Script(RedisQueueScripts.Commit, keyCount: 1, keysAndArguments, size);
            requests.Add(script);
            script.Add(_idsKey).Add(_prefix).Add(nowMs).Add(_takeBackMark);
            var next = 0;
            foreach (var commit in group)
            {
                script.Add(commit.Steps.Count);
                foreach (var step in commit.Steps)
                {
                    if (step.Push is { } push)
                    {
                        AddPush(script, push, nowMs, stageOf[next++]);
                    }
                    else
                    {
                        AddSettle(script, step.Settle!, nowMs);
                    }
                }
            }
            var stages = stageOf.Where(stage => stage.Length > 0).ToArray();
            if (stages.Length > 0)
            {
                // Stages the script did not take (their commit lost a lease, or the script failed) go rather than linger.
                var drop = RespRequest.Create(1 + stages.Length).Add("DEL"u8);
                requests.Add(drop);
                foreach (var stage in stages)
                {
                    drop.Add(stage);
                }
            }
            if (pushes == 0)
            {
                reply = await _client.ExecuteAsync(script, CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                requests.Add(RespRequest.Create(1).Add("EXEC"u8));
                reply = RedisQueueStore.Executed(await _client.ExecuteAdjacentAsync(requests, CancellationToken.None).ConfigureAwait(false))[pushes];
            }
        }
        catch (Exception e)
        {
            foreach (var commit in group)
            {
                commit.Completion.TrySetException(e);
            }
            return;
        }
        finally
        {
            foreach (var request in requests)
            {
                request.Dispose();
            }
        }

        if (reply.IsError || reply.Count != group.Count)
        {
            var failure = new RedisServerException(reply.IsError ? reply.ToString() ?? "error" : $"The commit script answered {reply.Count} outcomes for {group.Count} transactions.");
            foreach (var commit in group)
            {
                commit.Completion.TrySetException(failure);
            }
            return;
        }
        for (var i = 0; i < group.Count; i++)
        {
            var outcome = reply[i];
            if (outcome.Type == RespType.Integer)
            {
                group[i].Completion.TrySetResult();
            }
            else
            {
                var message = outcome.ToString() ?? "error";
                group[i].Completion.TrySetException(message.StartsWith("LEASELOST ", StringComparison.Ordinal)
                    ? new LeaseLostException($"The lease on {message["LEASELOST ".Length..]} is no longer held; nothing was applied.")
                    : new RedisServerException(message));
            }
        }
    }

    private static void AddPush(RespRequest request, NewItem push, long nowMs, ReadOnlySpan<byte> stage)
    {
        Span<byte> digest = stackalloc byte[RedisBodyDigest.Length];
        request.Add("E"u8).Add(push.Queue).Add(""u8).Add(""u8).Add(push.DueMs(nowMs))
            .Add(RedisItemMeta.EncodeWithoutId(0, nowMs, push.Envelope)).Add(stage)
            .Add(digest[..RedisBodyDigest.Compute(push.Head.Span, push.Tail.Span, digest)]);
    }

    private static void AddSettle(RespRequest request, QueueOperation operation, long nowMs)
    {
        switch (operation)
        {
            case QueueOperation.Complete complete:
                AddSettle(request, "C"u8, complete.Item, nowMs, ""u8);
                break;
            case QueueOperation.Retry retry:
                var retried = new RedisItemMeta(retry.Item.Id, retry.Item.Attempts + 1, retry.Item.CreatedAt.ToUnixTimeMilliseconds(), retry.Envelope ?? retry.Item.Envelope);
                AddSettle(request, "R"u8, retry.Item, retry.NotBefore.ToUnixTimeMilliseconds(), retried.Encode());
                break;
            case QueueOperation.Release release:
                var released = new RedisItemMeta(release.Item.Id, release.Item.Attempts, release.Item.CreatedAt.ToUnixTimeMilliseconds(), release.Item.Envelope);
                AddSettle(request, "R"u8, release.Item, nowMs, released.Encode());
                break;
            case QueueOperation.DeadLetter dead:
                AddSettle(request, "D"u8, dead.Item, nowMs, Encoding.UTF8.GetBytes(dead.Reason ?? ""));
                break;
            default:
                throw new ArgumentException($"Unknown queue operation {operation.GetType().Name}.", nameof(operation));
        }
    }

    private static void AddSettle(RespRequest request, ReadOnlySpan<byte> kind, LeasedItem item, long dueMs, ReadOnlySpan<byte> payload) =>
        request.Add(kind).Add(item.Queue).Add(item.Id).Add(item.LeaseToken).Add(dueMs).Add(payload).Add(""u8).Add(""u8);

    private byte[] NewStageKey() =>
        Encoding.ASCII.GetBytes(_stagePrefix + Interlocked.Increment(ref _stageCounter).ToString(System.Globalization.CultureInfo.InvariantCulture));

    private sealed class PendingCommit(IReadOnlyList<CommitStep> steps)
    {
        public IReadOnlyList<CommitStep> Steps { get; } = steps;

        // Continuations run elsewhere: a committer must not run its callers' code before the next group.
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long BodyBytes { get; } = steps.Sum(step => step.Push is { } push ? (long)push.Head.Length + push.Tail.Length : 0);
    }
}

/// <summary>A new item of a commit: its body is <see cref="Head"/> followed by <see cref="Tail"/> (empty unless the item
/// is a forward's).</summary>
internal sealed record NewItem(string Queue, MessageEnvelope Envelope, DateTimeOffset? NotBefore, ReadOnlyMemory<byte> Head, ReadOnlyMemory<byte> Tail)
{
    public long DueMs(long nowMs) => NotBefore?.ToUnixTimeMilliseconds() ?? nowMs;
}

/// <summary>One entry of the commit script: a new item, or an operation that settles a leased one.</summary>
internal readonly record struct CommitStep(NewItem? Push, QueueOperation? Settle);
