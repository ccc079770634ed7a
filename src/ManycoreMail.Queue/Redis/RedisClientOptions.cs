using System.Net.Security;

namespace ManycoreMail.Queue.Redis;

/// <summary>Where and how to reach one Redis server.</summary>
public sealed record RedisClientOptions
{
    public string Host { get; init; } = "127.0.0.1";

    public int Port { get; init; } = 6379;

    /// <summary>ACL user (Redis 6+); null authenticates as "default" when a password is set.</summary>
    public string? Username { get; init; }

    public string? Password { get; init; }

    /// <summary>Logical database chosen with SELECT on every connection.</summary>
    public int Database { get; init; }

    /// <summary>Speak TLS (SslStream) to the server.</summary>
    public bool UseTls { get; init; }

    /// <summary>Name checked against the server certificate; <see cref="Host"/> when null.</summary>
    public string? TlsServerName { get; init; }

    /// <summary>Overrides certificate validation (for private CAs or tests); the platform's check when null.</summary>
    public RemoteCertificateValidationCallback? CertificateValidation { get; init; }

    /// <summary>Ask for RESP3 with HELLO 3; RESP2 otherwise. Both reply forms are understood.</summary>
    public bool Resp3 { get; init; }

    /// <summary>Client name shown by CLIENT LIST (set with HELLO/CLIENT SETNAME).</summary>
    public string? ClientName { get; init; } = "manycore-mail";

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest wait for one reply; a server that stays silent this long is taken for dead and the
    /// connection is dropped (every command in flight fails, the next one reconnects).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>First wait after a failed connect; doubles up to <see cref="MaxReconnectDelay"/>.
    /// While waiting, commands fail at once instead of piling up.</summary>
    public TimeSpan MinReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Connections that ordinary commands are spread over (see <see cref="RedisClient"/> for why more
    /// than one). Redis reads at most one large argument per connection per turn of its event loop, and with
    /// <c>appendfsync always</c> each turn that wrote ends with a disk sync: with 100 KB messages 8 connections took
    /// 1.6 to 1.75 turns per message, 32 took 1.2 to 1.4, so the host gives its queue store 32. Each connection
    /// costs the server a few kilobytes.</summary>
    public int SharedConnections { get; init; } = 8;

    /// <summary>Idle connections kept for blocking commands (one is busy per waiting command).</summary>
    public int MaxIdleBlockingConnections { get; init; } = 8;

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(Host, nameof(Host));
        ArgumentOutOfRangeException.ThrowIfLessThan(Port, 1, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Port, 65535, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfNegative(Database, nameof(Database));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(CommandTimeout, TimeSpan.Zero, nameof(CommandTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MinReconnectDelay, TimeSpan.Zero, nameof(MinReconnectDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReconnectDelay, MinReconnectDelay, nameof(MaxReconnectDelay));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxIdleBlockingConnections, nameof(MaxIdleBlockingConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(SharedConnections, 1, nameof(SharedConnections));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(SharedConnections, 64, nameof(SharedConnections));
        if (Username is not null && Password is null)
        {
            throw new ArgumentException("A Redis username needs a password.", nameof(Username));
        }
    }
}

/// <summary>The server answered with an error reply (the connection is fine).</summary>
public sealed class RedisServerException(string message) : QueueStoreException(message)
{
    /// <summary>
    /// The server refused the command without running it for a reason that passes by itself: it is still loading
    /// its data set after a restart (LOADING), a script is running (BUSY), a cluster slot is moving (TRYAGAIN) or a
    /// replica has lost its primary (MASTERDOWN). The same command may simply be sent again later.
    /// </summary>
    public override bool IsTransient => Message.StartsWith("LOADING", StringComparison.Ordinal)
        || Message.StartsWith("BUSY", StringComparison.Ordinal)
        || Message.StartsWith("TRYAGAIN", StringComparison.Ordinal)
        || Message.StartsWith("MASTERDOWN", StringComparison.Ordinal);
}

/// <summary>Redis could not be reached, or the connection broke while the command was in flight
/// (then it may or may not have been executed).</summary>
public sealed class RedisConnectionException : QueueUnavailableException
{
    public RedisConnectionException(string message) : base(message) { }

    public RedisConnectionException(string message, Exception? inner) : base(message, inner) { }
}
