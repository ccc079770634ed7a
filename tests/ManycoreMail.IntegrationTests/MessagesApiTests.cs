using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Sending;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Time.Testing;
using MimeKit;

namespace ManycoreMail.IntegrationTests;

/// <summary><c>POST /v1/messages</c> over real HTTP: what arrives at smtp-sink, read by MimeKit, Python's email package
/// and dkimpy; templates, refusals, idempotency and held sends.</summary>
public sealed class MessagesApiTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Text_html_attachment_and_inline_image_arrive_per_recipient_as_signed_MIME_with_their_substitutions()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        using var http = new HttpClient();
        var pdf = RandomNumberGenerator.GetBytes(5000);
        var png = RandomNumberGenerator.GetBytes(700);
        var names = new[] { ("ann@ok.test", "Ann"), ("bob@ok.test", "Bøb"), ("cy@ok.test", "Cy <&>") };
        var recipients = JsonSerializer.Serialize(names.Select(n => new { email = n.Item1, name = "Reader", substitutions = new { name = n.Item2 } }));
        var json = $$"""
            {"from": "Näws <news@sender.test>", "reply_to": "help@sender.test", "subject": "Grüße {{"{{name}}"}}",
             "text": "Hi {{"{{name}}"}}, from {{"{{shop}}"}}", "html": "<p>Hi {{"{{name}}"}}</p><img src=\"cid:logo@sender.test\">",
             "recipients": {{recipients}}, "substitutions": {"shop": "Example", "name": "nobody"},
             "headers": {"X-Campaign-Ref": "42"}, "campaign": "spring",
             "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "content": "{{Convert.ToBase64String(pdf)}}"},
                             {"filename": "logo.png", "content_type": "image/png", "content": "{{Convert.ToBase64String(png)}}", "inline": true, "content_id": "logo@sender.test"}]}
            """;

        using var response = await PostAsync(http, config, json);

        var accepted = await AssertJsonAsync(response, HttpStatusCode.Accepted);
        var uuids = accepted.GetProperty("messages").EnumerateArray().ToDictionary(m => m.GetProperty("email").GetString()!, m => m.GetProperty("uuid").GetString()!);
        Assert.Equal(names.Select(n => n.Item1), uuids.Keys);
        Assert.All(uuids.Values, u => Assert.Matches("^[a-z0-9]{32}$", u));
        var sent = await sink.WaitForMessagesAsync(3, Patience);
        Assert.Equal(3, sent.Count);
        foreach (var (email, name) in names)
        {
            var message = Assert.Single(sent, m => m.Recipients.SequenceEqual([email]));
            var (valid, verifier) = await world.VerifyDkimAsync(message.Message);
            Assert.True(valid, verifier + "\n" + message.Text);
            Assert.Contains($"Message-ID: <{uuids[email]}@", message.Text, StringComparison.Ordinal);
            Assert.Contains("X-Campaign-Ref: 42", message.Text, StringComparison.Ordinal);
            Assert.DoesNotMatch("[^\\x00-\\x7F]", message.Text);

            using var parsed = MimeMessage.Load(new MemoryStream(message.Message));
            Assert.Equal($"Grüße {name}", parsed.Subject);
            Assert.Equal("Näws", ((MailboxAddress)parsed.From[0]).Name);
            Assert.Equal("help@sender.test", ((MailboxAddress)parsed.ReplyTo[0]).Address);
            Assert.Equal(email, ((MailboxAddress)parsed.To[0]).Address);
            Assert.Equal("1.0", parsed.Headers[HeaderId.MimeVersion]);
            var mixed = Assert.IsType<Multipart>(parsed.Body);
            Assert.Equal("multipart/mixed", mixed.ContentType.MimeType);
            var alternative = Assert.IsType<MultipartAlternative>(mixed[0]);
            Assert.Equal($"Hi {name}, from Example", ((TextPart)alternative[0]).Text);
            var related = Assert.IsType<MultipartRelated>(alternative[1]);
            Assert.Equal($"<p>Hi {WebUtility.HtmlEncode(name)}</p><img src=\"cid:logo@sender.test\">", ((TextPart)related[0]).Text);
            var image = Assert.IsType<MimePart>(related[1]);
            Assert.Equal("logo@sender.test", image.ContentId);
            Assert.Equal(png, Decoded(image));
            var attachment = Assert.IsType<MimePart>(mixed[1]);
            Assert.Equal("a.pdf", attachment.FileName);
            Assert.Equal(pdf, Decoded(attachment));

            var python = await PythonReadAsync(message.Message);
            Assert.Equal(0, python.GetProperty("defects").GetArrayLength());
            Assert.Equal($"Grüße {name}", python.GetProperty("subject").GetString());
            Assert.Equal(["multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png", "application/pdf"],
                python.GetProperty("parts").EnumerateArray().Select(p => p.GetProperty("type").GetString()));
            var parts = python.GetProperty("parts").EnumerateArray().ToArray();
            Assert.Equal($"Hi {name}, from Example", parts[2].GetProperty("text").GetString()!.TrimEnd('\n'));
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(png)), parts[5].GetProperty("sha256").GetString());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(pdf)), parts[6].GetProperty("sha256").GetString());
        }
    }

    [Fact]
    public async Task A_template_is_sent_by_name_as_its_latest_version_and_by_name_at_version()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        using var http = new HttpClient();
        (await PutTemplateAsync(http, config, "welcome", """{"subject": "One {{name}}", "text": "first {{name}}"}""")).Dispose();
        (await PutTemplateAsync(http, config, "welcome", """{"subject": "Two {{name}}", "html": "<b>second {{name}}</b>"}""")).Dispose();

        using var latest = await PostAsync(http, config, Send("welcome", "ann@ok.test"));
        using var first = await PostAsync(http, config, Send("welcome@1", "bob@ok.test"));

        await AssertJsonAsync(latest, HttpStatusCode.Accepted);
        await AssertJsonAsync(first, HttpStatusCode.Accepted);
        var sent = await sink.WaitForMessagesAsync(2, Patience);
        using var two = MimeMessage.Load(new MemoryStream(Assert.Single(sent, m => m.Recipients.SequenceEqual(["ann@ok.test"])).Message));
        Assert.Equal("Two R&D", two.Subject);
        // A single-part body ends with its line break.
        Assert.Equal("<b>second R&amp;D</b>", two.HtmlBody?.TrimEnd());
        Assert.Null(two.TextBody);
        using var one = MimeMessage.Load(new MemoryStream(Assert.Single(sent, m => m.Recipients.SequenceEqual(["bob@ok.test"])).Message));
        Assert.Equal("One R&D", one.Subject);
        Assert.Equal("first R&D", one.TextBody?.TrimEnd());

        static string Send(string template, string to) =>
            """{"from": "news@sender.test", "template": "TEMPLATE", "recipients": [{"email": "TO", "substitutions": {"name": "R&D"}}]}"""
                .Replace("TEMPLATE", template, StringComparison.Ordinal).Replace("TO", to, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refusals_are_problem_json_naming_the_field_or_the_template_part_and_line()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        using var http = new HttpClient();
        (await PutTemplateAsync(http, config, "strict", "{\"text\": \"Hello\\n{{name}}\\n\", \"html\": \"<p>\\n\\n{{missing}}</p>\"}")).Dispose();

        using (var badField = await PostAsync(http, config, """{"from": "news@sender.test", "text": "x", "recipients": [{"email": "not an address"}]}"""))
        {
            await AssertProblemAsync(badField, HttpStatusCode.BadRequest, "recipients[0].email");
        }
        // The first recipient renders; the second does not, and neither is queued.
        using (var strict = await PostAsync(http, config, """{"from": "news@sender.test", "template": "strict", "strict": true, "substitutions": {"name": "A"}, "recipients": [{"email": "a@ok.test", "substitutions": {"missing": "m"}}, {"email": "b@ok.test"}]}"""))
        {
            var problem = await AssertProblemAsync(strict, HttpStatusCode.UnprocessableEntity, "html");
            Assert.Equal(3, problem.GetProperty("line").GetInt32());
            Assert.Equal(1, problem.GetProperty("recipient").GetInt32());
            Assert.Contains("missing", problem.GetProperty("errors")[0].GetProperty("message").GetString(), StringComparison.Ordinal);
        }
        using (var unparsable = await PostAsync(http, config, """{"from": "news@sender.test", "text": "a\n{{#open}}", "recipients": [{"email": "a@ok.test"}]}"""))
        {
            var problem = await AssertProblemAsync(unparsable, HttpStatusCode.UnprocessableEntity, "text");
            Assert.Equal(2, problem.GetProperty("line").GetInt32());
        }
        using (var unknown = await PostAsync(http, config, """{"from": "news@sender.test", "template": "strict@9", "recipients": [{"email": "a@ok.test"}]}"""))
        {
            await AssertProblemAsync(unknown, HttpStatusCode.UnprocessableEntity, "template");
        }
        using (var tooFar = await PostAsync(http, config, """{"from": "news@sender.test", "text": "x", "send_at": "2099-01-01T00:00:00Z", "recipients": [{"email": "a@ok.test"}]}"""))
        {
            await AssertProblemAsync(tooFar, HttpStatusCode.UnprocessableEntity, "send_at");
        }
        using (var badKey = await PostAsync(http, config, """{"from": "news@sender.test", "text": "x", "recipients": [{"email": "a@ok.test"}]}""", key: new string('k', 256)))
        {
            await AssertProblemAsync(badKey, HttpStatusCode.BadRequest, "Idempotency-Key");
        }
        using (var malformed = await PostAsync(http, config, """{"from": """))
        {
            var problem = await AssertProblemAsync(malformed, HttpStatusCode.BadRequest, "");
            Assert.Contains("malformed JSON", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        using (var notJson = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/messages"))
        {
            notJson.Headers.Authorization = Admin;
            notJson.Content = new StringContent("from=x", Encoding.UTF8, "application/x-www-form-urlencoded");
            using var response = await http.SendAsync(notJson);
            await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "Content-Type");
        }
        using var anonymous = await http.PostAsync(new Uri($"http://127.0.0.1:{config.HttpPort}/v1/messages"), new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.DoesNotContain("nbr_emails_enqueued_total 1", await mailer.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_same_idempotency_key_and_body_answers_the_first_answer_and_sends_once_another_body_is_a_conflict()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config);
        using var http = new HttpClient();
        const string body = """{"from": "news@sender.test", "text": "once", "recipients": [{"email": "ann@ok.test"}]}""";

        // A refused request is not remembered: its key may carry the fixed request.
        using var refused = await PostAsync(http, config, body.Replace("ann@ok.test", "ann@", StringComparison.Ordinal), key: "order-17");
        await AssertProblemAsync(refused, HttpStatusCode.BadRequest, "recipients[0].email");
        using var first = await PostAsync(http, config, body, key: "order-17");
        using var again = await PostAsync(http, config, body, key: "order-17");
        using var other = await PostAsync(http, config, body.Replace("once", "twice", StringComparison.Ordinal), key: "order-17");

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        var firstAnswer = await first.Content.ReadAsByteArrayAsync();
        Assert.Equal(firstAnswer, await again.Content.ReadAsByteArrayAsync());
        await AssertProblemAsync(other, HttpStatusCode.Conflict, "Idempotency-Key");
        Assert.Contains("nbr_emails_enqueued_total 1.0", await mailer.MetricsAsync(), StringComparison.Ordinal);
        // A later send without a key arrives after the first: had the replay queued a copy, it would be there by then.
        using var marker = await PostAsync(http, config, """{"from": "news@sender.test", "text": "marker", "recipients": [{"email": "bob@ok.test"}]}""");
        Assert.Equal(HttpStatusCode.Accepted, marker.StatusCode);
        await sink.WaitForMessagesAsync(2, Patience);
        Assert.Single(sink.Messages(), m => m.Recipients.SequenceEqual(["ann@ok.test"]));
        Assert.Contains("nbr_emails_enqueued_total 2.0", await mailer.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_future_send_is_held_as_its_request_and_composed_with_the_template_as_it_is_at_send_time()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        using var http = new HttpClient();
        var sendAt = DateTimeOffset.UtcNow.AddHours(1);
        string uuid;
        await using (var mailer = await RunningMailer.StartAsync(config))
        {
            (await PutTemplateAsync(http, config, "remind", """{"text": "old {{name}}"}""")).Dispose();
            using var response = await PostAsync(http, config, $$$"""
                {"from": "news@sender.test", "template": "remind", "send_at": "{{{sendAt:yyyy-MM-ddTHH:mm:ssZ}}}",
                 "recipients": [{"email": "ann@ok.test", "substitutions": {"name": "Ann"}}, {"email": "bob@ok.test", "uuid": "bob1", "substitutions": {"name": "Bob"}}]}
                """);
            var messages = (await AssertJsonAsync(response, HttpStatusCode.Accepted)).GetProperty("messages");
            uuid = messages[0].GetProperty("uuid").GetString()!;
            Assert.Equal("bob1", messages[1].GetProperty("uuid").GetString());
            Assert.DoesNotContain("nbr_emails_enqueued_total 1", await mailer.MetricsAsync(), StringComparison.Ordinal);
            (await PutTemplateAsync(http, config, "remind", """{"text": "new {{name}}"}""")).Dispose();
        }

        var later = new FakeTimeProvider(sendAt.AddMinutes(1));
        var held = new List<(string? Uuid, string? Format, byte[] Body)>();
        await using (var spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(config.StoragePath, "spool") }, later, CancellationToken.None))
        {
            foreach (var item in await spool.LeaseAsync("SCHEDULED-MAIL-QUEUE", 10, TimeSpan.FromMinutes(1), CancellationToken.None))
            {
                held.Add((item.Envelope.Uuid, item.Envelope.BodyFormat, item.Body.ToArray()));
            }
        }
        Assert.Equal(new[] { uuid, "bob1" }.Order(StringComparer.Ordinal), held.Select(h => h.Uuid).Order(StringComparer.Ordinal));
        Assert.All(held, h => Assert.Equal(HeldSend.BodyFormat, h.Format));

        await using (var mailer = await RunningMailer.StartAsync(config))
        {
            var ann = held.Single(h => h.Uuid == uuid);
            var outcome = Assert.IsType<HeldSendOutcome.Composed>(await mailer.Host.SendComposer.ComposeAsync(ann.Body, CancellationToken.None));
            Assert.False(outcome.IsPrimary);
            using var message = MimeMessage.Load(new MemoryStream(outcome.Message.ToArray()));
            Assert.Equal(uuid, message.Headers["X-Uuid"]);
            Assert.Equal("new Ann", message.TextBody?.TrimEnd());
            Assert.Equal("ann@ok.test", ((MailboxAddress)message.To.Single()).Address);
        }
    }

    [Fact]
    public async Task A_login_with_a_tenant_sends_as_it_and_is_refused_another_and_a_request_too_large_to_compose_is_413()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        await using var mailer = await RunningMailer.StartAsync(config, options => options with
        {
            HttpReceiver = options.HttpReceiver! with { Logins = [new Credential("admin", "secret", "acme")], MaxReceivingBytes = 64 * 1024 },
        });
        using var http = new HttpClient();
        const string send = """{"from": "news@sender.test", "text": "x", TENANT"recipients": [{"email": "a@ok.test"}]}""";

        using var own = await PostAsync(http, config, send.Replace("TENANT", "", StringComparison.Ordinal));
        using var same = await PostAsync(http, config, send.Replace("TENANT", "\"tenant\": \"acme\", ", StringComparison.Ordinal));
        using var other = await PostAsync(http, config, send.Replace("TENANT", "\"tenant\": \"other\", ", StringComparison.Ordinal));
        var many = string.Join(",", Enumerable.Range(0, 10).Select(i => $$"""{"email": "r{{i}}@ok.test"}"""));
        using var tooLarge = await PostAsync(http, config, $$"""{"from": "news@sender.test", "text": "{{new string('x', 5000)}}", "recipients": [{{many}}]}""");

        await AssertJsonAsync(own, HttpStatusCode.Accepted);
        await AssertJsonAsync(same, HttpStatusCode.Accepted);
        var refused = await AssertProblemAsync(other, HttpStatusCode.Forbidden, "tenant");
        Assert.Contains("acme", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertProblemAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge, "recipients");
        Assert.Contains("nbr_emails_enqueued_total 2.0", await mailer.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_events_in_postgresql_idempotency_keys_live_in_the_same_database()
    {
        using var postgres = await PostgresServer.StartAsync();
        var connectionString = await postgres.CreateDatabaseAsync("mailer_idempotency");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url) { EventsPostgresql = connectionString }.Write();
        using var http = new HttpClient();

        await using (await RunningMailer.StartAsync(config))
        {
            using var sent = await PostAsync(http, config, """{"from": "news@sender.test", "text": "x", "recipients": [{"email": "a@ok.test"}]}""", key: "pg-key");
            await AssertJsonAsync(sent, HttpStatusCode.Accepted);
        }

        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT scope, status FROM idempotency_keys WHERE key = 'pg-key'", connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(("admin", 202), (reader.GetString(0), reader.GetInt32(1)));
        Assert.False(File.Exists(Path.Combine(config.StoragePath, "idempotency.db")));
    }

    private static byte[] Decoded(MimePart part)
    {
        using var bytes = new MemoryStream();
        part.Content!.DecodeTo(bytes);
        return bytes.ToArray();
    }

    /// <summary>Python's email package (policy default) over the bytes: defects, subject, and each part's type, text or
    /// SHA-256 of its decoded payload.</summary>
    private async Task<JsonElement> PythonReadAsync(byte[] message)
    {
        var file = Path.Combine(world.Directory, Guid.NewGuid().ToString("N") + ".eml");
        await File.WriteAllBytesAsync(file, message);
        const string script = """
            import sys, json, hashlib
            from email.parser import BytesParser
            from email import policy
            msg = BytesParser(policy=policy.default).parse(open(sys.argv[1], "rb"))
            parts = []
            for part in msg.walk():
                entry = {"type": part.get_content_type()}
                if part.is_multipart():
                    pass
                elif part.get_content_maintype() == "text":
                    entry["text"] = part.get_content()
                else:
                    entry["sha256"] = hashlib.sha256(part.get_payload(decode=True)).hexdigest()
                parts.append(entry)
            defects = [str(d) for p in msg.walk() for d in p.defects]
            print(json.dumps({"subject": str(msg["Subject"]), "defects": defects, "parts": parts}))
            """;
        var (code, output) = await PeerProcess.RunAsync("/usr/bin/python3", ["-c", script, file], TimeSpan.FromSeconds(30));
        Assert.True(code == 0, output);
        var line = output.Split('\n').Single(l => l.StartsWith('{'));
        using var json = JsonDocument.Parse(line);
        return json.RootElement.Clone();
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, MailerConfig config, string json, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{config.HttpPort}/v1/messages");
        request.Headers.Authorization = Admin;
        if (key is not null)
        {
            request.Headers.Add("Idempotency-Key", key);
        }
        request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return await http.SendAsync(request);
    }

    private static async Task<HttpResponseMessage> PutTemplateAsync(HttpClient http, MailerConfig config, string name, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"http://127.0.0.1:{config.HttpPort}/v1/templates/{name}");
        request.Headers.Authorization = Admin;
        request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        var response = await http.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return response;
    }

    private static AuthenticationHeaderValue Admin => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));

    private static Task<JsonElement> AssertJsonAsync(HttpResponseMessage response, HttpStatusCode status) => ApiAnswers.JsonAsync(response, status);

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string field)
    {
        var root = await ApiAnswers.ProblemAsync(response, status, field);
        Assert.Equal((int)status, root.GetProperty("status").GetInt32());
        Assert.True(root.TryGetProperty("type", out _) && root.TryGetProperty("title", out _), root.ToString());
        Assert.Equal(field, root.GetProperty("errors")[0].GetProperty("field").GetString());
        return root;
    }
}
