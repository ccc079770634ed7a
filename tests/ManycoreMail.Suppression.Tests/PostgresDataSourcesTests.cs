using ManycoreMail.Postgres;
using ManycoreMail.TestSupport;
using Npgsql;

namespace ManycoreMail.Suppression.Tests;

/// <summary>The data source every PostgreSQL store of ours makes from an operator's connection string.</summary>
public sealed class PostgresDataSourcesTests(SharedPostgres postgres) : IClassFixture<SharedPostgres>
{
    [Fact]
    public async Task A_statement_run_often_is_prepared_once_on_its_pooled_connection()
    {
        await using var source = PostgresDataSources.Create(await postgres.CreateDatabaseAsync("sources"));
        for (var i = 0; i < 8; i++)
        {
            await using var lookup = source.CreateCommand("SELECT count(*) FROM pg_class WHERE relname = @name");
            lookup.Parameters.AddWithValue("name", "suppressions");
            await lookup.ExecuteScalarAsync();
        }

        await using var connection = await source.OpenConnectionAsync();
        await using var prepared = new NpgsqlCommand("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%relname = $1%'", connection);
        Assert.Equal(1L, await prepared.ExecuteScalarAsync());
        var settings = new NpgsqlConnectionStringBuilder(source.ConnectionString);
        Assert.True(settings.NoResetOnClose);
        Assert.Equal(32, settings.MaxAutoPrepare);
    }

    [Theory]
    [InlineData("Host=db;No Reset On Close=false;Max Auto Prepare=0")]
    [InlineData("Host=db;noresetonclose=false;MAXAUTOPREPARE=0")]
    public async Task What_the_connection_string_sets_itself_is_kept(string connectionString)
    {
        await using var source = PostgresDataSources.Create(connectionString);

        var settings = new NpgsqlConnectionStringBuilder(source.ConnectionString);
        Assert.False(settings.NoResetOnClose);
        Assert.Equal(0, settings.MaxAutoPrepare);
    }

    [Fact]
    public void A_connection_string_npgsql_cannot_read_is_refused_as_before() =>
        Assert.Throws<ArgumentException>(() => PostgresDataSources.Create("Host=db;No Such Keyword=1"));
}
