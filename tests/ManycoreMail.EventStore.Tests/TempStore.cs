using System.Globalization;
using System.Text;
using ManycoreMail.EventStore.Sqlite;

namespace ManycoreMail.EventStore.Tests;

/// <summary>A store file in a directory of its own, deleted with it.</summary>
internal sealed class TempStore : IDisposable
{
    public TempStore()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("mm-eventstore-");
        Path = System.IO.Path.Combine(Directory.FullName, "events.db");
    }

    public DirectoryInfo Directory { get; }

    public string Path { get; }

    public SqliteEventStore Open(int purgeChunk = 5_000, int busySeconds = 5) =>
        SqliteEventStore.Open(new SqliteEventStoreOptions { Path = Path, PurgeChunk = purgeChunk, BusyTimeout = TimeSpan.FromSeconds(busySeconds) });

    public void Dispose() => Directory.Delete(recursive: true);

    /// <summary>An event shaped as <c>MailEvent</c> writes a delivered one.</summary>
    public static StoredEventInput Delivered(string uuid, string email, long timestamp, string ip = "192.0.2.1") =>
        Event($$"""{"event":"delivered","uuid":"{{uuid}}","timestamp":{{timestamp}},"ip":"{{ip}}","email":"{{email}}"}""");

    public static StoredEventInput Bounce(string uuid, string email, long timestamp) =>
        Event($$"""{"event":"bounce","uuid":"{{uuid}}","timestamp":{{timestamp}},"ip":null,"type":"hard","reason":"550 5.1.1 no such user","email":"{{email}}","class":"userunknown"}""");

    public static StoredEventInput Event(string json) => StoredEventInput.FromJson(Encoding.UTF8.GetBytes(json));

    public static string Text(StoredEvent stored) => Encoding.UTF8.GetString(stored.Json.Span);

    public static async Task<List<StoredEvent>> AllAsync(IEventStore store, EventQuery query)
    {
        var all = new List<StoredEvent>();
        var page = await store.QueryAsync(query with { Limit = EventQuery.MaxLimit }, CancellationToken.None);
        all.AddRange(page.Events);
        while (page.Next is { } next)
        {
            page = await store.QueryAsync(query with { Limit = EventQuery.MaxLimit, After = next }, CancellationToken.None);
            all.AddRange(page.Events);
        }

        return all;
    }

    public static string N(int i) => i.ToString(CultureInfo.InvariantCulture);
}
