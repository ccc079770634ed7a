using System.Net;

namespace ManycoreMail.Smtp.Internal;

internal enum SessionAdmission : byte
{
    Admitted,
    TooManySessions,
    TooManyFromClient,
}

/// <summary>Counts open sessions overall and per client address; one lock, held for a dictionary update.</summary>
internal sealed class SessionLimiter(int maxSessions, int maxPerClient)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<IPAddress, int> _perClient = [];
    private int _total;

    public SessionAdmission TryEnter(IPAddress client)
    {
        client = Normalize(client);
        lock (_gate)
        {
            if (_total >= maxSessions)
            {
                return SessionAdmission.TooManySessions;
            }

            _perClient.TryGetValue(client, out var count);
            if (count >= maxPerClient)
            {
                return SessionAdmission.TooManyFromClient;
            }

            _perClient[client] = count + 1;
            _total++;
            return SessionAdmission.Admitted;
        }
    }

    /// <summary>Undoes one admitted <see cref="TryEnter"/>.</summary>
    public void Leave(IPAddress client)
    {
        client = Normalize(client);
        lock (_gate)
        {
            _total--;
            if (_perClient.TryGetValue(client, out var count) && count > 1)
            {
                _perClient[client] = count - 1;
            }
            else
            {
                // Removing at zero keeps the dictionary as small as the set of connected clients.
                _perClient.Remove(client);
            }
        }
    }

    /// <summary>One client is one client whether it came over IPv4 or as an IPv4-mapped IPv6 address.</summary>
    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
