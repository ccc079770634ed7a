using System.Text;
using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Smtp.Tests.Support;

namespace ManycoreMail.Smtp.Tests;

/// <summary>The outbound client passing on DSN parameters and SMTPUTF8, against our server (which parses them back).</summary>
public sealed class ClientDsnTests
{
    private static readonly SmtpClientOptions Plain = ClientAgainstServerTests.Plain;

    private static readonly SmtpDeliveryRequest Request = new()
    {
        Return = DsnReturn.Headers,
        EnvelopeId = "QQ 314159+x",
        Recipients =
        [
            new SmtpRecipient("B@example.com", DsnNotify.Success | DsnNotify.Failure, "rfc822", "original+b@example.org"),
            new SmtpRecipient("c@example.com", DsnNotify.Never),
            new SmtpRecipient("d@example.com", OriginalRecipientType: "utf-8", OriginalRecipient: "jörg@exämple.org"),
        ],
    };

    private static readonly byte[] Message = "Subject: hi\r\n\r\nbody\r\n"u8.ToArray();

    [Fact]
    public async Task Dsn_parameters_reach_a_server_that_offers_dsn()
    {
        await using var server = TestServer.Start();
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var result = await client.SendAsync("a@example.com", ["b@example.com", "c@example.com", "d@example.com", "e@example.com"], Message, Request,
            CancellationToken.None);
        Assert.Equal(250, result.DataReply?.Code);

        var envelope = Assert.Single(server.Handler.Messages).Envelope;
        Assert.Equal(DsnReturn.Headers, envelope.Mail.Return);
        Assert.Equal("QQ 314159+x", envelope.Mail.EnvelopeId);
        Assert.Equal(
        [
            new SmtpRecipient("b@example.com", DsnNotify.Success | DsnNotify.Failure, "rfc822", "original+b@example.org"),
            new SmtpRecipient("c@example.com", DsnNotify.Never),
            new SmtpRecipient("d@example.com", DsnNotify.Unspecified, "utf-8", "jörg@exämple.org"),
            new SmtpRecipient("e@example.com"),
        ], envelope.RecipientDetails);
    }

    [Fact]
    public async Task Without_dsn_offered_the_parameters_are_dropped_and_the_mail_still_goes()
    {
        // Our server with DSN off answers 555 to any DSN parameter: a 250 proves none was sent.
        await using var server = TestServer.Start(TestServer.DefaultOptions with { Dsn = false });
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        Assert.False(client.Capabilities.ContainsKey("DSN"));
        var result = await client.SendAsync("a@example.com", ["b@example.com", "c@example.com"], Message, Request, CancellationToken.None);
        Assert.Equal(250, result.MailFromReply.Code);
        Assert.All(result.RecipientReplies, r => Assert.Equal(250, r.Reply.Code));
        Assert.Equal(250, result.DataReply?.Code);
        var envelope = Assert.Single(server.Handler.Messages).Envelope;
        Assert.Equal(SmtpMailParameters.None with { DeclaredSize = Message.Length }, envelope.Mail);
    }

    [Fact]
    public async Task Smtputf8_is_declared_to_a_server_that_offers_it()
    {
        await using var server = TestServer.Start();
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var utf8 = Encoding.UTF8.GetBytes("Subject: Grüße\r\nFrom: Jörg <j@example.com>\r\n\r\nbody\r\n");
        var result = await client.SendAsync("a@example.com", ["b@example.com"], utf8, new SmtpDeliveryRequest { Smtputf8 = true }, CancellationToken.None);
        Assert.Equal(250, result.DataReply?.Code);
        var received = Assert.Single(server.Handler.Messages);
        Assert.True(received.Envelope.Mail.Utf8);
        Assert.Equal(utf8, received.Body);
    }

    [Fact]
    public async Task A_message_that_needs_smtputf8_is_refused_with_5_6_7_before_anything_is_sent_to_a_server_without_it()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { Smtputf8 = false });
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var utf8 = Encoding.UTF8.GetBytes("Subject: Grüße\r\n\r\nbody\r\n");
        var result = await client.SendAsync("a@example.com", ["b@example.com", "c@example.com"], utf8, new SmtpDeliveryRequest { Smtputf8 = true },
            CancellationToken.None);
        Assert.Equal(553, result.MailFromReply.Code);
        Assert.Equal("5.6.7", result.MailFromReply.EnhancedStatus);
        Assert.All(result.RecipientReplies, r => Assert.Equal("5.6.7", r.Reply.EnhancedStatus));
        Assert.Null(result.DataReply);
        Assert.Empty(server.Handler.ReversePaths);

        // The connection is still good for a message that does not need it.
        var ascii = await client.SendAsync("a@example.com", ["b@example.com"], Message, new SmtpDeliveryRequest { Smtputf8 = true }, CancellationToken.None);
        Assert.Equal(250, ascii.DataReply?.Code);
        Assert.False(Assert.Single(server.Handler.Messages).Envelope.Mail.Utf8);
    }

    [Fact]
    public async Task Utf8_only_in_the_body_does_not_need_smtputf8()
    {
        await using var server = TestServer.Start(TestServer.DefaultOptions with { Smtputf8 = false });
        await using var client = await SmtpClientConnection.ConnectAsync(server.EndPoint, Plain, CancellationToken.None);
        var body = Encoding.UTF8.GetBytes("Subject: plain\r\n\r\nGrüße\r\n");
        var result = await client.SendAsync("a@example.com", ["b@example.com"], body, new SmtpDeliveryRequest { Smtputf8 = true }, CancellationToken.None);
        Assert.Equal(250, result.DataReply?.Code);
        Assert.Equal(SmtpBodyType.EightBitMime, Assert.Single(server.Handler.Messages).Envelope.Mail.Body);
    }
}
