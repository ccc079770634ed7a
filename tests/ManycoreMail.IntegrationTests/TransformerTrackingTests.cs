using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ManycoreMail.Suppression;
using ManycoreMail.TestSupport;
using ManycoreMail.Tracking;

namespace ManycoreMail.IntegrationTests;

/// <summary>The transformer with a <c>tracking</c> section, through the real pipeline: a message per recipient,
/// each with its own tokens and a DKIM signature dkimpy verifies, and a suppressed recipient left out with a
/// <c>suppressed</c> event.</summary>
public sealed partial class TransformerTrackingTests(TestWorld world) : IClassFixture<TestWorld>
{
    private const string BaseUrl = "https://t.sender.test";
    private const string Secret = "integration tracking secret 0123";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly TrackingUrls Urls = new(BaseUrl, new TrackingTokenCodec(new TrackingKeys([Secret])));

    [GeneratedRegex("href=\"([^\"]*)\"")]
    private static partial Regex Href();

    [Fact]
    public async Task Each_recipient_gets_its_own_signed_message_and_a_suppressed_one_gets_none()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var config = new MailerConfig(world, webhook.Url).Write();
        File.AppendAllText(config.CustomerFile, $"""

            tracking:
              bind: {"{"}inet-interface: 127.0.0.1, inet-port: {FreePort.Tcp()}{"}"}
              base-url: {BaseUrl}
              secrets: ["{Secret}"]

            """);
        await using var mailer = await RunningMailer.StartAsync(config);
        await mailer.Host.Suppressions.AddAsync(
            [SuppressionEntry.Create("Gone@ok.test", SuppressionScope.Global, null, SuppressionReason.Bounce, DateTimeOffset.UtcNow)], CancellationToken.None);
        var uuid = Messages.NewUuid();
        var message =
            $"From: News <news@{TestWorld.SenderDomain}>\r\nTo: Reader <reader@ok.test>, second@ok.test\r\nCc: gone@ok.test\r\n" +
            $"Subject: Tracked\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nX-Uuid: {uuid}\r\nX-Stream-Id: stream7\r\n\r\n" +
            "<html><body><p>Hello</p><a href=\"https://shop.example/offer?id=7\">Offer</a>\r\n" +
            "<a href=\"{{unsubscribe_url}}\">Unsubscribe</a></body></html>\r\n";

        var (code, output) = await Swaks.SendAsync(config.Receiver, message, Swaks.TlsAuth);

        Assert.True(code == 0, output);
        var sent = await sink.WaitForMessagesAsync(2, Patience);
        Assert.Equal(["reader@ok.test", "second@ok.test"], sent.SelectMany(s => s.Recipients).Order());
        foreach (var mail in sent)
        {
            var recipient = Assert.Single(mail.Recipients);
            var text = mail.Text;
            var (valid, verifierOutput) = await world.VerifyDkimAsync(mail.Message);
            Assert.True(valid, verifierOutput + "\n" + text);
            Assert.Contains($"Message-ID: <{uuid}@{TestWorld.ReturnPathDomain}>", text);
            Assert.Contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click", text);
            Assert.Matches("h=[^;]*list-unsubscribe:[^;]*list-unsubscribe-post", Regex.Replace(text, "\\s+", "").ToLowerInvariant());

            var header = Regex.Match(text, "List-Unsubscribe: <([^>]+)>,\\s+<mailto:unsub-" + uuid + "@" + Regex.Escape(TestWorld.ReturnPathDomain) + ">");
            Assert.True(header.Success, text);
            var unsubscribe = Token(header.Groups[1].Value);
            Assert.Equal((TrackingKind.Unsubscribe, recipient, "sender:news@sender.test"), (unsubscribe.Kind, unsubscribe.Recipient, unsubscribe.Scope));

            var hrefs = Href().Matches(text).Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToArray();
            Assert.Equal(2, hrefs.Length);
            var click = Token(hrefs[0]);
            Assert.Equal((TrackingKind.Click, recipient, "https://shop.example/offer?id=7"), (click.Kind, click.Recipient, click.Url));
            Assert.Equal(header.Groups[1].Value, hrefs[1]);
            var pixel = Regex.Match(text, "<img width=\"1\" height=\"1\" alt=\"\" border=\"0\" src=\"([^\"]+)\">");
            Assert.True(pixel.Success, text);
            Assert.Equal((TrackingKind.Open, recipient), (Token(pixel.Groups[1].Value).Kind, Token(pixel.Groups[1].Value).Recipient));
        }

        using var http = new HttpClient();
        var events = await Eventually.GetAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{config.HttpPort}/v1/events?uuid={uuid}&event=suppressed");
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
            using var response = await http.SendAsync(request);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var found = json.RootElement.GetProperty("events").EnumerateArray().Select(e => e.Clone()).ToArray();
            return found.Length > 0 ? found : null;
        }, Patience, "the suppressed event in the event store");
        var suppressed = Assert.Single(events);
        Assert.Equal(("gone@ok.test", "bounce", "global"),
            (suppressed.GetProperty("email").GetString(), suppressed.GetProperty("reason").GetString(), suppressed.GetProperty("scope").GetString()));
        Assert.Equal(2, sink.Messages().Count);
    }

    private static TrackingToken Token(string url)
    {
        Assert.StartsWith(BaseUrl + "/", url);
        Assert.True(Urls.TryParsePath(new Uri(url).AbsolutePath, out var token), url);
        return token;
    }
}
