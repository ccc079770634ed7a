using System.Net;

namespace ManycoreMail.Smtp.Server;

/// <summary>Slows password guessing across connections: failed logins are counted per client, and a client
/// with too many is refused for a while without its credentials being checked at all.</summary>
public interface IAuthenticationThrottle
{
    /// <summary>Before credentials are checked: null when <paramref name="client"/> may try now, else how long
    /// it must still wait (its attempt is then refused unchecked).</summary>
    TimeSpan? CheckAttempt(IPAddress client);

    /// <summary>Credentials from <paramref name="client"/> were wrong.</summary>
    void RecordFailure(IPAddress client);
}
