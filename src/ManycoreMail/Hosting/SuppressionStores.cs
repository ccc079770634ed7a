using ManycoreMail.Config;
using ManycoreMail.Suppression;
using ManycoreMail.Suppression.Postgres;
using ManycoreMail.Suppression.Sqlite;

namespace ManycoreMail.Hosting;

/// <summary>Opens the suppression list the configuration names: the one a process (<see cref="MailerHost"/>) or a
/// command (<c>mailer suppressions</c>) works with.</summary>
internal static class SuppressionStores
{
    /// <summary>With <c>events/store: postgresql</c> the list lives in the same PostgreSQL database
    /// (<c>events/postgresql</c>), shared by every process of a cluster; otherwise SQLite in <c>storage/path</c>.</summary>
    /// <exception cref="InvalidOperationException">The store's file has a schema this build does not read.</exception>
    public static ISuppressionStore Open(MailerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Events.Postgresql is { } connectionString)
        {
            return PostgresSuppressionStore.Open(new PostgresSuppressionStoreOptions { ConnectionString = connectionString });
        }
        Directory.CreateDirectory(options.Storage.Path);
        return SqliteSuppressionStore.Open(new SqliteSuppressionStoreOptions { Path = SuppressionOptions.SqlitePath(options.Storage) });
    }
}
