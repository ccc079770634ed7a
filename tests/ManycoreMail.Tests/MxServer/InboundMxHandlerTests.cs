using System.Buffers;
using System.Net;
using System.Text;
using ManycoreMail.Dns.Spf;
using ManycoreMail.Events;
using ManycoreMail.Inbound;
using ManycoreMail.Metrics;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.MxServer;
using ManycoreMail.Smtp.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.Tests.MxServer;

/// <summary>The MX server's side of inbound routes: routed recipients are queued (one item per route, before the 250)
/// with the SPF result above the bytes; the other recipients of the same mail are handled as before.</summary>
public sealed class InboundMxHandlerTests : IAsyncLifetime
{
    private const string Inbound = "INBOUND-TO-CUSTOMER";
    private const string Events = "EVENT_QUEUE";
    private static readonly string Secret = "whsec_" + Convert.ToBase64String(new byte[32]);
    private readonly string _directory = Directory.CreateTempSubdirectory("mx-inbound-").FullName;
    private EmbeddedSpool _spool = null!;

    private static readonly SmtpSessionInfo Session = new()
    {
        RemoteEndPoint = new IPEndPoint(IPAddress.Parse("192.0.2.7"), 40000),
        LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 25),
    };

    private static readonly byte[] Mail = Encoding.ASCII.GetBytes("From: a@sender.example\r\nSubject: hi\r\n\r\nbody\r\n");

    public async Task InitializeAsync() =>
        _spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(_directory, "spool") }, TimeProvider.System, CancellationToken.None);

    [Fact]
    public async Task Routed_recipients_are_queued_per_route_and_the_rest_is_handled_as_before()
    {
        var handler = Handler(new SpfVerdict(SpfResult.SoftFail, "sender.example", "test"));
        string[] recipients = ["support@in.example", "sales@in.example", "billing@in.example", "someone@rp.test"];
        foreach (var recipient in recipients)
        {
            var accepted = await handler.RcptToAsync(Session, "a@sender.example", recipient, CancellationToken.None);
            Assert.Equal(250, accepted.Code);
        }
        Assert.Equal(550, (await handler.RcptToAsync(Session, "a@sender.example", "support@sub.in.example", CancellationToken.None)).Code);

        var reply = await handler.MessageAsync(Session, new SmtpEnvelope("a@sender.example", recipients), new ReadOnlySequence<byte>(Mail), CancellationToken.None);

        Assert.Equal(250, reply.Code);
        var items = await _spool.LeaseAsync(Inbound, 10, TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.Equal(2, items.Count);
        var exact = Assert.Single(items, i => i.Envelope.Recipients.Contains("support@in.example"));
        var domain = Assert.Single(items, i => i.Envelope.Recipients.Contains("sales@in.example"));
        Assert.Equal(["support@in.example"], exact.Envelope.Recipients);
        Assert.Equal(["sales@in.example", "billing@in.example"], domain.Envelope.Recipients);
        Assert.All(items, i => Assert.Equal("a@sender.example", i.Envelope.ReturnPath));
        Assert.NotEqual(exact.Envelope.Uuid, domain.Envelope.Uuid);
        var text = Encoding.ASCII.GetString(exact.Body.Span);
        Assert.StartsWith("Authentication-Results: mx.test;\r\n\tspf=softfail smtp.mailfrom=sender.example\r\nReceived: from unknown ([192.0.2.7])", text, StringComparison.Ordinal);
        Assert.EndsWith(Encoding.ASCII.GetString(Mail), text, StringComparison.Ordinal);
        Assert.True(Mime.MessageHeaders.TryParse(exact.Body, out var headers, out _));
        Assert.Equal("softfail", InboundTrace.SpfResult(headers));
        // The return-path domain's recipient: kept in the eml directory as before.
        Assert.Single(Directory.GetFiles(Path.Combine(_directory, "eml"), "*.eml"));
    }

    [Fact]
    public async Task A_spf_check_that_throws_costs_nothing_but_a_temperror()
    {
        var handler = Handler(null);

        var reply = await handler.MessageAsync(Session, new SmtpEnvelope("a@sender.example", ["support@in.example"]), new ReadOnlySequence<byte>(Mail), CancellationToken.None);

        Assert.Equal(250, reply.Code);
        var item = Assert.Single(await _spool.LeaseAsync(Inbound, 10, TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.True(Mime.MessageHeaders.TryParse(item.Body, out var headers, out _));
        Assert.Equal("temperror", InboundTrace.SpfResult(headers));
        Assert.Empty(Directory.Exists(Path.Combine(_directory, "eml")) ? Directory.GetFiles(Path.Combine(_directory, "eml")) : []);
    }

    private MxHandler Handler(SpfVerdict? verdict)
    {
        var routes = new InboundRouteTable(
        [
            new InboundRoute("support@in.example", new Uri("https://customer.example/support"), InboundFormat.Json, [Secret]),
            new InboundRoute("@in.example", new Uri("https://customer.example/all"), InboundFormat.Raw, [Secret]),
        ]);
        var metrics = new MetricsRegistry();
        var acceptor = new InboundAcceptor(routes, _spool, Inbound, new FixedSpf(verdict), "mx.test", metrics, TimeProvider.System,
            NullLogger<InboundAcceptor>.Instance);
        return new MxHandler(new HashSet<string>(["rp.test"], StringComparer.OrdinalIgnoreCase), new EmlStore(Path.Combine(_directory, "eml")),
            new EventQueue(_spool, Events), metrics, TimeProvider.System, NullLogger<MxHandler>.Instance, inbound: acceptor);
    }

    public async Task DisposeAsync()
    {
        await _spool.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>An SPF checker answering one verdict, or throwing when given none.</summary>
    private sealed class FixedSpf(SpfVerdict? verdict) : ISpfChecker
    {
        public ValueTask<SpfVerdict> CheckAsync(IPAddress client, string helo, string mailFrom, CancellationToken cancellationToken) =>
            verdict is null ? throw new InvalidOperationException("resolver bug") : ValueTask.FromResult(verdict);
    }
}
