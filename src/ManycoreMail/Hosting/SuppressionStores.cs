using ManycoreMail.Config;
using ManycoreMail.Suppression;
using ManycoreMail.Suppression.Sqlite;

namespace ManycoreMail.Hosting;

/// <summary>Opens the suppression list the configuration names: the one a process (<see cref="MailerHost"/>) or a
/// command (<c>mailer suppressions</c>) works with.</summary>
internal static class SuppressionStores
{
    /// <exception cref="InvalidOperationException">The store's file has a schema this build does not read.</exception>
    public static ISuppressionStore Open(MailerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        // Switch point for a cluster: with events/store: postgresql every process shares the PostgreSQL list
        // (events/postgresql); until then each process's list is SQLite in storage/path.
        Directory.CreateDirectory(options.Storage.Path);
        return SqliteSuppressionStore.Open(new SqliteSuppressionStoreOptions { Path = SuppressionOptions.SqlitePath(options.Storage) });
    }
}
