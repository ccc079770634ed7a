using System.Data.Common;

namespace ManycoreMail.Templates;

/// <summary>The statements both stores share: the same SQL runs on SQLite and PostgreSQL.</summary>
internal static class TemplateSql
{
    private const string Columns = "name, version, subject, text, html, created";

    /// <summary>The next version in one statement; the primary key turns a concurrent put of the same version into
    /// a conflict the caller retries (SQLite's single writer never meets one).</summary>
    public const string Insert = """
        INSERT INTO templates (name, version, subject, text, html, created)
        SELECT @name, COALESCE(MAX(version), 0) + 1, @subject, @text, @html, @created FROM templates WHERE name = @name
        RETURNING version
        """;

    public const string GetLatest = $"SELECT {Columns} FROM templates WHERE name = @name ORDER BY version DESC LIMIT 1";

    public const string GetVersion = $"SELECT {Columns} FROM templates WHERE name = @name AND version = @version";

    public const string List = "SELECT name, MAX(version) FROM templates GROUP BY name ORDER BY name";

    public const string Delete = "DELETE FROM templates WHERE name = @name";

    public static StoredTemplate ReadTemplate(DbDataReader reader) => new(
        reader.GetString(0),
        reader.GetInt32(1),
        new TemplateContent(NullableString(reader, 2), NullableString(reader, 3), NullableString(reader, 4)),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)));

    public static async Task<IReadOnlyList<TemplateSummary>> ReadSummariesAsync(DbDataReader reader, CancellationToken cancellationToken)
    {
        var summaries = new List<TemplateSummary>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            summaries.Add(new TemplateSummary(reader.GetString(0), reader.GetInt32(1)));
        }

        return summaries;
    }

    private static string? NullableString(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
}
