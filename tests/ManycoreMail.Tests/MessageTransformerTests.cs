using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Dkim;
using ManycoreMail.Mime;
using ManycoreMail.Roles.Transformer;

namespace ManycoreMail.Tests;

/// <summary>The transformer's header outcome against the original's fixtures (spec §5.2), with our fixes.</summary>
public sealed class MessageTransformerTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 10, 37, 42, TimeSpan.Zero);

    private static MessageTransformer Create(string? beaconUrl = "https://t.example.org/px/{{streamid}}.gif", string? xMailer = "Inboxbooster-Mailer")
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
            XMailer = xMailer,
            InjectHeaders = [new("List-Unsubscribe", "<mailto:unsub-{{uuid}}@{{from-domain}}>")],
            Domains = [settings],
            FeedbackCampaignId = "test-campaign",
            FeedbackMailType = "test-mailtype",
            FeedbackSenderId = "example-sender",
        };
        return new MessageTransformer(options, new Dictionary<string, SendingDomain> { ["example.org"] = new(settings, signer) });
    }

    private static byte[] Fixture(string name) => ManycoreMail.TestSupport.TestData.Fixture(name);

    private static (MessageHeaders Headers, string Text, TransformOutcome.Ready Ready) Transform(string fixture, MessageTransformer? transformer = null)
    {
        var submitted = Fixture(fixture);
        var outcome = (transformer ?? Create()).Transform(submitted, Now);
        var ready = Assert.IsType<TransformOutcome.Ready>(outcome);
        var message = Assert.Single(ready.Messages).Message(submitted);
        Assert.True(MessageHeaders.TryParse(message, out var headers, out var error), error);
        return (headers, Encoding.UTF8.GetString(message), ready);
    }

    private static string[] Names(MessageHeaders headers) => headers.Fields.Select(f => f.Name).ToArray();

    [Fact]
    public void Basic_message_gets_the_original_header_outcome()
    {
        var (headers, text, ready) = Transform("basic.eml");
        Assert.True(MessageHeaders.TryParse(Fixture("transformer-out-basic.eml"), out var expected, out _));

        // Same headers in the same order, except: the signature goes first (any position verifies) and the
        // return path travels in the queue envelope instead of an X-ReturnPathIb header.
        Assert.Equal("DKIM-Signature", headers.Fields[0].Name);
        Assert.Equal(
            Names(expected).Where(n => n is not "DKIM-Signature" and not "X-ReturnPathIb"),
            Names(headers).Skip(1));
        foreach (var name in new[] { "Message-ID", "Feedback-ID", "List-Unsubscribe", "X-Mailer" })
        {
            Assert.Equal(Collapse(expected.First(name)!), Collapse(headers.First(name)!));
        }
        // UTC is known, so +0000 (RFC 5322 §3.3); the original wrote -0000, "local time unknown".
        Assert.Equal("Sun, 22 Nov 2026 10:37:42 +0000", headers.First("Date"));
        Assert.EndsWith("\r\n\r\nthis is the body of a basic email\r\n", text);
        Assert.DoesNotContain("\n\n", text.Replace("\r\n", "\r"), StringComparison.Ordinal);
        Assert.Equal("bounce-6c0d2660732b4e3ab22974b37263a577@returns.example.org", ready.Messages[0].Envelope.ReturnPath);
        Assert.Equal(["to@example.org"], ready.Messages[0].Envelope.Recipients);
        Assert.Equal("6c0d2660732b4e3ab22974b37263a577", ready.Messages[0].Envelope.Uuid);
    }

    [Fact]
    public void Signature_uses_relaxed_canonicalisation_and_signs_what_a_careful_sender_signs()
    {
        var (headers, _, _) = Transform("basic.eml");
        var signature = Collapse(headers.First("DKIM-Signature")!);

        Assert.Contains("a=rsa-sha256", signature);
        Assert.Contains("c=relaxed/relaxed", signature);
        Assert.Contains("d=example.org", signature);
        Assert.Contains("s=mailer", signature);
        var signed = signature.Split("h=")[1].Split(';')[0].Replace(" ", "").ToLowerInvariant().Split(':');
        Assert.Equal(2, signed.Count(h => h == "from"));
        foreach (var name in new[] { "to", "subject", "date", "message-id", "mime-version", "content-type", "list-unsubscribe", "feedback-id" })
        {
            Assert.Contains(name, signed);
        }
    }

    [Fact]
    public void Html_message_gets_the_pixel_and_a_single_x_mailer()
    {
        var (headers, text, ready) = Transform("transformer-in-html.eml");

        Assert.Equal(["Inboxbooster-Mailer"], headers.All("X-Mailer").Select(f => f.Value));
        Assert.Equal("<abc123@returns.example.org>", headers.First("Message-ID"));
        Assert.Equal("tmpl7-camp9:abc123:test-mailtype:example-sender", headers.First("Feedback-ID"));
        Assert.Contains("<p>Hi</p><img width=\"1\" height=\"1\" border=\"0\" src=\"https://t.example.org/px/tmpl7-camp9.gif\"></BODY>", text);
        Assert.Null(headers.First("X-Priority"));
        Assert.Equal(["a@example.net", "b@example.net", "c@example.net"], ready.Messages[0].Envelope.Recipients);
        Assert.Equal("tmpl7-camp9", ready.Messages[0].Envelope.Campaign);
    }

    [Fact]
    public void Base64_html_part_keeps_its_encoding_with_the_pixel_inside()
    {
        var (_, text, _) = Transform("transformer-in-b64-multipart.eml");

        var part = text[text.IndexOf("Content-Transfer-Encoding: base64", StringComparison.Ordinal)..];
        var encoded = part.Split("\r\n\r\n", 2)[1].Split("\r\n--zz", 2)[0].Replace("\r\n", "");
        var html = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
        Assert.Equal("<html><body><p>Hi there</p><img width=\"1\" height=\"1\" border=\"0\" src=\"https://t.example.org/px/s1.gif\"></body></html>", html);
    }

    [Fact]
    public void Without_stream_id_there_is_no_pixel_and_the_campaign_comes_from_config()
    {
        var (headers, text, ready) = Transform("transformer-in-no-stream-id.eml");

        Assert.Equal("test-campaign:q2:test-mailtype:example-sender", headers.First("Feedback-ID"));
        Assert.DoesNotContain("<img", text);
        Assert.Contains(ready.Warnings, w => w.Contains("X-Stream-Id"));
    }

    [Fact]
    public void Null_x_mailer_adds_none_and_keeps_none()
    {
        var (headers, _, _) = Transform("transformer-in-html.eml", Create(xMailer: null));

        Assert.Equal(["Foo"], headers.All("X-Mailer").Select(f => f.Value));
    }

    [Fact]
    public void An_unchanged_body_is_handed_on_in_place_and_a_body_needing_repair_is_not()
    {
        // What SMTP delivers (CRLF throughout): only the new header block is made; the body stays where it is.
        var submitted = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Fixture("basic.eml")).ReplaceLineEndings("\r\n"));
        var ready = Assert.IsType<TransformOutcome.Ready>(Create().Transform(submitted, Now));
        var offset = Assert.IsType<int>(ready.Messages[0].SubmittedOffset);
        Assert.True(MessageHeaders.TryParse(submitted, out var original, out _));
        Assert.Equal(original.BodyOffset, offset);
        Assert.True(MessageHeaders.TryParse(ready.Messages[0].Prefix, out var rewritten, out _));
        Assert.Equal("DKIM-Signature", rewritten.Fields[0].Name);
        Assert.Equal(ready.Messages[0].Prefix.Length, rewritten.BodyOffset);

        // Bare LF line ends (a file, not SMTP) are repaired, so the whole message is made anew.
        var lf = Fixture("basic.eml");
        var repaired = Assert.IsType<TransformOutcome.Ready>(Create().Transform(lf, Now));
        Assert.Null(repaired.Messages[0].SubmittedOffset);
        Assert.Equal(Encoding.UTF8.GetString(Assert.Single(ready.Messages).Message(submitted)).Split("\r\n\r\n", 2)[1],
            Encoding.UTF8.GetString(repaired.Messages[0].Message(lf)).Split("\r\n\r\n", 2)[1]);
    }

    [Fact]
    public void An_existing_list_unsubscribe_is_replaced_not_doubled()
    {
        var input = Encoding.UTF8.GetString(Fixture("basic.eml")).Replace("Subject:", "List-Unsubscribe: <mailto:old@x>\nSubject:");
        var submitted = Encoding.UTF8.GetBytes(input);
        var outcome = Assert.IsType<TransformOutcome.Ready>(Create().Transform(submitted, Now));
        Assert.True(MessageHeaders.TryParse(Assert.Single(outcome.Messages).Message(submitted), out var headers, out _));

        Assert.Equal(["<mailto:unsub-6c0d2660732b4e3ab22974b37263a577@returns.example.org>"], headers.All("List-Unsubscribe").Select(f => f.Value));
        Assert.NotEmpty(outcome.Warnings);
    }

    [Theory]
    [InlineData("transformer-in-unknown-domain.eml", "unknown.com", "zz")]
    [InlineData("multiline-header.eml", "Missing From header", null)]
    [InlineData("missing-uuid.eml", "X-Uuid missing", null)]
    public void Messages_that_cannot_be_sent_fail_with_the_reason_and_uuid(string fixture, string reason, string? uuid)
    {
        var failed = Assert.IsType<TransformOutcome.Failed>(Create().Transform(Fixture(fixture), Now));

        Assert.Contains(reason, failed.Reason);
        Assert.Equal(uuid, failed.Uuid);
    }

    [Fact]
    public void Templates_expand_from_domain_to_the_return_path_domain()
    {
        Assert.Equal("<mailto:unsub-u1@rp.example>, <https://rp.example/u/u1>",
            MessageTransformer.ExpandTemplate("<mailto:unsub-{{uuid}}@{{from-domain}}>, <https://{{from-domain}}/u/{{uuid}}>", "u1", "rp.example"));
    }

    [Theory]
    [InlineData("X-Campaign: spring\r\n", "spring")]
    [InlineData("X-Stream-Id: stream7\r\nX-Campaign: spring\r\n", "stream7")]
    [InlineData("X-Stream-Id: \r\nX-Campaign: spring\r\n", "spring")]
    [InlineData("", null)]
    public void The_campaign_is_x_stream_id_else_x_campaign_and_neither_leaves(string headers, string? campaign)
    {
        var submitted = Encoding.ASCII.GetBytes("From: a@example.org\r\nTo: b@example.net\r\nX-Uuid: u1\r\nX-Tenant: acme\r\n" + headers + "\r\nHi\r\n");

        var ready = Assert.IsType<TransformOutcome.Ready>(Create(beaconUrl: null).Transform(submitted, Now));

        var message = Assert.Single(ready.Messages);
        Assert.Equal((campaign, "acme"), (message.Envelope.Campaign, message.Envelope.Tenant));
        Assert.Equal((campaign, "acme"), (ready.Campaign, ready.Tenant));
        var text = Encoding.UTF8.GetString(message.Message(submitted));
        Assert.DoesNotContain("X-Campaign", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("X-Tenant", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"Feedback-ID: {campaign ?? "test-campaign"}:u1:", text);
    }

    private static string Collapse(string value) => string.Join(' ', value.Split([' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries));
}
