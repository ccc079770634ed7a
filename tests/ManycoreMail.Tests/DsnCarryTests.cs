using ManycoreMail.Queue;
using ManycoreMail.Sending;
using ManycoreMail.Smtp.Client;
using ManycoreMail.Smtp.Server;

namespace ManycoreMail.Tests;

/// <summary>From the submission's SMTP envelope to queue metadata, and from there to what the outbound client passes on.</summary>
public sealed class DsnCarryTests
{
    [Fact]
    public void A_submission_without_requests_adds_nothing_to_the_envelope()
    {
        var requests = DsnCarry.FromSubmission(new SmtpEnvelope("a@example.com", ["b@example.com"]) { RecipientDetails = [new SmtpRecipient("b@example.com")] });
        Assert.Same(SubmissionRequests.None, requests);
        var envelope = new MessageEnvelope { Uuid = "u" };
        Assert.Same(envelope, requests.ApplyTo(envelope));
        Assert.Same(SmtpDeliveryRequest.None, DsnCarry.ForDelivery(envelope));
    }

    [Fact]
    public void Every_request_goes_from_submission_to_delivery()
    {
        var submitted = new SmtpEnvelope("a@example.com", ["b@example.com", "c@example.com", "d@example.com"])
        {
            Mail = SmtpMailParameters.None with { Return = DsnReturn.Full, EnvelopeId = "QQ 1", Utf8 = true },
            RecipientDetails =
            [
                new SmtpRecipient("b@example.com", DsnNotify.Success | DsnNotify.Delay, "rfc822", "orig@example.org"),
                new SmtpRecipient("c@example.com"),
                new SmtpRecipient("d@example.com", DsnNotify.Never, "utf-8", "jörg@example.org"),
            ],
        };

        var queued = DsnCarry.FromSubmission(submitted).ApplyTo(new MessageEnvelope { Uuid = "u", Recipients = ["b@example.com", "d@example.com"] });
        Assert.Equal(new EnvelopeDsn("FULL", "QQ 1", queued.Dsn!.Recipients), queued.Dsn);
        Assert.Equal(
        [
            new RecipientDsn("b@example.com", "SUCCESS,DELAY", "rfc822;orig@example.org"),
            new RecipientDsn("d@example.com", "NEVER", "utf-8;jörg@example.org"),
        ], queued.Dsn.Recipients);
        Assert.True(queued.Smtputf8);

        var request = DsnCarry.ForDelivery(queued);
        Assert.Equal(DsnReturn.Full, request.Return);
        Assert.Equal("QQ 1", request.EnvelopeId);
        Assert.True(request.Smtputf8);
        Assert.Equal(
        [
            new SmtpRecipient("b@example.com", DsnNotify.Success | DsnNotify.Delay, "rfc822", "orig@example.org"),
            new SmtpRecipient("d@example.com", DsnNotify.Never, "utf-8", "jörg@example.org"),
        ], request.Recipients);
    }
}
