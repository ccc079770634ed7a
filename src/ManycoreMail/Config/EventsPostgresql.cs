using ManycoreMail.EventStore.Postgres;

namespace ManycoreMail.Config;

/// <summary><c>events/postgresql</c>: the connection string of the event store a cluster shares.</summary>
internal static class EventsPostgresql
{
    /// <summary>The connection string when <paramref name="used"/> (<c>store: postgresql</c>) and valid, else null
    /// with the problem recorded. Problems never quote the value: it may hold a password.</summary>
    public static string? Read(YamlSection section, bool used)
    {
        var value = section.String("postgresql");
        if (!used)
        {
            if (!string.IsNullOrWhiteSpace(value))
            {
                section.Warning("postgresql", "ignored: the event store is sqlite (set events/store: postgresql to use it)");
            }
            return null;
        }
        if (string.IsNullOrWhiteSpace(value))
        {
            section.Error("postgresql", "required with store: postgresql (an Npgsql connection string, e.g. \"Host=db;Database=mailer;Username=mailer;Password=...\")");
            return null;
        }
        if (PostgresConnectionString.Problem(value) is { } problem)
        {
            section.Error("postgresql", problem);
            return null;
        }
        return value;
    }
}
