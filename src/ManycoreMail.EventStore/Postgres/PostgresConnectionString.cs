using Npgsql;

namespace ManycoreMail.EventStore.Postgres;

/// <summary>Checks a connection string before anything connects with it, in words fit for a configuration error.</summary>
public static class PostgresConnectionString
{
    /// <summary>What is wrong with <paramref name="connectionString"/>, or null when Npgsql can use it.</summary>
    /// <remarks>The answer never quotes the string or Npgsql's message about it: either may contain the password
    /// (a ';' inside an unquoted password makes its tail look like a keyword of its own).</remarks>
    public static string? Problem(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            return "is not an Npgsql connection string (Key=Value pairs separated by ';', e.g. \"Host=db;Database=mailer;Username=mailer;Password=...\"; quote a value that contains ';')";
        }

        if (string.IsNullOrWhiteSpace(builder.Host))
        {
            return "names no Host (the PostgreSQL server, e.g. \"Host=db;Database=mailer;Username=mailer\")";
        }

        return null;
    }
}
