using System.Data.Common;
using System.Text;

namespace ManycoreMail.EventStore;

/// <summary>
/// The statements every SQL store shares, in the subset SQLite and PostgreSQL both speak (named <c>@</c> parameters,
/// <c>LIMIT</c>, no <c>DELETE … LIMIT</c>). Only the schema (id generation, blob type, pragmas) is a store's own.
/// </summary>
/// <remarks>
/// The table: <c>events(id, ts, event, uuid, email, body)</c> with indexes on (uuid, id), (email, id),
/// (event, id) and (ts); <c>schema_version(version)</c> holds one row. Each filter's index leads with its column and
/// ends with the id, so a keyset page is a range scan in id order whatever the filter.
/// </remarks>
public static class EventSql
{
    /// <summary>The schema version this library reads and writes; a store refuses a database with a higher one.</summary>
    public const int SchemaVersion = 1;

    public const string Insert = "INSERT INTO events (ts, event, uuid, email, body) VALUES (@ts, @event, @uuid, @email, @body)";

    /// <summary>Deletes up to <c>@chunk</c> events with a timestamp before <c>@cutoff</c>, found through the ts index
    /// (in id order the last chunk would scan the whole table).</summary>
    public const string PurgeChunk = "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < @cutoff ORDER BY ts LIMIT @chunk)";

    public const string SelectVersion = "SELECT MAX(version) FROM schema_version";

    /// <summary>
    /// Fills <paramref name="command"/> with the query's page plus one row: the extra row says whether there is a next
    /// page without a second round trip or a count.
    /// </summary>
    public static void BuildQuery(DbCommand command, EventQuery query, long afterId)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder("SELECT id, body FROM events WHERE id > @after");
        Add(command, "@after", afterId);
        Filter(command, sql, "uuid = @uuid", query.Uuid);
        Filter(command, sql, "email = @email", query.Email?.ToLowerInvariant());
        Filter(command, sql, "event = @event", query.Event);
        Filter(command, sql, "ts >= @since", query.Since?.ToUnixTimeSeconds());
        Filter(command, sql, "ts < @until", query.Until?.ToUnixTimeSeconds());
        sql.Append(" ORDER BY id LIMIT @limit");
        Add(command, "@limit", query.Limit + 1);
        command.CommandText = sql.ToString();
    }

    /// <summary>Adds <paramref name="condition"/> and its one parameter (named last in it) unless the filter is absent.</summary>
    private static void Filter(DbCommand command, StringBuilder sql, string condition, object? value)
    {
        if (value is not null)
        {
            sql.Append(" AND ").Append(condition);
            Add(command, condition[condition.LastIndexOf('@')..], value);
        }
    }

    /// <summary>Turns the rows of <see cref="BuildQuery"/> (id, body) into a page.</summary>
    public static async Task<EventPage> ReadPageAsync(DbDataReader reader, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var events = new List<StoredEvent>(Math.Min(limit, 256));
        var more = false;
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (events.Count == limit)
            {
                more = true;
                break;
            }

            events.Add(new StoredEvent(reader.GetInt64(0), (byte[])reader.GetValue(1)));
        }

        return new EventPage(events, more ? events[^1].Cursor : null);
    }

    public static DbParameter Add(DbCommand command, string name, object? value)
    {
        ArgumentNullException.ThrowIfNull(command);
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
        return parameter;
    }
}
