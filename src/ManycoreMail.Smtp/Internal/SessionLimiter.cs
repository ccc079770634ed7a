using System.Net;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Smtp.Internal;

internal enum SessionAdmission : byte
{
    Admitted,
    TooManySessions,
    TooManyFromClient,
}

/// <summary>Counts open sessions overall and per client (<see cref="ClientKey"/>: an IPv4 address or an IPv6
/// /64); one lock, held for a dictionary update.</summary>
internal sealed class SessionLimiter(int maxSessions, int maxPerClient)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<IPAddress, int> _perClient = [];
    private int _total;

    public SessionAdmission TryEnter(IPAddress client)
    {
        var key = ClientKey.Of(client);
        lock (_gate)
        {
            if (_total >= maxSessions)
            {
                return SessionAdmission.TooManySessions;
            }

            if (!TryAddClient(key))
            {
                return SessionAdmission.TooManyFromClient;
            }

            _total++;
            return SessionAdmission.Admitted;
        }
    }

    /// <summary>Moves an admitted session from the client it was counted under to another (the load balancer
    /// it came through, then the client its PROXY header named). The total is unchanged. When
    /// <paramref name="to"/> is at its limit the session stays counted under <paramref name="from"/>.</summary>
    public SessionAdmission TryMove(IPAddress from, IPAddress to)
    {
        var fromKey = ClientKey.Of(from);
        var toKey = ClientKey.Of(to);
        if (fromKey.Equals(toKey))
        {
            return SessionAdmission.Admitted;
        }

        lock (_gate)
        {
            if (!TryAddClient(toKey))
            {
                return SessionAdmission.TooManyFromClient;
            }

            RemoveClient(fromKey);
            return SessionAdmission.Admitted;
        }
    }

    /// <summary>Undoes one admitted <see cref="TryEnter"/> (for the client it is now counted under).</summary>
    public void Leave(IPAddress client)
    {
        var key = ClientKey.Of(client);
        lock (_gate)
        {
            _total--;
            RemoveClient(key);
        }
    }

    private bool TryAddClient(IPAddress key)
    {
        _perClient.TryGetValue(key, out var count);
        if (count >= maxPerClient)
        {
            return false;
        }

        _perClient[key] = count + 1;
        return true;
    }

    private void RemoveClient(IPAddress key)
    {
        if (_perClient.TryGetValue(key, out var count) && count > 1)
        {
            _perClient[key] = count - 1;
        }
        else
        {
            // Removing at zero keeps the dictionary as small as the set of connected clients.
            _perClient.Remove(key);
        }
    }
}
