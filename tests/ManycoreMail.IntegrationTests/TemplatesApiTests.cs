using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ManycoreMail.Templates.Postgres;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary><c>/v1/templates</c> over real HTTP on the API listener.</summary>
public sealed class TemplatesApiTests(TestWorld world) : IClassFixture<TestWorld>
{
    [Fact]
    public async Task Versions_are_stored_listed_read_deleted_and_survive_a_restart()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        using var http = new HttpClient();

        await using (await RunningMailer.StartAsync(config))
        {
            using (var first = await SendAsync(http, config, HttpMethod.Put, "welcome", """{"subject": "Hi {{name}}", "text": "Hello {{name}}"}"""))
            {
                var body = await AssertJsonAsync(first, HttpStatusCode.Created);
                Assert.Equal("welcome", body.GetProperty("name").GetString());
                Assert.Equal(1, body.GetProperty("version").GetInt32());
                Assert.Equal("/v1/templates/welcome?version=1", first.Headers.Location?.OriginalString);
            }
            using (var second = await SendAsync(http, config, HttpMethod.Put, "welcome", """{"subject": "Grüße {{name}}", "html": "<p>{{name}} ✓</p>"}"""))
            {
                Assert.Equal(2, (await AssertJsonAsync(second, HttpStatusCode.Created)).GetProperty("version").GetInt32());
            }
            (await SendAsync(http, config, HttpMethod.Put, "gone", """{"text": "x"}""")).Dispose();

            using (var latest = await SendAsync(http, config, HttpMethod.Get, "welcome"))
            {
                var body = await AssertJsonAsync(latest, HttpStatusCode.OK);
                Assert.Equal(2, body.GetProperty("version").GetInt32());
                Assert.Equal("Grüße {{name}}", body.GetProperty("subject").GetString());
                Assert.Equal(JsonValueKind.Null, body.GetProperty("text").ValueKind);
                Assert.Equal("<p>{{name}} ✓</p>", body.GetProperty("html").GetString());
            }
            using (var first = await SendAsync(http, config, HttpMethod.Get, "welcome?version=1"))
            {
                Assert.Equal("Hello {{name}}", (await AssertJsonAsync(first, HttpStatusCode.OK)).GetProperty("text").GetString());
            }
            using (var missingVersion = await SendAsync(http, config, HttpMethod.Get, "welcome?version=3"))
            {
                await AssertProblemAsync(missingVersion, HttpStatusCode.NotFound, "version");
            }

            using (var deleted = await SendAsync(http, config, HttpMethod.Delete, "gone"))
            {
                Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
            }
            using (var again = await SendAsync(http, config, HttpMethod.Delete, "gone"))
            {
                await AssertProblemAsync(again, HttpStatusCode.NotFound, "name");
            }
            using (var gone = await SendAsync(http, config, HttpMethod.Get, "gone"))
            {
                await AssertProblemAsync(gone, HttpStatusCode.NotFound, "name");
            }
        }

        await using (await RunningMailer.StartAsync(config))
        {
            using var list = await SendAsync(http, config, HttpMethod.Get, "");
            var templates = (await AssertJsonAsync(list, HttpStatusCode.OK)).GetProperty("templates").EnumerateArray()
                .Select(t => $"{t.GetProperty("name").GetString()}@{t.GetProperty("version").GetInt32()}");
            Assert.Equal(["welcome@2"], templates);
        }

        Assert.True(File.Exists(Path.Combine(config.StoragePath, "templates.db")));
    }

    [Fact]
    public async Task Bad_templates_and_requests_are_refused_with_problem_json_naming_the_part_and_line()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        using var http = new HttpClient();

        await using (await RunningMailer.StartAsync(config))
        {
            using (var unparsable = await SendAsync(http, config, HttpMethod.Put, "broken", """{"text": "ok", "html": "<ul>\n{{#items}}\n<li>{{title}}</li>\n</ul>"}"""))
            {
                var problem = await AssertProblemAsync(unparsable, HttpStatusCode.UnprocessableEntity, "html");
                Assert.Equal(2, problem.GetProperty("line").GetInt32());
                Assert.Contains("html: line 2", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            }
            using (var noBody = await SendAsync(http, config, HttpMethod.Put, "empty", """{"subject": "only a subject"}"""))
            {
                await AssertProblemAsync(noBody, HttpStatusCode.BadRequest, "text");
            }
            using (var unknown = await SendAsync(http, config, HttpMethod.Put, "x", """{"text": "a", "body": "b"}"""))
            {
                await AssertProblemAsync(unknown, HttpStatusCode.BadRequest, "body");
            }
            using (var notJson = await SendAsync(http, config, HttpMethod.Put, "x", "{"))
            {
                await AssertProblemAsync(notJson, HttpStatusCode.BadRequest, "body");
            }
            using (var badName = await SendAsync(http, config, HttpMethod.Put, "bad%20name", """{"text": "a"}"""))
            {
                await AssertProblemAsync(badName, HttpStatusCode.BadRequest, "name");
            }
            using (var badVersion = await SendAsync(http, config, HttpMethod.Get, "x?version=0"))
            {
                await AssertProblemAsync(badVersion, HttpStatusCode.BadRequest, "version");
            }

            using var anonymous = await http.GetAsync(new Uri($"http://127.0.0.1:{config.HttpPort}/v1/templates"));
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            using var list = await SendAsync(http, config, HttpMethod.Get, "");
            Assert.Empty((await AssertJsonAsync(list, HttpStatusCode.OK)).GetProperty("templates").EnumerateArray());
        }
    }

    [Fact]
    public async Task With_events_in_postgresql_templates_live_in_the_same_database()
    {
        using var postgres = await PostgresServer.StartAsync();
        var connectionString = await postgres.CreateDatabaseAsync("mailer_templates");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url) { EventsPostgresql = connectionString }.Write();
        using var http = new HttpClient();

        await using (await RunningMailer.StartAsync(config))
        {
            using var put = await SendAsync(http, config, HttpMethod.Put, "shared", """{"text": "Hi {{name}}"}""");
            await AssertJsonAsync(put, HttpStatusCode.Created);
        }

        await using var store = await PostgresTemplateStore.OpenAsync(connectionString, CancellationToken.None);
        Assert.Equal("Hi {{name}}", (await store.GetAsync("shared", null, CancellationToken.None))!.Content.Text);
        Assert.False(File.Exists(Path.Combine(config.StoragePath, "templates.db")));
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, MailerConfig config, HttpMethod method, string path, string? json = null)
    {
        var suffix = path.Length == 0 ? "" : "/" + path;
        using var request = new HttpRequestMessage(method, $"http://127.0.0.1:{config.HttpPort}/v1/templates{suffix}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        return await http.SendAsync(request);
    }

    private static Task<JsonElement> AssertJsonAsync(HttpResponseMessage response, HttpStatusCode status) => ApiAnswers.JsonAsync(response, status);

    private static Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string field) =>
        ApiAnswers.ProblemAsync(response, status, field);
}
