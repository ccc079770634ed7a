using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using ManycoreMail.Config;
using ManycoreMail.Dkim;
using ManycoreMail.Mime;
using ManycoreMail.Roles.Transformer;
using ManycoreMail.Suppression;
using ManycoreMail.Tracking;

namespace ManycoreMail.Tests;

/// <summary>The transformer with a <c>tracking</c> section: a message per recipient with its own tokens, the
/// unsubscribe headers signed, <c>{{unsubscribe_url}}</c> filled in, and suppressed recipients left out.</summary>
public sealed partial class MessageTransformerTrackingTests
{
    private const string BaseUrl = "https://t.example.com";
    private const string Uuid = "abc123";
    private static readonly string[] Secrets = ["the tracking key for these tests"];
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 4, 30, 0, TimeSpan.Zero);
    private static readonly TrackingUrls Urls = new(BaseUrl, new TrackingTokenCodec(new TrackingKeys(Secrets)));

    internal static TrackingOptions Tracking(bool opens = true, bool clicks = true, bool unsubscribe = true, bool textLinks = false,
        SuppressionScope scope = SuppressionScope.Sender) => new()
    {
        Bind = new IPEndPoint(IPAddress.Loopback, 8081),
        BaseUrl = BaseUrl,
        Secrets = Secrets,
        Opens = opens,
        Clicks = clicks,
        Unsubscribe = unsubscribe,
        TrackTextLinks = textLinks,
        UnsubscribeScope = scope,
    };

    internal static MessageTransformer Create(TrackingOptions? tracking, string? beaconUrl = null, bool injectListUnsubscribe = true)
    {
        var settings = new DomainSettings
        {
            Domain = "example.org",
            DkimPrivateKeyFile = "(in memory)",
            ReturnPathDomain = "returns.example.org",
            BeaconUrl = beaconUrl,
        };
        var signer = new DkimSigner(new DkimSigningKey("example.org", "mailer", RSA.Create(1024)), DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);
        var options = new TransformerOptions
        {
            XMailer = "Inboxbooster-Mailer",
            InjectHeaders = injectListUnsubscribe ? [new("List-Unsubscribe", "<mailto:unsub-{{uuid}}@{{from-domain}}>")] : [],
            Domains = [settings],
            FeedbackCampaignId = "test-campaign",
            FeedbackMailType = "test-mailtype",
            FeedbackSenderId = "example-sender",
        };
        return new MessageTransformer(options, new Dictionary<string, SendingDomain> { ["example.org"] = new(settings, signer) }, tracking);
    }

    internal static byte[] Message(string body, string contentType = "text/html; charset=utf-8", string extraHeaders = "", string uuid = Uuid) =>
        Encoding.UTF8.GetBytes(
            "From: News <news@example.org>\r\nTo: Ann <ann@example.net>\r\nCc: bob@example.net\r\n" +
            $"Subject: Offers\r\nX-Uuid: {uuid}\r\nX-Stream-Id: s1\r\n{extraHeaders}MIME-Version: 1.0\r\n" +
            $"Content-Type: {contentType}\r\n\r\n{body}");

    private static TransformOutcome.Ready Ready(MessageTransformer transformer, byte[] submitted,
        IReadOnlyDictionary<string, IReadOnlyList<SuppressionEntry>>? suppressions = null)
    {
        Assert.True(transformer.TryRead(submitted, out var read, out var failed), failed?.Reason);
        return Assert.IsType<TransformOutcome.Ready>(transformer.Transform(read, suppressions ?? new Dictionary<string, IReadOnlyList<SuppressionEntry>>(), Now));
    }

    private static (MessageHeaders Headers, string Text) Parse(OutboundMessage message, byte[] submitted)
    {
        var bytes = message.Message(submitted);
        Assert.True(MessageHeaders.TryParse(bytes, out var headers, out var error), error);
        return (headers, Encoding.UTF8.GetString(bytes));
    }

    private static TrackingToken Token(string url)
    {
        Assert.StartsWith(BaseUrl + "/", url);
        Assert.True(Urls.TryParsePath(new Uri(url).AbsolutePath, out var token), url);
        return token;
    }

    [GeneratedRegex("href=\"([^\"]*)\"")]
    private static partial Regex Href();

    [GeneratedRegex("<img width=\"1\" height=\"1\" alt=\"\" border=\"0\" src=\"([^\"]*)\">")]
    private static partial Regex Pixel();

    private static string Collapse(string value) => string.Join(' ', value.Split([' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries));

    [Fact]
    public void Every_recipient_gets_its_own_message_with_its_own_tokens()
    {
        var submitted = Message("<html><body><a href=\"https://shop.example/x?a=1&amp;b=2\">Shop</a></body></html>");

        var ready = Ready(Create(Tracking()), submitted);

        Assert.Equal(2, ready.Messages.Count);
        Assert.Equal(["ann@example.net", "bob@example.net"], ready.Messages.SelectMany(m => m.Envelope.Recipients));
        foreach (var message in ready.Messages)
        {
            var recipient = Assert.Single(message.Envelope.Recipients);
            Assert.Equal(Uuid, message.Envelope.Uuid);
            Assert.Equal($"bounce-{Uuid}@returns.example.org", message.Envelope.ReturnPath);
            var (headers, text) = Parse(message, submitted);
            Assert.Equal($"<{Uuid}@returns.example.org>", headers.First("Message-ID"));

            var click = Token(WebUtility.HtmlDecode(Assert.Single(Href().Matches(text)).Groups[1].Value));
            Assert.Equal(TrackingKind.Click, click.Kind);
            Assert.Equal(recipient, click.Recipient);
            Assert.Equal(Uuid, click.MessageUuid);
            Assert.Equal("https://shop.example/x?a=1&b=2", click.Url);
            Assert.Equal(Now, click.IssuedAt);

            var open = Token(WebUtility.HtmlDecode(Assert.Single(Pixel().Matches(text)).Groups[1].Value));
            Assert.Equal(TrackingKind.Open, open.Kind);
            Assert.Equal(recipient, open.Recipient);
            Assert.Contains("</a><img width=\"1\"", text);
        }
    }

    [Fact]
    public void List_unsubscribe_headers_name_the_recipient_and_the_scope_and_are_signed()
    {
        var submitted = Message("<html><body>Hi</body></html>", extraHeaders: "List-Unsubscribe: <mailto:own@example.org>\r\n");
        var transformer = Create(Tracking());

        var ready = Ready(transformer, submitted);

        Assert.Contains(transformer.ConfigurationWarnings, w => w.Contains("inject/List-Unsubscribe"));
        Assert.Contains(ready.Warnings, w => w.Contains("List-Unsubscribe"));
        foreach (var message in ready.Messages)
        {
            var (headers, _) = Parse(message, submitted);
            var value = Collapse(Assert.Single(headers.All("List-Unsubscribe")).Value);
            var match = Regex.Match(value, "^<([^>]+)>, <mailto:unsub-abc123@returns\\.example\\.org>$");
            Assert.True(match.Success, value);
            var token = Token(match.Groups[1].Value);
            Assert.Equal(TrackingKind.Unsubscribe, token.Kind);
            Assert.Equal(Assert.Single(message.Envelope.Recipients), token.Recipient);
            Assert.Equal("sender:news@example.org", token.Scope);
            Assert.Equal("List-Unsubscribe=One-Click", Assert.Single(headers.All("List-Unsubscribe-Post")).Value);

            var signature = Collapse(headers.First("DKIM-Signature")!);
            var signed = signature.Split("h=")[1].Split(';')[0].Replace(" ", "").ToLowerInvariant().Split(':');
            Assert.Contains("list-unsubscribe", signed);
            Assert.Contains("list-unsubscribe-post", signed);
        }
    }

    [Fact]
    public void The_tenant_is_taken_from_x_tenant_and_scopes_the_unsubscribe()
    {
        var submitted = Message("<html><body>Hi</body></html>", extraHeaders: "X-Tenant: acme\r\n");

        var ready = Ready(Create(Tracking(scope: SuppressionScope.Tenant)), submitted);
        var withoutTenant = Ready(Create(Tracking(scope: SuppressionScope.Tenant)), Message("<html><body>Hi</body></html>"));

        var message = ready.Messages[0];
        Assert.Equal("acme", message.Envelope.Tenant);
        var (headers, text) = Parse(message, submitted);
        Assert.DoesNotContain("X-Tenant", text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("tenant:acme", Token(Regex.Match(headers.First("List-Unsubscribe")!, "<(https[^>]+)>").Groups[1].Value).Scope);
        var (fallback, _) = Parse(withoutTenant.Messages[0], Message("<html><body>Hi</body></html>"));
        Assert.Null(withoutTenant.Messages[0].Envelope.Tenant);
        Assert.Equal("domain:example.org", Token(Regex.Match(fallback.First("List-Unsubscribe")!, "<(https[^>]+)>").Groups[1].Value).Scope);
    }

    [Fact]
    public void Every_token_carries_the_messages_tenant_and_campaign()
    {
        var submitted = Message("<html><body><a href=\"https://shop.example/a\">a</a> <a href=\"{{unsubscribe_url}}\">Leave</a></body></html>",
            extraHeaders: "X-Tenant: acme\r\nX-Campaign: ignored-when-x-stream-id-is-set\r\n");

        var ready = Ready(Create(Tracking()), submitted);

        Assert.Equal(2, ready.Messages.Count);
        foreach (var message in ready.Messages)
        {
            Assert.Equal("s1", message.Envelope.Campaign);
            var (headers, text) = Parse(message, submitted);
            var tokens = Href().Matches(text).Select(m => Token(WebUtility.HtmlDecode(m.Groups[1].Value)))
                .Append(Token(WebUtility.HtmlDecode(Assert.Single(Pixel().Matches(text)).Groups[1].Value)))
                .Append(Token(Regex.Match(headers.First("List-Unsubscribe")!, "<(https[^>]+)>").Groups[1].Value))
                .ToArray();
            Assert.Equal([TrackingKind.Click, TrackingKind.Unsubscribe, TrackingKind.Open, TrackingKind.Unsubscribe], tokens.Select(t => t.Kind));
            Assert.All(tokens, token =>
            {
                Assert.Equal("acme", token.Tenant);
                Assert.Equal("s1", token.Campaign);
            });
        }
    }

    [Fact]
    public void The_campaign_falls_back_to_x_campaign_and_names_a_token_cannot_carry_are_left_out()
    {
        static byte[] Submitted(string headers) => Encoding.UTF8.GetBytes(
            "From: news@example.org\r\nTo: ann@example.net\r\nSubject: Offers\r\nX-Uuid: abc123\r\n" + headers +
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>Hi</body></html>");
        TrackingToken PixelOf(byte[] submitted)
        {
            var message = Assert.Single(Ready(Create(Tracking()), submitted).Messages);
            return Token(WebUtility.HtmlDecode(Assert.Single(Pixel().Matches(Parse(message, submitted).Text)).Groups[1].Value));
        }

        var fallback = PixelOf(Submitted("X-Campaign: spring\r\n"));
        Assert.Equal("spring", fallback.Campaign);
        Assert.Null(fallback.Tenant);

        // The message still goes out, tracked; only the name its events would carry is missing.
        var unfit = PixelOf(Submitted($"X-Tenant: acme corp\r\nX-Stream-Id: {new string('c', 256)}\r\n"));
        Assert.Null(unfit.Tenant);
        Assert.Null(unfit.Campaign);
        Assert.Equal("ann@example.net", unfit.Recipient);
    }

    [Fact]
    public void Nested_quoted_printable_and_base64_parts_are_rewritten_in_their_encodings()
    {
        const string html = "<html><body><p>Caf\u00e9</p><a href=\"https://shop.example/a\">a</a> <a data-no-track href=\"https://shop.example/keep\">k</a> " +
            "<a href=\"mailto:x@example.org\">m</a> <a href=\"#top\">t</a> <a href=\"{{unsubscribe_url}}\">Unsubscribe</a></body></html>";
        var base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(html), Base64FormattingOptions.InsertLineBreaks);
        var body =
            "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
            "--inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
            "Caf=E9: https://shop.example/a\r\nLeave: {{unsubscribe_url}}\r\n" +
            "--inner\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64 + "\r\n" +
            "--inner--\r\n--outer\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\nJVBERi0=\r\n--outer--\r\n";
        var submitted = Message(body, "multipart/mixed; boundary=outer");

        var ready = Ready(Create(Tracking()), submitted);

        foreach (var message in ready.Messages)
        {
            var recipient = Assert.Single(message.Envelope.Recipients);
            var (headers, text) = Parse(message, submitted);
            var unsubscribe = Regex.Match(headers.First("List-Unsubscribe")!, "<(https[^>]+)>").Groups[1].Value;

            var plainPart = text[text.IndexOf("quoted-printable\r\n\r\n", StringComparison.Ordinal)..].Split("\r\n\r\n", 2)[1].Split("\r\n--inner", 2)[0];
            var plain = Encoding.Latin1.GetString(TransferEncodings.DecodeQuotedPrintable(Encoding.ASCII.GetBytes(plainPart)));
            // Text links stay (track-text-links is off); the placeholder is filled in; the charset is kept.
            Assert.Equal($"Caf\u00e9: https://shop.example/a\r\nLeave: {unsubscribe}", plain);

            var encoded = text[text.IndexOf("base64\r\n\r\n", StringComparison.Ordinal)..].Split("\r\n\r\n", 2)[1].Split("\r\n--inner", 2)[0];
            Assert.All(encoded.Split("\r\n"), line => Assert.True(line.Length <= 76));
            var rewritten = Encoding.UTF8.GetString(Convert.FromBase64String(encoded.Replace("\r\n", "")));
            var hrefs = Href().Matches(rewritten).Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToArray();
            Assert.Equal(5, hrefs.Length);
            Assert.Equal("https://shop.example/a", Token(hrefs[0]).Url);
            Assert.Equal(recipient, Token(hrefs[0]).Recipient);
            Assert.Equal(["https://shop.example/keep", "mailto:x@example.org", "#top"], hrefs[1..4]);
            // The unsubscribe link is the recipient's unsubscribe URL, not a click through the tracker.
            Assert.Equal(unsubscribe, hrefs[4]);
            Assert.Equal(TrackingKind.Unsubscribe, Token(hrefs[4]).Kind);
            Assert.Contains("<p>Caf\u00e9</p>", rewritten);
            Assert.Single(Pixel().Matches(rewritten));
            Assert.Contains("Content-Disposition: attachment\r\n\r\nJVBERi0=\r\n--outer--", text);
        }
    }

    [Fact]
    public void Links_already_on_the_tracker_are_not_wrapped_in_a_click()
    {
        var submitted = Message($"<html><body><a href=\"{BaseUrl}/u/written-out\">Leave</a></body></html>");

        var ready = Ready(Create(Tracking(opens: false)), submitted);

        // Nothing in the body changed, so it is handed on in place.
        Assert.NotNull(ready.Messages[0].SubmittedOffset);
        Assert.Contains($"<a href=\"{BaseUrl}/u/written-out\">Leave</a>", Parse(ready.Messages[0], submitted).Text);
    }

    [Fact]
    public void A_url_a_token_cannot_carry_exactly_is_left_alone_rather_than_failing_the_message()
    {
        var tracking = new RecipientTracking(Tracking());
        var copy = new TrackedCopy(Uuid, "ann@example.net", null, null, Now);

        // A lone surrogate has no UTF-8 form; a URL longer than a token can hold is the other case.
        Assert.Null(tracking.ClickUrl(copy, "https://shop.example/\uD800"));
        Assert.Null(tracking.ClickUrl(copy, "https://shop.example/" + new string('x', 5000)));
        var click = tracking.ClickUrl(copy, "https://shop.example/ok");
        Assert.Equal("https://shop.example/ok", Token(Assert.IsType<string>(click)).Url);
    }

    [Fact]
    public void Text_links_are_tracked_only_with_track_text_links()
    {
        var submitted = Message("See https://shop.example/a\r\n", "text/plain; charset=utf-8");

        var untracked = Ready(Create(Tracking()), submitted);
        var tracked = Ready(Create(Tracking(textLinks: true)), submitted);

        Assert.Contains("See https://shop.example/a\r\n", Parse(untracked.Messages[0], submitted).Text);
        // Nothing in the body changed: it is handed on in place.
        Assert.NotNull(untracked.Messages[0].SubmittedOffset);
        var url = Regex.Match(Parse(tracked.Messages[1], submitted).Text, "See (\\S+)\r\n").Groups[1].Value;
        Assert.Equal("https://shop.example/a", Token(url).Url);
        Assert.Equal("bob@example.net", Token(url).Recipient);
    }

    [Fact]
    public void The_open_pixel_replaces_the_beacon_only_when_opens_are_tracked()
    {
        var submitted = Message("<html><body>Hi</body></html>");
        const string beacon = "https://beacon.example/{{streamid}}.gif";

        var withOpens = Parse(Ready(Create(Tracking(), beacon), submitted).Messages[0], submitted).Text;
        var withoutOpens = Parse(Ready(Create(Tracking(opens: false), beacon), submitted).Messages[0], submitted).Text;
        var withoutTracking = Parse(Ready(Create(null, beacon), submitted).Messages[0], submitted).Text;

        Assert.DoesNotContain("beacon.example", withOpens);
        Assert.Single(Pixel().Matches(withOpens));
        Assert.Contains("src=\"https://beacon.example/s1.gif\"", withoutOpens);
        Assert.Empty(Pixel().Matches(withoutOpens));
        Assert.Contains("src=\"https://beacon.example/s1.gif\"", withoutTracking);
    }

    [Fact]
    public void Without_tracking_one_message_goes_to_every_recipient_as_before()
    {
        var submitted = Message("<html><body>{{unsubscribe_url}}</body></html>");

        var ready = Ready(Create(null), submitted);

        var message = Assert.Single(ready.Messages);
        Assert.Equal(["ann@example.net", "bob@example.net"], message.Envelope.Recipients);
        var (headers, text) = Parse(message, submitted);
        Assert.Equal($"<mailto:unsub-{Uuid}@returns.example.org>", headers.First("List-Unsubscribe"));
        Assert.Null(headers.First("List-Unsubscribe-Post"));
        Assert.Contains("{{unsubscribe_url}}", text);
    }

    [Fact]
    public void Suppressed_recipients_are_left_out_with_the_entry_that_stopped_them()
    {
        var submitted = Message("<html><body>Hi</body></html>");
        var stops = SuppressionEntry.Create("Bob@Example.net", SuppressionScope.Domain, "example.org", SuppressionReason.Complaint, Now);
        var suppressions = new Dictionary<string, IReadOnlyList<SuppressionEntry>>
        {
            // Another sender's entry and an expired one do not stop this message.
            ["ann@example.net"] =
            [
                SuppressionEntry.Create("ann@example.net", SuppressionScope.Sender, "other@example.org", SuppressionReason.Unsubscribe, Now),
                SuppressionEntry.Create("ann@example.net", SuppressionScope.Global, null, SuppressionReason.Bounce, Now.AddDays(-2), Now.AddDays(-1)),
            ],
            ["bob@example.net"] = [stops],
        };

        foreach (var tracking in new[] { null, Tracking() })
        {
            var ready = Ready(Create(tracking), submitted, suppressions);

            Assert.Equal(["ann@example.net"], Assert.Single(ready.Messages).Envelope.Recipients);
            var suppressed = Assert.Single(ready.Suppressed);
            Assert.Equal("bob@example.net", suppressed.Email);
            Assert.Same(stops, suppressed.Entry);
        }
    }

    [Fact]
    public void A_message_whose_recipients_are_all_suppressed_has_nothing_to_send()
    {
        var submitted = Message("<html><body>Hi</body></html>");
        var suppressions = new Dictionary<string, IReadOnlyList<SuppressionEntry>>
        {
            ["ann@example.net"] = [SuppressionEntry.Create("ann@example.net", SuppressionScope.Global, null, SuppressionReason.Bounce, Now)],
            ["bob@example.net"] = [SuppressionEntry.Create("bob@example.net", SuppressionScope.Sender, "news@example.org", SuppressionReason.Unsubscribe, Now)],
        };

        var ready = Ready(Create(Tracking()), submitted, suppressions);

        Assert.Empty(ready.Messages);
        Assert.Equal(["ann@example.net", "bob@example.net"], ready.Suppressed.Select(s => s.Email));
    }
}
