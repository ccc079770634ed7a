using System.Net;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Ingress;

/// <summary>How <see cref="LoginThrottle"/> slows guessing down.</summary>
internal sealed record LoginThrottleOptions
{
    /// <summary>Failed logins a client may have before it is blocked.</summary>
    public int FreeFailures { get; init; } = 5;

    /// <summary>A client's failures are forgotten once it has had none this long (counted from the end of its
    /// last block).</summary>
    public TimeSpan Memory { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>The first block; each further failure doubles it, up to <see cref="MaxBlock"/>.</summary>
    public TimeSpan FirstBlock { get; init; } = TimeSpan.FromMinutes(1);

    public TimeSpan MaxBlock { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Clients remembered at once; past it the one whose last failure is oldest is forgotten.</summary>
    public int MaxClients { get; init; } = 10_000;
}

/// <summary>
/// Failed logins per client (an IPv4 address or an IPv6 /64, <see cref="ClientKey"/>), counted across
/// connections and shared by the SMTP and HTTP receivers. After <see cref="LoginThrottleOptions.FreeFailures"/>
/// a client is blocked, longer with every further failure, and a blocked client's attempts are refused without
/// their credentials being checked. One client's success or failure never touches another's count.
/// </summary>
/// <remarks>Logs carry the client address only: no user name (people type passwords into it) and no password.</remarks>
internal sealed class LoginThrottle(LoginThrottleOptions options, TimeProvider time, ILogger<LoginThrottle> logger) : IAuthenticationThrottle
{
    private readonly Lock _gate = new();
    private readonly Dictionary<IPAddress, LinkedListNode<Client>> _clients = [];
    /// <summary>Most recent failure first: the last node is the one to forget when full.</summary>
    private readonly LinkedList<Client> _byRecency = new();

    public TimeSpan? CheckAttempt(IPAddress client)
    {
        var key = ClientKey.Of(client);
        var now = time.GetUtcNow();
        TimeSpan wait;
        int failures;
        lock (_gate)
        {
            if (!_clients.TryGetValue(key, out var node) || node.Value.BlockedUntil <= now)
            {
                return null;
            }

            wait = node.Value.BlockedUntil - now;
            failures = node.Value.Failures;
        }

        logger.LogWarning("Login from {Client} refused unchecked: {Failures} failed logins from its network; blocked for {Seconds} s more",
            client, failures, Math.Ceiling(wait.TotalSeconds));
        return wait;
    }

    public void RecordFailure(IPAddress client)
    {
        var key = ClientKey.Of(client);
        var now = time.GetUtcNow();
        TimeSpan block;
        int failures;
        lock (_gate)
        {
            var entry = Touch(key);
            var quietSince = entry.BlockedUntil > entry.LastFailure ? entry.BlockedUntil : entry.LastFailure;
            if (now - quietSince > options.Memory)
            {
                entry.Failures = 0;
            }

            entry.Failures++;
            entry.LastFailure = now;
            failures = entry.Failures;
            if (failures < options.FreeFailures)
            {
                return;
            }

            block = BlockAfter(failures);
            entry.BlockedUntil = now + block;
        }

        logger.LogWarning("Logins from {Client} blocked for {Seconds} s after {Failures} failed logins from its network",
            client, Math.Ceiling(block.TotalSeconds), failures);
    }

    /// <summary>The first block after the free failures, doubling with each further one, capped.</summary>
    private TimeSpan BlockAfter(int failures)
    {
        var doublings = Math.Min(failures - options.FreeFailures, 30);
        var ticks = Math.Min(options.FirstBlock.Ticks * (double)(1L << doublings), options.MaxBlock.Ticks);
        return TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>The client's entry, made most recent (created, and the oldest forgotten when full). Under the lock.</summary>
    private Client Touch(IPAddress key)
    {
        if (_clients.TryGetValue(key, out var node))
        {
            _byRecency.Remove(node);
            _byRecency.AddFirst(node);
            return node.Value;
        }

        if (_clients.Count >= options.MaxClients && _byRecency.Last is { } oldest)
        {
            _byRecency.RemoveLast();
            _clients.Remove(oldest.Value.Key);
        }

        node = _byRecency.AddFirst(new Client(key));
        _clients[key] = node;
        return node.Value;
    }

    private sealed class Client(IPAddress key)
    {
        public IPAddress Key { get; } = key;
        public int Failures { get; set; }
        public DateTimeOffset LastFailure { get; set; } = DateTimeOffset.MinValue;
        public DateTimeOffset BlockedUntil { get; set; } = DateTimeOffset.MinValue;
    }
}
