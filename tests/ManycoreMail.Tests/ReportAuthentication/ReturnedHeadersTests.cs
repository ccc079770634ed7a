using System.Text;
using ManycoreMail.ReportAuthentication;

namespace ManycoreMail.Tests.ReportAuthentication;

/// <summary>The headers a bounce returns of the message it reports (RFC 3464's third part, or a quoted X-Uuid line).</summary>
public sealed class ReturnedHeadersTests
{
    private static string Report(string partType, string returned) => string.Join("\r\n",
        "From: MAILER-DAEMON@mx.ok.test",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"",
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "failed",
        "--b",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.ok.test",
        "",
        "Final-Recipient: rfc822; gone@ok.test",
        "Action: failed",
        "Status: 5.1.1",
        "--b",
        $"Content-Type: {partType}",
        "",
        returned,
        "--b--",
        "");

    [Theory]
    [InlineData("text/rfc822-headers")]
    [InlineData("message/rfc822")]
    public void The_returned_part_gives_our_uuid_and_the_recipients(string partType)
    {
        var returned = ReturnedHeaders.Find(Encoding.ASCII.GetBytes(Report(partType,
            "From: news@sender.test\r\nTo: Gone <Gone@OK.test>\r\nCc: other@ok.test\r\nMessage-ID: <c0ffee@rp.test>\r\nX-Uuid: c0ffee\r\nSubject: hi\r\n\r\nbody")));

        Assert.NotNull(returned);
        Assert.Equal("c0ffee", returned.Uuid);
        Assert.Equal(["gone@ok.test", "other@ok.test"], returned.Recipients.Order());
    }

    [Fact]
    public void Without_x_uuid_our_message_id_names_the_message_and_a_foreign_one_nothing()
    {
        Assert.Equal("beef42", ReturnedHeaders.Find(Encoding.ASCII.GetBytes(Report("text/rfc822-headers", "To: gone@ok.test\r\nMessage-ID: <beef42@rp.test>\r\n")))!.Uuid);
        Assert.Null(ReturnedHeaders.Find(Encoding.ASCII.GetBytes(Report("text/rfc822-headers", "To: gone@ok.test\r\nMessage-ID: <CAF.x+y@mail.example>\r\n")))!.Uuid);
    }

    [Fact]
    public void A_text_bounce_gives_its_quoted_x_uuid_and_one_without_returned_headers_nothing()
    {
        var quoted = ReturnedHeaders.Find(Encoding.ASCII.GetBytes("From: MAILER-DAEMON@mx.ok.test\r\nSubject: failure\r\n\r\nSorry.\r\n\r\n--- original headers\r\n  X-Uuid: deadbeef\r\n  To: gone@ok.test\r\n"));

        Assert.Equal(("deadbeef", 0), (quoted?.Uuid, quoted?.Recipients.Count));
        Assert.Null(ReturnedHeaders.Find(Encoding.ASCII.GetBytes("From: MAILER-DAEMON@mx.ok.test\r\nSubject: failure\r\n\r\nSorry, gone@ok.test does not exist.\r\n")));
    }
}
