using ManycoreMail.Suppression.Sqlite;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Suppression.Tests;

/// <summary>The contract on SQLite, and what only the SQLite file shows: WAL, the lookup plan, readers beside a writer.</summary>
public sealed class SqliteSuppressionStoreTests : SuppressionStoreContractTests
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("mm-suppression-");

    private string FilePath => Path.Combine(_directory.FullName, "suppressions.db");

    protected override Task<ISuppressionStore> OpenStoreAsync(int purgeChunk) =>
        Task.FromResult<ISuppressionStore>(SqliteSuppressionStore.Open(new SqliteSuppressionStoreOptions { Path = FilePath, PurgeChunk = purgeChunk }));

    protected override Task DeleteStoreAsync()
    {
        _directory.Delete(recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task The_file_is_in_wal_mode()
    {
        await OpenAsync();
        await using var connection = Raw();

        Assert.Equal("wal", Scalar(connection, "PRAGMA journal_mode"));
    }

    [Fact]
    public async Task A_lookup_probes_the_primary_key_and_scans_nothing()
    {
        await OpenAsync();
        await using var connection = Raw();
        using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + SqliteSuppressionSql.Find;
        command.Parameters.AddWithValue("@emails", "[\"a@example.com\"]");
        command.Parameters.AddWithValue("@now", 0L);
        var plan = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                plan.Add(reader.GetString(3));
            }
        }

        Assert.Contains(plan, step => step.StartsWith("SEARCH suppressions USING PRIMARY KEY (email=?)", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, step => step.StartsWith("SCAN suppressions", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Lookups_go_on_while_another_writer_holds_the_file()
    {
        var store = await OpenAsync();
        await store.AddAsync([Entry("a@example.com")], CancellationToken.None);
        await using var other = Raw();
        using var transaction = other.BeginTransaction(deferred: false);
        using (var insert = other.CreateCommand())
        {
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO suppressions VALUES ('b@example.com', 'global', '', 'manual', 0, NULL)";
            insert.ExecuteNonQuery();
        }

        // The other connection holds the write lock: a reader sees the last commit and does not wait for it.
        var found = await store.FindAsync(["a@example.com", "b@example.com"], Now, CancellationToken.None);
        var page = await store.ListAsync(new SuppressionQuery(), CancellationToken.None);

        Assert.Equal(["a@example.com"], found.Keys);
        Assert.Equal(["a@example.com"], page.Entries.Select(e => e.Email));
        transaction.Commit();
        Assert.Equal(2, (await store.FindAsync(["a@example.com", "b@example.com"], Now, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task A_file_of_a_newer_schema_is_refused()
    {
        var store = await OpenAsync();
        await store.DisposeAsync();
        await using (var connection = Raw())
        {
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE schema_version SET version = 99";
            command.ExecuteNonQuery();
        }

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => OpenAsync());
        Assert.Contains("schema version 99", e.Message, StringComparison.Ordinal);
    }

    private SqliteConnection Raw()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = FilePath, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
