using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;
using ManycoreMail.AutoSuppression;
using ManycoreMail.Config;
using ManycoreMail.Dns.Spf;
using ManycoreMail.Events;
using ManycoreMail.Metrics;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.MxServer;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Suppression;
using ManycoreMail.Tests.AutoSuppression;
using ManycoreMail.Tests.ReportAuthentication;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests.MxServer;

/// <summary>What the MX server suppresses by itself: the address of an unsubscribe mail (From, else the envelope
/// sender), the complainer of a spam report and the recipient of a final userunknown/hostunknown DSN; nothing when
/// <c>suppression/auto</c> leaves the reason out; and a failing store never changes the answer. The reports here are
/// suppressing whether authenticated or not (<c>suppress-unauthenticated</c>) unless a test says otherwise.</summary>
public sealed class MxSuppressionTests : IAsyncLifetime
{
    private const string Events = "EVENT_QUEUE";
    private readonly string _directory = Directory.CreateTempSubdirectory("mx-suppression-").FullName;
    private readonly RecordingSuppressionStore _store = new();
    private readonly MetricsRegistry _metrics = new();
    private EmbeddedSpool _spool = null!;

    private static readonly SmtpSessionInfo Session = new()
    {
        RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 40000),
        LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 25),
    };

    private static readonly DomainSettings[] Domains =
    [
        new() { Domain = "news.example", DkimPrivateKeyFile = "k", ReturnPathDomain = "rp.test" },
    ];

    public async Task InitializeAsync() =>
        _spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(_directory, "spool") }, TimeProvider.System, CancellationToken.None);

    [Fact]
    public async Task An_unsubscribe_mail_suppresses_its_From_address_for_the_sending_domains_and_the_event_names_it()
    {
        var reply = await SendAsync("bounce-x@forwarder.test", "unsub-c0ffee42@rp.test", "From: Reader <Reader@OK.test>\r\nSubject: unsubscribe\r\n\r\nplease\r\n");

        Assert.Equal(250, reply.Code);
        var entry = Assert.Single(_store.Entries);
        Assert.Equal(("reader@ok.test", SuppressionScope.Domain, "news.example", SuppressionReason.Unsubscribe), (entry.Email, entry.Scope, entry.Value, entry.Reason));
        var unsubscribe = Assert.Single(await EventsAsync());
        Assert.Equal(("unsubscribe", "c0ffee42", "reader@ok.test"),
            (unsubscribe.GetProperty("event").GetString(), unsubscribe.GetProperty("uuid").GetString(), unsubscribe.GetProperty("email").GetString()));
    }

    [Fact]
    public async Task Without_a_From_address_the_envelope_sender_unsubscribes()
    {
        await SendAsync("Reader@OK.test", "unsub-c0ffee42@rp.test", "Subject: unsubscribe\r\n\r\nplease\r\n", SuppressionScope.Global);

        var entry = Assert.Single(_store.Entries);
        Assert.Equal(("reader@ok.test", SuppressionScope.Global), (entry.Email, entry.Scope));
        Assert.Equal("reader@ok.test", Assert.Single(await EventsAsync()).GetProperty("email").GetString());
    }

    [Fact]
    public async Task An_unsubscribe_from_nobody_is_an_event_without_an_address_and_no_entry()
    {
        var reply = await SendAsync("", "unsub-c0ffee42@rp.test", "Subject: unsubscribe\r\n\r\nplease\r\n");

        Assert.Equal(250, reply.Code);
        Assert.Empty(_store.Entries);
        Assert.False(Assert.Single(await EventsAsync()).TryGetProperty("email", out _));
    }

    [Fact]
    public async Task A_user_unknown_dsn_suppresses_the_bounced_recipient_globally_and_a_full_mailbox_does_not()
    {
        await SendAsync("", "bounce-c0ffee42@rp.test", Dsn("gone@ok.test", "5.1.1", "550 5.1.1 <gone@ok.test>: User unknown"));
        await SendAsync("", "bounce-c0ffee43@rp.test", Dsn("full@ok.test", "5.2.2", "552 5.2.2 Mailbox full"));

        var entry = Assert.Single(_store.Entries);
        Assert.Equal(("gone@ok.test", SuppressionScope.Global, SuppressionReason.Bounce), (entry.Email, entry.Scope, entry.Reason));
        Assert.Equal(["bounce", "bounce"], (await EventsAsync()).Select(e => e.GetProperty("event").GetString()));
    }

    [Fact]
    public async Task A_spam_report_suppresses_the_complainer_globally()
    {
        await SendAsync("", "fbl@rp.test", Arf("complainer@ok.test"));

        var entry = Assert.Single(_store.Entries);
        Assert.Equal(("complainer@ok.test", SuppressionScope.Global, SuppressionReason.Complaint), (entry.Email, entry.Scope, entry.Reason));
        Assert.Equal("spam-report", Assert.Single(await EventsAsync()).GetProperty("event").GetString());
    }

    [Fact]
    public async Task With_automatic_suppression_off_every_report_is_only_an_event()
    {
        var off = new SuppressionOptions { Auto = new HashSet<SuppressionReason>() };
        await SendAsync("", "unsub-c0ffee42@rp.test", "From: reader@ok.test\r\n\r\nplease\r\n", auto: off);
        await SendAsync("", "bounce-c0ffee42@rp.test", Dsn("gone@ok.test", "5.1.1", "550 5.1.1 User unknown"), auto: off);
        await SendAsync("", "fbl@rp.test", Arf("complainer@ok.test"), auto: off);

        Assert.Empty(_store.Entries);
        Assert.Equal(3, (await EventsAsync()).Count);
    }

    [Fact]
    public async Task A_failing_store_leaves_the_answer_as_it_was_and_is_counted()
    {
        _store.Failing = true;

        var reply = await SendAsync("", "fbl@rp.test", Arf("complainer@ok.test"));

        Assert.Equal((250, "2.0.0"), (reply.Code, reply.EnhancedStatus));
        Assert.Contains("suppression_add_failed_total 1", await _metrics.RenderAsync(CancellationToken.None), StringComparison.Ordinal);
        Assert.Equal("spam-report", Assert.Single(await EventsAsync()).GetProperty("event").GetString());
    }

    [Fact]
    public async Task Unauthenticated_reports_become_events_that_say_so_and_suppress_only_when_configured()
    {
        // SPF fails for the unsubscribing address's domain and there is no DKIM signature.
        await SendAsync("reader@ok.test", "unsub-c0ffee42@rp.test", "From: reader@ok.test\r\n\r\nplease\r\n", spf: SpfResult.Fail, suppressUnauthenticated: false);
        await SendAsync("", "fbl@rp.test", Arf("complainer@ok.test"), spf: SpfResult.Fail, suppressUnauthenticated: false);
        await SendAsync("", "bounce-c0ffee42@rp.test", Dsn("gone@ok.test", "5.1.1", "550 5.1.1 <gone@ok.test>: User unknown"), spf: SpfResult.SoftFail, suppressUnauthenticated: false);

        Assert.Empty(_store.Entries);
        Assert.Equal([("unsubscribe", false), ("spam-report", false), ("bounce", false)],
            (await EventsAsync()).Select(e => (e.GetProperty("event").GetString(), e.GetProperty("authenticated").GetBoolean())));
        var metrics = await _metrics.RenderAsync(CancellationToken.None);
        foreach (var kind in new[] { "unsubscribe", "complaint", "bounce" })
        {
            Assert.Contains($"mxserver_unauthenticated_reports_total{{kind=\"{kind}\"}} 1", metrics, StringComparison.Ordinal);
        }

        await SendAsync("", "fbl@rp.test", Arf("complainer@ok.test"), spf: SpfResult.Fail, suppressUnauthenticated: true);
        Assert.Equal("complainer@ok.test", Assert.Single(_store.Entries).Email);
    }

    /// <summary>One mail through a handler whose writer is flushed before returning, so the store shows its entries.</summary>
    private async Task<Smtp.SmtpReply> SendAsync(string sender, string recipient, string message, SuppressionScope scope = SuppressionScope.Sender,
        SuppressionOptions? auto = null, SpfResult spf = SpfResult.Pass, bool suppressUnauthenticated = true)
    {
        await using var writer = new SuppressionWriter(_store, auto ?? new SuppressionOptions(), _metrics, NullLogger<SuppressionWriter>.Instance);
        var handler = new MxHandler(new HashSet<string>(["rp.test"], StringComparer.OrdinalIgnoreCase), new EmlStore(Path.Combine(_directory, "eml")),
            new EventQueue(_spool, Events), _metrics, TimeProvider.System, NullLogger<MxHandler>.Instance,
            suppressions: writer, unsubscribeScopes: new UnsubscribeScopes(scope, Domains, NullLogger.Instance),
            reports: ReportPolicies.With(new FixedSpf(spf), _metrics, suppressUnauthenticated));
        return await handler.MessageAsync(Session, new SmtpEnvelope(sender, [recipient]), new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(message)), CancellationToken.None);
    }

    private async Task<IReadOnlyList<JsonElement>> EventsAsync() =>
        (await _spool.LeaseAsync(Events, 100, TimeSpan.FromMinutes(1), CancellationToken.None))
            .Select(item => JsonDocument.Parse(item.Body).RootElement.Clone()).ToArray();

    private static string Dsn(string recipient, string status, string diagnostic) => string.Join("\r\n",
        "From: Mail Delivery System <MAILER-DAEMON@mx.ok.test>",
        "Subject: Undelivered Mail Returned to Sender",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"",
        "",
        "--dsn",
        "Content-Type: text/plain",
        "",
        "Your message could not be delivered.",
        "--dsn",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.ok.test",
        "",
        $"Final-Recipient: rfc822; {recipient}",
        "Action: failed",
        $"Status: {status}",
        $"Diagnostic-Code: smtp; {diagnostic}",
        "--dsn--",
        "");

    private static string Arf(string complainer) => string.Join("\r\n",
        "From: feedback@fbl.ok.test",
        "Subject: FW: News",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"arf\"",
        "",
        "--arf",
        "Content-Type: text/plain",
        "",
        "This is an email abuse report.",
        "--arf",
        "Content-Type: message/feedback-report",
        "",
        "Feedback-Type: abuse",
        "User-Agent: Test-FBL/1.0",
        "Version: 1",
        "Original-Mail-From: <bounce-c0ffee42@rp.test>",
        $"Original-Rcpt-To: <{complainer}>",
        "--arf",
        "Content-Type: message/rfc822",
        "",
        "From: news@news.example",
        $"To: {complainer}",
        "Subject: News",
        "",
        "Hello",
        "--arf--",
        "");

    public async Task DisposeAsync()
    {
        await _spool.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
