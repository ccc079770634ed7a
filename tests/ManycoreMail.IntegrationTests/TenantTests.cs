using System.Net;
using System.Text.Json.Nodes;
using ManycoreMail.Suppression;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>Tenants and campaigns end to end with real peers: swaks and HTTP clients log in as logins bound to a tenant,
/// Postfix's smtp-sink takes the mail, the webhook gets the events, and the CLI drives the sender's operations.</summary>
public sealed class TenantTests(TestWorld world) : IClassFixture<TestWorld>
{
    private const string Token = "tenant-admin-token-0123456789";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly string[] AcmeLogin = ["--tls", "--auth", "PLAIN", "--auth-user", "apa", "--auth-password", "banan"];
    private static readonly string[] FreeLogin = ["--tls", "--auth", "PLAIN", "--auth-user", "free", "--auth-password", "pw"];

    [Fact]
    public async Task A_tenant_logins_mail_waits_in_its_campaign_tenant_queue_while_the_tenant_is_suspended()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var (config, adminUrl) = await WriteConfigAsync(webhook);
        await using var mailer = await RunningMailer.StartAsync(config);
        var (suspended, _) = await AdminTests.CliAsync("queue", "suspend", "--tenant", "acme", "--admin-url", adminUrl, "--admin-token", Token);
        Assert.Equal(0, suspended);
        string acmeUuid = Messages.NewUuid(), otherUuid = Messages.NewUuid();

        var (code, output) = await Swaks.SendAsync(config.Receiver, Campaign(Messages.Simple(acmeUuid, "reader@ok.test"), "spring"), AcmeLogin);
        Assert.True(code == 0, output);
        var (otherCode, otherOutput) = await Swaks.SendAsync(config.Receiver,
            Campaign(Messages.Simple(otherUuid, "other@ok.test", "X-Tenant: other\r\n"), "spring"), FreeLogin);
        Assert.True(otherCode == 0, otherOutput);

        // Another tenant's mail goes while acme's waits in spring:acme@ok.test, which only acme's listing shows.
        var other = await webhook.WaitForAsync(e => (string?)e["uuid"] == otherUuid && (string?)e["event"] == "delivered", Patience, "other's delivery");
        Assert.Equal(("other", "spring"), (Text(other, "tenant"), Text(other, "campaign")));
        var listing = await Eventually.GetAsync(async () =>
        {
            var (c, text) = await AdminTests.CliAsync("queues", "--tenant", "acme", "--admin-url", adminUrl, "--admin-token", Token);
            return c == 0 && text.Contains("spring:acme@ok.test", StringComparison.Ordinal) ? text : null;
        }, Patience, "spring:acme@ok.test in the listing");
        Assert.Matches(@"spring:acme@ok\.test\s+\d+\s+\d+ suspended", listing);
        var (_, otherListing) = await AdminTests.CliAsync("queues", "--tenant", "other", "--admin-url", adminUrl, "--admin-token", Token);
        Assert.DoesNotContain("spring:acme@ok.test", otherListing);
        var deferred = await webhook.WaitForAsync(e => (string?)e["uuid"] == acmeUuid && (string?)e["event"] == "deferred", Patience, "acme's deferral");
        Assert.Equal(("acme", "spring"), (Text(deferred, "tenant"), Text(deferred, "campaign")));
        Assert.Equal(["other@ok.test"], sink.Messages().SelectMany(m => m.Recipients));

        var (resumed, _) = await AdminTests.CliAsync("queue", "resume", "--tenant", "acme", "--admin-url", adminUrl, "--admin-token", Token);

        Assert.Equal(0, resumed);
        var delivered = await webhook.WaitForAsync(e => (string?)e["uuid"] == acmeUuid && (string?)e["event"] == "delivered", Patience, "acme's delivery");
        Assert.Equal(("acme", "spring", "reader@ok.test"), (Text(delivered, "tenant"), Text(delivered, "campaign"), Text(delivered, "email")));
        var sent = (await sink.WaitForMessagesAsync(2, Patience)).Single(m => m.Recipients.Contains("reader@ok.test"));
        Assert.DoesNotContain("X-Tenant", sent.Text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("X-Campaign", sent.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"Feedback-ID: spring:{acmeUuid}:", sent.Text);
        await Eventually.TrueAsync(async () => (await mailer.MetricsAsync()).Contains("mailer_messages_by_tenant_total{tenant=\"acme\",outcome=\"delivered\"} 1.0"),
            Patience, "acme's delivery counted");
        Assert.Contains("mailer_messages_by_tenant_total{tenant=\"other\",outcome=\"delivered\"} 1.0", await mailer.MetricsAsync());
    }

    [Fact]
    public async Task A_tenant_login_naming_another_tenant_is_refused_and_a_login_without_one_may()
    {
        using var webhook = new WebhookListener();
        var (config, _) = await WriteConfigAsync(webhook);
        await using var mailer = await RunningMailer.StartAsync(config);
        var message = Messages.Simple(Messages.NewUuid(), "reader@ok.test", "X-Tenant: other\r\n");

        var (refusedCode, refused) = await Swaks.SendAsync(config.Receiver, message, AcmeLogin);
        var (acceptedCode, accepted) = await Swaks.SendAsync(config.Receiver, message, FreeLogin);
        var (malformedCode, malformed) = await Swaks.SendAsync(config.Receiver, Campaign(Messages.Simple(Messages.NewUuid(), "reader@ok.test"), "spring:x"), FreeLogin);

        Assert.NotEqual(0, refusedCode);
        Assert.Contains("550 5.7.1 login acme may not send for tenant other", refused);
        Assert.True(acceptedCode == 0, accepted);
        Assert.Contains("250 2.0.0", accepted);
        Assert.NotEqual(0, malformedCode);
        Assert.Contains("554 5.6.0 Malformed header X-Campaign", malformed);
        Assert.Contains("nbr_emails_enqueued_total 1.0", await mailer.MetricsAsync());
    }

    [Fact]
    public async Task A_tenant_suppression_stops_that_tenants_mail_and_not_another_tenants()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var (config, _) = await WriteConfigAsync(webhook);
        await using var mailer = await RunningMailer.StartAsync(config);
        await mailer.Host.Suppressions.AddAsync(
            [SuppressionEntry.Create("reader@ok.test", SuppressionScope.Tenant, "acme", SuppressionReason.Manual, DateTimeOffset.UtcNow)], CancellationToken.None);
        string acmeUuid = Messages.NewUuid(), otherUuid = Messages.NewUuid();

        var (acmeCode, acmeOutput) = await Swaks.SendAsync(config.Receiver, Messages.Simple(acmeUuid, "reader@ok.test"), AcmeLogin);
        var (otherCode, otherOutput) = await Swaks.SendAsync(config.Receiver, Messages.Simple(otherUuid, "reader@ok.test", "X-Tenant: other\r\n"), FreeLogin);

        Assert.True(acmeCode == 0, acmeOutput);
        Assert.True(otherCode == 0, otherOutput);
        var suppressed = await webhook.WaitForAsync(e => (string?)e["uuid"] == acmeUuid, Patience, "acme's suppressed event");
        Assert.Equal(("suppressed", "tenant:acme", "acme", "stream7"),
            (Text(suppressed, "event"), Text(suppressed, "scope"), Text(suppressed, "tenant"), Text(suppressed, "campaign")));
        var delivered = await webhook.WaitForAsync(e => (string?)e["uuid"] == otherUuid, Patience, "other's delivered event");
        Assert.Equal(("delivered", "other"), (Text(delivered, "event"), Text(delivered, "tenant")));
        var sent = Assert.Single(await sink.WaitForMessagesAsync(1, Patience));
        Assert.Contains($"<{otherUuid}@", sent.Text);
        Assert.DoesNotContain(webhook.Events, e => (string?)e["uuid"] == acmeUuid && (string?)e["event"] == "delivered");
    }

    [Fact]
    public async Task The_raw_http_api_applies_its_logins_tenant()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var (config, _) = await WriteConfigAsync(webhook);
        await using var mailer = await RunningMailer.StartAsync(config);
        using var http = new HttpClient();
        var uuid = Messages.NewUuid();

        using var sent = await AmplificationTests.PostAsync(http, config, Campaign(Messages.Simple(uuid, "reader@ok.test"), "spring"));
        using var foreign = await AmplificationTests.PostAsync(http, config, Messages.Simple(Messages.NewUuid(), "reader@ok.test", "X-Tenant: other\r\n"));
        using var malformed = await AmplificationTests.PostAsync(http, config, Messages.Simple(Messages.NewUuid(), "reader@ok.test", "X-Tenant: a@b\r\n"));

        Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.Contains("login acme may not send for tenant other", await foreign.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Contains("Malformed header X-Tenant", await malformed.Content.ReadAsStringAsync());
        var delivered = await webhook.WaitForAsync(e => (string?)e["uuid"] == uuid && (string?)e["event"] == "delivered", Patience, "the delivered event");
        Assert.Equal(("acme", "spring"), (Text(delivered, "tenant"), Text(delivered, "campaign")));
        Assert.Single(await sink.WaitForMessagesAsync(1, Patience));
    }

    [Theory]
    [InlineData("Name a queue (NAME) or give --tenant and/or --campaign.", "queue", "suspend")]
    [InlineData("Give either NAME or --tenant / --campaign, not both.", "queue", "bounce", "spring:*", "--tenant", "acme")]
    [InlineData("--tenant 'a:b': expecting 1 to 64 characters", "queue", "resume", "--tenant", "a:b")]
    [InlineData("--campaign 'a@b': expecting 1 to 64 characters", "queues", "--campaign", "a@b")]
    public async Task Queue_commands_refuse_a_missing_or_doubled_queue_and_malformed_names_before_calling_the_mailer(string problem, params string[] args)
    {
        // Nothing listens on port 9: an answer that got that far would be "Cannot reach the mailer".
        var (code, output, errors) = await AdminTests.CliWithErrorsAsync([.. args, "--admin-url", "http://127.0.0.1:9/", "--admin-token", Token]);

        Assert.NotEqual(0, code);
        Assert.Contains(problem, errors);
        Assert.DoesNotContain("Cannot reach", output + errors);
    }

    /// <summary>The usual test configuration with: receiver login apa bound to tenant acme and a login free without a
    /// tenant, the API's login admin bound to acme, deferred and suppressed events posted, the sender's operations on.</summary>
    private async Task<(MailerConfig Config, string AdminUrl)> WriteConfigAsync(WebhookListener webhook)
    {
        var config = new MailerConfig(world, webhook.Url).Write();
        var adminPort = FreePort.Tcp(IPAddress.Loopback);
        var customer = await File.ReadAllTextAsync(config.CustomerFile);
        customer = Replace(customer, "      password: banan\n", "      password: banan\n      tenant: acme\n    - username: free\n      password: pw\n");
        customer = Replace(customer, "      password: secret\n", "      password: secret\n      tenant: acme\n");
        customer = Replace(customer, $"  post-url: {webhook.Url}", $"  post-url: {webhook.Url}\n  event-types: [deferred, suppressed]");
        customer = Replace(customer, "\nsender:\n", $"\nsender:\n  suspended-retry-seconds: 1\n  admin:\n    inet-port: {adminPort}\n    token: {Token}\n");
        await File.WriteAllTextAsync(config.CustomerFile, customer);
        return (config, $"http://127.0.0.1:{adminPort}/");
    }

    /// <summary>Replaces exactly one occurrence, so that a change in the configuration the tests write fails loudly here.</summary>
    private static string Replace(string text, string old, string replacement)
    {
        Assert.Equal(2, text.Split(old).Length);
        return text.Replace(old, replacement, StringComparison.Ordinal);
    }

    /// <summary>The test message with its campaign in X-Campaign instead of X-Stream-Id.</summary>
    private static string Campaign(string message, string campaign) =>
        message.Replace("X-Stream-Id: stream7\r\n", $"X-Campaign: {campaign}\r\n", StringComparison.Ordinal);

    private static string Text(JsonObject json, string name) => (string?)json[name] ?? "";
}
