using ManycoreMail.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace ManycoreMail.Templates.Postgres;

/// <summary>Templates in PostgreSQL, shared by every host on the database.</summary>
public sealed class PostgresTemplateStore : ITemplateStore
{
    private const string UniqueViolation = "23505";
    private const int PutAttempts = 10;

    // IF NOT EXISTS races between hosts creating the table at once; the lock makes the first one win cleanly.
    private const string CreateTables = """
        SELECT pg_advisory_xact_lock(7402113);
        CREATE TABLE IF NOT EXISTS templates (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            subject TEXT,
            text TEXT,
            html TEXT,
            created BIGINT NOT NULL,
            PRIMARY KEY (name, version));
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;

    private PostgresTemplateStore(NpgsqlDataSource dataSource, TimeProvider time)
    {
        _dataSource = dataSource;
        _time = time;
    }

    /// <summary>Connects to <paramref name="connectionString"/> and creates the table when needed.</summary>
    public static async Task<PostgresTemplateStore> OpenAsync(string connectionString, CancellationToken cancellationToken, TimeProvider? time = null)
    {
        var dataSource = await PostgresStoreDatabase.OpenAsync(connectionString, CreateTables, cancellationToken).ConfigureAwait(false);
        return new PostgresTemplateStore(dataSource, time ?? TimeProvider.System);
    }

    public async Task<int> PutAsync(string name, TemplateContent content, CancellationToken cancellationToken)
    {
        TemplateNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        for (var attempt = 1; ; attempt++)
        {
            await using var command = _dataSource.CreateCommand(TemplateSql.Insert);
            command.Parameters.AddWithValue("name", name);
            command.Parameters.Add(new NpgsqlParameter("subject", NpgsqlDbType.Text) { Value = (object?)content.Subject ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("text", NpgsqlDbType.Text) { Value = (object?)content.Text ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("html", NpgsqlDbType.Text) { Value = (object?)content.Html ?? DBNull.Value });
            command.Parameters.AddWithValue("created", _time.GetUtcNow().ToUnixTimeMilliseconds());
            try
            {
                return (int)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }
            catch (PostgresException e) when (e.SqlState == UniqueViolation && attempt < PutAttempts)
            {
                // Another host took the same next version at the same moment: count again.
            }
        }
    }

    public async Task<StoredTemplate?> GetAsync(string name, int? version, CancellationToken cancellationToken)
    {
        if (!TemplateNames.IsValid(name))
        {
            return null;
        }

        await using var command = _dataSource.CreateCommand(version is null ? TemplateSql.GetLatest : TemplateSql.GetVersion);
        command.Parameters.AddWithValue("name", name);
        if (version is not null)
        {
            command.Parameters.AddWithValue("version", version.Value);
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? TemplateSql.ReadTemplate(reader) : null;
    }

    public async Task<IReadOnlyList<TemplateSummary>> ListAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(TemplateSql.List);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await TemplateSql.ReadSummariesAsync(reader, cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        if (!TemplateNames.IsValid(name))
        {
            return false;
        }

        await using var command = _dataSource.CreateCommand(TemplateSql.Delete);
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
