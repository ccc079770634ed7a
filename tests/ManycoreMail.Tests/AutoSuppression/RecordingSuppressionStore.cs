using System.Collections.Concurrent;
using ManycoreMail.Suppression;

namespace ManycoreMail.Tests.AutoSuppression;

/// <summary>A suppression store in memory that records each <see cref="AddAsync"/> call, and fails every add while
/// <see cref="Failing"/> is set: what the automatic suppression code is checked against without a database.</summary>
internal sealed class RecordingSuppressionStore : ISuppressionStore
{
    private readonly ConcurrentDictionary<(string, SuppressionScope, string), SuppressionEntry> _entries = new();
    private readonly ConcurrentQueue<int> _batches = new();

    public bool Failing { get; set; }

    /// <summary>The sizes of the batches added, in order.</summary>
    public IReadOnlyList<int> Batches => [.. _batches];

    public IReadOnlyList<SuppressionEntry> Entries =>
        [.. _entries.Values.OrderBy(e => e.Email, StringComparer.Ordinal).ThenBy(e => e.Scope).ThenBy(e => e.Value, StringComparer.Ordinal)];

    public Task AddAsync(IReadOnlyList<SuppressionEntry> entries, CancellationToken cancellationToken)
    {
        if (Failing)
        {
            throw new InvalidOperationException("the store is down");
        }
        foreach (var entry in entries)
        {
            _entries[(entry.Email, entry.Scope, entry.Value)] = entry;
        }
        _batches.Enqueue(entries.Count);
        return Task.CompletedTask;
    }

    public Task<bool> RemoveAsync(string email, SuppressionScope scope, string? value, CancellationToken cancellationToken) =>
        Task.FromResult(_entries.TryRemove((SuppressionNames.NormalizeEmail(email), scope, SuppressionNames.NormalizeValue(scope, value)), out _));

    public Task<SuppressionPage> ListAsync(SuppressionQuery query, CancellationToken cancellationToken) =>
        Task.FromResult(new SuppressionPage(Entries.Where(e => query.Email is null || e.Email == SuppressionNames.NormalizeEmail(query.Email)).ToArray(), null));

    public Task<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>> FindAsync(IReadOnlyCollection<string> emails, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>>(Entries
            .Where(e => emails.Contains(e.Email) && e.IsActiveAt(now))
            .GroupBy(e => e.Email)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<SuppressionEntry>)g.ToArray()));

    public Task<long> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken) => Task.FromResult(0L);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
