using System.Collections.Concurrent;

namespace ManycoreMail.Delivery;

/// <summary>Hosts whose TLS handshake failed recently: opportunistic delivery to them goes plain text for a
/// while instead of failing the handshake on every connection (Postfix's and KumoMTA's behaviour).</summary>
internal sealed class TlsMemory(TimeSpan remember, TimeProvider time)
{
    private const int MaxEntries = 10_000;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _brokenUntil = new(StringComparer.OrdinalIgnoreCase);

    public bool IsBroken(string host)
    {
        if (!_brokenUntil.TryGetValue(host, out var until))
        {
            return false;
        }
        if (until > time.GetUtcNow())
        {
            return true;
        }
        _brokenUntil.TryRemove(host, out _);
        return false;
    }

    public void MarkBroken(string host)
    {
        if (_brokenUntil.Count >= MaxEntries)
        {
            // Bounded: forgetting early only costs one failed handshake per host.
            _brokenUntil.Clear();
        }
        _brokenUntil[host] = time.GetUtcNow() + remember;
    }
}
