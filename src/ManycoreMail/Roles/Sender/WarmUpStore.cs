using System.Globalization;
using ManycoreMail.Delivery;
using ManycoreMail.Sqlite;
using Microsoft.Data.Sqlite;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// The warm-up counts of each day, source and provider in <c>warmup.db</c> (SQLite) beside the spool in
/// <c>storage/path</c>, so that a restart does not give warming sources a fresh day. Written through on every count
/// (a few rows a day per source); days older than a week are dropped when the file is opened.
/// </summary>
internal sealed class SqliteWarmUpStore : IWarmUpStore, IDisposable
{
    public const string FileName = "warmup.db";

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    private SqliteWarmUpStore(SqliteConnection connection) => _connection = connection;

    /// <summary>The store when some source warms up, else null (no file).</summary>
    public static SqliteWarmUpStore? OpenIfNeeded(DeliveryOptions options, string directory, TimeProvider time) =>
        options.Egress?.Pools.SelectMany(p => p.Sources).Any(s => s.WarmUp is not null) == true
            ? Open(directory, DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime))
            : null;

    public static SqliteWarmUpStore Open(string directory, DateOnly today)
    {
        var connection = SqliteStoreFile.OpenWriter(Path.Combine(directory, FileName), TimeSpan.FromSeconds(5), "warm-up store",
            "PRAGMA synchronous = NORMAL",
            "CREATE TABLE warmup_counts (day TEXT NOT NULL, source TEXT NOT NULL, provider TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (day, source, provider))",
            schemaVersion: 1);
        using (var prune = connection.CreateCommand())
        {
            prune.CommandText = "DELETE FROM warmup_counts WHERE day < $oldest";
            prune.Parameters.AddWithValue("$oldest", Day(today.AddDays(-7)));
            prune.ExecuteNonQuery();
        }
        return new SqliteWarmUpStore(connection);
    }

    public IReadOnlyDictionary<(string Source, string Provider), int> Load(DateOnly date)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT source, provider, count FROM warmup_counts WHERE day = $day";
            command.Parameters.AddWithValue("$day", Day(date));
            using var reader = command.ExecuteReader();
            var counts = new Dictionary<(string, string), int>();
            while (reader.Read())
            {
                counts[(reader.GetString(0), reader.GetString(1))] = reader.GetInt32(2);
            }
            return counts;
        }
    }

    public void Save(DateOnly date, string source, string provider, int count)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO warmup_counts (day, source, provider, count) VALUES ($day, $source, $provider, $count) "
                + "ON CONFLICT (day, source, provider) DO UPDATE SET count = excluded.count";
            command.Parameters.AddWithValue("$day", Day(date));
            command.Parameters.AddWithValue("$source", source);
            command.Parameters.AddWithValue("$provider", provider);
            command.Parameters.AddWithValue("$count", count);
            command.ExecuteNonQuery();
        }
    }

    private static string Day(DateOnly date) => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public void Dispose() => _connection.Dispose();
}
