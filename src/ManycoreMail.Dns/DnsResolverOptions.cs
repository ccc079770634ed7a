using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ManycoreMail.Dns;

public sealed record DnsResolverOptions
{
    public const int DefaultPort = 53;

    /// <summary>Name servers, tried in order.</summary>
    public required IReadOnlyList<IPEndPoint> Servers { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Attempts per server before giving up with <see cref="DnsStatus.TemporaryFailure"/>.</summary>
    public int Attempts { get; init; } = 2;

    /// <summary>Upper bound on cached TTLs; negative answers are cached per RFC 2308 (SOA minimum), capped here too.</summary>
    public TimeSpan MaxCacheTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Upper bound on cached answers per record type, so a flood of distinct names cannot grow memory
    /// without limit. When full, expired answers are dropped first, then everything. Zero turns caching off.</summary>
    public int MaxCacheEntries { get; init; } = 10_000;

    /// <summary>Reads name servers from a resolv.conf file ("nameserver" lines); falls back to 127.0.0.1.</summary>
    /// <remarks>Other keywords and comments ("#" or ";" lines) are ignored. A missing file means the local
    /// server, as for the C library. A nameserver line whose address cannot be read is an error rather than
    /// skipped: silently sending mail-routing queries elsewhere is worse than refusing to start.</remarks>
    /// <exception cref="FormatException">A nameserver line does not hold an IP address.</exception>
    public static DnsResolverOptions FromResolvConf(string path = "/etc/resolv.conf")
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            lines = [];
        }

        var servers = new List<IPEndPoint>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].AsSpan().Trim();
            if (line.IsEmpty || line[0] is '#' or ';')
            {
                continue;
            }

            var fields = line.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields[0] != "nameserver")
            {
                continue;
            }

            if (fields.Length < 2 || !TryParseAddress(fields[1], out var address))
            {
                throw new FormatException($"{path}:{i + 1}: nameserver '{(fields.Length < 2 ? "" : fields[1])}' is not an IP address.");
            }

            servers.Add(new IPEndPoint(address, DefaultPort));
        }

        if (servers.Count == 0)
        {
            servers.Add(new IPEndPoint(IPAddress.Loopback, DefaultPort));
        }

        return new DnsResolverOptions { Servers = servers };
    }

    /// <summary>Parses "host" or "host:port" or "[v6]:port" entries (port 53 by default).</summary>
    /// <remarks>Hosts are IP addresses: a name server named by a host name would need DNS to be found.</remarks>
    /// <exception cref="ArgumentException">No entries were given.</exception>
    /// <exception cref="FormatException">An entry is not an address with an optional port; the message names it.</exception>
    public static DnsResolverOptions FromServers(IEnumerable<string> servers)
    {
        ArgumentNullException.ThrowIfNull(servers);
        var endPoints = servers.Select(ParseServer).ToArray();
        if (endPoints.Length == 0)
        {
            throw new ArgumentException("At least one DNS server is needed.", nameof(servers));
        }

        return new DnsResolverOptions { Servers = endPoints };
    }

    /// <summary>Parses one "address", "address:port" or "[v6address]:port" entry.</summary>
    /// <exception cref="FormatException">The entry names it.</exception>
    public static IPEndPoint ParseServer(string entry)
    {
        var text = (entry ?? "").Trim();
        var address = (IPAddress?)null;
        var port = DefaultPort;
        var valid = text.Length > 0 && (text[0] == '[' ? TryParseBracketed(text, out address, out port) : TryParsePlain(text, out address, out port));
        if (!valid || address is null)
        {
            throw new FormatException($"DNS server '{entry}' is not an IP address with an optional port (\"10.0.0.1\", \"127.0.0.1:5354\", \"::1\", \"[::1]:53\").");
        }

        return new IPEndPoint(address, port);
    }

    private static bool TryParseBracketed(string text, out IPAddress? address, out int port)
    {
        address = null;
        port = DefaultPort;
        var close = text.IndexOf(']', StringComparison.Ordinal);
        if (close < 0 || !IPAddress.TryParse(text.AsSpan(1, close - 1), out address) || address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        var rest = text.AsSpan(close + 1);
        return rest.IsEmpty || (rest[0] == ':' && TryParsePort(rest[1..], out port));
    }

    private static bool TryParsePlain(string text, out IPAddress? address, out int port)
    {
        port = DefaultPort;
        if (TryParseAddress(text, out address))
        {
            return true;
        }

        // A single colon separates an IPv4 address from its port; several mean an IPv6 address, which needs brackets.
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || colon != text.LastIndexOf(':'))
        {
            return false;
        }

        return TryParseAddress(text.AsSpan(0, colon), out address)
            && address.AddressFamily == AddressFamily.InterNetwork
            && TryParsePort(text.AsSpan(colon + 1), out port);
    }

    /// <summary>IPAddress.TryParse also takes shorthand like "10" or "10.1" (inet_aton style); written as a
    /// name server that is a typo, so IPv4 must be dotted quad.</summary>
    private static bool TryParseAddress(ReadOnlySpan<char> text, [NotNullWhen(true)] out IPAddress? address) =>
        IPAddress.TryParse(text, out address)
        && (address.AddressFamily == AddressFamily.InterNetworkV6 || text.Count('.') == 3);

    private static bool TryParsePort(ReadOnlySpan<char> text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and <= IPEndPoint.MaxPort;
}
