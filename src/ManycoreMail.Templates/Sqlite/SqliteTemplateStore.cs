using Microsoft.Data.Sqlite;

namespace ManycoreMail.Templates.Sqlite;

/// <summary>Templates in a SQLite file (WAL). Template traffic is light (puts by operators, reads cached by the
/// sender), so one connection behind a gate serves every call.</summary>
public sealed class SqliteTemplateStore : ITemplateStore
{
    private const string CreateTables = """
        CREATE TABLE IF NOT EXISTS templates (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            subject TEXT,
            text TEXT,
            html TEXT,
            created INTEGER NOT NULL,
            PRIMARY KEY (name, version)) WITHOUT ROWID;
        """;

    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TimeProvider _time;

    private SqliteTemplateStore(SqliteConnection connection, TimeProvider time)
    {
        _connection = connection;
        _time = time;
    }

    /// <summary>Opens (creating when needed) the store at <paramref name="path"/>.</summary>
    public static SqliteTemplateStore Open(string path, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // A disposed store must really close its file (tests and the CLI reopen or delete it).
            Pooling = false,
        }.ToString());
        try
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; " + CreateTables;
            command.ExecuteNonQuery();
            return new SqliteTemplateStore(connection, time ?? TimeProvider.System);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public async Task<int> PutAsync(string name, TemplateContent content, CancellationToken cancellationToken)
    {
        TemplateNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = _connection.CreateCommand();
            command.CommandText = TemplateSql.Insert;
            command.Parameters.AddWithValue("@name", name);
            command.Parameters.AddWithValue("@subject", (object?)content.Subject ?? DBNull.Value);
            command.Parameters.AddWithValue("@text", (object?)content.Text ?? DBNull.Value);
            command.Parameters.AddWithValue("@html", (object?)content.Html ?? DBNull.Value);
            command.Parameters.AddWithValue("@created", _time.GetUtcNow().ToUnixTimeMilliseconds());
            return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<StoredTemplate?> GetAsync(string name, int? version, CancellationToken cancellationToken)
    {
        if (!TemplateNames.IsValid(name))
        {
            return null;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = _connection.CreateCommand();
            command.CommandText = version is null ? TemplateSql.GetLatest : TemplateSql.GetVersion;
            command.Parameters.AddWithValue("@name", name);
            command.Parameters.AddWithValue("@version", (object?)version ?? DBNull.Value);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? TemplateSql.ReadTemplate(reader) : null;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<IReadOnlyList<TemplateSummary>> ListAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = _connection.CreateCommand();
            command.CommandText = TemplateSql.List;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await TemplateSql.ReadSummariesAsync(reader, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        if (!TemplateNames.IsValid(name))
        {
            return false;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = _connection.CreateCommand();
            command.CommandText = TemplateSql.Delete;
            command.Parameters.AddWithValue("@name", name);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync().ConfigureAwait(false);
        _gate.Dispose();
    }
}
