using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Suppression;
using ManycoreMail.Suppression.Sqlite;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary><c>/v1/suppressions</c> over real HTTP on the API listener, and the host's one list per process.</summary>
public sealed class SuppressionsApiTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Entries_are_added_listed_removed_and_survive_a_restart()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        using var http = new HttpClient();

        await using (await RunningMailer.StartAsync(config))
        {
            using (var created = await SendAsync(http, config, HttpMethod.Post, "",
                """{"email": " Jane@Example.COM ", "scope": "sender", "value": "News@Shop.Example", "reason": "unsubscribe", "expires": "2999-01-31T00:00:00Z"}"""))
            {
                Assert.Equal(HttpStatusCode.Created, created.StatusCode);
                Assert.Equal("application/json", created.Content.Headers.ContentType?.MediaType);
                var entry = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement;
                Assert.Equal("jane@example.com", entry.GetProperty("email").GetString());
                Assert.Equal("sender", entry.GetProperty("scope").GetString());
                Assert.Equal("news@shop.example", entry.GetProperty("value").GetString());
                Assert.Equal("unsubscribe", entry.GetProperty("reason").GetString());
                Assert.Equal("2999-01-31T00:00:00Z", entry.GetProperty("expires").GetString());
                Assert.EndsWith("Z", entry.GetProperty("created").GetString(), StringComparison.Ordinal);
                Assert.Equal("/v1/suppressions?email=jane%40example.com", created.Headers.Location?.OriginalString);
            }
            using (var global = await SendAsync(http, config, HttpMethod.Post, "", """{"email": "jane@example.com"}"""))
            {
                Assert.Equal(HttpStatusCode.Created, global.StatusCode);
                var entry = JsonDocument.Parse(await global.Content.ReadAsStringAsync()).RootElement;
                Assert.Equal("global", entry.GetProperty("scope").GetString());
                Assert.Equal(JsonValueKind.Null, entry.GetProperty("value").ValueKind);
                Assert.Equal("manual", entry.GetProperty("reason").GetString());
                Assert.Equal(JsonValueKind.Null, entry.GetProperty("expires").ValueKind);
            }
            (await SendAsync(http, config, HttpMethod.Post, "", """{"email": "other@example.com", "scope": "tenant", "value": "Acme"}""")).Dispose();

            var jane = await GetAsync(http, config, "email=JANE@example.com");
            Assert.Equal(["global", "sender"], jane.GetProperty("suppressions").EnumerateArray().Select(e => e.GetProperty("scope").GetString()));
            Assert.Equal(JsonValueKind.Null, jane.GetProperty("next").ValueKind);

            // Every entry, a page at a time.
            var seen = new List<string>();
            var page = await GetAsync(http, config, "limit=2");
            seen.AddRange(page.GetProperty("suppressions").EnumerateArray().Select(e => e.GetProperty("email").GetString()!));
            var next = page.GetProperty("next").GetString();
            Assert.NotNull(next);
            page = await GetAsync(http, config, "limit=2&after=" + Uri.EscapeDataString(next!));
            seen.AddRange(page.GetProperty("suppressions").EnumerateArray().Select(e => e.GetProperty("email").GetString()!));
            Assert.Equal(JsonValueKind.Null, page.GetProperty("next").ValueKind);
            Assert.Equal(["jane@example.com", "jane@example.com", "other@example.com"], seen);

            using (var removed = await SendAsync(http, config, HttpMethod.Delete, "email=jane@example.com&scope=sender&value=NEWS@shop.example"))
            {
                Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
            }
            using (var again = await SendAsync(http, config, HttpMethod.Delete, "email=jane@example.com&scope=sender&value=news@shop.example"))
            {
                Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
                Assert.Equal("application/problem+json", again.Content.Headers.ContentType?.MediaType);
            }
        }

        await using (await RunningMailer.StartAsync(config))
        {
            var all = (await GetAsync(http, config, "")).GetProperty("suppressions").EnumerateArray()
                .Select(e => e.GetProperty("email").GetString() + " " + e.GetProperty("scope").GetString()).ToArray();
            Assert.Equal(["jane@example.com global", "other@example.com tenant"], all);
        }
    }

    [Theory]
    [InlineData("""{"email": "not-an-address"}""", "email")]
    [InlineData("""{"email": "Jane <jane@example.com>"}""", "email")]
    [InlineData("""{"scope": "global"}""", "email")]
    [InlineData("""{"email": "jane@example.com", "scope": "planet"}""", "scope")]
    [InlineData("""{"email": "jane@example.com", "value": "x"}""", "value")]
    [InlineData("""{"email": "jane@example.com", "scope": "domain"}""", "value")]
    [InlineData("""{"email": "jane@example.com", "scope": "sender", "value": "nobody"}""", "value")]
    [InlineData("""{"email": "jane@example.com", "reason": "boredom"}""", "reason")]
    [InlineData("""{"email": "jane@example.com", "expires": "tomorrow"}""", "expires")]
    [InlineData("""{"email": "jane@example.com", "expires": "2001-01-01T00:00:00Z"}""", "expires")]
    [InlineData("""{"email": "jane@example.com", "colour": "blue"}""", "colour")]
    [InlineData("""{"email": 42}""", "email")]
    [InlineData("""["jane@example.com"]""", "body")]
    [InlineData("""{"email": """, "body")]
    public async Task A_bad_entry_is_refused_naming_its_field(string json, string field)
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        using var http = new HttpClient();
        await using var mailer = await RunningMailer.StartAsync(config);

        await AssertBadRequestAsync(await SendAsync(http, config, HttpMethod.Post, "", json), field);
        Assert.Empty((await GetAsync(http, config, "")).GetProperty("suppressions").EnumerateArray());
    }

    [Fact]
    public async Task Bad_queries_and_missing_credentials_are_refused()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        using var http = new HttpClient();
        await using var mailer = await RunningMailer.StartAsync(config);

        await AssertBadRequestAsync(await SendAsync(http, config, HttpMethod.Get, "after=not-a-cursor"), "after");
        await AssertBadRequestAsync(await SendAsync(http, config, HttpMethod.Get, "limit=0"), "limit");
        await AssertBadRequestAsync(await SendAsync(http, config, HttpMethod.Get, "email=nobody"), "email");
        await AssertBadRequestAsync(await SendAsync(http, config, HttpMethod.Get, "colour=blue"), "colour");
        await AssertBadRequestAsync(await SendAsync(http, config, HttpMethod.Delete, "scope=global"), "email");
        await AssertBadRequestAsync(await SendAsync(http, config, HttpMethod.Delete, "email=a@example.com&scope=domain"), "value");
        using var anonymous = await http.PostAsync($"http://127.0.0.1:{config.HttpPort}/v1/suppressions",
            new StringContent("""{"email": "jane@example.com"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Empty((await GetAsync(http, config, "")).GetProperty("suppressions").EnumerateArray());
    }

    [Fact]
    public async Task The_process_running_backdata_purges_expired_entries()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        var storage = new StorageOptions(config.StoragePath);
        Directory.CreateDirectory(storage.Path);
        await using (var seed = SqliteSuppressionStore.Open(new SqliteSuppressionStoreOptions { Path = SuppressionOptions.SqlitePath(storage) }))
        {
            var now = DateTimeOffset.UtcNow;
            await seed.AddAsync([
                SuppressionEntry.Create("gone@example.com", SuppressionScope.Global, null, SuppressionReason.Manual, now.AddDays(-2), now.AddDays(-1)),
                SuppressionEntry.Create("kept@example.com", SuppressionScope.Global, null, SuppressionReason.Manual, now),
            ], CancellationToken.None);
        }

        await using var mailer = await RunningMailer.StartAsync(config);

        await Eventually.TrueAsync(async () =>
        {
            var page = await mailer.Host.Suppressions.ListAsync(new SuppressionQuery(), CancellationToken.None);
            return page.Entries.Count == 1;
        }, Patience, "the expired entry purged at start");
        Assert.Equal("kept@example.com", Assert.Single((await mailer.Host.Suppressions.ListAsync(new SuppressionQuery(), CancellationToken.None)).Entries).Email);
        Assert.Same(mailer.Host.Suppressions, mailer.Host.Suppressions);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, MailerConfig config, HttpMethod method, string query, string? json = null)
    {
        using var request = new HttpRequestMessage(method, $"http://127.0.0.1:{config.HttpPort}/v1/suppressions?{query}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        return await http.SendAsync(request);
    }

    private static async Task<JsonElement> GetAsync(HttpClient http, MailerConfig config, string query)
    {
        using var response = await SendAsync(http, config, HttpMethod.Get, query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(body);
        return json.RootElement.Clone();
    }

    private static async Task AssertBadRequestAsync(HttpResponseMessage response, string field)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(field, JsonDocument.Parse(body).RootElement.GetProperty("field").GetString());
        }
    }
}
