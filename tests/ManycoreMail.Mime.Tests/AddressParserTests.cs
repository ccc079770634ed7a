namespace ManycoreMail.Mime.Tests;

public sealed class AddressParserTests
{
    private static (string? Name, string Address)[] Parse(string value) =>
        [.. AddressParser.ParseList(value).Select(m => (m.DisplayName, m.Address))];

    [Fact]
    public void Plain_address() => Assert.Equal([(null, "a@b.example")], Parse("a@b.example"));

    [Fact]
    public void Name_addr() => Assert.Equal([("John Smith", "john@example.com")], Parse("John Smith <john@example.com>"));

    [Fact]
    public void Quoted_display_name_with_comma_does_not_split() =>
        Assert.Equal([("Smith, John", "john@example.com"), (null, "x@y.example")], Parse("\"Smith, John\" <john@example.com>, x@y.example"));

    [Fact]
    public void Comments_are_ignored_even_with_commas_inside() =>
        Assert.Equal([(null, "a@example.com"), ("Bob", "b@example.com")], Parse("a(comment, with comma)@example.com (x), Bob (the, builder) <b@example.com>"));

    [Fact]
    public void Empty_group_yields_nothing() => Assert.Empty(Parse("undisclosed-recipients:;"));

    [Fact]
    public void Group_members_are_returned() =>
        Assert.Equal([(null, "a@b.example"), (null, "c@d.example"), (null, "e@f.example")], Parse("team: a@b.example, c@d.example;, e@f.example"));

    [Fact]
    public void Obsolete_route_is_dropped() =>
        Assert.Equal([(null, "user@example.com")], Parse("<@relay1.example,@relay2.example:user@example.com>"));

    [Fact]
    public void Quoted_local_part_stays_quoted_when_needed() =>
        Assert.Equal([(null, "\"a b\"@c.example"), (null, "plain@c.example")], Parse("\"a b\"@c.example, \"plain\"@c.example"));

    [Fact]
    public void Rfc2047_base64_and_q_display_names_are_decoded() =>
        Assert.Equal(
            [("Jürgen Müller", "j@example.de"), ("Café", "c@example.fr")],
            Parse("=?utf-8?B?SsO8cmdlbg==?= =?utf-8?Q?_M=C3=BCller?= <j@example.de>, =?iso-8859-1?q?Caf=E9?= <c@example.fr>"));

    [Fact]
    public void Encoded_word_split_inside_a_multibyte_character_is_joined()
    {
        // "é" is C3 A9; each half is base64-encoded in its own word.
        Assert.Equal([("é", "a@b.example")], Parse("=?utf-8?B?ww==?= =?utf-8?B?qQ==?= <a@b.example>"));
    }

    [Fact]
    public void Utf8_addresses_and_names_are_kept() =>
        Assert.Equal([("Δοκιμή", "χρήστης@παράδειγμα.ελ")], Parse("Δοκιμή <χρήστης@παράδειγμα.ελ>"));

    [Fact]
    public void Items_without_at_are_skipped() =>
        Assert.Equal([(null, "ok@example.com")], Parse("nobody, , ok@example.com, Name <local>, John Smith j@x.example"));

    [Fact]
    public void Domain_is_kept_as_written_and_parts_are_split()
    {
        var mailbox = Assert.Single(AddressParser.ParseList("User <Some.One@Example.COM>"));
        Assert.Equal("Some.One@Example.COM", mailbox.Address);
        Assert.Equal("Some.One", mailbox.LocalPart);
        Assert.Equal("Example.COM", mailbox.Domain);
    }

    [Fact]
    public void Angle_address_without_name_and_domain_literal() =>
        Assert.Equal([(null, "a@b.example"), (null, "root@[192.0.2.1]")], Parse("<a@b.example>, root@[192.0.2.1]"));

    [Fact]
    public void Display_name_with_dots_and_escaped_quotes() =>
        Assert.Equal([("John Q. Public", "jqp@example.com"), ("say \"hi\"", "h@example.com")],
            Parse("John Q. Public <jqp@example.com>, \"say \\\"hi\\\"\" <h@example.com>"));

    [Fact]
    public void Unterminated_constructs_do_not_throw()
    {
        Assert.Equal([("x", "a@b.example")], Parse("\"x\" <a@b.example"));
        Assert.Empty(Parse("\"unterminated <a@b.example>"));
        Assert.Empty(Parse("(unterminated comment a@b.example"));
    }

    [Fact]
    public void Control_characters_separate_like_whitespace() =>
        // Found by ClassifierFuzzTests: no token consumed a control character, so the tokenizer looped for ever.
        Assert.Equal([(null, "a@b.example"), (null, "c@d.example")], Parse("\u0001a@b.example,\u007fc@d.example\u000b"));
}
