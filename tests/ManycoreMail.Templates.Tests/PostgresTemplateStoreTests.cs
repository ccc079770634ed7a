using ManycoreMail.Templates.Postgres;
using ManycoreMail.TestSupport;

namespace ManycoreMail.Templates.Tests;

public sealed class PostgresTemplateStoreTests(SharedPostgres postgres) : TemplateStoreContractTests, IClassFixture<SharedPostgres>
{
    private string? _connectionString;

    protected override async Task<ITemplateStore> OpenStoreAsync()
    {
        _connectionString ??= await postgres.CreateDatabaseAsync("templates");
        return await PostgresTemplateStore.OpenAsync(_connectionString, CancellationToken.None);
    }

    [Fact]
    public async Task Two_hosts_on_one_database_share_versions_and_race_to_distinct_ones()
    {
        var first = await OpenAsync();
        var second = await OpenAsync();

        var versions = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            Task.Run(() => (i % 2 == 0 ? first : second).PutAsync("shared", new TemplateContent(null, $"{i}", null), CancellationToken.None))));

        Assert.Equal(Enumerable.Range(1, 10), versions.Order());
        Assert.Equal(10, (await second.GetAsync("shared", null, CancellationToken.None))!.Version);
    }
}
