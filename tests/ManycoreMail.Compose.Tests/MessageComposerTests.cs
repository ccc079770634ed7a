using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ManycoreMail.Ingress;
using ManycoreMail.Mime;
using MimeKit;

namespace ManycoreMail.Compose.Tests;

public sealed class MessageComposerTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 5, 0, 0, TimeSpan.Zero);

    private sealed class FixedTime : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static MessageComposer Composer()
    {
        var boundaries = 0;
        return new MessageComposer(new FixedTime(), () => $"=_boundary{++boundaries}", () => "generated0uuid");
    }

    private static SendRequest Request(string json)
    {
        var result = new SendRequestParser().Parse(Encoding.UTF8.GetBytes(json));
        Assert.Empty(result.Errors);
        return result.Request!;
    }

    private static ComposedMessage ComposeFirst(SendRequest request, RenderedContent? content = null) =>
        Composer().Compose(request, request.Recipients[0], content ?? new RenderedContent(request.Subject, request.Text, request.Html));

    private static MimeMessage MimeKitParse(byte[] bytes) => MimeMessage.Load(new MemoryStream(bytes));

    /// <summary>What the HTTP raw API checks before queueing: the header parse and the door rules.</summary>
    private static IngressMessage PassesRawApiDoor(byte[] bytes)
    {
        Assert.True(MessageHeaders.TryParse(bytes, out _, out var error), error);
        Assert.True(IngressRules.TryAccept(bytes, PriorityRule.Strict, out var accepted, out var refusal), refusal?.Message);
        return accepted;
    }

    private static void AssertWireFormat(byte[] bytes)
    {
        var lineStart = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            Assert.True(bytes[i] < 0x80, $"8-bit octet at {i}");
            if (bytes[i] == '\n')
            {
                Assert.True(i > 0 && bytes[i - 1] == '\r', $"bare LF at {i}");
                Assert.True(i - 1 - lineStart <= 998, $"line of {i - 1 - lineStart} octets at {lineStart}");
                lineStart = i + 1;
            }
            else if (bytes[i] == '\r')
            {
                Assert.True(i + 1 < bytes.Length && bytes[i + 1] == '\n', $"bare CR at {i}");
            }
        }
    }

    private static string Text(string value) => JsonSerializer.Serialize(value);

    [Fact]
    public async Task Unicode_text_and_html_round_trip_through_MimeKit_and_Python()
    {
        var text = "Grüße, 世界 🎉\n.a line starting with a dot\nFrom the start of a line\n" + new string('x', 3000) + "\n"
                   + string.Concat(Enumerable.Repeat("ü", 1200)) + "\nend";
        var html = "<p>Grüße 🎉</p>\n.<b>dot</b>\nFrom here\n" + new string('y', 2500);
        var request = Request($$"""
            {"from": "Zoë Ünïcødé 🚀 <news@example.com>", "reply_to": "help@example.com", "subject": "Hello 👋 你好，世界 — a long subject that certainly needs folding across more than one line of header",
             "text": {{Text(text)}}, "html": {{Text(html)}},
             "recipients": [{"email": "a@example.net", "name": "山田 太郎", "uuid": "abc123"}],
             "headers": {"X-Note": "héllo wörld"}, "campaign": "spring", "tenant": "acme", "priority": 0}
            """);
        var composed = ComposeFirst(request);
        Assert.Equal("abc123", composed.Uuid);
        AssertWireFormat(composed.Bytes);
        var accepted = PassesRawApiDoor(composed.Bytes);
        Assert.Equal(("abc123", true, 1), (accepted.Uuid, accepted.IsPrimary, accepted.RecipientCount));

        var mime = MimeKitParse(composed.Bytes);
        Assert.Equal(request.Subject, mime.Subject);
        Assert.Equal("Zoë Ünïcødé 🚀", ((MimeKit.MailboxAddress)mime.From[0]).Name);
        Assert.Equal("山田 太郎", ((MimeKit.MailboxAddress)mime.To[0]).Name);
        Assert.Equal("help@example.com", ((MimeKit.MailboxAddress)mime.ReplyTo[0]).Address);
        Assert.Equal("héllo wörld", mime.Headers["X-Note"]);
        Assert.Equal("spring", mime.Headers["X-Stream-Id"]);
        Assert.Equal("acme", mime.Headers["X-Tenant"]);
        Assert.Equal("0", mime.Headers["X-Priority"]);
        Assert.Equal(Now, mime.Date);
        var alternative = Assert.IsType<MultipartAlternative>(mime.Body);
        Assert.Equal(text, mime.TextBody!.ReplaceLineEndings("\n"));
        Assert.Equal(html, mime.HtmlBody!.ReplaceLineEndings("\n"));
        Assert.Equal(2, alternative.Count);

        var python = await PythonEmail.ParseAsync(composed.Bytes);
        Assert.Equal(request.Subject, python.GetProperty("subject").GetString());
        Assert.Equal("Zoë Ünïcødé 🚀", python.GetProperty("from_name").GetString());
        Assert.Equal("山田 太郎", python.GetProperty("to_name").GetString());
        Assert.Equal("abc123", python.GetProperty("uuid").GetString());
        Assert.Equal(0, python.GetProperty("defects").GetArrayLength());
        var parts = python.GetProperty("parts").EnumerateArray().ToArray();
        Assert.Equal(["multipart/alternative", "text/plain", "text/html"], parts.Select(p => p.GetProperty("type").GetString()));
        Assert.Equal(text.ReplaceLineEndings("\n"), parts[1].GetProperty("text").GetString()!.ReplaceLineEndings("\n"));
        Assert.Equal(html.ReplaceLineEndings("\n"), parts[2].GetProperty("text").GetString()!.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Attachments_are_byte_identical_and_inline_images_sit_in_multipart_related()
    {
        var binary = RandomNumberGenerator.GetBytes(1024 * 1024);
        var image = RandomNumberGenerator.GetBytes(5000);
        var request = Request($$"""
            {"from": "news@example.com", "subject": "Files", "text": "see attached", "html": "<img src=\"cid:logo@example.com\">",
             "recipients": [{"email": "a@example.net"}],
             "attachments": [
               {"filename": "random.bin", "content_type": "application/octet-stream", "content": "{{Convert.ToBase64String(binary)}}"},
               {"filename": "logo.png", "content_type": "image/png", "content": "{{Convert.ToBase64String(image)}}", "inline": true, "content_id": "logo@example.com"},
               {"filename": "résumé 📄.pdf", "content_type": "application/pdf", "content": "JVBERi0="}]}
            """);
        var composed = ComposeFirst(request);
        Assert.Equal("generated0uuid", composed.Uuid);
        AssertWireFormat(composed.Bytes);
        PassesRawApiDoor(composed.Bytes);

        var mime = MimeKitParse(composed.Bytes);
        var mixed = Assert.IsType<Multipart>(mime.Body);
        Assert.Equal("mixed", mixed.ContentType.MediaSubtype);
        var alternative = Assert.IsType<MultipartAlternative>(mixed[0]);
        var related = Assert.IsType<MultipartRelated>(alternative[1]);
        var logo = Assert.IsType<MimePart>(related[1]);
        Assert.Equal("logo@example.com", logo.ContentId);
        Assert.Equal(image, Decode(logo));
        Assert.Equal(binary, Decode(Assert.IsType<MimePart>(mixed[1])));
        Assert.Equal("résumé 📄.pdf", ((MimePart)mixed[2]).FileName);

        var python = await PythonEmail.ParseAsync(composed.Bytes);
        Assert.Equal(0, python.GetProperty("defects").GetArrayLength());
        var parts = python.GetProperty("parts").EnumerateArray().ToArray();
        Assert.Equal(["multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png", "application/octet-stream", "application/pdf"],
            parts.Select(p => p.GetProperty("type").GetString()));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(image)), parts[5].GetProperty("sha256").GetString());
        Assert.Equal("<logo@example.com>", parts[5].GetProperty("cid").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(binary)), parts[6].GetProperty("sha256").GetString());
        Assert.Equal("résumé 📄.pdf", parts[7].GetProperty("filename").GetString());
    }

    private static byte[] Decode(MimePart part)
    {
        using var output = new MemoryStream();
        part.Content!.DecodeTo(output);
        return output.ToArray();
    }

    [Fact]
    public void Text_only_and_html_only_are_single_parts_and_a_rendered_subject_wins()
    {
        var request = Request("""{"from": "news@example.com", "subject": "Hi {{name}}", "template": "welcome", "recipients": [{"email": "a@example.net"}], "priority": 1}""");
        var textOnly = MimeKitParse(ComposeFirst(request, new RenderedContent("Hi Ann", "plain body", null)).Bytes);
        Assert.Equal("Hi Ann", textOnly.Subject);
        Assert.Equal("text/plain", Assert.IsType<TextPart>(textOnly.Body).ContentType.MimeType);
        var htmlOnly = ComposeFirst(request, new RenderedContent(null, null, "<p>x</p>"));
        Assert.False(PassesRawApiDoor(htmlOnly.Bytes).IsPrimary);
        Assert.Equal("text/html", Assert.IsType<TextPart>(MimeKitParse(htmlOnly.Bytes).Body).ContentType.MimeType);
        Assert.Throws<ArgumentException>(() => ComposeFirst(request, new RenderedContent("s", null, null)));
    }

    [Fact]
    public void Output_is_deterministic_given_time_boundaries_and_uuid()
    {
        var request = Request("""{"from": "news@example.com", "subject": "Hi", "text": "a", "html": "<p>a</p>", "recipients": [{"email": "a@example.net"}]}""");
        Assert.Equal(ComposeFirst(request).Bytes, ComposeFirst(request).Bytes);
        Assert.Contains("=_boundary1", Encoding.ASCII.GetString(ComposeFirst(request).Bytes), StringComparison.Ordinal);
    }

    [Fact]
    public void Generated_uuids_are_32_lowercase_alphanumerics()
    {
        var request = Request("""{"from": "news@example.com", "text": "a", "recipients": [{"email": "a@example.net"}]}""");
        var composer = new MessageComposer(new FixedTime());
        var first = composer.Compose(request, request.Recipients[0], new RenderedContent(null, "a", null));
        var second = composer.Compose(request, request.Recipients[0], new RenderedContent(null, "a", null));
        Assert.Matches("^[a-z0-9]{32}$", first.Uuid);
        Assert.NotEqual(first.Uuid, second.Uuid);
        Assert.Equal(first.Uuid, PassesRawApiDoor(first.Bytes).Uuid);
    }

    [Fact]
    public void Header_injection_is_refused_before_composing()
    {
        var result = new SendRequestParser().Parse(Encoding.UTF8.GetBytes(
            """{"from": "news@example.com", "subject": "x\r\nBcc: victim@example.org", "text": "a", "recipients": [{"email": "a@example.net", "name": "A\nTo: b@evil.example"}], "headers": {"X-A": "1\r\nBcc: victim@example.org"}}"""));
        Assert.Null(result.Request);
        Assert.Equal(["headers.X-A", "recipients[0].name", "subject"], result.Errors.Select(e => e.Field).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("X-A", "1\r\nBcc: victim@example.org")]
    [InlineData("Bcc", "victim@example.org")]
    [InlineData("X-Uuid", "forged")]
    public void The_composer_refuses_headers_a_request_built_in_code_smuggles_past_the_parser(string name, string value)
    {
        var request = Request("""{"from": "news@example.com", "text": "a", "recipients": [{"email": "a@example.net"}]}""")
            with { Headers = [new(name, value)] };
        Assert.Throws<ArgumentException>(() => ComposeFirst(request));
    }
}
