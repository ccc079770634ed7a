namespace ManycoreMail.Idempotency;

/// <summary>
/// Remembers the answers to requests sent with an <c>Idempotency-Key</c>, so that a client retrying a request (a timeout,
/// a lost connection) gets the first answer again instead of a second send. A key belongs to a scope (the login), so
/// two customers' keys never meet.
/// </summary>
public interface IIdempotencyStore : IAsyncDisposable
{
    /// <summary>Claims <paramref name="key"/> for a request whose body hashes to <paramref name="bodyHash"/> (SHA-256),
    /// or tells what happened to the key before.</summary>
    Task<IdempotencyClaim> TryClaimAsync(string scope, string key, ReadOnlyMemory<byte> bodyHash, CancellationToken cancellationToken);

    /// <summary>Records the answer of a claimed key; later claims with the same body replay it.</summary>
    Task CompleteAsync(string scope, string key, int status, ReadOnlyMemory<byte> answer, CancellationToken cancellationToken);

    /// <summary>Gives up a claim without an answer (the request was refused): the same key may be used again at once.</summary>
    Task ReleaseAsync(string scope, string key, CancellationToken cancellationToken);

    /// <summary>Deletes keys older than <see cref="IdempotencyRules.Window"/>; returns how many.</summary>
    Task<long> PurgeAsync(CancellationToken cancellationToken);
}

/// <summary>What <see cref="IIdempotencyStore.TryClaimAsync"/> found.</summary>
public abstract record IdempotencyClaim
{
    private IdempotencyClaim() { }

    /// <summary>The key is now this request's: handle it, then complete or release the claim.</summary>
    public sealed record New : IdempotencyClaim;

    /// <summary>The key was answered for the same body: give this answer again and do nothing else.</summary>
    public sealed record Replay(int Status, byte[] Answer) : IdempotencyClaim;

    /// <summary>The key was used with another body (HTTP 409).</summary>
    public sealed record Conflict : IdempotencyClaim;

    /// <summary>A request with this key is still being handled (HTTP 409 with Retry-After).</summary>
    public sealed record InProgress(TimeSpan RetryAfter) : IdempotencyClaim;
}

/// <summary>How long keys and unfinished claims count.</summary>
public static class IdempotencyRules
{
    /// <summary>A key answers the same for 24 hours from its first use.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromHours(24);

    /// <summary>A claim never completed (its process died mid-request) lapses after this, so the key is not stuck for a
    /// day; far longer than any request takes.</summary>
    public static readonly TimeSpan ClaimLapse = TimeSpan.FromMinutes(15);

    /// <summary>What a claim finds in a stored row, given the time now: whether the key may be (re)claimed.</summary>
    public static IdempotencyClaim? Decide(StoredKey? stored, ReadOnlySpan<byte> bodyHash, DateTimeOffset now)
    {
        if (stored is null || stored.Created <= now - Window || (stored.Status is null && stored.Created <= now - ClaimLapse))
        {
            return null;
        }
        if (!bodyHash.SequenceEqual(stored.BodyHash))
        {
            return new IdempotencyClaim.Conflict();
        }
        if (stored.Status is not { } status)
        {
            var left = stored.Created + ClaimLapse - now;
            return new IdempotencyClaim.InProgress(left < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : left);
        }
        return new IdempotencyClaim.Replay(status, stored.Answer ?? []);
    }
}

/// <summary>A key's row: the body hash of its first request, when it was claimed, and its answer once there is one.</summary>
public sealed record StoredKey(byte[] BodyHash, DateTimeOffset Created, int? Status, byte[]? Answer);
