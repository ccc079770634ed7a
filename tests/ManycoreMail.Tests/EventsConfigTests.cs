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
    public void Postgresql_is_refused_as_not_supported_yet_naming_file_and_key()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global,
            Storage + "events:\n  store: postgresql\n  postgresql: \"Host=db\"\n", "g.yaml", "c.yaml"));

        var problem = Assert.Single(error.Problems);
        Assert.StartsWith("c.yaml: events/store: 'postgresql' is not supported yet", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_store_is_refused()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, Storage + "events:\n  store: mysql\n", "g.yaml", "c.yaml"));

        Assert.Contains("c.yaml: events/store: 'mysql' is not an event store; use 'sqlite'", error.Problems);
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
