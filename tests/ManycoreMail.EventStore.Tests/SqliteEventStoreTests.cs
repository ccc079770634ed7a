using System.Text;
using ManycoreMail.EventStore.Sqlite;
using Microsoft.Data.Sqlite;
using static ManycoreMail.EventStore.Tests.TempStore;

namespace ManycoreMail.EventStore.Tests;

/// <summary>The contract on SQLite, plus what only a store in one file has: readers beside the writer, the busy
/// timeout, the query plans.</summary>
public sealed class SqliteEventStoreTests : EventStoreContractTests, IDisposable
{
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    protected override Task<IEventStore> OpenAsync(int purgeChunk = 5_000) => Task.FromResult<IEventStore>(_temp.Open(purgeChunk));

    [Fact]
    public async Task A_reader_beside_the_writer_sees_committed_appends()
    {
        await using var store = _temp.Open();
        await store.AppendAsync([Delivered("u1", "a@example.com", 1)], CancellationToken.None);

        var page = await SqliteEventStore.QueryFileAsync(_temp.Path, new EventQuery { Uuid = "u1" }, CancellationToken.None);

        Assert.Single(page.Events);
    }

    [Fact]
    public async Task A_reader_finds_the_events_of_a_closed_store()
    {
        await using (var store = _temp.Open())
        {
            await store.AppendAsync([Delivered("u1", "a@example.com", 1)], CancellationToken.None);
        }

        var page = await SqliteEventStore.QueryFileAsync(_temp.Path, new EventQuery(), CancellationToken.None);

        Assert.Equal([1L], page.Events.Select(TimestampOf));
    }

    [Fact]
    public async Task A_failed_commit_fails_its_callers_and_the_writer_goes_on()
    {
        await using var store = _temp.Open(busySeconds: 1);
        using (var blocker = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _temp.Path, Pooling = false }.ToString()))
        {
            blocker.Open();
            using (var lockIt = blocker.CreateCommand())
            {
                // Another writer holds the file past the store's busy timeout: its transaction cannot begin.
                lockIt.CommandText = "BEGIN IMMEDIATE";
                lockIt.ExecuteNonQuery();
            }

            var error = await Assert.ThrowsAsync<SqliteException>(() => store.AppendAsync([Delivered("u", "a@example.com", 1)], CancellationToken.None));
            Assert.Equal(5, error.SqliteErrorCode); // SQLITE_BUSY
        }

        await store.AppendAsync([Delivered("u", "a@example.com", 2)], CancellationToken.None);
        Assert.Equal([2L], (await store.QueryAsync(new EventQuery(), CancellationToken.None)).Events.Select(TimestampOf));
    }

    [Fact]
    public async Task A_file_from_a_newer_schema_is_refused_not_rewritten()
    {
        await using (var store = _temp.Open())
        {
        }

        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _temp.Path, Pooling = false }.ToString()))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE schema_version SET version = 2";
            command.ExecuteNonQuery();
        }

        var error = Assert.Throws<InvalidOperationException>(() => _temp.Open());
        Assert.Contains("schema version 2", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("uuid")]
    [InlineData("email")]
    [InlineData("event")]
    [InlineData("event,since,until")]
    [InlineData("uuid,event,since")]
    [InlineData("since")]
    [InlineData("")]
    public async Task Every_filter_is_a_range_scan_in_id_order_without_a_sort(string filters)
    {
        await using (var store = _temp.Open())
        {
        }

        var names = filters.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var query = new EventQuery
        {
            Uuid = names.Contains("uuid") ? "u" : null,
            Email = names.Contains("email") ? "e@x" : null,
            Event = names.Contains("event") ? "bounce" : null,
            Since = names.Contains("since") ? At(1) : null,
            Until = names.Contains("until") ? At(2) : null,
        };
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _temp.Path, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        EventSql.BuildQuery(command, query, 5);
        command.CommandText = "EXPLAIN QUERY PLAN " + command.CommandText;
        var plan = new StringBuilder();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                plan.AppendLine(reader.GetString(3));
            }
        }

        // A sort (temp b-tree) or a scan from the table's start would make every page cost the whole match.
        Assert.DoesNotContain("TEMP B-TREE", plan.ToString(), StringComparison.Ordinal);
        Assert.Contains("SEARCH events", plan.ToString(), StringComparison.Ordinal);
    }
}
