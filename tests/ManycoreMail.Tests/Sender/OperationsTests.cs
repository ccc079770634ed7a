using System.Net;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Events;
using ManycoreMail.Queue;
using ManycoreMail.Roles.Sender;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Tests.Sender;

/// <summary>The operations endpoint's configuration, the ledger, and reschedules that are not attempts.</summary>
public sealed class OperationsTests
{
    private const string Global = MinimalGlobalConfig.Yaml;

    [Fact]
    public void Admin_is_off_unless_configured_and_binds_loopback_by_default()
    {
        var off = ConfigLoader.Parse(Global, "sender:\n  helo-name: mailer.example.com\n").Options.Sender.Delivery;
        var on = ConfigLoader.Parse(Global, "sender:\n  helo-name: mailer.example.com\n  admin:\n    inet-port: 8025\n    token: 0123456789abcdef0123\n").Options.Sender.Delivery;

        Assert.Null(off.Admin);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 8025), on.Admin!.Bind);
        Assert.Equal("0123456789abcdef0123", on.Admin.Token);
    }

    [Fact]
    public void A_short_or_missing_admin_token_is_a_configuration_error()
    {
        var shortToken = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, "sender:\n  admin:\n    inet-port: 8025\n    token: abc\n", "g.yaml", "c.yaml"));
        var missing = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Global, "sender:\n  admin:\n    inet-port: 8025\n", "g.yaml", "c.yaml"));

        Assert.Contains("sender/admin/token", shortToken.Message);
        Assert.Contains("sender/admin/token", missing.Message);
    }

    [Fact]
    public void The_ledger_finds_messages_by_id_or_uuid_and_counts_only_uncounted_reschedules()
    {
        var ledger = new DeliveryLedger();
        var now = DateTimeOffset.UnixEpoch;
        ledger.Delivering(7, "uuid-7", [new LedgerRecipient("a@x.test", "x.test")], 0, now);
        ledger.Deferred(7, [new LedgerRecipient("a@x.test", "x.test")], now.AddMinutes(1), "rate limit", counted: false);
        ledger.Delivering(7, "uuid-7", [new LedgerRecipient("a@x.test", "x.test")], 1, now);
        ledger.Deferred(7, [new LedgerRecipient("a@x.test", "x.test")], now.AddMinutes(5), "451 greylisted", counted: true);

        Assert.Equal(1, ledger.UncountedAttempts(7));
        Assert.Equal("451 greylisted", ledger.Find("uuid-7")!.LastError);
        Assert.Equal(LedgerState.Deferred, ledger.Find("7")!.State);
        ledger.Forget(7);
        Assert.Null(ledger.Find("7"));
    }

    [Fact]
    public void The_ledger_is_bounded()
    {
        var ledger = new DeliveryLedger(maxEntries: 2);
        for (var id = 1; id <= 3; id++)
        {
            ledger.Delivering(id, null, [], 0, DateTimeOffset.UnixEpoch);
        }

        Assert.Equal(2, ledger.Count);
        Assert.Null(ledger.Find("3"));
    }

    [Fact]
    public void Reschedules_that_asked_no_server_do_not_grow_the_back_off()
    {
        var options = new SenderOptions { HeloName = "h.test", FirstRetryDelay = TimeSpan.FromMinutes(5), MaxRetryDelay = TimeSpan.FromHours(4) };
        var settlement = new MessageSettlement(new RetrySchedule(options.Retries, new Random(1)), new EventQueue(null!, "EVENTS"));
        var now = DateTimeOffset.UnixEpoch.AddHours(1);
        var item = new LeasedItem
        {
            Id = 1, Queue = "OUT", Envelope = new MessageEnvelope { Recipients = ["a@x.test"] }, Body = default, Attempts = 4,
            CreatedAt = DateTimeOffset.UnixEpoch, LeaseToken = 1, LeaseExpiresAt = now,
        };
        QueuedOutcome[] greylisted = [new("x.test", new RecipientOutcome.Deferred("a@x.test", "451", true))];
        QueuedOutcome[] throttled = [new("x.test", new RecipientOutcome.Deferred("a@x.test", "rate", true, BounceClass.Throttled, now.AddMinutes(2)))];

        var counted = settlement.Settle(item, greylisted, now);
        var discounted = settlement.Settle(item, greylisted, now, uncountedAttempts: 4);

        Assert.True(counted.CountsAsAttempt);
        Assert.False(settlement.Settle(item, throttled, now).CountsAsAttempt);
        // Four real attempts: 5 min × 2⁴ = 80 min (±10%); none: 5 min (±10%).
        Assert.InRange(counted.RetryAt!.Value - now, TimeSpan.FromMinutes(72), TimeSpan.FromMinutes(88));
        Assert.InRange(discounted.RetryAt!.Value - now, TimeSpan.FromMinutes(4.5), TimeSpan.FromMinutes(5.5));
    }

    [Fact]
    public void A_bounced_queue_pattern_matches_by_prefix()
    {
        Assert.True(ScheduledQueueName.Matches("spring:*", "spring:acme@x.test"));
        Assert.True(ScheduledQueueName.Matches("SPRING:x.test", "spring:x.test"));
        Assert.False(ScheduledQueueName.Matches("spring:x.test", "spring:y.test"));
    }

    [Fact]
    public void Idle_sites_are_forgotten_after_the_eviction_delay()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var options = new DeliveryOptions { SiteIdleEviction = TimeSpan.FromMinutes(10) };
        var site = new DeliverySite("mx.x.test", SiteLimits.Default, new SitePolicy(Smtp.Client.SmtpTlsMode.None),
            new SiteConnector("h.test", options, new TlsMemory(TimeSpan.FromHours(1), time), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance),
            options, new SenderMetrics(new Metrics.MetricsRegistry()), time, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);

        var early = site.TryRetire(options.SiteIdleEviction);
        time.Advance(TimeSpan.FromMinutes(11));
        var late = site.TryRetire(options.SiteIdleEviction);
        var job = new DeliveryJob("x.test", "x.test", ["a@x.test"], "", default, []);

        Assert.False(early);
        Assert.True(late);
        Assert.False(site.Enqueue(job));
    }
}
