using ManycoreMail.Config;

namespace ManycoreMail.Tests;

/// <summary>The <c>events</c> section: the store kind and the retention, with precise errors.</summary>
public sealed class EventsConfigTests
{
    private const string Global = """
        reliable-queue:
          queue-names:
            primary-queue: P0
            default-queue: P1
        backdata:
          queue-name: EVENT_QUEUE
        postfix:
          incoming-queue-name: OUT
        """;

    private const string Storage = "storage:\n  path: /var/mailer\n";

    [Fact]
    public void Without_a_section_the_store_is_sqlite_in_storage_path_kept_90_days()
    {
        var loaded = ConfigLoader.Parse(Global, Storage);

        Assert.Equal(90, loaded.Options.Events.RetentionDays);
        Assert.Equal(TimeSpan.FromDays(90), loaded.Options.Events.Retention);
        Assert.Equal(Path.Combine("/var/mailer", "events.db"), EventsOptions.SqlitePath(loaded.Options.Storage));
    }

    [Fact]
    public void Sqlite_and_a_retention_are_read_without_warnings()
    {
        var loaded = ConfigLoader.Parse(Global, Storage + "events:\n  store: sqlite\n  retention-days: 7\n");

        Assert.Equal(7, loaded.Options.Events.RetentionDays);
        Assert.DoesNotContain(loaded.Warnings, w => w.Contains("events", StringComparison.Ordinal));
    }

    [Fact]
    public void Postgresql_with_a_connection_string_is_read_without_warnings()
    {
        var loaded = ConfigLoader.Parse(Global,
            Storage + "events:\n  store: postgresql\n  postgresql: \"Host=db;Database=mailer;Username=mailer;Password=s3cret\"\n", "g.yaml", "c.yaml");

        Assert.Equal("Host=db;Database=mailer;Username=mailer;Password=s3cret", loaded.Options.Events.Postgresql);
        Assert.DoesNotContain(loaded.Warnings, w => w.Contains("events", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("events:\n  store: postgresql\n", "required with store: postgresql")]
    [InlineData("events:\n  store: postgresql\n  postgresql: \"  \"\n", "required with store: postgresql")]
    [InlineData("events:\n  store: postgresql\n  postgresql: \"Database=mailer;Password=s3cret\"\n", "names no Host")]
    public void Postgresql_without_a_usable_connection_string_is_refused_naming_file_and_key(string section, string problem)
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, Storage + section, "g.yaml", "c.yaml"));

        var only = Assert.Single(error.Problems);
        Assert.StartsWith("c.yaml: events/postgresql: " + problem, only, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", only, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=db;Password=zq7;xk9=x")]
    [InlineData("Host=db;Password=zq7;xk9")]
    [InlineData("Host=db;Port=zq7xk9;Password=x")]
    public void A_connection_string_npgsql_cannot_read_is_refused_without_quoting_the_password(string connectionString)
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global,
            Storage + $"events:\n  store: postgresql\n  postgresql: \"{connectionString}\"\n", "g.yaml", "c.yaml"));

        var only = Assert.Single(error.Problems);
        Assert.StartsWith("c.yaml: events/postgresql: is not an Npgsql connection string", only, StringComparison.Ordinal);
        // Neither half of a password cut by its ';' is quoted (Npgsql's own message would name the second as a keyword).
        Assert.DoesNotContain("zq7", only, StringComparison.Ordinal);
        Assert.DoesNotContain("xk9", only, StringComparison.Ordinal);
    }

    [Fact]
    public void A_connection_string_beside_the_sqlite_store_is_a_warning()
    {
        var loaded = ConfigLoader.Parse(Global, Storage + "events:\n  postgresql: \"Host=db\"\n", "g.yaml", "c.yaml");

        Assert.Null(loaded.Options.Events.Postgresql);
        Assert.Contains(loaded.Warnings, w => w.StartsWith("c.yaml: events/postgresql: ignored", StringComparison.Ordinal));
    }

    [Fact]
    public void An_unknown_store_is_refused()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, Storage + "events:\n  store: mysql\n", "g.yaml", "c.yaml"));

        Assert.Contains("c.yaml: events/store: 'mysql' is not an event store; use 'sqlite' or 'postgresql'", error.Problems);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("ninety")]
    public void A_retention_below_one_day_or_not_a_number_is_refused(string days)
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, Storage + $"events:\n  retention-days: {days}\n", "g.yaml", "c.yaml"));

        Assert.Contains(error.Problems, p => p.StartsWith("c.yaml: events/retention-days:", StringComparison.Ordinal));
    }
}
