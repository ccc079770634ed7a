using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ManycoreMail.Cli;
using ManycoreMail.Config;
using ManycoreMail.TestSupport;
using Npgsql;

namespace ManycoreMail.IntegrationTests;

/// <summary><c>events/store: postgresql</c>: backdata appends to the database, <c>GET /v1/events</c> and
/// <c>mailer events</c> read it, and the events are still there after the mailer restarts.</summary>
public sealed class PostgresEventStoreWiringTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_delivered_event_is_stored_in_postgresql_and_read_by_the_api_and_the_cli_across_a_restart()
    {
        using var postgres = await PostgresServer.StartAsync();
        // The cluster trusts loopback, so the password is never checked: it is there to be kept out of the output.
        var connectionString = await postgres.CreateDatabaseAsync("mailer_events") + ";Password=pg-pass-7361";
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url) { EventsPostgresql = connectionString }.Write();
        var uuid = Messages.NewUuid();
        using var http = new HttpClient();

        await using (await RunningMailer.StartAsync(config))
        {
            var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(uuid, "Reader <reader@ok.test>"), Swaks.TlsAuth);
            Assert.True(code == 0, output);
            await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid && (string?)e["event"] == "delivered", Patience, "the delivered event at the webhook");

            var stored = Assert.Single((await GetAsync(http, config, $"uuid={uuid}")).GetProperty("events").EnumerateArray());
            Assert.Equal("delivered", stored.GetProperty("event").GetString());
            Assert.Equal("reader@ok.test", stored.GetProperty("email").GetString());
        }

        // In the database, not in a SQLite file under storage/path.
        Assert.False(File.Exists(Path.Combine(config.StoragePath, EventsOptions.SqliteFileName)));
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var count = new NpgsqlCommand("SELECT count(*) FROM events WHERE uuid = @uuid", connection);
            count.Parameters.AddWithValue("uuid", uuid);
            Assert.Equal(1L, await count.ExecuteScalarAsync());
        }

        await using (await RunningMailer.StartAsync(config))
        {
            var again = Assert.Single((await GetAsync(http, config, $"uuid={uuid}")).GetProperty("events").EnumerateArray());
            Assert.Equal("delivered", again.GetProperty("event").GetString());
        }

        var (cliCode, printed, errors) = await CliAsync("events", "--json", "--uuid", uuid, "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);
        Assert.True(cliCode == 0, errors);
        using var line = JsonDocument.Parse(Assert.Single(printed.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal(uuid, line.RootElement.GetProperty("uuid").GetString());
        Assert.Equal("delivered", line.RootElement.GetProperty("event").GetString());
        Assert.True(line.RootElement.GetProperty("id").GetInt64() > 0);
        Assert.DoesNotContain("pg-pass-7361", printed + errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_postgresql_the_suppression_list_is_in_the_database_and_stops_the_next_send()
    {
        using var postgres = await PostgresServer.StartAsync();
        var connectionString = await postgres.CreateDatabaseAsync("mailer_suppressions");
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url) { EventsPostgresql = connectionString }.Write();
        using var http = new HttpClient();

        // Added by the CLI, as a second process of a cluster would: the running mailer sees it in the database.
        var (addCode, _, addErrors) = await CliAsync("suppressions", "add", "Gone@OK.test", "--reason", "manual",
            "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);
        Assert.True(addCode == 0, addErrors);
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var count = new NpgsqlCommand("SELECT count(*) FROM suppressions WHERE email = 'gone@ok.test'", connection);
            Assert.Equal(1L, await count.ExecuteScalarAsync());
        }
        Assert.False(File.Exists(SuppressionOptions.SqlitePath(new StorageOptions(config.StoragePath))));

        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();
        var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(uuid, "gone@ok.test"), Swaks.TlsAuth);
        Assert.True(code == 0, output);

        var listed = Assert.Single((await GetAsync(http, config, $"uuid={uuid}&event=suppressed", "/v1/events")).GetProperty("events").EnumerateArray());
        Assert.Equal("gone@ok.test", listed.GetProperty("email").GetString());
        Assert.Equal("manual", listed.GetProperty("reason").GetString());
        var entry = Assert.Single((await GetAsync(http, config, "email=gone@ok.test", "/v1/suppressions")).GetProperty("suppressions").EnumerateArray());
        Assert.Equal("global", entry.GetProperty("scope").GetString());
        Assert.Empty(sink.Messages());
    }

    [Fact]
    public async Task The_cli_on_a_database_without_an_event_store_says_so_without_the_connection_string()
    {
        using var postgres = await PostgresServer.StartAsync();
        var connectionString = await postgres.CreateDatabaseAsync("empty_events") + ";Password=pg-pass-7361";
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url) { EventsPostgresql = connectionString }.Write();

        var (code, printed, errors) = await CliAsync("events", "--json", "--global-config-file", config.GlobalFile, "--customer-config-file", config.CustomerFile);

        Assert.Equal(0, code);
        Assert.Empty(printed);
        Assert.Contains("No event store in the PostgreSQL database of events/postgresql yet", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("pg-pass-7361", errors, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> GetAsync(HttpClient http, MailerConfig config, string query, string path = "/v1/events")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{config.HttpPort}{path}?{query}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var json = JsonDocument.Parse(body);
        return json.RootElement.Clone();
    }

    private static async Task<(int Code, string Output, string Errors)> CliAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await MailerCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = errors });
        return (code, output.ToString(), errors.ToString());
    }
}
