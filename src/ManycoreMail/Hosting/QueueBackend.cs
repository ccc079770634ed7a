namespace ManycoreMail.Hosting;

/// <summary>Which durable queue store a process uses (<c>--queue</c>).</summary>
internal enum QueueBackend
{
    /// <summary>The SQLite spool in <c>storage/path</c>: every role in one process.</summary>
    Embedded,

    /// <summary>Redis (<c>reliable-queue/redis/*</c>): any number of processes per role.</summary>
    Redis,
}
