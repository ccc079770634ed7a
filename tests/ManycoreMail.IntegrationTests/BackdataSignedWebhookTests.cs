using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ManycoreMail.Config;
using ManycoreMail.Metrics;
using ManycoreMail.Queue;
using ManycoreMail.Queue.Embedded;
using ManycoreMail.Roles.Backdata;
using ManycoreMail.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ManycoreMail.IntegrationTests;

/// <summary>Backdata against a real webhook listener that checks Standard Webhooks signatures with its own HMAC (not
/// the mailer's signer): rotation gives one signature per secret, a retried batch keeps its webhook-id and event ids,
/// the batch size holds, and the configured headers arrive.</summary>
public sealed class BackdataSignedWebhookTests
{
    private const string EventsQueue = "EVENT_QUEUE";
    private const string NewSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string OldSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Each_secret_signs_and_a_retry_keeps_the_webhook_id_and_the_event_ids()
    {
        using var webhook = new WebhookListener { FailNext = 1 };
        var options = new BackdataOptions
        {
            PostUrl = new Uri(webhook.Url),
            MaxRetryDelay = TimeSpan.FromSeconds(1),
            BatchSize = 2,
            SigningSecrets = [NewSecret, OldSecret],
            Headers = [new("Authorization", "Bearer s3cr3t-token")],
        };

        await RunUntilPostedAsync(options, webhook, 2);

        var recorded = webhook.Recorded;
        Assert.Equal([500, 200], recorded.Select(r => r.Status));
        foreach (var request in recorded)
        {
            var signatures = request.Header("webhook-signature").Split(' ');
            Assert.Equal(2, signatures.Length);
            Assert.Equal(Sign(NewSecret, request), signatures[0]);
            Assert.Equal(Sign(OldSecret, request), signatures[1]);
            Assert.Equal("Bearer s3cr3t-token", request.Header("Authorization"));
            Assert.StartsWith("application/json", request.ContentType, StringComparison.Ordinal);
            var timestamp = long.Parse(request.Header("webhook-timestamp"), CultureInfo.InvariantCulture);
            Assert.InRange(DateTimeOffset.FromUnixTimeSeconds(timestamp), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
        }
        Assert.StartsWith("msg_", recorded[0].Header("webhook-id"), StringComparison.Ordinal);
        Assert.Equal(recorded[0].Header("webhook-id"), recorded[1].Header("webhook-id"));
        Assert.Equal(EventIds(recorded[0]), EventIds(recorded[1]));
        Assert.Equal(2, EventIds(recorded[1]).Distinct().Count());
        Assert.All(EventIds(recorded[1]), id => Assert.StartsWith("evt_", id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Batches_hold_at_most_batch_size_events_and_unsigned_posts_have_no_signature()
    {
        using var webhook = new WebhookListener();
        var options = new BackdataOptions { PostUrl = new Uri(webhook.Url), MaxRetryDelay = TimeSpan.FromSeconds(1), BatchSize = 2 };

        await RunUntilPostedAsync(options, webhook, 5);

        var recorded = webhook.Recorded;
        Assert.True(recorded.Count >= 3, $"{recorded.Count} POSTs for 5 events in batches of 2");
        Assert.All(recorded, r => Assert.InRange(EventIds(r).Count, 1, 2));
        Assert.Equal(5, webhook.Events.Select(e => (string?)e["id"]).Distinct().Count());
        Assert.All(recorded, r => Assert.Equal("", r.Header("webhook-signature")));
    }

    private static async Task RunUntilPostedAsync(BackdataOptions options, WebhookListener webhook, int count)
    {
        var directory = Directory.CreateTempSubdirectory("mm-signed-webhook-");
        try
        {
            await using var spool = await EmbeddedSpool.OpenAsync(new EmbeddedSpoolOptions { Path = Path.Combine(directory.FullName, "spool") }, TimeProvider.System, CancellationToken.None);
            for (var i = 0; i < count; i++)
            {
                await spool.EnqueueAsync(EventsQueue, new QueueItem(new MessageEnvelope { Uuid = $"u{i}" },
                    Encoding.UTF8.GetBytes($$"""{"event":"delivered","uuid":"u{{i}}","timestamp":1700000000,"email":"r{{i}}@ok.test"}""")), CancellationToken.None);
            }
            using var backdata = new BackdataRole(spool, new QueueNames("P0", "P1", "OUT", EventsQueue), options,
                new MetricsRegistry(), TimeProvider.System, NullLogger<BackdataRole>.Instance);
            var role = backdata.AsRole();
            await role.StartAsync(CancellationToken.None);
            try
            {
                await Eventually.TrueAsync(async () => await spool.CountAsync(EventsQueue, CancellationToken.None) == 0, Patience, "every event posted");
            }
            finally
            {
                using var deadline = new CancellationTokenSource(Patience);
                await role.StopAsync(deadline.Token);
            }
            Assert.Equal(count, webhook.Events.Count);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>The Standard Webhooks signature computed here, independently of the mailer's signer.</summary>
    private static string Sign(string secret, RecordedRequest request)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var signed = Encoding.UTF8.GetBytes($"{request.Header("webhook-id")}.{request.Header("webhook-timestamp")}.").Concat(request.Body).ToArray();
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
    }

    private static List<string> EventIds(RecordedRequest request) =>
        [.. ((JsonArray)JsonNode.Parse(request.Body)!).Select(e => (string)e!["id"]!)];
}
