using ManycoreMail.Idempotency.Postgres;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Idempotency.Tests;

public sealed class PostgresIdempotencyStoreTests(SharedPostgres postgres) : IdempotencyStoreContractTests, IClassFixture<SharedPostgres>
{
    private string? _connectionString;

    protected override async Task<IIdempotencyStore> OpenStoreAsync()
    {
        _connectionString ??= await postgres.CreateDatabaseAsync("idempotency");
        return await PostgresIdempotencyStore.OpenAsync(_connectionString, CancellationToken.None, Time);
    }

    [Fact]
    public async Task Two_hosts_on_one_database_share_keys()
    {
        var first = await OpenAsync();
        var second = await OpenAsync();
        var hash = System.Security.Cryptography.SHA256.HashData("b"u8);

        Assert.IsType<IdempotencyClaim.New>(await first.TryClaimAsync("admin", "k", hash, default));
        Assert.IsType<IdempotencyClaim.InProgress>(await second.TryClaimAsync("admin", "k", hash, default));
        await first.CompleteAsync("admin", "k", 202, "{}"u8.ToArray(), default);
        Assert.IsType<IdempotencyClaim.Replay>(await second.TryClaimAsync("admin", "k", hash, default));
    }
}
