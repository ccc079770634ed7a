using ManycoreMail.Smtp;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>The sender's two stages of accept-to-delivery, timed on a real spool and a real SMTP exchange: the wait on
/// the outbound queue (hand-off to lease) and the delivery itself (lease to the recipient's MX taking it).</summary>
public sealed class SenderStageTimingTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly string[] Dns = ["mx-host=timed.test,mx.timed.test,10", "host-record=mx.timed.test,127.0.0.57"];

    [Fact]
    public async Task A_delivered_message_is_timed_from_hand_off_to_lease_and_from_lease_to_delivery()
    {
        await using var harness = await DeliveryHarness.StartAsync(Dns);
        var clock = new ShiftedClock();
        // The recipient's server takes 7 s of the sender's clock to accept the recipient.
        harness.StartServer("127.0.0.57", new ScriptedHandler((_, _) =>
        {
            clock.Advance(TimeSpan.FromSeconds(7));
            return SmtpReply.Ok();
        }));
        await harness.EnqueueAsync("t1", "reader@timed.test");
        // The message waits 100 s on the outbound queue before the sender starts.
        clock.Advance(TimeSpan.FromSeconds(100));
        await harness.StartSenderAsync(time: clock);

        var delivered = Assert.Single(await harness.WaitForEventsAsync(1, Deadline));
        Assert.Equal("delivered", delivered.GetProperty("event").GetString());
        var text = await Eventually.GetAsync(async () => await harness.MetricsTextAsync() is { } t && t.Contains("sender_delivery_seconds_count 1.0") ? t : null,
            Deadline, "the delivery timed");

        Assert.Contains("sender_queue_wait_seconds_bucket{le=\"60\"} 0.0", text);
        Assert.Contains("sender_queue_wait_seconds_bucket{le=\"300\"} 1.0", text);
        Assert.Contains("sender_queue_wait_seconds_count 1.0", text);
        Assert.Contains("sender_delivery_seconds_bucket{le=\"5\"} 0.0", text);
        Assert.Contains("sender_delivery_seconds_bucket{le=\"10\"} 1.0", text);
        // The whole way: about 107 s since the item was queued (an outbound item stands for its own acceptance here).
        Assert.Contains("accept_to_delivery_seconds_bucket{le=\"60\"} 0.0", text);
        Assert.Contains("accept_to_delivery_seconds_bucket{le=\"300\"} 1.0", text);
    }
}
