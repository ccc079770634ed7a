namespace ManycoreMail.Smtp.Tests;

/// <summary>The RFC 5321 form of an address, and the addresses SMTP cannot carry.</summary>
public sealed class SmtpMailboxTests
{
    [Theory]
    [InlineData("user@example.net", "user@example.net")]
    [InlineData("first.last+tag@example.net", "first.last+tag@example.net")]
    [InlineData("\"x>y\"@example.net", "\"x>y\"@example.net")]
    [InlineData("\"a b\"@example.net", "\"a b\"@example.net")]
    [InlineData("\"john\"@example.net", "john@example.net")]
    [InlineData("\"a b\".c@example.net", "\"a b.c\"@example.net")]
    [InlineData("\"a\\\"b\"@example.net", "\"a\\\"b\"@example.net")]
    [InlineData("\"a\\\\b\"@example.net", "\"a\\\\b\"@example.net")]
    [InlineData("\"a@b\"@example.net", "\"a@b\"@example.net")]
    [InlineData("\"\"@example.net", "\"\"@example.net")]
    [InlineData("\".dot\"@example.net", "\".dot\"@example.net")]
    [InlineData("user@example.net.", "user@example.net")]
    [InlineData("user@[192.0.2.1]", "user@[192.0.2.1]")]
    [InlineData("user@[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]")]
    public void Writable_addresses_take_their_rfc_5321_form(string address, string expected)
    {
        Assert.True(SmtpMailbox.TryFormat(address, out var path, out var problem), problem);
        Assert.Equal(expected, path);
    }

    [Theory]
    [InlineData("\"a\rb\"@example.net", "it contains a control character")]
    [InlineData("\"a\nb\"@example.net", "it contains a control character")]
    [InlineData("\"a\0b\"@example.net", "it contains a control character")]
    [InlineData("\"a\tb\"@example.net", "it contains a control character")]
    [InlineData("j\u00f6rg@example.net", "it contains non-ASCII characters (SMTPUTF8 is not supported)")]
    [InlineData("user@b\u00fccher.example", "it contains non-ASCII characters (SMTPUTF8 is not supported)")]
    [InlineData("user", "it has no domain")]
    [InlineData("user@", "it has no domain")]
    [InlineData("x>y@example.net", "its local part has '>' outside quotes")]
    [InlineData("a b@example.net", "its local part has ' ' outside quotes")]
    [InlineData("\"open@example.net", "it has no domain")]
    [InlineData("user@exa mple.net", "its domain is not a valid host name")]
    [InlineData("user@example..net", "its domain is not a valid host name")]
    [InlineData("user@[192.0.2.1", "its domain is not a valid address literal")]
    [InlineData("user@[]", "its domain is not a valid address literal")]
    public void Unwritable_addresses_say_why(string address, string expected)
    {
        Assert.False(SmtpMailbox.TryFormat(address, out var path, out var problem));
        Assert.Null(path);
        Assert.Equal(expected, problem);
    }

    [Fact]
    public void Lengths_are_those_of_rfc_5321()
    {
        Assert.True(SmtpMailbox.TryFormat(new string('a', 64) + "@example.net", out _, out _));
        Assert.False(SmtpMailbox.TryFormat(new string('a', 65) + "@example.net", out _, out var local));
        Assert.Equal("its local part is longer than 64 characters", local);
        // Quoting counts: 63 characters that must be quoted are 65 on the wire.
        Assert.False(SmtpMailbox.TryFormat("\"" + new string(' ', 63) + "\"@example.net", out _, out _));

        var label = new string('d', 63);
        var domain = string.Join('.', label, label, label, new string('d', 59));
        Assert.True(SmtpMailbox.TryFormat("a@" + domain, out _, out _));
        // "<a@" + 255 characters + ">" is over the 256 of a path before the domain reaches its own limit.
        Assert.False(SmtpMailbox.TryFormat("a@" + domain + "dddd", out _, out var path));
        Assert.False(SmtpMailbox.TryFormat("a@" + domain + "ddddd", out _, out var tooLong));
        Assert.Equal("its domain is longer than 255 characters", tooLong);
        Assert.Equal("it is longer than 254 characters", path);
    }
}
