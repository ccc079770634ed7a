using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;
using ManycoreMail.Classification;
using ManycoreMail.Events;
using ManycoreMail.Metrics;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.MxServer;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests.MxServer;

/// <summary>No mail is refused for ever because of what it contains: a header in UTF-7 is classified, and a
/// classifier that throws costs a kept, logged mail rather than a 451 the sender retries until it gives up.</summary>
public sealed class MxHandlerTests : IAsyncLifetime
{
    private const string Events = "EVENT_QUEUE";
    private readonly string _directory = Directory.CreateTempSubdirectory("mx-handler-").FullName;
    private EmbeddedSpool _spool = null!;

    private static readonly SmtpSessionInfo Session = new()
    {
        RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 40000),
        LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 25),
    };

    private static readonly byte[] Utf7Bounce = Encoding.ASCII.GetBytes("""
        From: Mail Delivery System <MAILER-DAEMON@mx.ok.test>
        To: bounce-c0ffee42@rp.test
        Subject: =?UTF-7?Q?Undelivered_Mail_Returned_to_Sender+ACE-?=
        Content-Type: multipart/report; report-type=delivery-status; boundary="b"

        --b
        Content-Type: text/plain

        I'm sorry to have to inform you that your message could not be delivered.
        --b
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.ok.test

        Final-Recipient: rfc822; gone@ok.test
        Action: failed
        Status: 5.1.1
        Diagnostic-Code: smtp; 550 5.1.1 <gone@ok.test>: User unknown
        --b--
        """.Replace("\n", "\r\n", StringComparison.Ordinal));

    public async Task InitializeAsync() =>
        _spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(_directory, "spool") }, TimeProvider.System, CancellationToken.None);

    [Fact]
    public async Task A_bounce_with_a_utf7_header_is_accepted_and_becomes_its_bounce_event()
    {
        var reply = await Handler().MessageAsync(Session, new SmtpEnvelope("", ["bounce-c0ffee42@rp.test"]), new ReadOnlySequence<byte>(Utf7Bounce), CancellationToken.None);

        Assert.Equal((250, "2.0.0"), (reply.Code, reply.EnhancedStatus));
        var leased = Assert.Single(await _spool.LeaseAsync(Events, 10, TimeSpan.FromMinutes(1), CancellationToken.None));
        using var json = JsonDocument.Parse(leased.Body);
        var bounce = json.RootElement.ValueKind == JsonValueKind.Array ? json.RootElement[0] : json.RootElement;
        Assert.Equal(("bounce", "c0ffee42", "gone@ok.test"),
            (bounce.GetProperty("event").GetString(), bounce.GetProperty("uuid").GetString(), bounce.GetProperty("email").GetString()));
    }

    [Fact]
    public async Task A_mail_the_classifier_throws_on_is_accepted_and_kept_unclassified()
    {
        var handler = Handler((_, _) => throw new InvalidOperationException("a classifier bug"));

        var reply = await handler.MessageAsync(Session, new SmtpEnvelope("", ["bounce-c0ffee42@rp.test"]), new ReadOnlySequence<byte>(Utf7Bounce), CancellationToken.None);

        Assert.Equal((250, "2.0.0"), (reply.Code, reply.EnhancedStatus));
        var kept = Assert.Single(Directory.GetFiles(Path.Combine(_directory, "eml"), "*.eml"));
        Assert.Equal(Utf7Bounce, await File.ReadAllBytesAsync(kept));
        Assert.Empty(await _spool.LeaseAsync(Events, 10, TimeSpan.FromMinutes(1), CancellationToken.None));
    }

    private MxHandler Handler(Func<ReadOnlyMemory<byte>, IReadOnlyList<string>, MailClassification>? classify = null) =>
        new(new HashSet<string>(["rp.test"], StringComparer.OrdinalIgnoreCase), new EmlStore(Path.Combine(_directory, "eml")),
            new EventQueue(_spool, Events), new MetricsRegistry(), TimeProvider.System, NullLogger<MxHandler>.Instance, classify: classify);

    public async Task DisposeAsync()
    {
        await _spool.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
