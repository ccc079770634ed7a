using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ManycoreMail.TestSupport;

namespace ManycoreMail.IntegrationTests;

/// <summary>Issue 12's whole path with real peers: a tracked message goes out through smtp-sink and verifies with
/// dkimpy; its pixel and link are fetched over HTTP from the tracker; the open and click reach the event store and
/// the webhook; a tampered token is refused; a one-click POST suppresses the next send; and the events and the
/// suppression survive a restart.</summary>
public sealed partial class TrackingEndToEndTests(TestWorld world) : IClassFixture<TestWorld>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [GeneratedRegex("<a href=\"([^\"]+)\">Offer</a>")]
    private static partial Regex OfferLink();

    [GeneratedRegex("<img width=\"1\" height=\"1\" alt=\"\" border=\"0\" src=\"([^\"]+)\">")]
    private static partial Regex Pixel();

    [GeneratedRegex("List-Unsubscribe: <([^>]+)>")]
    private static partial Regex UnsubscribeHeader();

    [Fact]
    public async Task Open_click_and_one_click_unsubscribe_are_recorded_and_the_next_send_is_suppressed()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var trackerPort = FreePort.Tcp();
        var config = new MailerConfig(world, webhook.Url).Write();
        var customer = File.ReadAllText(config.CustomerFile).Replace(
            $"  post-url: {webhook.Url}", $"  post-url: {webhook.Url}\n  event-types: [open, click, suppressed]", StringComparison.Ordinal);
        File.WriteAllText(config.CustomerFile, customer + $"""

            tracking:
              bind: {"{"}inet-interface: 127.0.0.1, inet-port: {trackerPort}{"}"}
              base-url: http://127.0.0.1:{trackerPort}
              secrets: ["end to end tracking secret 0123"]

            """);
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var uuid = Messages.NewUuid();

        await using (var mailer = await RunningMailer.StartAsync(config))
        {
            var (code, output) = await Swaks.SendAsync(config.Receiver, HtmlMessage(uuid), Swaks.TlsAuth);
            Assert.True(code == 0, output);
            var sent = Assert.Single(await sink.WaitForMessagesAsync(1, Patience));
            var text = sent.Text;
            var (valid, verifierOutput) = await world.VerifyDkimAsync(sent.Message);
            Assert.True(valid, verifierOutput + "\n" + text);
            Assert.Contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click", text);

            // The pixel: a GIF, and an open event with the recipient.
            var pixelUrl = WebUtility.HtmlDecode(Pixel().Match(text).Groups[1].Value);
            Assert.StartsWith($"http://127.0.0.1:{trackerPort}/o/", pixelUrl);
            using (var pixel = await http.GetAsync(pixelUrl))
            {
                Assert.Equal(HttpStatusCode.OK, pixel.StatusCode);
                Assert.Equal("image/gif", pixel.Content.Headers.ContentType?.MediaType);
                Assert.StartsWith("GIF8", Encoding.ASCII.GetString(await pixel.Content.ReadAsByteArrayAsync()));
            }

            // The link: a redirect to the exact original URL, and a click event with it.
            var clickUrl = WebUtility.HtmlDecode(OfferLink().Match(text).Groups[1].Value);
            Assert.StartsWith($"http://127.0.0.1:{trackerPort}/c/", clickUrl);
            using (var click = await http.GetAsync(clickUrl))
            {
                Assert.Equal(HttpStatusCode.Found, click.StatusCode);
                Assert.Equal("https://shop.example/offer?id=7&lang=en", click.Headers.Location?.OriginalString);
            }

            // A tampered token: 404, no redirect, nothing recorded.
            var tampered = clickUrl[..^3] + (clickUrl[^3] == 'A' ? 'B' : 'A') + clickUrl[^2..];
            using (var refused = await http.GetAsync(tampered))
            {
                Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
                Assert.Null(refused.Headers.Location);
            }

            var open = await webhook.WaitForAsync(e => Is(e, uuid, "open"), Patience, "the open at the webhook");
            Assert.Equal("reader@ok.test", (string?)open["email"]);
            // The tracker keeps nothing: the tenant and campaign come from the token the transformer signed.
            Assert.Equal(("acme", "spring"), ((string?)open["tenant"], (string?)open["campaign"]));
            var clicked = await webhook.WaitForAsync(e => Is(e, uuid, "click"), Patience, "the click at the webhook");
            Assert.Equal("https://shop.example/offer?id=7&lang=en", (string?)clicked["url"]);
            Assert.Equal("reader@ok.test", (string?)clicked["email"]);
            Assert.Equal(("acme", "spring"), ((string?)clicked["tenant"], (string?)clicked["campaign"]));

            // The GET of the unsubscribe URL changes nothing; the RFC 8058 POST unsubscribes.
            var unsubscribeUrl = UnsubscribeHeader().Match(text).Groups[1].Value;
            using (var page = await http.GetAsync(unsubscribeUrl))
            {
                Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            }
            Assert.Empty((await ApiAsync(http, config, "/v1/suppressions?email=reader@ok.test")).GetProperty("suppressions").EnumerateArray());
            using (var body = new FormUrlEncodedContent([new("List-Unsubscribe", "One-Click")]))
            using (var oneClick = await http.PostAsync(unsubscribeUrl, body))
            {
                Assert.Equal(HttpStatusCode.OK, oneClick.StatusCode);
            }
            var unsubscribed = await webhook.WaitForAsync(e => Is(e, uuid, "unsubscribe"), Patience, "the unsubscribe at the webhook");
            Assert.Equal("reader@ok.test", (string?)unsubscribed["email"]);
            var entry = Assert.Single((await ApiAsync(http, config, "/v1/suppressions?email=reader@ok.test")).GetProperty("suppressions").EnumerateArray());
            Assert.Equal(("sender", $"news@{TestWorld.SenderDomain}", "unsubscribe"),
                (entry.GetProperty("scope").GetString(), entry.GetProperty("value").GetString(), entry.GetProperty("reason").GetString()));

            // The next message to that reader from that sender is not sent.
            var second = Messages.NewUuid();
            (code, output) = await Swaks.SendAsync(config.Receiver, HtmlMessage(second), Swaks.TlsAuth);
            Assert.True(code == 0, output);
            var suppressed = await webhook.WaitForAsync(e => Is(e, second, "suppressed"), Patience, "the suppressed event");
            Assert.Equal("unsubscribe", (string?)suppressed["reason"]);
            Assert.Single(sink.Messages());
        }

        // Both the events and the entry survive a restart.
        await using (await RunningMailer.StartAsync(config))
        {
            var kinds = (await ApiAsync(http, config, $"/v1/events?uuid={uuid}")).GetProperty("events").EnumerateArray()
                .Select(e => e.GetProperty("event").GetString()).ToHashSet();
            Assert.Superset(new HashSet<string?> { "delivered", "open", "click", "unsubscribe" }, kinds);
            Assert.Single((await ApiAsync(http, config, "/v1/suppressions?email=reader@ok.test")).GetProperty("suppressions").EnumerateArray());
        }
    }

    [Fact]
    public async Task In_a_real_browser_the_unsubscribe_page_changes_nothing_until_its_button_is_pressed()
    {
        using var sink = await world.StartSinkAsync("ok.test");
        using var webhook = new WebhookListener();
        var trackerPort = FreePort.Tcp();
        var config = new MailerConfig(world, webhook.Url).Write();
        File.AppendAllText(config.CustomerFile, $"""

            tracking:
              bind: {"{"}inet-interface: 127.0.0.1, inet-port: {trackerPort}{"}"}
              base-url: http://127.0.0.1:{trackerPort}
              secrets: ["browser tracking secret 0123456"]
              unsubscribe-scope: domain

            """);
        using var http = new HttpClient();
        await using var mailer = await RunningMailer.StartAsync(config);
        var uuid = Messages.NewUuid();
        var (code, output) = await Swaks.SendAsync(config.Receiver, HtmlMessage(uuid), Swaks.TlsAuth);
        Assert.True(code == 0, output);
        var text = Assert.Single(await sink.WaitForMessagesAsync(1, Patience)).Text;
        var unsubscribeUrl = UnsubscribeHeader().Match(text).Groups[1].Value;
        Assert.StartsWith($"http://127.0.0.1:{trackerPort}/u/", unsubscribeUrl);

        await using var chromium = await HeadlessChromium.StartAsync();
        var page = await chromium.Browser.NewPageAsync();
        var shown = await page.GotoAsync(unsubscribeUrl);

        Assert.Equal(200, shown?.Status);
        Assert.Contains("reader@ok.test", await page.InnerTextAsync("body"));
        // The browser fetched the page (as a link scanner would): nothing is suppressed yet.
        Assert.Empty((await ApiAsync(http, config, "/v1/suppressions?email=reader@ok.test")).GetProperty("suppressions").EnumerateArray());

        await page.ClickAsync("button[type=submit]");
        await page.WaitForSelectorAsync("text=You are unsubscribed");

        var entry = Assert.Single((await ApiAsync(http, config, "/v1/suppressions?email=reader@ok.test")).GetProperty("suppressions").EnumerateArray());
        Assert.Equal(("domain", TestWorld.SenderDomain, "unsubscribe"),
            (entry.GetProperty("scope").GetString(), entry.GetProperty("value").GetString(), entry.GetProperty("reason").GetString()));
        var unsubscribed = await webhook.WaitForAsync(e => Is(e, uuid, "unsubscribe"), Patience, "the unsubscribe at the webhook");
        Assert.Equal("reader@ok.test", (string?)unsubscribed["email"]);
    }

    private static bool Is(JsonObject e, string uuid, string kind) => (string?)e["uuid"] == uuid && (string?)e["event"] == kind;

    private static string HtmlMessage(string uuid) =>
        $"From: News <news@{TestWorld.SenderDomain}>\r\nTo: Reader <reader@ok.test>\r\nSubject: Tracked\r\nMIME-Version: 1.0\r\n" +
        $"Content-Type: text/html; charset=utf-8\r\nX-Uuid: {uuid}\r\nX-Tenant: acme\r\nX-Stream-Id: spring\r\n\r\n" +
        "<html><body><p>Hello</p><a href=\"https://shop.example/offer?id=7&amp;lang=en\">Offer</a></body></html>\r\n";

    private static async Task<JsonElement> ApiAsync(HttpClient http, MailerConfig config, string pathAndQuery)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{config.HttpPort}{pathAndQuery}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:secret")));
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var json = JsonDocument.Parse(body);
        return json.RootElement.Clone();
    }
}
