namespace ManycoreMail.Queue.Embedded;

public sealed record EmbeddedSpoolOptions
{
    /// <summary>Directory holding the spool; created when missing.</summary>
    public required string Path { get; init; }

    /// <summary>How long the committer waits to gather more writes into one sync.</summary>
    public TimeSpan GroupCommitWindow { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>How often expired leases are returned to their queue.</summary>
    public TimeSpan LeaseSweepInterval { get; init; } = TimeSpan.FromSeconds(5);
}
