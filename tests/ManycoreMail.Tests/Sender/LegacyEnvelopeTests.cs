using System.Text;
using ManycoreMail.Roles.Sender;

namespace ManycoreMail.Tests.Sender;

public sealed class LegacyEnvelopeTests
{
    private static byte[] Bytes(string text) => Encoding.ASCII.GetBytes(text.Replace("\n", "\r\n"));

    [Fact]
    public void The_original_transformers_output_yields_return_path_recipients_and_uuid()
    {
        var message = Bytes("From: a@sender.test\nTo: x@one.test, \"Y\" <y@two.test>\nCc: z@one.test\nMessage-ID: <abc123@rp.test>\nX-ReturnPathIb: bounce-abc123@rp.test\n\nbody\n");

        var (envelope, bytes) = LegacyEnvelope.TryRead(message, out var problem)!.Value;

        Assert.Null(problem);
        Assert.Equal("bounce-abc123@rp.test", envelope.ReturnPath);
        Assert.Equal(["x@one.test", "y@two.test", "z@one.test"], envelope.Recipients);
        Assert.Equal("abc123", envelope.Uuid);
        Assert.DoesNotContain("X-ReturnPathIb", Encoding.ASCII.GetString(bytes), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Mail_pushed_back_by_postfix_goes_to_its_one_recorded_recipient()
    {
        var message = Bytes("From: a@sender.test\nTo: x@one.test, y@two.test\nX-ReturnPathIb: bounce-u@rp.test\nX-RecipientIb: y@two.test\n\nbody\n");

        var (envelope, bytes) = LegacyEnvelope.TryRead(message, out _)!.Value;

        Assert.Equal(["y@two.test"], envelope.Recipients);
        Assert.DoesNotContain("X-RecipientIb", Encoding.ASCII.GetString(bytes), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("From: a@sender.test\nTo: x@one.test\n\nbody\n", "X-ReturnPathIb")]
    [InlineData("From: a@sender.test\nX-ReturnPathIb: bounce-u@rp.test\n\nbody\n", "without recipients")]
    public void Messages_that_name_no_return_path_or_recipient_are_refused_with_a_reason(string text, string reason)
    {
        Assert.Null(LegacyEnvelope.TryRead(Bytes(text), out var problem));
        Assert.Contains(reason, problem);
    }
}
