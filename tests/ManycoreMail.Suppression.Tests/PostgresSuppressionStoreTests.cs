using ManycoreMail.Suppression.Postgres;
using ManycoreMail.TestSupport;
using Npgsql;

namespace ManycoreMail.Suppression.Tests;

/// <summary>The contract on PostgreSQL, and what only a shared server shows: several stores on one database, a
/// server restart, a database the event store shares, a schema made by a newer build.</summary>
public sealed class PostgresSuppressionStoreTests(SharedPostgres postgres) : SuppressionStoreContractTests, IClassFixture<SharedPostgres>
{
    private string? _connectionString;

    protected override async Task<ISuppressionStore> OpenStoreAsync(int purgeChunk)
    {
        _connectionString ??= await postgres.CreateDatabaseAsync("suppressions");
        return PostgresSuppressionStore.Open(new PostgresSuppressionStoreOptions { ConnectionString = _connectionString, PurgeChunk = purgeChunk });
    }

    [Fact]
    public async Task An_entry_added_by_one_process_stops_sending_in_another()
    {
        var first = await OpenAsync();
        var second = await OpenAsync();

        await first.AddAsync([Entry("a@example.com", SuppressionScope.Domain, "shop.example", SuppressionReason.Unsubscribe)], CancellationToken.None);

        var found = Assert.Single(Assert.Contains("a@example.com", await second.FindAsync(["a@example.com"], Now, CancellationToken.None)));
        Assert.Equal(SuppressionReason.Unsubscribe, found.Reason);
        Assert.True(await second.RemoveAsync("a@example.com", SuppressionScope.Domain, "shop.example", CancellationToken.None));
        Assert.Empty(await first.FindAsync(["a@example.com"], Now, CancellationToken.None));
    }

    [Fact]
    public async Task Stores_starting_together_on_an_empty_database_create_the_schema_once()
    {
        var stores = new List<ISuppressionStore>();
        for (var i = 0; i < 6; i++)
        {
            stores.Add(await OpenAsync());
        }

        await Task.WhenAll(stores.Select((store, i) => Task.Run(() => store.AddAsync([Entry($"u{i}@example.com")], CancellationToken.None))));

        Assert.Equal(6, (await stores[0].ListAsync(new SuppressionQuery(), CancellationToken.None)).Entries.Count);
        Assert.Equal(1L, await ScalarAsync("SELECT count(*) FROM suppressions_schema_version"));
    }

    [Fact]
    public async Task Entries_survive_a_server_restart_and_the_store_goes_on_after_it()
    {
        var store = await OpenAsync();
        await store.AddAsync([Entry("kept@example.com", reason: SuppressionReason.Complaint)], CancellationToken.None);

        await (await postgres.ServerAsync()).RestartAsync();

        // The pool's connections died with the server: a call may fail once, as any caller's would.
        var found = await Eventually.GetAsync(async () =>
        {
            try
            {
                return await store.FindAsync(["kept@example.com"], Now, CancellationToken.None);
            }
            catch (NpgsqlException)
            {
                return null;
            }
        }, TimeSpan.FromSeconds(30), "a lookup after the restart");
        Assert.Equal(SuppressionReason.Complaint, Assert.Single(found["kept@example.com"]).Reason);
    }

    [Fact]
    public async Task A_database_shared_with_the_event_store_keeps_both_schemas_apart()
    {
        _connectionString = await postgres.CreateDatabaseAsync("suppressions");
        // The event store's version table, at a version this library knows nothing about.
        await ExecuteAsync("CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (7)");

        var store = await OpenAsync();
        await store.AddAsync([Entry("a@example.com")], CancellationToken.None);

        Assert.Single((await store.ListAsync(new SuppressionQuery(), CancellationToken.None)).Entries);
        Assert.Equal(7, await ScalarAsync("SELECT version FROM schema_version"));
    }

    [Fact]
    public async Task A_database_from_a_newer_schema_is_refused_not_rewritten()
    {
        var store = await OpenAsync();
        await store.AddAsync([Entry("a@example.com")], CancellationToken.None);
        await ExecuteAsync("UPDATE suppressions_schema_version SET version = 2");

        var reopened = await OpenAsync();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => reopened.FindAsync(["a@example.com"], Now, CancellationToken.None));

        Assert.Contains("schema version 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Entries_with_the_same_key_in_one_batch_end_as_the_last_of_them()
    {
        var store = await OpenAsync();

        await store.AddAsync(
        [
            Entry("a@example.com", reason: SuppressionReason.Bounce),
            Entry("A@Example.com ", reason: SuppressionReason.Unsubscribe),
        ], CancellationToken.None);

        Assert.Equal(SuppressionReason.Unsubscribe, Assert.Single((await store.ListAsync(new SuppressionQuery(), CancellationToken.None)).Entries).Reason);
    }

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    private async Task ExecuteAsync(string sql) => await ScalarAsync(sql);
}
