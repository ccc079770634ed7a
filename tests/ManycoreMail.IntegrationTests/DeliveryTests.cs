using System.Net;
using ManycoreMail.Delivery;
using ManycoreMail.Relay;
using ManycoreMail.Roles.Sender;
using ManycoreMail.Smtp;
using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Server;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>The delivery engine against real peers: dnsmasq MX records pointing at scripted SMTP servers and smtp-sink
/// on 127.0.0.x addresses.</summary>
public sealed class DeliveryTests
{
    private static readonly string[] Dns =
    [
        "mx-host=pool.test,mx.pool.test,10", "host-record=mx.pool.test,127.0.0.41",
        "mx-host=retry.test,mx.retry.test,10", "host-record=mx.retry.test,127.0.0.42",
        "mx-host=hard.test,mx.hard.test,10", "host-record=mx.hard.test,127.0.0.43",
        "mx-host=fallback.test,mx1.fallback.test,10", "host-record=mx1.fallback.test,127.0.0.44",
        "mx-host=fallback.test,mx2.fallback.test,20", "host-record=mx2.fallback.test,127.0.0.45",
        "mx-host=rate.test,mx.rate.test,10", "host-record=mx.rate.test,127.0.0.46",
        "mx-host=busy.test,mx.busy.test,10", "host-record=mx.busy.test,127.0.0.47",
        "mx-host=plain.test,mx.plain.test,10", "host-record=mx.plain.test,127.0.0.48",
        "mx-host=sink.test,mx.sink.test,10", "host-record=mx.sink.test,127.0.0.49",
        "mx-host=nullmx.test,.,0",
    ];

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Connections_are_reused_across_messages_and_never_exceed_the_site_limit()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.41", new ScriptedHandler(dataDelay: TimeSpan.FromMilliseconds(50)));
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { DefaultLimits = SiteLimits.Default with { MaxConnections = 2 } } });

        for (var i = 0; i < 12; i++)
        {
            await harness.EnqueueAsync($"m{i}", $"user{i}@pool.test");
        }
        var events = await harness.WaitForEventsAsync(12, Deadline);

        Assert.All(events, e => Assert.Equal("delivered", e.GetProperty("event").GetString()));
        Assert.Equal(12, server.Handler.Delivered.Count);
        Assert.InRange(server.Handler.Sessions, 1, 2);
        Assert.InRange(server.Handler.MaxConcurrentTransactions, 1, 2);
        Assert.Contains("delivered_total{site=\"mx.pool.test\"} 12.0", await harness.MetricsTextAsync());
    }

    [Fact]
    public async Task A_domain_with_more_recipients_than_a_transaction_takes_gets_one_transaction_per_batch_and_one_settlement()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.41", new ScriptedHandler());
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { DefaultLimits = SiteLimits.Default with { MaxRecipientsPerMessage = 2 } } });
        string[] recipients = ["r1@pool.test", "r2@pool.test", "r3@pool.test", "r4@pool.test", "r5@pool.test"];

        await harness.EnqueueAsync("batched", recipients);
        var events = await harness.WaitForEventsAsync(5, Deadline);

        Assert.All(events, e => Assert.Equal("delivered", e.GetProperty("event").GetString()));
        Assert.Equal(recipients, events.Select(e => e.GetProperty("email").GetString()).Order(StringComparer.Ordinal));
        // In order, two at a time: the last batch holds what is left.
        Assert.Equal([["r1@pool.test", "r2@pool.test"], ["r3@pool.test", "r4@pool.test"], ["r5@pool.test"]],
            server.Handler.Transactions.OrderBy(t => t[0], StringComparer.Ordinal));
        Assert.Contains("delivered_total{site=\"mx.pool.test\"} 5.0", await harness.MetricsTextAsync());
        await Eventually.TrueAsync(async () => await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None) == 0, Deadline, "message completed");
    }

    [Fact]
    public async Task The_sender_holds_no_more_message_bytes_than_its_memory_budget_and_still_delivers_everything()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.41", new ScriptedHandler(dataDelay: TimeSpan.FromMilliseconds(50)));
        // A budget smaller than one message: one message at a time, however many connections the site allows.
        await harness.StartSenderAsync(o => o with { MaxDeliveryMemoryBytes = 1 });

        for (var i = 0; i < 6; i++)
        {
            await harness.EnqueueAsync($"m{i}", $"user{i}@pool.test");
        }
        var events = await harness.WaitForEventsAsync(6, Deadline);

        Assert.All(events, e => Assert.Equal("delivered", e.GetProperty("event").GetString()));
        Assert.Equal(6, server.Handler.Delivered.Count);
        Assert.Equal(1, server.Handler.MaxConcurrentTransactions);
    }

    [Fact]
    public async Task A_temporary_refusal_is_retried_until_it_succeeds()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.42", new ScriptedHandler((_, attempt) =>
            attempt == 1 ? new SmtpReply(450, "4.2.0", "Greylisted, come back later") : SmtpReply.Ok()));
        await harness.StartSenderAsync();

        await harness.EnqueueAsync("g1", "grey@retry.test");
        var delivered = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));

        Assert.Equal("delivered", delivered.GetProperty("event").GetString());
        Assert.Equal(2, server.Handler.Attempts("grey@retry.test"));
        Assert.Contains("deferred_total{site=\"mx.retry.test\"} 1.0", await harness.MetricsTextAsync());
    }

    [Fact]
    public async Task A_permanent_refusal_bounces_hard_at_once_and_others_on_the_same_message_are_delivered()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        harness.StartServer("127.0.0.43", new ScriptedHandler((rcpt, _) =>
            rcpt.StartsWith("nobody", StringComparison.Ordinal) ? new SmtpReply(550, "5.1.1", "No such user") : SmtpReply.Ok()));
        await harness.StartSenderAsync();

        await harness.EnqueueAsync("h1", "nobody@hard.test", "somebody@hard.test");
        var events = await harness.WaitForEventsAsync(2, Deadline);

        var bounce = Assert.Single(events, e => e.GetProperty("event").GetString() == "bounce");
        Assert.Equal("hard", bounce.GetProperty("type").GetString());
        Assert.Contains("550 5.1.1 No such user", bounce.GetProperty("reason").GetString());
        Assert.Single(events, e => e.GetProperty("event").GetString() == "delivered");
        Assert.Contains("bounce_class_total{site=\"mx.hard.test\",class=\"invalid-recipient\"} 1.0", await harness.MetricsTextAsync());
        await Eventually.TrueAsync(async () => await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None) == 0, Deadline, "message completed");
    }

    [Fact]
    public async Task Null_mx_and_nonexistent_domains_bounce_unroutable()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        await harness.StartSenderAsync();

        await harness.EnqueueAsync("u1", "a@nullmx.test", "b@nosuchdomain.test");
        var events = await harness.WaitForEventsAsync(2, Deadline);

        Assert.All(events, e =>
        {
            Assert.Equal("bounce", e.GetProperty("event").GetString());
            Assert.Equal("unroutable", e.GetProperty("type").GetString());
        });
        Assert.Contains(events, e => e.GetProperty("reason").GetString()!.Contains("Null MX"));
        Assert.Contains(events, e => e.GetProperty("reason").GetString()!.Contains("NXDOMAIN"));
    }

    [Fact]
    public async Task When_the_first_mx_refuses_connections_the_next_one_gets_the_mail()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        // Nothing listens on mx1 (127.0.0.44): connection refused.
        var second = harness.StartServer("127.0.0.45", new ScriptedHandler());
        await harness.StartSenderAsync();

        await harness.EnqueueAsync("f1", "someone@fallback.test");
        var delivered = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));

        Assert.Equal("delivered", delivered.GetProperty("event").GetString());
        Assert.Equal("127.0.0.45", delivered.GetProperty("ip").GetString());
        Assert.Single(second.Handler.Delivered);
    }

    [Fact]
    public async Task A_rate_limit_lets_exactly_its_count_through_and_reschedules_the_rest()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.46", new ScriptedHandler());
        // The lifetime outlasts the hour the limit reschedules to (else the two would rightly expire at once).
        await harness.StartSenderAsync(o => o with
        {
            MaxQueueLifetime = TimeSpan.FromHours(3),
            Delivery = o.Delivery with
            {
                ShapingRules = [new ShapingRule("test", ["rate.test"], [], SiteLimits.Default with { MessagesPerHour = 3 })],
            },
        });

        for (var i = 0; i < 5; i++)
        {
            await harness.EnqueueAsync($"r{i}", $"user{i}@rate.test");
        }
        await harness.WaitForEventsAsync(3, Deadline);
        // The other two were rescheduled (about an hour out): the role holds nothing and the spool keeps them.
        await Eventually.TrueAsync(async () => harness.Role!.ActiveCount == 0
            && await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None) == 2, Deadline, "two messages rescheduled");

        Assert.Equal(3, server.Handler.Delivered.Count);
        Assert.Equal(3, (await harness.WaitForEventsAsync(0)).Count);
    }

    [Fact]
    public async Task A_421_greeting_puts_the_site_into_back_off_and_defers_without_an_event()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        await using var busy = new BusyServer(new IPEndPoint(IPAddress.Parse("127.0.0.47"), harness.Port));
        await harness.StartSenderAsync();

        await harness.EnqueueAsync("b1", "a@busy.test");
        var site = await Eventually.GetAsync(() => Task.FromResult(harness.Role!.Engine.Snapshot().FirstOrDefault(s => s.BackoffUntil is not null)), Deadline, "site in back-off");
        await harness.EnqueueAsync("b2", "b@busy.test");
        await Eventually.TrueAsync(async () => harness.Role!.ActiveCount == 0 && (await harness.MetricsTextAsync()).Contains("postfix_emails_to_postfix_total 2.0"),
            Deadline, "both messages tried and rescheduled");

        Assert.Equal("mx.busy.test", site.Name);
        Assert.Empty(await harness.WaitForEventsAsync(0));
        Assert.Equal(2, await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None));
        // The second message waited out the back-off instead of knocking again.
        Assert.Equal(1, busy.Connections);
    }

    [Fact]
    public async Task Required_tls_never_falls_back_to_plain_text()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var server = harness.StartServer("127.0.0.48", new ScriptedHandler()); // no certificate: no STARTTLS
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { TlsRequiredDomains = ["plain.test"] } });

        await harness.EnqueueAsync("t1", "a@plain.test");
        await Eventually.TrueAsync(() => harness.Role!.Engine.Snapshot().Any(s => s.BackoffUntil is not null) && harness.Role.ActiveCount == 0, Deadline, "deferred");

        Assert.Empty(server.Handler.Delivered);
        Assert.Equal(1, await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None));
    }

    [Fact]
    public async Task Relay_mode_sends_everything_through_the_smarthost_with_starttls_and_auth()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        using var certificate = DeliveryHarness.SelfSigned();
        var relayPort = FreePort.Tcp(IPAddress.Loopback);
        var handler = new ScriptedHandler { ExpectedUser = "relayuser", ExpectedPassword = "s3cret" };
        await using var relay = new ScriptedServer(new SmtpServerOptions
        {
            ServerName = "relay.test",
            CertificateProvider = () => certificate,
            AuthEnabled = true,
            RequireAuthentication = true,
        }, handler);
        relay.Server.Start(new IPEndPoint(IPAddress.Loopback, relayPort));
        await harness.StartSenderAsync(o => o with
        {
            // A self-signed certificate: this test is about STARTTLS and AUTH (verification has its own tests).
            Delivery = o.Delivery with { Relay = new RelayRoute("127.0.0.1", relayPort, SmtpTlsMode.Required, "relayuser", "s3cret") { VerifyCertificate = false } },
        });

        // Neither domain has a reachable MX: only the relay can deliver them.
        await harness.EnqueueAsync("s1", "a@anywhere.example", "b@nosuchdomain.test");
        var events = await harness.WaitForEventsAsync(2, Deadline);

        Assert.All(events, e => Assert.Equal("delivered", e.GetProperty("event").GetString()));
        Assert.All(handler.Delivered, d =>
        {
            Assert.True(d.Session.IsTls);
            Assert.Equal("relayuser", d.Session.AuthenticatedUser);
        });
        Assert.Equal(2, handler.Delivered.Count);
    }

    [Fact]
    public async Task A_quoted_local_part_reaches_smtp_sink_as_one_quoted_rcpt()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        using var sink = await SmtpSink.StartAsync(IPAddress.Parse("127.0.0.49"), harness.Port);
        await harness.StartSenderAsync();

        await harness.EnqueueAsync("quoted", "\"x>y\"@sink.test");
        var delivered = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));

        Assert.Equal("delivered", delivered.GetProperty("event").GetString());
        var message = Assert.Single(await sink.WaitForMessagesAsync(1, Deadline));
        Assert.Equal(["\"x>y\"@sink.test"], message.Recipients);
    }

    [Fact]
    public async Task A_recipient_smtp_cannot_carry_bounces_with_its_reason_and_the_site_goes_on_with_the_next_message()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        using var sink = await SmtpSink.StartAsync(IPAddress.Parse("127.0.0.49"), harness.Port);
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { DefaultLimits = SiteLimits.Default with { MaxConnections = 1 } } });

        // Put on the queue behind the door's back (a shared Redis, an older version): the sender must still settle it.
        await harness.EnqueueAsync("unwritable", "\"a\rb\"@sink.test", "fine@sink.test");
        await harness.EnqueueAsync("following", "next@sink.test");
        var events = await harness.WaitForEventsAsync(3, Deadline);

        var bounce = Assert.Single(events, e => e.GetProperty("event").GetString() == "bounce");
        Assert.Equal("unwritable", bounce.GetProperty("uuid").GetString());
        Assert.Equal("hard", bounce.GetProperty("type").GetString());
        Assert.Equal("the address cannot be written in SMTP: it contains a control character", bounce.GetProperty("reason").GetString());
        Assert.Equal(["fine@sink.test", "next@sink.test"],
            events.Where(e => e.GetProperty("event").GetString() == "delivered").Select(e => e.GetProperty("email").GetString()).Order());
        Assert.Equal(2, (await sink.WaitForMessagesAsync(2, Deadline)).Count);
        await Eventually.TrueAsync(async () => await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None) == 0, Deadline, "messages settled");
    }

    [Fact]
    public async Task A_failure_nobody_foresaw_defers_the_job_with_an_event_and_the_worker_takes_the_next()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        harness.StartServer("127.0.0.41", new ScriptedHandler());
        // A blank HELO name makes the SMTP client throw ArgumentException, which no delivery path expects: a stand-in
        // for any bug on the way to the wire.
        await harness.StartSenderAsync(o => o with
        {
            HeloName = " ",
            Delivery = o.Delivery with { DefaultLimits = SiteLimits.Default with { MaxConnections = 1 } },
        });

        await harness.EnqueueAsync("first", "one@pool.test");
        await harness.EnqueueAsync("second", "two@pool.test");
        var events = await harness.WaitForEventsAsync(2, Deadline, withDeferred: true);

        Assert.Equal(["first", "second"], events.Select(e => e.GetProperty("uuid").GetString()).Distinct().Order());
        Assert.All(events, e =>
        {
            Assert.Equal("deferred", e.GetProperty("event").GetString());
            Assert.StartsWith("internal error while delivering to mx.pool.test: ", e.GetProperty("reason").GetString(), StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task A_site_that_stalls_past_the_lease_gets_each_message_exactly_once()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        // Every DATA is answered twice the lease later: without renewal each lease expires mid-delivery, the message is
        // leased again and delivered again.
        var server = harness.StartServer("127.0.0.41", new ScriptedHandler(dataDelay: TimeSpan.FromSeconds(6)));
        await harness.StartSenderAsync(o => o with { Lease = TimeSpan.FromSeconds(3) });

        for (var i = 0; i < 4; i++)
        {
            await harness.EnqueueAsync($"slow{i}", $"user{i}@pool.test");
        }
        // Settled, or one delivered twice (then a lease ran out and nothing would ever settle).
        await Eventually.TrueAsync(async () => server.Handler.Delivered.Count > 4
            || await harness.Store.CountAsync(DeliveryHarness.Outbound, CancellationToken.None) == 0, TimeSpan.FromSeconds(60), "every message settled");

        Assert.Equal(["user0@pool.test", "user1@pool.test", "user2@pool.test", "user3@pool.test"], server.Handler.Delivered.Select(d => d.Recipient).Order());
        var events = await harness.WaitForEventsAsync(4, Deadline);
        Assert.Equal(4, events.Count);
        Assert.All(events, e => Assert.Equal("delivered", e.GetProperty("event").GetString()));
    }

    [Fact]
    public async Task Smtp_sink_sees_fewer_connections_than_messages()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        using var sink = await SmtpSink.StartAsync(IPAddress.Parse("127.0.0.49"), harness.Port);
        await harness.StartSenderAsync(o => o with { Delivery = o.Delivery with { DefaultLimits = SiteLimits.Default with { MaxConnections = 2 } } });

        for (var i = 0; i < 10; i++)
        {
            await harness.EnqueueAsync($"k{i}", $"user{i}@sink.test");
        }
        await harness.WaitForEventsAsync(10, Deadline);
        var messages = await sink.WaitForMessagesAsync(10, Deadline);

        Assert.Equal(10, messages.Count);
        // Each connection is counted once when opened; reuse means at most the pool size.
        var opened = harness.Role!.Metrics.ConnectionsOpened.Value("mx.sink.test");
        Assert.InRange(opened, 1, 2);
    }
}
