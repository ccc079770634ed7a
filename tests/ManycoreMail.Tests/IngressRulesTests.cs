using System.Text;
using ManycoreMail.Ingress;

namespace ManycoreMail.Tests;

public sealed class IngressRulesTests
{
    private static byte[] Fixture(string name) => ManycoreMail.TestSupport.TestData.Fixture(name);

    [Theory]
    [InlineData("basic.eml", true, "6c0d2660732b4e3ab22974b37263a577", false, 1)]
    [InlineData("different-case.eml", true, "6c0d2660732b4e3ab22974b37263a577", false, 1)]
    [InlineData("missing-priority.eml", true, "6c0d2660732b4e3ab22974b37263a577", false, 1)]
    [InlineData("count-recipients.eml", true, "6c0d2660732b4e3ab22974b37263a577", false, 5)]
    [InlineData("invalid-priority.eml", false, "6c0d2660732b4e3ab22974b37263a577", false, 1)]
    public void Accepted_messages(string fixture, bool strict, string uuid, bool primary, int recipients)
    {
        Assert.True(IngressRules.TryAccept(Fixture(fixture), strict ? PriorityRule.Strict : PriorityRule.Lenient, out var accepted, out var refusal), refusal?.Message);
        Assert.Equal(new IngressMessage(uuid, primary, recipients), accepted);
    }

    [Theory]
    [InlineData("invalid-priority.eml", "Unexpected value '1337' for header X-Priority (expected 0 or 1)")]
    [InlineData("invalid-uuid.eml", "Malformed header X-Uuid, expecting [a-z0-9]+")]
    [InlineData("missing-uuid.eml", "Missing header X-Uuid")]
    public void Refused_messages(string fixture, string reason)
    {
        Assert.False(IngressRules.TryAccept(Fixture(fixture), PriorityRule.Strict, out _, out var refusal));
        Assert.Equal(reason, refusal.Message);
    }

    [Theory]
    [InlineData("\"x>y\"@example.net")]
    [InlineData("\"a b\" <\"a b\"@example.net>")]
    [InlineData("Group: one@example.net, \"two three\"@example.net;")]
    public void Recipients_smtp_can_carry_are_accepted(string to)
    {
        var message = Encoding.UTF8.GetBytes($"From: a@b.c\r\nTo: {to}\r\nX-Uuid: abc\r\n\r\nx\r\n");
        Assert.True(IngressRules.TryAccept(message, PriorityRule.Strict, out _, out var refusal), refusal?.Message);
    }

    [Theory]
    [InlineData("ok@example.net, j\u00f6rg@example.net", "Recipient address 'j\\u00F6rg@example.net' cannot be delivered: it contains non-ASCII characters (SMTPUTF8 is not supported)")]
    [InlineData("\"a\tb\"@example.net", "Recipient address '\"a\\u0009b\"@example.net' cannot be delivered: it contains a control character")]
    public void Recipients_smtp_cannot_carry_are_refused_naming_them_with_5_1_3(string to, string reason)
    {
        var message = Encoding.UTF8.GetBytes($"From: a@b.c\r\nTo: {to}\r\nX-Uuid: abc\r\n\r\nx\r\n");
        Assert.False(IngressRules.TryAccept(message, PriorityRule.Strict, out _, out var refusal));
        Assert.Equal(new IngressRefusal(reason, 550, "5.1.3"), refusal);
    }

    [Fact]
    public void Priority_zero_goes_to_the_primary_queue()
    {
        var message = Encoding.ASCII.GetBytes("From: a@b.c\r\nTo: d@e.f\r\nX-Uuid: abc\r\nX-Priority: 0\r\n\r\nx\r\n");
        Assert.True(IngressRules.TryAccept(message, PriorityRule.Lenient, out var accepted, out _));
        Assert.True(accepted.IsPrimary);
    }
}
