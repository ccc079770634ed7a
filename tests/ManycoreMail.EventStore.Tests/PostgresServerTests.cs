using ManycoreMail.TestSupport;
using Npgsql;

namespace ManycoreMail.EventStore.Tests;

/// <summary>The private cluster the PostgreSQL tests run against: it starts, gives out fresh databases, keeps committed
/// rows across a restart, and leaves nothing behind.</summary>
public sealed class PostgresServerTests
{
    [Fact]
    public async Task A_database_created_on_the_cluster_keeps_its_rows_across_a_restart()
    {
        string directory;
        using (var server = await PostgresServer.StartAsync())
        {
            directory = server.Directory;
            var connectionString = await server.CreateDatabaseAsync("restart_check");
            await using (var connection = new NpgsqlConnection(connectionString))
            {
                await connection.OpenAsync();
                await using var create = new NpgsqlCommand("CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')", connection);
                await create.ExecuteNonQueryAsync();
            }

            await server.RestartAsync();

            // A new pool: the restart ended the old sessions.
            await using (var connection = new NpgsqlConnection(connectionString + ";Pooling=false"))
            {
                await connection.OpenAsync();
                await using var select = new NpgsqlCommand("SELECT v FROM t", connection);
                Assert.Equal("kept", await select.ExecuteScalarAsync());
                Assert.Equal("restart_check", connection.Database);
            }

            await using (var postgres = new NpgsqlConnection(server.ConnectionString))
            {
                await postgres.OpenAsync();
                await using var name = new NpgsqlCommand("SELECT current_database()", postgres);
                Assert.Equal("postgres", await name.ExecuteScalarAsync());
            }
        }

        Assert.False(Directory.Exists(directory));
    }

    [Fact]
    public async Task A_database_name_that_would_need_quoting_is_refused()
    {
        using var server = await PostgresServer.StartAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => server.CreateDatabaseAsync("x; DROP DATABASE postgres"));
    }
}
