using System.Text;
using System.Text.Json.Nodes;
using ManycoreMail.Dkim;
using ManycoreMail.Roles.InboundDelivery;

namespace ManycoreMail.Tests.InboundDelivery;

/// <summary>The JSON format's edges the end-to-end tests do not reach: inline parts with their Content-ID, enclosed
/// messages, a mail without From or Date, and how several DKIM results sum up.</summary>
public sealed class InboundMailJsonTests
{
    private static readonly InboundMailFacts Facts = new("abc123", "", ["support@in.example"], "none", []);

    [Fact]
    public void Inline_parts_keep_their_content_id_and_an_enclosed_message_is_an_attachment()
    {
        var png = new byte[] { 0x89, 0x50, 0x4E, 0x47, 0, 1, 2, 3, 255 };
        var mail = string.Join("\r\n",
            "To: support@in.example",
            "Date: not a date at all",
            "Subject: inline",
            "MIME-Version: 1.0",
            "Content-Type: multipart/mixed; boundary=\"m\"",
            "",
            "--m",
            "Content-Type: multipart/related; boundary=\"r\"",
            "",
            "--r",
            "Content-Type: text/html; charset=utf-8",
            "",
            "<img src=\"cid:logo@x\">",
            "--r",
            "Content-Type: image/png",
            "Content-ID: <logo@x>",
            "Content-Disposition: inline",
            "Content-Transfer-Encoding: base64",
            "",
            Convert.ToBase64String(png),
            "--r--",
            "--m",
            "Content-Type: message/rfc822",
            "",
            "Subject: enclosed",
            "",
            "inner body",
            "--m--",
            "");

        var json = JsonNode.Parse(InboundMailJson.Build(Encoding.ASCII.GetBytes(mail), Facts))!;

        Assert.Null(json["from"]);
        Assert.Null(json["date"]);
        Assert.Null(json["text"]);
        Assert.Equal("<img src=\"cid:logo@x\">", (string?)json["html"]);
        var attachments = json["attachments"]!.AsArray();
        Assert.Equal(2, attachments.Count);
        Assert.Equal(("image/png", "logo@x", png.Length), ((string?)attachments[0]!["content_type"], (string?)attachments[0]!["content_id"], (int)attachments[0]!["size"]!));
        Assert.Equal(png, Convert.FromBase64String((string)attachments[0]!["content"]!));
        Assert.Equal("message/rfc822", (string?)attachments[1]!["content_type"]);
        Assert.Contains("inner body", Encoding.UTF8.GetString(Convert.FromBase64String((string)attachments[1]!["content"]!)), StringComparison.Ordinal);
        Assert.Equal(("abc123", ""), ((string?)json["id"], (string?)json["envelope"]!["mail_from"]));
        Assert.Equal(mail.Length, (int)json["size"]!);
    }

    [Fact]
    public void Dkim_sums_up_as_pass_when_any_signature_passes_none_without_any_else_the_first_result()
    {
        var fail = new DkimVerificationResult(DkimResult.Fail, "a.example", "s", "body hash");
        var pass = new DkimVerificationResult(DkimResult.Pass, "b.example", "s", "ok");
        var temp = new DkimVerificationResult(DkimResult.TempError, "c.example", "s", "dns");

        Assert.Equal("none", InboundMailJson.DkimSummary([]));
        Assert.Equal("pass", InboundMailJson.DkimSummary([fail, pass]));
        Assert.Equal("temperror", InboundMailJson.DkimSummary([temp, fail]));
        Assert.Equal("fail", InboundMailJson.DkimSummary([fail]));
    }
}
