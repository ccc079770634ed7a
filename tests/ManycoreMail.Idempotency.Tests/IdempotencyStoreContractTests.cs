using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Idempotency.Tests;

/// <summary>What every idempotency store must do, run against SQLite and PostgreSQL.</summary>
public abstract class IdempotencyStoreContractTests : IAsyncLifetime
{
    private static readonly byte[] Body = SHA256.HashData("body"u8);
    private static readonly byte[] OtherBody = SHA256.HashData("other"u8);
    private static readonly byte[] Answer = Encoding.UTF8.GetBytes("""{"messages":[]}""");
    private readonly List<IIdempotencyStore> _open = [];

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));

    protected abstract Task<IIdempotencyStore> OpenStoreAsync();

    protected async Task<IIdempotencyStore> OpenAsync()
    {
        var store = await OpenStoreAsync();
        _open.Add(store);
        return store;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _open)
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_new_key_is_claimed_and_once_completed_the_same_body_replays_the_answer()
    {
        var store = await OpenAsync();

        Assert.IsType<IdempotencyClaim.New>(await store.TryClaimAsync("admin", "k1", Body, default));
        await store.CompleteAsync("admin", "k1", 202, Answer, default);
        Time.Advance(TimeSpan.FromHours(23));
        var replay = Assert.IsType<IdempotencyClaim.Replay>(await store.TryClaimAsync("admin", "k1", Body, default));

        Assert.Equal(202, replay.Status);
        Assert.Equal(Answer, replay.Answer);
    }

    [Fact]
    public async Task Another_body_with_the_same_key_is_a_conflict_whether_answered_or_not()
    {
        var store = await OpenAsync();
        await store.TryClaimAsync("admin", "answered", Body, default);
        await store.CompleteAsync("admin", "answered", 202, Answer, default);
        await store.TryClaimAsync("admin", "pending", Body, default);

        Assert.IsType<IdempotencyClaim.Conflict>(await store.TryClaimAsync("admin", "answered", OtherBody, default));
        Assert.IsType<IdempotencyClaim.Conflict>(await store.TryClaimAsync("admin", "pending", OtherBody, default));
    }

    [Fact]
    public async Task An_unfinished_claim_is_in_progress_until_it_lapses_after_fifteen_minutes()
    {
        var store = await OpenAsync();
        await store.TryClaimAsync("admin", "k", Body, default);
        Time.Advance(TimeSpan.FromMinutes(10));

        var busy = Assert.IsType<IdempotencyClaim.InProgress>(await store.TryClaimAsync("admin", "k", Body, default));
        Assert.Equal(TimeSpan.FromMinutes(5), busy.RetryAfter);

        Time.Advance(TimeSpan.FromMinutes(5));
        Assert.IsType<IdempotencyClaim.New>(await store.TryClaimAsync("admin", "k", OtherBody, default));
        Assert.IsType<IdempotencyClaim.InProgress>(await store.TryClaimAsync("admin", "k", OtherBody, default));
    }

    [Fact]
    public async Task A_released_claim_may_be_claimed_again_at_once_but_an_answered_one_is_not_released()
    {
        var store = await OpenAsync();
        await store.TryClaimAsync("admin", "refused", Body, default);
        await store.ReleaseAsync("admin", "refused", default);
        await store.TryClaimAsync("admin", "answered", Body, default);
        await store.CompleteAsync("admin", "answered", 202, Answer, default);
        await store.ReleaseAsync("admin", "answered", default);

        Assert.IsType<IdempotencyClaim.New>(await store.TryClaimAsync("admin", "refused", OtherBody, default));
        Assert.IsType<IdempotencyClaim.Replay>(await store.TryClaimAsync("admin", "answered", Body, default));
    }

    [Fact]
    public async Task Keys_are_scoped_by_login()
    {
        var store = await OpenAsync();
        await store.TryClaimAsync("alice", "k", Body, default);
        await store.CompleteAsync("alice", "k", 202, Answer, default);

        Assert.IsType<IdempotencyClaim.New>(await store.TryClaimAsync("bob", "k", OtherBody, default));
    }

    [Fact]
    public async Task After_24_hours_a_key_is_new_again_and_the_purge_deletes_only_old_keys()
    {
        var store = await OpenAsync();
        await store.TryClaimAsync("admin", "old", Body, default);
        await store.CompleteAsync("admin", "old", 202, Answer, default);
        Time.Advance(TimeSpan.FromHours(12));
        await store.TryClaimAsync("admin", "young", Body, default);
        await store.CompleteAsync("admin", "young", 202, Answer, default);
        Time.Advance(TimeSpan.FromHours(12));

        Assert.Equal(1, await store.PurgeAsync(default));
        Assert.IsType<IdempotencyClaim.Replay>(await store.TryClaimAsync("admin", "young", Body, default));
        Assert.IsType<IdempotencyClaim.New>(await store.TryClaimAsync("admin", "old", OtherBody, default));
    }

    [Fact]
    public async Task Answers_survive_reopening_the_store()
    {
        var first = await OpenAsync();
        await first.TryClaimAsync("admin", "k", Body, default);
        await first.CompleteAsync("admin", "k", 202, Answer, default);
        await first.DisposeAsync();
        _open.Remove(first);

        var second = await OpenAsync();
        Assert.Equal(Answer, Assert.IsType<IdempotencyClaim.Replay>(await second.TryClaimAsync("admin", "k", Body, default)).Answer);
    }

    [Fact]
    public async Task Of_many_concurrent_first_claims_of_one_key_exactly_one_is_new()
    {
        var store = await OpenAsync();

        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => store.TryClaimAsync("admin", "race", Body, default))));

        Assert.Single(claims, c => c is IdempotencyClaim.New);
        Assert.All(claims.Where(c => c is not IdempotencyClaim.New), c => Assert.IsType<IdempotencyClaim.InProgress>(c));
    }
}
