using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ManycoreMail.Config;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>Dev mode: the built-in local configuration (on free ports and a private directory) run as <c>mailer run</c>
/// does. The sender connects nowhere (<c>sender/sink: true</c>): the message lands in storage/path/outbox exactly as it
/// would have been sent, a delivered event is stored, no webhook is configured and nothing warns about one, and the
/// start banner says what to try.</summary>
public sealed partial class SinkModeTests(TestWorld world) : IClassFixture<TestWorld>, IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("mm-sink-");

    [Fact]
    public async Task The_local_configuration_writes_the_exact_message_to_the_outbox_stores_a_delivered_event_and_never_warns_about_a_webhook()
    {
        var (mailer, data, rsa, smtpPort, httpPort) = await StartLocalMailerAsync();
        using var running = mailer;
        using var key = rsa;
        Assert.Contains($"swaks --server 127.0.0.1:{smtpPort} --from me@localhost", mailer.Output);
        // Started from files, whose passwords may be secrets: the banner does not show them.
        Assert.Contains($"curl -u local:PASSWORD -H 'Content-Type: application/json' http://127.0.0.1:{httpPort}/v1/messages", mailer.Output);
        Assert.Contains("Then look at ./data/outbox/", mailer.Output);

        var uuid = Messages.NewUuid();
        var (code, output) = await Swaks.SendAsync(new IPEndPoint(IPAddress.Loopback, smtpPort),
            $"From: Me <me@localhost>\r\nTo: you@example.org\r\nSubject: dev mode\r\nX-Uuid: {uuid}\r\n\r\nHello\r\n");
        Assert.True(code == 0, output);

        using var http = new HttpClient();
        using var deliveredJson = JsonDocument.Parse(await Eventually.GetAsync(() => DeliveredEventAsync(http, httpPort, uuid), Patience, "the delivered event in the event store"));
        var delivered = deliveredJson.RootElement;
        Assert.Equal("you@example.org", delivered.GetProperty("email").GetString());
        Assert.EndsWith("@localhost", delivered.GetProperty("return-path").GetString());
        var file = delivered.GetProperty("outbox").GetString()!;
        Assert.Equal(Path.Combine(data, "outbox", uuid + "-1.eml"), file);
        await Eventually.TrueAsync(() => mailer.Output.Contains($"Message {uuid}: written to", StringComparison.Ordinal), Patience, "the sender's log line");

        // Byte for byte what a real MX would have received: the DKIM signature verifies (dkimpy, the key given directly).
        var (valid, verification) = await VerifyDkimAsync(file, Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo()));
        Assert.True(valid, verification);
        var written = await File.ReadAllTextAsync(file);
        Assert.Contains("Subject: dev mode\r\n", written, StringComparison.Ordinal);
        Assert.Contains("\r\n\r\nHello\r\n", written, StringComparison.Ordinal);

        Assert.DoesNotContain("Posting", mailer.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Connection refused", mailer.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("post-url", mailer.Output.Replace("No backdata/post-url: events are stored only", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.False(mailer.HasExited, mailer.Output);
    }

    [Fact]
    public async Task With_sink_on_no_site_is_contacted_each_domain_is_one_signed_eml_and_the_webhook_gets_delivered_events()
    {
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        var uuid = Messages.NewUuid();

        // No SMTP sink is running for ok.test or other.test: only the outbox can deliver.
        await using (await RunningMailer.StartAsync(config, options => options with { Sender = options.Sender with { Sink = true } }))
        {
            var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(uuid, "first@ok.test", "Cc: second@other.test\r\n"), Swaks.TlsAuth);
            Assert.True(code == 0, output);
            await Eventually.TrueAsync(() => webhook.Events.Count(e => (string?)e["uuid"] == uuid && (string?)e["event"] == "delivered") == 2, Patience,
                "a delivered event per recipient at the webhook");
        }

        var events = webhook.Events.Where(e => (string?)e["uuid"] == uuid).ToArray();
        Assert.All(events, e => Assert.Equal("delivered", (string?)e["event"]));
        var files = events.Select(e => (string)e["outbox"]!).Order(StringComparer.Ordinal).ToArray();
        var outbox = Path.Combine(config.StoragePath, "outbox");
        Assert.Equal([Path.Combine(outbox, uuid + "-1.eml"), Path.Combine(outbox, uuid + "-2.eml")], files);
        Assert.Equal(files, Directory.GetFiles(outbox).Order(StringComparer.Ordinal));
        foreach (var file in files)
        {
            var (valid, verification) = await world.VerifyDkimAsync(await File.ReadAllBytesAsync(file));
            Assert.True(valid, verification);
        }
        Assert.Equal(["first@ok.test", "second@other.test"], events.Select(e => (string?)e["email"]).Order(StringComparer.Ordinal));
        Assert.All(events, e => Assert.EndsWith("@" + TestWorld.ReturnPathDomain, (string?)e["return-path"]));
    }

    /// <summary>The first delivered event of <paramref name="uuid"/> as JSON, or null while there is none.</summary>
    [Fact]
    public async Task With_mailer_log_format_json_the_real_process_logs_one_json_object_per_line_with_the_recipient_outcome()
    {
        var (mailer, _, rsa, smtpPort, _) = await StartLocalMailerAsync(new Dictionary<string, string> { ["MAILER_LOG_FORMAT"] = "json" });
        using var running = mailer;
        using var key = rsa;

        var uuid = Messages.NewUuid();
        var (code, output) = await Swaks.SendAsync(new IPEndPoint(IPAddress.Loopback, smtpPort),
            $"From: Me <me@localhost>\r\nTo: you@example.org\r\nSubject: json logs\r\nX-Uuid: {uuid}\r\n\r\nHello\r\n");
        Assert.True(code == 0, output);

        // The sender's maillog line for the recipient, as one JSON object with its fields.
        var outcome = await Eventually.GetAsync(() => Task.FromResult(LogObjects(mailer.Output).FirstOrDefault(o =>
            o.TryGetProperty("status", out var status) && status.GetString() == "delivered" && o.GetProperty("uuid").GetString() == uuid) is { ValueKind: JsonValueKind.Object } found
                ? found.ToString() : null), Patience, "the delivered line as JSON");
        using var line = JsonDocument.Parse(outcome);
        Assert.Equal("you@example.org", line.RootElement.GetProperty("recipient").GetString());
        Assert.Equal("information", line.RootElement.GetProperty("level").GetString());
        // Nothing is sent in sink mode: the line names the outbox where a delivery names the MX host and its reply.
        Assert.Equal("outbox", line.RootElement.GetProperty("mxHost").GetString());
        Assert.StartsWith("250 written to ", line.RootElement.GetProperty("reply").GetString(), StringComparison.Ordinal);
        Assert.EndsWith(".eml", line.RootElement.GetProperty("reply").GetString(), StringComparison.Ordinal);
        Assert.True(line.RootElement.TryGetProperty("timestamp", out _) && line.RootElement.TryGetProperty("category", out _)
            && line.RootElement.TryGetProperty("message", out _), outcome);
        // Every log line is an object; only the banner (written to the console for a person) is plain text.
        var logLines = mailer.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith('{')).ToList();
        Assert.True(logLines.Count >= 3, mailer.Output);
        Assert.All(logLines, l => JsonDocument.Parse(l).Dispose());
        Assert.False(mailer.HasExited, mailer.Output);
    }

    private static IEnumerable<JsonElement> LogObjects(string output)
    {
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!line.StartsWith('{'))
            {
                continue;
            }
            JsonElement element;
            try
            {
                using var document = JsonDocument.Parse(line);
                element = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                continue;
            }
            yield return element;
        }
    }

    /// <summary>Starts <c>mailer run</c> as a real process on the built-in local configuration, moved to free ports and a
    /// private directory (with its DKIM key made here), and waits for its start banner.</summary>
    private async Task<(PeerProcess Mailer, string Data, RSA Key, int SmtpPort, int HttpPort)> StartLocalMailerAsync(IDictionary<string, string>? environment = null)
    {
        var data = Path.Combine(_directory.FullName, "data");
        var ports = new Dictionary<int, int>();
        var customer = LocalPort().Replace(LocalDefaults.CustomerYaml.Replace("./data", data, StringComparison.Ordinal),
            m => $"{m.Groups[1].Value}: {ports[int.Parse(m.Groups[2].Value)] = FreePort.Tcp()}");
        Assert.DoesNotContain("post-url", customer, StringComparison.Ordinal);
        var global = Path.Combine(_directory.FullName, "global.yaml");
        var customerFile = Path.Combine(_directory.FullName, "customer.yaml");
        await File.WriteAllTextAsync(global, LocalDefaults.GlobalYaml);
        await File.WriteAllTextAsync(customerFile, customer);
        Directory.CreateDirectory(Path.Combine(data, "eml"));
        Directory.CreateDirectory(Path.Combine(data, "dkim"));
        var rsa = RSA.Create(2048);
        await File.WriteAllTextAsync(Path.Combine(data, "dkim", "localhost.pem"), rsa.ExportPkcs8PrivateKeyPem());

        var mailer = PeerProcess.Start("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "mailer.dll"), "run", "--global-config-file", global, "--customer-config-file", customerFile],
            _directory.FullName, environment);
        await Eventually.TrueAsync(() => mailer.Output.Contains("and run `./mailer events", StringComparison.Ordinal) || mailer.HasExited, Patience, "the start banner");
        return (mailer, data, rsa, ports[2587], ports[8080]);
    }

    private static async Task<string?> DeliveredEventAsync(HttpClient http, int port, string uuid)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/v1/events?uuid={uuid}&event=delivered");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("local:local")));
        using var response = await http.SendAsync(request);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return null;
        }
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var events = json.RootElement.GetProperty("events");
        return events.GetArrayLength() == 0 ? null : events[0].GetRawText();
    }

    private async Task<(bool Valid, string Output)> VerifyDkimAsync(string file, string publicKey)
    {
        const string script = """
            import sys, dkim
            path, key = sys.argv[1], sys.argv[2]
            record = ("v=DKIM1; k=rsa; p=" + key).encode()
            ok = dkim.verify(open(path, "rb").read(), dnsfunc=lambda name, timeout=5: record)
            print("valid" if ok else "invalid")
            sys.exit(0 if ok else 1)
            """;
        var (code, output) = await PeerProcess.RunAsync("/usr/bin/python3", ["-c", script, file, publicKey], TimeSpan.FromSeconds(30));
        return (code == 0, output);
    }

    public void Dispose()
    {
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex(@"(inet-port(?:-metrics)?): (\d+)")]
    private static partial Regex LocalPort();
}
