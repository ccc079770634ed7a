using System.Collections.Concurrent;
using ManycoreMail.Dns.Wire;

namespace ManycoreMail.Dns.Transport;

/// <summary>Answers for one kind of record, kept for their TTL, with concurrent identical questions sharing one
/// lookup. Expiry is measured with the injected <see cref="TimeProvider"/>'s monotonic timestamps.</summary>
internal sealed class DnsRecordCache<T>(TimeProvider timeProvider, int capacity)
{
    private readonly ConcurrentDictionary<(string Name, DnsRecordType Type), Entry> _entries = new();
    private readonly ConcurrentDictionary<(string Name, DnsRecordType Type), Task<DnsResult<T>>> _inFlight = new();

    /// <summary>The cached answer, or the answer of a lookup that <paramref name="lookup"/> starts (or that another
    /// caller already started). The lookup runs to completion under <paramref name="lifetime"/>, not under one
    /// caller's token: others may be waiting for it. Each caller stops waiting when its own token fires.</summary>
    public ValueTask<DnsResult<T>> GetOrLookupAsync(
        string name,
        DnsRecordType type,
        Func<string, DnsRecordType, CancellationToken, Task<DnsAnswer<T>>> lookup,
        CancellationToken lifetime,
        CancellationToken cancellationToken)
    {
        var key = (name, type);
        if (TryGet(key, out var cached))
        {
            return ValueTask.FromResult(cached);
        }

        var started = new TaskCompletionSource<DnsResult<T>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var shared = _inFlight.GetOrAdd(key, started.Task);
        if (shared == started.Task)
        {
            _ = RunLookupAsync(key, started, lookup, lifetime);
        }

        return new ValueTask<DnsResult<T>>(shared.WaitAsync(cancellationToken));
    }

    internal int Count => _entries.Count;

    private async Task RunLookupAsync(
        (string Name, DnsRecordType Type) key,
        TaskCompletionSource<DnsResult<T>> completion,
        Func<string, DnsRecordType, CancellationToken, Task<DnsAnswer<T>>> lookup,
        CancellationToken lifetime)
    {
        try
        {
            var answer = await lookup(key.Name, key.Type, lifetime).ConfigureAwait(false);
            Store(key, answer);
            _inFlight.TryRemove(new(key, completion.Task));
            completion.TrySetResult(answer.Result);
        }
        catch (Exception e)
        {
            _inFlight.TryRemove(new(key, completion.Task));
            if (e is OperationCanceledException && lifetime.IsCancellationRequested)
            {
                completion.TrySetException(new ObjectDisposedException(nameof(DnsResolver)));
            }
            else
            {
                completion.TrySetException(e);
            }
        }
    }

    private bool TryGet((string Name, DnsRecordType Type) key, out DnsResult<T> result)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            if (!entry.IsExpired(timeProvider))
            {
                result = entry.Result;
                return true;
            }

            _entries.TryRemove(new(key, entry));
        }

        result = default;
        return false;
    }

    private void Store((string Name, DnsRecordType Type) key, DnsAnswer<T> answer)
    {
        if (answer.CacheFor <= TimeSpan.Zero || capacity <= 0)
        {
            return;
        }

        if (_entries.Count >= capacity)
        {
            Evict();
        }

        _entries[key] = new Entry(answer.Result, timeProvider.GetTimestamp(), answer.CacheFor);
    }

    /// <summary>Drops what has expired; when that frees too little, drops everything, so the next sweep is at least
    /// a full cache's worth of stores away and the cost per store stays constant.</summary>
    private void Evict()
    {
        foreach (var (key, entry) in _entries)
        {
            if (entry.IsExpired(timeProvider))
            {
                _entries.TryRemove(new(key, entry));
            }
        }

        if (_entries.Count >= capacity * 9 / 10)
        {
            _entries.Clear();
        }
    }

    private sealed record Entry(DnsResult<T> Result, long StoredAt, TimeSpan Lifetime)
    {
        public bool IsExpired(TimeProvider timeProvider) => timeProvider.GetElapsedTime(StoredAt) >= Lifetime;
    }
}
