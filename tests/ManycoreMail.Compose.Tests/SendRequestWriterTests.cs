using System.Text;
using ManycoreMail.Mime;

namespace ManycoreMail.Compose.Tests;

public sealed class SendRequestWriterTests
{
    private static SendRequest Parse(byte[] json)
    {
        var result = new SendRequestParser().Parse(json);
        Assert.True(result.IsValid, string.Join("; ", result.Errors.Select(e => $"{e.Field}: {e.Message}")));
        return result.Request!;
    }

    /// <summary>Every field compared by value (the records hold lists and dictionaries, which compare by reference).</summary>
    private static void AssertSame(SendRequest expected, SendRequest actual)
    {
        Assert.Equal(expected.From, actual.From);
        Assert.Equal(expected.ReplyTo, actual.ReplyTo);
        Assert.Equal((expected.Subject, expected.Text, expected.Html, expected.Template), (actual.Subject, actual.Text, actual.Html, actual.Template));
        Assert.Equal((expected.Campaign, expected.Tenant, expected.Priority, expected.SendAt, expected.Strict), (actual.Campaign, actual.Tenant, actual.Priority, actual.SendAt, actual.Strict));
        Assert.Equal(expected.Substitutions.OrderBy(p => p.Key, StringComparer.Ordinal), actual.Substitutions.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Headers, actual.Headers);
        Assert.Equal(expected.Recipients.Count, actual.Recipients.Count);
        foreach (var (e, a) in expected.Recipients.Zip(actual.Recipients))
        {
            Assert.Equal((e.Address, e.Uuid), (a.Address, a.Uuid));
            Assert.Equal(e.Substitutions.OrderBy(p => p.Key, StringComparer.Ordinal), a.Substitutions.OrderBy(p => p.Key, StringComparer.Ordinal));
        }
        Assert.Equal(expected.Attachments.Count, actual.Attachments.Count);
        foreach (var (e, a) in expected.Attachments.Zip(actual.Attachments))
        {
            Assert.Equal((e.FileName, e.ContentType, e.Inline, e.ContentId), (a.FileName, a.ContentType, a.Inline, a.ContentId));
            Assert.Equal(e.Content.ToArray(), a.Content.ToArray());
        }
    }

    [Fact]
    public void Every_field_of_the_issue_example_reads_back_as_it_was()
    {
        var original = Parse(Encoding.UTF8.GetBytes("""
            {"from": "\"News \\\"Daily\\\" \\\\ Ünïcode\" <news@example.com>", "reply_to": "Help <help@example.com>",
             "subject": "Hello {{name}} ✓", "text": "Hi {{name}}\r\n...", "html": "<p>Hi {{{name}}}</p>", "template": "welcome@2",
             "recipients": [{"email": "a@example.net", "name": "Ä, B", "uuid": "abc123", "substitutions": {"name": "A", "n": 3, "ok": true}},
                            {"email": "\"x>y\"@example.net"}],
             "substitutions": {"shop": "Example"},
             "headers": {"X-Campaign-Ref": "42", "X-B": "Grüße"},
             "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "content": "JVBERi0xLjQK/w==", "inline": false},
                             {"filename": "logo.png", "content_type": "image/png", "content": "iVBORw0=", "inline": true, "content_id": "logo@example.com"}],
             "campaign": "spring", "tenant": "acme", "priority": 0, "send_at": "2026-12-24T10:00:00.1234567+01:00", "strict": true}
            """));

        var written = SendRequestWriter.Write(original);
        var read = Parse(written);

        AssertSame(original, read);
        Assert.Equal(written, SendRequestWriter.Write(read));
    }

    [Fact]
    public void A_minimal_request_writes_no_optional_field_and_reads_back_as_it_was()
    {
        var original = Parse("""{"from": "news@example.com", "text": "x", "recipients": [{"email": "a@example.net"}]}"""u8.ToArray());

        var written = SendRequestWriter.Write(original);

        Assert.Equal("""{"from":"news@example.com","text":"x","recipients":[{"email":"a@example.net"}]}""", Encoding.UTF8.GetString(written));
        AssertSame(original, Parse(written));
    }

    [Fact]
    public void A_request_narrowed_to_one_recipient_keeps_everything_else_and_that_recipient_only()
    {
        var original = Parse("""{"from": "news@example.com", "text": "x", "campaign": "c", "recipients": [{"email": "a@example.net", "uuid": "u1"}, {"email": "b@example.net", "uuid": "u2", "substitutions": {"k": "v"}}]}"""u8.ToArray());

        var read = Parse(SendRequestWriter.Write(SendRequestWriter.ForRecipient(original, original.Recipients[1])));

        var recipient = Assert.Single(read.Recipients);
        Assert.Equal(new MailboxAddress(null, "b@example.net"), recipient.Address);
        Assert.Equal("u2", recipient.Uuid);
        Assert.Equal("v", recipient.Substitutions["k"]);
        Assert.Equal("c", read.Campaign);
    }
}
