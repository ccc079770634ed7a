using System.Collections.Concurrent;
using System.Text.Json;

namespace ManycoreMail.TransportSecurity.MtaSts;

/// <summary>A policy as cached: the record id it was fetched under and when it was fetched.</summary>
public sealed record CachedMtaStsPolicy(string Domain, string Id, DateTimeOffset FetchedAt, MtaStsPolicy Policy)
{
    public bool IsFresh(DateTimeOffset now) => FetchedAt + Policy.MaxAge > now;
}

/// <summary>Cached policies in memory and, when a directory is given, in one JSON file there, so a restart keeps
/// them (RFC 8461 §5: a cached policy is what stops a downgrade by an attacker who blocks the fetch).</summary>
/// <remarks>The file is rewritten whole through a temporary file and a rename: a crash leaves the old or the new one.</remarks>
public sealed class MtaStsPolicyStore
{
    private const string FileName = "mta-sts-policies.json";
    private readonly ConcurrentDictionary<string, CachedMtaStsPolicy> _policies = new(StringComparer.OrdinalIgnoreCase);
    private readonly string? _path;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    private sealed record Entry(string Domain, string Id, DateTimeOffset FetchedAt, string Text);

    public MtaStsPolicyStore(string? directory)
    {
        _path = directory is null ? null : Path.Combine(directory, FileName);
        if (_path is null || !File.Exists(_path))
        {
            return;
        }

        Entry[]? entries;
        try
        {
            entries = JsonSerializer.Deserialize<Entry[]>(File.ReadAllText(_path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{_path} is not a policy cache: {e.Message}", e);
        }

        foreach (var entry in entries ?? [])
        {
            try
            {
                _policies[entry.Domain] = new CachedMtaStsPolicy(entry.Domain, entry.Id, entry.FetchedAt, MtaStsPolicy.Parse(entry.Text));
            }
            catch (FormatException)
            {
                // Only valid policies were stored; one that no longer parses (a stricter parser) is fetched again.
            }
        }
    }

    public CachedMtaStsPolicy? Get(string domain) => _policies.GetValueOrDefault(domain);

    /// <summary>Every cached policy, expired ones included.</summary>
    public IReadOnlyList<CachedMtaStsPolicy> All => [.. _policies.Values];

    public async Task PutAsync(CachedMtaStsPolicy policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _policies[policy.Domain] = policy;
        if (_path is null)
        {
            return;
        }

        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var entries = _policies.Values.Select(p => new Entry(p.Domain, p.Id, p.FetchedAt, p.Policy.Text)).ToArray();
            var temporary = _path + ".tmp";
            await File.WriteAllTextAsync(temporary, JsonSerializer.Serialize(entries), cancellationToken).ConfigureAwait(false);
            File.Move(temporary, _path, overwrite: true);
        }
        finally
        {
            _writeLock.Release();
        }
    }
}
