using ManycoreMail.Config;

namespace ManycoreMail.Hosting;

/// <summary>Which durable queue store a process uses (<c>--queue</c>).</summary>
internal enum QueueBackend
{
    /// <summary>The SQLite spool in <c>storage/path</c>: every role in one process.</summary>
    Embedded,

    /// <summary>Redis (<c>reliable-queue/redis/*</c>): any number of processes per role.</summary>
    Redis,
}

/// <summary>The queue store a single-role command (<c>mailer receiver</c>, <c>sender</c>, ...) may use, or why
/// it must not start.</summary>
/// <remarks>
/// A role alone in its process hands its work to roles in other processes, so its queues must be shared. The
/// embedded spool cannot be: it is locked by the one process that opened it, and a second process on another
/// <c>storage/path</c> has a spool of its own. A receiver on it would answer 250 for mail nothing ever reads.
/// So a single-role command runs on Redis when the configuration names a server, and otherwise refuses.
/// An explicit <c>--queue embedded</c> is refused too: the one use for a lone role on a private spool
/// (trying a role out) is served by <c>mailer run --roles ROLE</c>, which says what it does.
/// </remarks>
internal sealed record RoleQueueChoice(QueueBackend? Backend, string? Refusal)
{
    public static RoleQueueChoice For(string role, string? requested, RedisOptions redis) => requested switch
    {
        "redis" => new(QueueBackend.Redis, null),
        "embedded" => new(null,
            $"mailer {role} --queue embedded: a role alone in its process cannot share the embedded spool (one process locks it), " +
            $"so what it queues would never be read. Use --queue redis with reliable-queue/redis configured, or run the roles together: mailer run --roles {role},..."),
        _ when redis.Configured => new(QueueBackend.Redis, null),
        _ => new(null,
            $"mailer {role} runs one role in its own process, and its queues must be shared with the other roles' processes: " +
            $"that needs Redis, and the configuration names no Redis server. Add {MailerHost.SectionOf(role)}/reliable-queue/redis/hostname (and port) " +
            "to the customer configuration, or run every role in one process on the embedded spool with mailer run."),
    };
}
