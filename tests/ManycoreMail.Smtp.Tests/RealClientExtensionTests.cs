using System.Text;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>
/// Clients we did not write, against the extensions. swaks (20201014 here) has no option for BDAT, SMTPUTF8 or
/// a BODY= parameter, so it covers pipelining and an 8-bit body; Python's smtplib covers SMTPUTF8 and
/// BODY=8BITMIME (it sends the parameters itself when the server offers them) and, through its low-level
/// calls, BDAT.
/// </summary>
public sealed class RealClientExtensionTests
{
    private const string Swaks = "/usr/bin/swaks";
    private const string Python = "/usr/bin/python3";

    [Fact]
    public async Task Swaks_pipelines_an_8bit_body_over_starttls()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { CertificateProvider = CertificateHolder.Provider });
        using var swaks = ExternalProcess.Start(
            Swaks,
            "--server", $"127.0.0.1:{server.EndPoint.Port}",
            "--tls", "--pipeline",
            "--helo", "swaks.test",
            "--from", "sender@example.com",
            "--to", "rcpt@example.com,second@example.com",
            "--header", "Subject: 8bit",
            "--add-header", "Content-Type: text/plain; charset=utf-8",
            "--add-header", "Content-Transfer-Encoding: 8bit",
            "--body", "Grüße aus Köln — ☃",
            "--timeout", "15");
        var exitCode = await swaks.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(exitCode == 0, "swaks failed:\n" + swaks.Output);
        Assert.Contains("PIPELINING", swaks.Output, StringComparison.Ordinal);

        var message = Assert.Single(server.Handler.Messages);
        Assert.True(message.IsTls);
        Assert.Equal(["rcpt@example.com", "second@example.com"], message.Envelope.Recipients);
        Assert.Contains("\r\nGrüße aus Köln — ☃\r\n", Encoding.UTF8.GetString(message.Body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_smtplib_sends_smtputf8_addresses_with_8bitmime()
    {
        await using var server = TestServer.Start();
        var script = """
            import smtplib, sys
            msg = "From: jörg@bücher.example\r\nTo: δοκιμή@παράδειγμα.δοκιμή\r\nSubject: grüße\r\n\r\nKöln\r\n".encode("utf-8")
            with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=15) as s:
                s.ehlo("python.test")
                assert s.has_extn("smtputf8") and s.has_extn("8bitmime")
                s.sendmail("jörg@bücher.example", ["δοκιμή@παράδειγμα.δοκιμή"], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
            print("sent")
            """;
        using var python = ExternalProcess.Start(Python, "-c", script, server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var exitCode = await python.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(exitCode == 0, "python failed:\n" + python.Output);

        var message = Assert.Single(server.Handler.Messages);
        Assert.True(message.Envelope.Mail.Utf8);
        Assert.Equal(SmtpBodyType.EightBitMime, message.Envelope.Mail.Body);
        Assert.Equal("jörg@xn--bcher-kva.example", message.Envelope.ReversePath);
        Assert.Equal(["δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp"], message.Envelope.Recipients);
        Assert.Contains("Subject: grüße\r\n", Encoding.UTF8.GetString(message.Body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_smtplib_sends_a_message_in_bdat_chunks()
    {
        await using var server = TestServer.Start();
        var script = """
            import smtplib, sys
            body = b"Subject: chunked\r\n\r\n" + b"x" * 70 + b"\r\n.\r\n" + (b"y" * 70 + b"\r\n") * 70
            with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=15) as s:
                s.ehlo("python.test")
                assert s.has_extn("chunking")
                assert s.mail("a@example.com")[0] == 250
                assert s.rcpt("b@example.com")[0] == 250
                half = len(body) // 2
                for chunk, last in ((body[:half], ""), (body[half:], " LAST")):
                    s.send(b"BDAT %d%s\r\n" % (len(chunk), last.encode()) + chunk)
                    code, text = s.getreply()
                    print(code, text.decode())
                    assert code == 250
            """;
        using var python = ExternalProcess.Start(Python, "-c", script, server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var exitCode = await python.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(exitCode == 0, "python failed:\n" + python.Output);
        Assert.Contains("octets received", python.Output, StringComparison.Ordinal);

        var message = Assert.Single(server.Handler.Messages);
        Assert.True(message.Envelope.Chunked);
        Assert.Equal("Subject: chunked\r\n\r\n" + new string('x', 70) + "\r\n.\r\n" + string.Concat(Enumerable.Repeat(new string('y', 70) + "\r\n", 70)), Encoding.ASCII.GetString(message.Body));
    }
}
