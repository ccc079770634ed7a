using System.Text;

namespace ManycoreMail.Compose.Tests;

public sealed class SendRequestParserTests
{
    private const string Minimal = """{"from": "News <news@example.com>", "subject": "Hi", "text": "Hello", "recipients": [{"email": "a@example.net"}]}""";

    private static SendRequestParseResult Parse(string json, SendRequestLimits? limits = null) =>
        new SendRequestParser(limits ?? new SendRequestLimits()).Parse(Encoding.UTF8.GetBytes(json));

    private static void AssertError(string json, string field, string messagePart, SendRequestLimits? limits = null)
    {
        var result = Parse(json, limits);
        Assert.Null(result.Request);
        Assert.Contains(result.Errors, e => e.Field == field && e.Message.Contains(messagePart, StringComparison.Ordinal));
    }

    [Fact]
    public void The_issue_example_parses_into_every_field()
    {
        var json = """
            {"from": "News <news@example.com>", "reply_to": "help@example.com",
             "subject": "Hello {{name}}", "text": "Hi {{name}} ...", "html": "<p>Hi {{name}}</p>",
             "template": "welcome",
             "recipients": [{"email": "a@example.net", "name": "A", "uuid": "optional", "substitutions": {"name": "A", "n": 3}}],
             "substitutions": {"shop": "Example"},
             "headers": {"X-Campaign-Ref": "42"},
             "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "content": "JVBERi0=",
                              "inline": false, "content_id": null}],
             "campaign": "spring", "tenant": "acme", "priority": 1, "send_at": "2026-12-24T09:00:00Z", "strict": true}
            """;
        var result = Parse(json);
        Assert.Empty(result.Errors);
        var request = result.Request!;
        Assert.Equal("News", request.From.DisplayName);
        Assert.Equal("news@example.com", request.From.Address);
        Assert.Equal("help@example.com", request.ReplyTo!.Address);
        Assert.Equal("welcome", request.Template);
        var recipient = Assert.Single(request.Recipients);
        Assert.Equal("A", recipient.Address.DisplayName);
        Assert.Equal("optional", recipient.Uuid);
        Assert.Equal("3", recipient.Substitutions["n"]);
        Assert.Equal("Example", request.Substitutions["shop"]);
        Assert.Equal(new KeyValuePair<string, string>("X-Campaign-Ref", "42"), Assert.Single(request.Headers));
        var attachment = Assert.Single(request.Attachments);
        Assert.Equal("%PDF-"u8.ToArray(), attachment.Content.ToArray());
        Assert.Equal(("spring", "acme", 1), (request.Campaign, request.Tenant, request.Priority));
        Assert.Equal(new DateTimeOffset(2026, 12, 24, 9, 0, 0, TimeSpan.Zero), request.SendAt);
        Assert.True(request.Strict);
    }

    [Theory]
    [InlineData("""{"from": "not an address", "text": "x", "recipients": [{"email": "a@example.net"}]}""", "from", "not an email address")]
    [InlineData("""{"text": "x", "recipients": [{"email": "a@example.net"}]}""", "from", "required")]
    [InlineData("""{"from": "a@example.com, b@example.com", "text": "x", "recipients": [{"email": "a@example.net"}]}""", "from", "exactly one")]
    [InlineData("""{"from": "a@example.com", "reply_to": "@@", "text": "x", "recipients": [{"email": "a@example.net"}]}""", "reply_to", "not an email address")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}, {"email": "b@example.net"}, {"email": "nope"}]}""", "recipients[2].email", "not an email address")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "A <a@example.net>"}]}""", "recipients[0].email", "bare address")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}, {"email": "A@EXAMPLE.NET"}]}""", "recipients[1].email", "duplicate recipient")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net", "uuid": "ABC"}]}""", "recipients[0].uuid", "[a-z0-9]{1,255}")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net", "uuid": ""}]}""", "recipients[0].uuid", "[a-z0-9]{1,255}")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net", "uuid": "u1"}, {"email": "b@example.net", "uuid": "u1"}]}""", "recipients[1].uuid", "duplicate uuid")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net", "name": "A\r\nBcc: x@evil.example"}]}""", "recipients[0].name", "CR or LF")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net", "extra": 1}]}""", "recipients[0].extra", "unknown field")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": []}""", "recipients", "non-empty")]
    [InlineData("""{"from": "a@example.com", "recipients": [{"email": "a@example.net"}]}""", "text", "one of text, html or template")]
    [InlineData("""{"from": "a@example.com", "subject": "a\nBcc: x@evil.example", "text": "x", "recipients": [{"email": "a@example.net"}]}""", "subject", "CR or LF")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "headers": {"X-Ok": "1\r\nBcc: x@evil.example"}}""", "headers.X-Ok", "CR or LF")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "headers": {"bcc": "x@evil.example"}}""", "headers.bcc", "may not be given")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "headers": {"Content-Type": "text/html"}}""", "headers.Content-Type", "may not be given")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "headers": {"X-Uuid": "abc"}}""", "headers.X-Uuid", "may not be given")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "headers": {"DKIM-Signature": "v=1"}}""", "headers.DKIM-Signature", "may not be given")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "headers": {"X-Priority": "0"}}""", "headers.X-Priority", "may not be given")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "headers": {"Message-ID": "<a@b>"}}""", "headers.Message-ID", "may not be given")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "headers": {"MIME-Version": "1.0"}}""", "headers.MIME-Version", "may not be given")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "headers": {"X Bad": "1"}}""", "headers.X Bad", "printable ASCII")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "attachments": [{"filename": "a", "content": "not base64!"}]}""", "attachments[0].content", "not valid base64")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "attachments": [{"filename": "a", "content": "QQ="}]}""", "attachments[0].content", "not valid base64")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "attachments": [{"content": "QQ=="}]}""", "attachments[0].filename", "required")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "attachments": [{"filename": "a", "content": "QQ==", "content_type": "multipart/mixed"}]}""", "attachments[0].content_type", "single part")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "attachments": [{"filename": "a", "content": "QQ==", "inline": true}]}""", "attachments[0].content_id", "needs a content_id")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "attachments": [{"filename": "a", "content": "QQ==", "content_id": "<x@y>"}]}""", "attachments[0].content_id", "without angle brackets")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "send_at": "24.12.2026 09:00"}""", "send_at", "RFC 3339")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "send_at": "2026-12-24T09:00:00"}""", "send_at", "RFC 3339")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "send_at": "2026-13-24T09:00:00Z"}""", "send_at", "RFC 3339")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "priority": 3}""", "priority", "0 or 1")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "tenant": "acme corp"}""", "tenant", "[A-Za-z0-9._-]")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "campaign": ""}""", "campaign", "[A-Za-z0-9._-]")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "strict": "yes"}""", "strict", "true or false")]
    [InlineData("""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "substitutions": {"a": [1]}}""", "substitutions.a", "string, number or boolean")]
    [InlineData("""{"from": "a@example.com", "text": 5, "recipients": [{"email": "a@example.net"}]}""", "text", "expected a string")]
    [InlineData("""{"from": "a@example.com", "text": "x", "text": "y", "recipients": [{"email": "a@example.net"}]}""", "text", "more than once")]
    [InlineData("""{"from": "a@example.com", "txt": "x", "recipients": [{"email": "a@example.net"}]}""", "txt", "unknown field")]
    [InlineData("""{"from": "a@example.com", """, "", "malformed JSON")]
    [InlineData("""[1]""", "", "JSON object")]
    public void Every_problem_is_reported_with_its_field_path(string json, string field, string messagePart) =>
        AssertError(json, field, messagePart);

    [Fact]
    public void All_problems_are_reported_at_once()
    {
        var result = Parse("""{"from": "x", "recipients": [{"email": "y"}], "priority": 7}""");
        Assert.Equal(["from", "priority", "recipients[0].email", "text"], result.Errors.Select(e => e.Field).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void More_recipients_than_the_limit_are_refused()
    {
        var recipients = string.Join(",", Enumerable.Range(0, 1001).Select(i => $$"""{"email": "r{{i}}@example.net"}"""));
        AssertError($$"""{"from": "a@example.com", "text": "x", "recipients": [{{recipients}}]}""", "recipients", "at most 1000");
        var thousand = string.Join(",", Enumerable.Range(0, 1000).Select(i => $$"""{"email": "r{{i}}@example.net"}"""));
        Assert.Equal(1000, Parse($$"""{"from": "a@example.com", "text": "x", "recipients": [{{thousand}}]}""").Request!.Recipients.Count);
    }

    [Fact]
    public void Content_and_request_size_limits_are_enforced()
    {
        var limits = new SendRequestLimits { MaxContentBytes = 1000, MaxRequestBytes = 5000 };
        var content = Convert.ToBase64String(new byte[1001]);
        AssertError($$"""{"from": "a@example.com", "text": "x", "recipients": [{"email": "a@example.net"}], "attachments": [{"filename": "a", "content": "{{content}}"}]}""",
            "attachments", "exceed 1000", limits);
        AssertError(Minimal + new string(' ', 5000), "", "larger than 5000", limits);
        Assert.True(Parse(Minimal, limits).IsValid);
    }

    [Fact]
    public void Allowed_custom_headers_and_offsets_in_send_at_are_accepted()
    {
        var result = Parse("""{"from": "a@example.com", "html": "<p>x</p>", "recipients": [{"email": "a@example.net"}], "headers": {"List-Id": "<news.example.com>", "X-Ünïcode-Value": "x"}, "send_at": "2026-12-24T10:00:00.5+01:00"}""");
        Assert.Contains(result.Errors, e => e.Field == "headers.X-Ünïcode-Value");
        var ok = Parse("""{"from": "a@example.com", "html": "<p>x</p>", "recipients": [{"email": "a@example.net"}], "headers": {"List-Id": "<news.example.com>", "X-Note": "héllo"}, "send_at": "2026-12-24T10:00:00.5+01:00"}""");
        Assert.Empty(ok.Errors);
        Assert.Equal(new DateTimeOffset(2026, 12, 24, 9, 0, 0, 500, TimeSpan.Zero), ok.Request!.SendAt);
    }
}
