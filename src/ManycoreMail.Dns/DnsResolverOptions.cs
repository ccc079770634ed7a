using System.Net;

namespace ManycoreMail.Dns;

public sealed record DnsResolverOptions
{
    /// <summary>Name servers, tried in order.</summary>
    public required IReadOnlyList<IPEndPoint> Servers { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Attempts per server before giving up with <see cref="DnsStatus.TemporaryFailure"/>.</summary>
    public int Attempts { get; init; } = 2;

    /// <summary>Upper bound on cached TTLs; negative answers are cached per RFC 2308 (SOA minimum), capped here too.</summary>
    public TimeSpan MaxCacheTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Reads name servers from a resolv.conf file ("nameserver" lines); falls back to 127.0.0.1.</summary>
    public static DnsResolverOptions FromResolvConf(string path = "/etc/resolv.conf") => throw new NotImplementedException();

    /// <summary>Parses "host" or "host:port" or "[v6]:port" entries (port 53 by default).</summary>
    public static DnsResolverOptions FromServers(IEnumerable<string> servers) => throw new NotImplementedException();
}
