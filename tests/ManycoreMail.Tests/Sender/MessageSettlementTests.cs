using System.Text.Json;
using ManycoreMail.Config;
using ManycoreMail.Delivery;
using ManycoreMail.Events;
using ManycoreMail.Queue;
using ManycoreMail.Roles.Sender;
using ManycoreMail.Suppression;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Tests.Sender;

public sealed class MessageSettlementTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 3, 1, 8, 0, 0, TimeSpan.Zero));

    private static SenderOptions Options(DeliveryOptions? delivery = null) => new()
    {
        HeloName = "mailer.test",
        FirstRetryDelay = TimeSpan.FromMinutes(5),
        MaxRetryDelay = TimeSpan.FromHours(4),
        MaxQueueLifetime = TimeSpan.FromHours(12),
        Delivery = delivery ?? new DeliveryOptions(),
    };

    private static MessageSettlement Settlement(SenderOptions options) =>
        new(new RetrySchedule(options.Retries, new Random(7)), new EventQueue(new UnusedStore(), "EVENTS"));

    private LeasedItem Leased(DateTimeOffset createdAt, int attempts, params string[] recipients) =>
        Leased(createdAt, attempts, new MessageEnvelope { Uuid = "u1", ReturnPath = "b@r.test", Recipients = recipients });

    private LeasedItem Leased(DateTimeOffset createdAt, int attempts, MessageEnvelope envelope) => new()
    {
        Id = 1,
        Queue = "OUT",
        Envelope = envelope,
        Body = "x"u8.ToArray(),
        Attempts = attempts,
        CreatedAt = createdAt,
        LeaseToken = 1,
        LeaseExpiresAt = _clock.GetUtcNow() + TimeSpan.FromMinutes(30),
    };

    private static List<JsonElement> Events(QueueTransaction transaction) =>
        transaction.Operations.OfType<QueueOperation.Enqueue>().Select(e => JsonDocument.Parse(e.Item.Body).RootElement).ToList();

    [Fact]
    public void Every_event_names_the_tenant_and_campaign_with_the_senders_tenant_for_mail_without_one()
    {
        var options = Options();
        var events = new EventQueue(new UnusedStore(), "EVENTS");
        var settlement = new MessageSettlement(new RetrySchedule(options.Retries, new Random(7)), events, defaultTenant: "house");
        var tenantItem = Leased(_clock.GetUtcNow(), 0, new MessageEnvelope
        {
            Uuid = "u1", ReturnPath = "b@r.test", Recipients = ["a@x.test", "b@x.test", "c@x.test"], Tenant = "acme", Campaign = "spring",
        });
        var plainItem = Leased(_clock.GetUtcNow(), attempts: 0, "d@x.test");

        var tenantResult = settlement.Settle(tenantItem,
        [
            new("spring:acme@x.test", new RecipientOutcome.Delivered("a@x.test", "127.0.0.2")),
            new("spring:acme@x.test", new RecipientOutcome.Bounced("b@x.test", "hard", "550 no", "127.0.0.2")),
            new("spring:acme@x.test", new RecipientOutcome.Deferred("c@x.test", "451 later", SiteAnswered: true)),
        ], _clock.GetUtcNow());
        var plainResult = settlement.Settle(plainItem, [new("house@x.test", new RecipientOutcome.Delivered("d@x.test", "127.0.0.2"))], _clock.GetUtcNow());

        var marked = Events(tenantResult.Transaction);
        Assert.Equal(["delivered", "bounce", "deferred"], marked.Select(e => e.GetProperty("event").GetString()));
        Assert.All(marked, e => Assert.Equal(("acme", "spring"), (e.GetProperty("tenant").GetString(), e.GetProperty("campaign").GetString())));
        var plain = Assert.Single(Events(plainResult.Transaction));
        Assert.Equal("house", plain.GetProperty("tenant").GetString());
        Assert.False(plain.TryGetProperty("campaign", out _));
    }

    [Fact]
    public void A_deferral_within_the_lifetime_retries_only_the_deferred_recipients_with_back_off()
    {
        var settlement = Settlement(Options());
        var item = Leased(_clock.GetUtcNow(), attempts: 0, "a@x.test", "b@x.test");

        var result = settlement.Settle(item,
        [
            new("x.test", new RecipientOutcome.Delivered("a@x.test", "127.0.0.2")),
            new("x.test", new RecipientOutcome.Deferred("b@x.test", "451 try later", SiteAnswered: true)),
        ], _clock.GetUtcNow());

        var retry = Assert.IsType<QueueOperation.Retry>(Assert.Single(result.Transaction.Operations, o => o is QueueOperation.Retry));
        Assert.Equal(["b@x.test"], retry.Envelope!.Recipients);
        // First retry after 5 minutes ±10%.
        Assert.InRange(retry.NotBefore - _clock.GetUtcNow(), TimeSpan.FromMinutes(4.5), TimeSpan.FromMinutes(5.5));
        Assert.Equal(["delivered", "deferred"], Events(result.Transaction).Select(e => e.GetProperty("event").GetString()));
    }

    [Fact]
    public void After_the_queue_lifetime_a_deferred_recipient_bounces_soft_with_a_reason_that_says_it_expired()
    {
        var settlement = Settlement(Options());
        var item = Leased(_clock.GetUtcNow(), attempts: 7, "b@x.test");
        _clock.Advance(TimeSpan.FromHours(11)); // next back-off (capped at 4 h) would end past 12 h

        var result = settlement.Settle(item, [new("x.test", new RecipientOutcome.Deferred("b@x.test", "host mx said: 452 4.2.2 over quota", SiteAnswered: true))], _clock.GetUtcNow());

        Assert.IsType<QueueOperation.Complete>(Assert.Single(result.Transaction.Operations, o => o is QueueOperation.Complete));
        var bounce = Assert.Single(Events(result.Transaction));
        Assert.Equal("bounce", bounce.GetProperty("event").GetString());
        Assert.Equal("soft", bounce.GetProperty("type").GetString());
        Assert.Contains("expired after", bounce.GetProperty("reason").GetString());
        Assert.Contains("452 4.2.2 over quota", bounce.GetProperty("reason").GetString());
    }

    [Fact]
    public void Expiry_of_a_site_that_never_answered_is_unroutable()
    {
        var settlement = Settlement(Options());
        var item = Leased(_clock.GetUtcNow(), attempts: 9, "b@x.test");
        _clock.Advance(TimeSpan.FromHours(13));

        var result = settlement.Settle(item, [new("x.test", new RecipientOutcome.Deferred("b@x.test", "connection refused", SiteAnswered: false))], _clock.GetUtcNow());

        Assert.Equal("unroutable", Assert.Single(Events(result.Transaction)).GetProperty("type").GetString());
    }

    [Fact]
    public void A_queue_with_a_longer_lifetime_keeps_retrying_where_the_default_would_expire()
    {
        var options = Options(new DeliveryOptions { QueueLifetimes = [new QueueLifetime("newsletter:*", TimeSpan.FromDays(3))] });
        var settlement = Settlement(options);
        var item = Leased(_clock.GetUtcNow(), attempts: 7, "b@x.test", "c@y.test");
        _clock.Advance(TimeSpan.FromHours(11));

        var result = settlement.Settle(item,
        [
            new("newsletter:acme@x.test", new RecipientOutcome.Deferred("b@x.test", "451", SiteAnswered: true)),
            new("y.test", new RecipientOutcome.Deferred("c@y.test", "451", SiteAnswered: true)),
        ], _clock.GetUtcNow());

        var retry = Assert.IsType<QueueOperation.Retry>(Assert.Single(result.Transaction.Operations, o => o is QueueOperation.Retry));
        Assert.Equal(["b@x.test"], retry.Envelope!.Recipients);
        Assert.Equal("c@y.test", Assert.Single(result.Expired).Recipient);
    }

    [Fact]
    public void Every_deferred_recipient_yields_one_deferred_event_whatever_the_configuration()
    {
        var asked = new QueuedOutcome("x.test", new RecipientOutcome.Deferred("b@x.test", "451 4.7.1 greylisted", SiteAnswered: true, BounceClass.Throttled));
        var backedOff = new QueuedOutcome("x.test", new RecipientOutcome.Deferred("c@x.test", "mx.x.test is in back-off after: connection refused", SiteAnswered: false,
            BounceClass.Connection, _clock.GetUtcNow() + TimeSpan.FromMinutes(1)));

        var result = Settlement(Options()).Settle(Leased(_clock.GetUtcNow(), 0, "b@x.test", "c@x.test"), [asked, backedOff], _clock.GetUtcNow());

        // Always emitted (backdata stores every event and posts deferred only when backdata/event-types lists it).
        Assert.Equal([("deferred", "b@x.test", "throttled"), ("deferred", "c@x.test", "connection")], Events(result.Transaction)
            .Select(e => (e.GetProperty("event").GetString(), e.GetProperty("email").GetString(), e.GetProperty("class").GetString())));
    }

    [Theory]
    [InlineData("userunknown", true)]
    [InlineData("hostunknown", true)]
    [InlineData("mailboxfull", false)]
    [InlineData("filtered", false)]
    [InlineData(null, false)]
    public void A_hard_bounce_carries_its_class_and_asks_for_a_global_entry_only_when_the_address_or_domain_does_not_exist(string? reportClass, bool suppresses)
    {
        var bounced = new RecipientOutcome.Bounced("Gone@X.test", "hard", "host mx said: 550 ...", "127.0.0.2", BounceClass.InvalidRecipient, reportClass);

        var result = Settlement(Options()).Settle(Leased(_clock.GetUtcNow(), 0, "Gone@X.test"), [new("x.test", bounced)], _clock.GetUtcNow());

        var bounce = Assert.Single(Events(result.Transaction));
        Assert.Equal(reportClass, bounce.TryGetProperty("class", out var c) ? c.GetString() : null);
        if (suppresses)
        {
            var entry = Assert.Single(result.Suppressions);
            Assert.Equal(("gone@x.test", SuppressionScope.Global, "", SuppressionReason.Bounce, _clock.GetUtcNow()),
                (entry.Email, entry.Scope, entry.Value, entry.Reason, entry.Created));
        }
        else
        {
            Assert.Empty(result.Suppressions);
        }
    }

    [Fact]
    public void An_expired_recipient_is_not_suppressed_even_after_a_user_unknown()
    {
        var item = Leased(_clock.GetUtcNow(), attempts: 9, "b@x.test");
        _clock.Advance(TimeSpan.FromHours(13));

        var result = Settlement(Options()).Settle(item,
            [new("x.test", new RecipientOutcome.Deferred("b@x.test", "450 4.1.1 user unknown", SiteAnswered: true, BounceClass.InvalidRecipient))], _clock.GetUtcNow());

        Assert.Equal("expired", Assert.Single(Events(result.Transaction)).GetProperty("class").GetString());
        Assert.Empty(result.Suppressions);
    }

    [Fact]
    public void A_site_given_retry_time_is_used_instead_of_the_back_off()
    {
        var settlement = Settlement(Options());
        var at = _clock.GetUtcNow() + TimeSpan.FromSeconds(42);

        var result = settlement.Settle(Leased(_clock.GetUtcNow(), 3, "b@x.test"),
            [new("x.test", new RecipientOutcome.Deferred("b@x.test", "rate limit", true, BounceClass.Throttled, at))], _clock.GetUtcNow());

        Assert.Equal(at, result.RetryAt);
    }

    /// <summary>Settlement only builds transactions; it never touches the store.</summary>
    private sealed class UnusedStore : IQueueStore
    {
        public ValueTask EnqueueAsync(string queue, QueueItem item, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, TimeSpan leaseFor, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask<IReadOnlyList<LeasedItem>> LeaseAsync(string queue, int max, long maxBytes, TimeSpan leaseFor, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask<IReadOnlyList<LeasedItem>> RenewAsync(IReadOnlyList<LeasedItem> items, TimeSpan leaseFor, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask WaitForItemsAsync(string queue, TimeSpan maxWait, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask CommitAsync(QueueTransaction transaction, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask<long> CountAsync(string queue, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask<long> ReadyCountAsync(string queue, CancellationToken cancellationToken) => throw new NotSupportedException();
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
