using System.Text;
using System.Text.Json.Nodes;
using ManycoreMail.AutoSuppression;
using ManycoreMail.Config;
using ManycoreMail.Metrics;
using ManycoreMail.Suppression;
using ManycoreMail.Suppression.Sqlite;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>Automatic suppression with real peers and the real SQLite list: swaks delivers an unsubscribe mail, an ARF
/// report from the fixtures and a DSN to the MX server; the sender meets smtp-sink's and a scripted MX's 5xx and an
/// NXDOMAIN from dnsmasq. The list then holds exactly the entries the reports ask for.</summary>
public sealed class AutoSuppressionTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const string Domain = TestWorld.ReturnPathDomain;

    [Fact]
    public async Task Reports_to_the_mx_server_and_a_user_unknown_at_the_sink_suppress_their_addresses()
    {
        using var hard = await world.StartSinkAsync("hard.test", "-f", "rcpt", "-B", "550 5.1.1 No such user here");
        using var webhook = new WebhookListener();
        // These reports come from nowhere SPF or DKIM vouch for (ReportAuthenticationTests covers that): they suppress
        // here because the configuration lets unauthenticated reports suppress.
        var config = new MailerConfig(world, webhook.Url) { MxServerExtra = "  suppress-unauthenticated: true" }.Write();
        string unsubscribeUuid = Messages.NewUuid(), bounceUuid = Messages.NewUuid(), sentUuid = Messages.NewUuid();
        var nobody = $"nobody-{sentUuid}@hard.test";
        await using var mailer = await RunningMailer.StartAsync(config);

        await SendToMxAsync(config, $"unsub-{unsubscribeUuid}@{Domain}", "bounce-x@forwarder.test",
            "From: Reader <Reader@OK.test>\r\nSubject: unsubscribe\r\n\r\nplease\r\n");
        await SendToMxAsync(config, $"fbl@{Domain}", "<>", Encoding.ASCII.GetString(TestData.Fixture("mxserver-yahoo-arf.eml")));
        await SendToMxAsync(config, $"bounce-{bounceUuid}@{Domain}", "<>", Messages.Dsn(bounceUuid, "gone@ok.test"));
        var (code, output) = await Swaks.SendAsync(config.Receiver, Messages.Simple(sentUuid, nobody), Swaks.TlsAuth);
        Assert.True(code == 0, output);

        var unsubscribe = await webhook.WaitForAsync(e => (string?)e["uuid"] == unsubscribeUuid, Patience, "the unsubscribe event");
        Assert.Equal(("unsubscribe", "reader@ok.test"), (Text(unsubscribe, "event"), Text(unsubscribe, "email")));
        var bounce = await webhook.WaitForAsync(e => (string?)e["uuid"] == sentUuid && (string?)e["event"] == "bounce", Patience, "the sender's bounce");
        Assert.Equal(("hard", "userunknown"), (Text(bounce, "type"), Text(bounce, "class")));

        var expected = new[]
        {
            (nobody, SuppressionScope.Global, "", SuppressionReason.Bounce),
            ("gone@ok.test", SuppressionScope.Global, "", SuppressionReason.Bounce),
            // No tracking section: the sender scope, which the MX server widens to the sending domains of the return-path domain.
            ("reader@ok.test", SuppressionScope.Domain, TestWorld.SenderDomain, SuppressionReason.Unsubscribe),
            ("someone@yahoo.example", SuppressionScope.Global, "", SuppressionReason.Complaint),
        };
        await Eventually.TrueAsync(async () => (await ListAsync(mailer.Host.Suppressions)).Count == expected.Length, Patience, "four entries");
        Assert.Equal(expected.OrderBy(e => e.Item1, StringComparer.Ordinal), (await ListAsync(mailer.Host.Suppressions)).Select(e => (e.Email, e.Scope, e.Value, e.Reason)));
    }

    [Fact]
    public async Task A_550_5_1_1_and_an_nxdomain_suppress_a_full_mailbox_and_a_null_mx_do_not()
    {
        await using var harness = await DeliveryHarness.StartAsync(
        [
            "mx-host=pool.test,mx.pool.test,10", "host-record=mx.pool.test,127.0.0.41",
            "mx-host=nullmx.test,.,0",
        ]);
        harness.StartServer("127.0.0.41", new ScriptedHandler((recipient, _) => recipient switch
        {
            "gone@pool.test" => new Smtp.SmtpReply(550, "5.1.1", "<gone@pool.test>: Recipient address rejected: User unknown"),
            "full@pool.test" => new Smtp.SmtpReply(552, "5.2.2", "Mailbox full"),
            _ => Smtp.SmtpReply.Ok(),
        }));
        await using var store = SqliteSuppressionStore.Open(new SqliteSuppressionStoreOptions { Path = Path.Combine(harness.Directory, "suppressions.db") });
        var metrics = new MetricsRegistry();
        await using (var writer = new SuppressionWriter(store, new SuppressionOptions(), metrics, NullLogger<SuppressionWriter>.Instance))
        {
            await harness.StartSenderAsync(suppressions: writer);
            await harness.EnqueueAsync("u1", "gone@pool.test", "full@pool.test", "ok@pool.test", "a@nullmx.test", "b@nosuchdomain.test");

            var events = await harness.WaitForEventsAsync(5, Patience);
            Assert.Equal([("a@nullmx.test", "notaccept"), ("b@nosuchdomain.test", "hostunknown"), ("full@pool.test", "mailboxfull"), ("gone@pool.test", "userunknown")],
                events.Where(e => e.GetProperty("event").GetString() == "bounce")
                    .Select(e => (e.GetProperty("email").GetString(), e.GetProperty("class").GetString())).Order());
            await Eventually.TrueAsync(async () => (await ListAsync(store)).Count == 2, Patience, "two entries");
        }

        Assert.Equal([("b@nosuchdomain.test", SuppressionScope.Global, SuppressionReason.Bounce), ("gone@pool.test", SuppressionScope.Global, SuppressionReason.Bounce)],
            (await ListAsync(store)).Select(e => (e.Email, e.Scope, e.Reason)));
        Assert.Contains("suppression_added_total 2", await metrics.RenderAsync(CancellationToken.None), StringComparison.Ordinal);
    }

    private static async Task<IReadOnlyList<SuppressionEntry>> ListAsync(ISuppressionStore store) =>
        (await store.ListAsync(new SuppressionQuery { Limit = 100 }, CancellationToken.None)).Entries;

    private static async Task SendToMxAsync(MailerConfig config, string to, string from, string message)
    {
        var (code, output) = await Swaks.SendAsync(config.Mx, message, "--to", to, "--from", from);
        Assert.True(code == 0, to + ":\n" + output);
    }

    private static string Text(JsonObject json, string name) => (string?)json[name] ?? "";
}
