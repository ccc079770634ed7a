using System.Text;

namespace ManycoreMail.Mime.Tests;

public sealed class MessageHeadersTests
{
    [Fact]
    public void Basic_fixture_has_the_uuid_and_the_body_offset()
    {
        var message = Fixture.Bytes("basic.eml");
        var headers = Fixture.Parse(message);
        Assert.Equal("6c0d2660732b4e3ab22974b37263a577", headers.First("X-Uuid"));
        Assert.Equal("1", headers.First("X-Priority"));
        Assert.Equal("text/plain; charset=\"UTF-8\"", headers.First("Content-Type"));
        Assert.Equal(9, headers.Fields.Count);
        Assert.Equal("this is the body of a basic email\n", Encoding.ASCII.GetString(message, headers.BodyOffset, message.Length - headers.BodyOffset));
    }

    [Fact]
    public void Names_are_found_case_insensitively_and_kept_as_written()
    {
        var headers = Fixture.Parse(Fixture.Bytes("different-case.eml"));
        Assert.Equal("6c0d2660732b4e3ab22974b37263a577", headers.First("X-Uuid"));
        Assert.Equal("1", headers.Last("X-PRIORITY"));
        Assert.Contains(headers.Fields, f => f.Name == "x-UUID");
        Assert.Null(headers.First("X-Missing"));
    }

    [Fact]
    public void Multiline_value_is_unfolded_keeping_whitespace_and_collapses_on_request()
    {
        var headers = Fixture.Parse(Fixture.Bytes("multiline-header.eml"));
        var value = headers.First("Multiline")!;
        Assert.Equal("A           B           C           D           E           F", value);
        Assert.Equal("A B C D E F", HeaderField.CollapseWhitespace(value));
        Assert.Equal("text/plain; charset=\"UTF-8\"", headers.First("Content-Type"));
    }

    [Fact]
    public void Repeated_fields_are_all_kept_in_order()
    {
        var headers = Fixture.Parse(Fixture.Bytes("repeated-header.eml"));
        Assert.Equal(["A", "B", "C", "D", "E", "F"], headers.All("repeated").Select(f => f.Value));
        Assert.Equal("A", headers.First("Repeated"));
        Assert.Equal("F", headers.Last("Repeated"));
    }

    [Fact]
    public void Count_recipients_fixture_has_five_mailboxes()
    {
        var headers = Fixture.Parse(Fixture.Bytes("count-recipients.eml"));
        var all = new[] { "To", "Cc", "Bcc" }.SelectMany(n => headers.All(n)).SelectMany(f => AddressParser.ParseList(f.Value)).ToList();
        Assert.Equal(5, all.Count);
        Assert.Equal(["to1@example.org", "to2@example.org", "cc1@example.org", "bcc1@example.org", "bcc2@example.org"], all.Select(a => a.Address));
        Assert.Equal("Bcc2", all[4].DisplayName);
    }

    [Theory]
    [InlineData("\r\n")]
    [InlineData("\n")]
    public void Line_ends_of_either_kind_work_and_raw_keeps_them(string eol)
    {
        var text = $"A: 1{eol}B: two{eol} folded{eol}{eol}body";
        var message = Encoding.ASCII.GetBytes(text);
        var headers = Fixture.Parse(message);
        Assert.Equal(["A", "B"], headers.Fields.Select(f => f.Name));
        Assert.Equal($"A: 1{eol}", Encoding.ASCII.GetString(headers.Fields[0].Raw.Span));
        Assert.Equal($"B: two{eol} folded{eol}", Encoding.ASCII.GetString(headers.Fields[1].Raw.Span));
        Assert.Equal("two folded", headers.Fields[1].Value);
        Assert.Equal(text.Length - 4, headers.BodyOffset);
    }

    [Fact]
    public void Mixed_line_ends_work()
    {
        var message = "A: 1\r\nB: 2\n\tmore\r\nC: 3\n\r\nbody"u8.ToArray();
        var headers = Fixture.Parse(message);
        Assert.Equal(["1", "2\tmore", "3"], headers.Fields.Select(f => f.Value));
        Assert.Equal(message.Length - 4, headers.BodyOffset);
    }

    [Fact]
    public void Headers_only_message_has_the_body_offset_at_its_end()
    {
        var message = "A: 1\r\nB: 2"u8.ToArray();
        var headers = Fixture.Parse(message);
        Assert.Equal(message.Length, headers.BodyOffset);
        Assert.Equal("2", headers.First("B"));
        Assert.Equal("B: 2", Encoding.ASCII.GetString(headers.Fields[1].Raw.Span));
    }

    [Fact]
    public void Value_is_trimmed_keeps_inner_whitespace_and_is_not_rfc2047_decoded()
    {
        var headers = Fixture.Parse("Subject:   =?utf-8?Q?a?=  b \t\r\nX:\r\nObs : value\r\n\r\n");
        Assert.Equal("=?utf-8?Q?a?=  b", headers.First("subject"));
        Assert.Equal("", headers.First("X"));
        Assert.Equal("value", headers.First("Obs"));
    }

    [Fact]
    public void Utf8_values_are_decoded_and_invalid_bytes_become_replacement_characters()
    {
        byte[] message = [.. "Subject: Grüße\r\nX-Bad: a"u8, 0xFF, .. "b\r\n\r\n"u8];
        var headers = Fixture.Parse(message);
        Assert.Equal("Grüße", headers.First("Subject"));
        Assert.Equal("a\uFFFDb", headers.First("X-Bad"));
    }

    [Theory]
    [InlineData("A: 1\r\nB: 2\r\nno colon here\r\n\r\n", "line 3: not a header field")]
    [InlineData(" continuation: first\r\n\r\n", "line 1: continuation line before the first header field")]
    [InlineData("A: 1\r\n: empty name\r\n\r\n", "line 2: not a header field")]
    [InlineData("A: 1\r\nBad Name: x\r\n\r\n", "line 2: not a header field")]
    [InlineData("A: 1\r\n folded\r\nB: x\0y\r\n\r\n", "line 3: NUL byte in header")]
    public void Invalid_lines_fail_with_a_precise_error(string message, string expected)
    {
        Assert.False(MessageHeaders.TryParse(Encoding.ASCII.GetBytes(message), out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Nul_in_the_body_is_fine()
    {
        var headers = Fixture.Parse("A: 1\r\n\r\nbody\0"u8.ToArray());
        Assert.Equal("1", headers.First("A"));
    }

    [Fact]
    public void Empty_first_line_means_no_headers()
    {
        var headers = Fixture.Parse("\r\nbody"u8.ToArray());
        Assert.Empty(headers.Fields);
        Assert.Equal(2, headers.BodyOffset);
    }

    [Fact]
    public void Raw_is_a_slice_of_the_original_message()
    {
        var message = Fixture.Bytes("basic.eml");
        var headers = Fixture.Parse(message);
        var concatenated = headers.Fields.SelectMany(f => f.Raw.ToArray()).ToArray();
        Assert.Equal(message.AsSpan(0, headers.BodyOffset - 1).ToArray(), concatenated);
    }

    [Fact]
    public void Collapse_whitespace_handles_edges()
    {
        Assert.Equal("a b", HeaderField.CollapseWhitespace("  a \t\r\n b  "));
        Assert.Equal("ab", HeaderField.CollapseWhitespace("ab"));
        Assert.Equal("", HeaderField.CollapseWhitespace(" \t "));
    }
}
