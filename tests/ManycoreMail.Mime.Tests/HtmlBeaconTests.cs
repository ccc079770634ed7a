using System.Text;

namespace ManycoreMail.Mime.Tests;

public sealed class HtmlBeaconTests
{
    private const string Pixel = "<img width=\"1\" height=\"1\" border=\"0\" src=\"https://t.example.org/px/s1.gif\">";

    private static string? Inject(string message) => Inject(Encoding.UTF8.GetBytes(message));

    private static string? Inject(byte[] message)
    {
        var headers = Fixture.Parse(message);
        var body = HtmlBeacon.Inject(message, headers, Pixel);
        return body is null ? null : Encoding.UTF8.GetString(body);
    }

    private static string Crlf(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);

    [Fact]
    public void Single_part_html_gets_the_pixel_before_the_upper_case_body_close()
    {
        var body = Inject(Fixture.Bytes("transformer-in-html.eml"));
        Assert.Equal($"<html><body><p>Hi</p>{Pixel}</BODY></html>\r\n", body);
    }

    [Fact]
    public void Base64_part_in_multipart_alternative_is_reencoded_as_valid_base64()
    {
        var message = Fixture.Bytes("transformer-in-b64-multipart.eml");
        var body = Inject(message)!;
        Assert.NotNull(body);

        var lines = body.Split("\r\n");
        Assert.Equal(["--zz", "Content-Type: text/plain", "", "Hi", "--zz", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64", ""], lines[..8]);
        var closing = Array.IndexOf(lines, "--zz--");
        var encoded = lines[8..closing];
        Assert.All(encoded, line => Assert.True(line.Length <= 76 && line.Length > 0, line));
        var html = Encoding.UTF8.GetString(Convert.FromBase64String(string.Concat(encoded)));
        Assert.Equal($"<html><body><p>Hi there</p>{Pixel}</body></html>", html);
        Assert.Equal("", lines[closing + 1]);
        Assert.Equal(closing + 2, lines.Length);
    }

    [Fact]
    public void Quoted_printable_part_is_reencoded_with_short_lines()
    {
        var longText = string.Concat(Enumerable.Repeat("Gr=C3=BC=C3=9Fe ", 12));
        var message = Crlf($"""
            MIME-Version: 1.0
            Content-Type: multipart/alternative; boundary="b1"

            --b1
            Content-Type: text/plain; charset=utf-8

            plain
            --b1
            Content-Type: text/html; charset="UTF-8"
            Content-Transfer-Encoding: quoted-printable

            <html><body><p style=3D"x">{longText}=
            end</p></body></html>
            --b1--
            """);
        var body = Inject(message)!;
        Assert.NotNull(body);
        Assert.StartsWith(Crlf("--b1\nContent-Type: text/plain; charset=utf-8\n\nplain\n--b1\n"), body, StringComparison.Ordinal);
        var partStart = body.IndexOf("quoted-printable\r\n\r\n", StringComparison.Ordinal) + "quoted-printable\r\n\r\n".Length;
        var partEnd = body.IndexOf("\r\n--b1--", StringComparison.Ordinal);
        var encoded = body[partStart..partEnd];
        Assert.All(encoded.Split("\r\n"), line => Assert.True(line.Length <= 76, line));
        var decoded = Encoding.UTF8.GetString(TransferEncodings.DecodeQuotedPrintable(Encoding.ASCII.GetBytes(encoded)));
        var expectedText = string.Concat(Enumerable.Repeat("Grüße ", 12));
        Assert.Equal($"<html><body><p style=\"x\">{expectedText}end</p>{Pixel}</body></html>", decoded);
    }

    [Fact]
    public void Nested_mixed_alternative_html_is_found_and_everything_else_is_untouched()
    {
        var message = Crlf("""
            Content-Type: multipart/mixed; boundary=outer

            preamble
            --outer
            Content-Type: multipart/alternative; boundary="inner"

            --inner
            Content-Type: text/plain

            text </body> not html
            --inner
            Content-Type: text/html

            <html><body>first</body></html>
            --inner--
            --outer
            Content-Type: application/octet-stream
            Content-Transfer-Encoding: base64

            AAECAw==
            --outer--
            epilogue
            """);
        var body = Inject(message)!;
        var original = message[(message.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        Assert.Equal(original.Replace("first</body>", $"first{Pixel}</body>", StringComparison.Ordinal), body);
    }

    [Fact]
    public void Every_html_part_is_injected_before_its_last_body_close()
    {
        var message = Crlf("""
            Content-Type: multipart/alternative; boundary=b

            --b
            Content-Type: text/html; charset=iso-8859-1
            Content-Transfer-Encoding: 8bit

            <body>a</body> <body>b</body >
            --b
            Content-Type: TEXT/HTML

            <body>c</Body>
            --b--
            """);
        var body = Inject(message)!;
        Assert.Contains($"<body>a</body> <body>b{Pixel}</body >", body, StringComparison.Ordinal);
        Assert.Contains($"<body>c{Pixel}</Body>", body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Content-Type: text/html\r\n\r\n<html><p>no body close</p></html>\r\n")]
    [InlineData("Content-Type: text/html\r\n\r\n</body> at the very start\r\n")]
    [InlineData("Content-Type: text/plain\r\n\r\n<html><body>x</body></html>\r\n")]
    [InlineData("Subject: no content type\r\n\r\n<html><body>x</body></html>\r\n")]
    [InlineData("Content-Type: text/html; charset=utf-16\r\n\r\n<html><body>x</body></html>\r\n")]
    [InlineData("Content-Type: text/html\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n<body>x</body>\r\n")]
    [InlineData("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=a.html\r\n\r\n<body>x</body>\r\n--b--\r\n")]
    [InlineData("Content-Type: multipart/mixed\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<body>x</body>\r\n--b--\r\n")]
    public void Nothing_to_inject_returns_null(string message)
    {
        Assert.Null(Inject(message));
    }

    [Fact]
    public void Boundary_prefix_of_a_longer_line_is_not_a_delimiter()
    {
        var message = Crlf("""
            Content-Type: multipart/alternative; boundary=zz

            --zz
            Content-Type: text/html

            <body>x
            --zzz not a delimiter
            </body>
            --zz--
            """);
        var body = Inject(message)!;
        Assert.Contains($"--zzz not a delimiter\r\n{Pixel}</body>\r\n--zz--", body, StringComparison.Ordinal);
    }

    [Fact]
    public void Lf_message_comes_back_with_crlf()
    {
        var body = Inject("Content-Type: text/html\n\n<html><body>x</body></html>\nmore\n");
        Assert.Equal($"<html><body>x{Pixel}</body></html>\r\nmore\r\n", body);
    }

    [Fact]
    public void Non_ascii_html_becomes_character_references_in_a_7bit_part_and_utf8_in_8bit()
    {
        var message = "Content-Type: text/html; charset=utf-8\r\n\r\n<body>x</body>"u8.ToArray();
        var sevenBit = HtmlBeacon.Inject(message, Fixture.Parse(message), "<i>é😀</i>")!;
        Assert.Equal("<body>x<i>&#233;&#128512;</i></body>", Encoding.ASCII.GetString(sevenBit));

        var eightBit = "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<body>x</body>"u8.ToArray();
        Assert.Equal("<body>x<i>é😀</i></body>", Encoding.UTF8.GetString(HtmlBeacon.Inject(eightBit, Fixture.Parse(eightBit), "<i>é😀</i>")!));
    }

    [Fact]
    public void Latin1_bytes_around_the_insertion_are_kept_exactly()
    {
        byte[] message = [.. "Content-Type: text/html; charset=ISO-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n"u8,
            .. Encoding.ASCII.GetBytes(Convert.ToBase64String([.. "<body>caf"u8, 0xE9, .. "</body>"u8])), .. "\r\n"u8];
        var body = HtmlBeacon.Inject(message, Fixture.Parse(message), "<p>")!;
        var decoded = Convert.FromBase64String(Encoding.ASCII.GetString(body).Trim());
        Assert.Equal([.. "<body>caf"u8, 0xE9, .. "<p></body>"u8], decoded);
        Assert.EndsWith("\r\n", Encoding.ASCII.GetString(body), StringComparison.Ordinal);
    }

    [Fact]
    public void Deep_nesting_is_bounded()
    {
        var builder = new StringBuilder();
        for (var depth = 0; depth < 40; depth++)
        {
            builder.Append($"Content-Type: multipart/mixed; boundary=b{depth}\r\n\r\n--b{depth}\r\n");
        }
        builder.Append("Content-Type: text/html\r\n\r\n<body>x</body>\r\n");
        Assert.Null(Inject(builder.ToString()));

        var shallow = new StringBuilder();
        for (var depth = 0; depth < 10; depth++)
        {
            shallow.Append($"Content-Type: multipart/mixed; boundary=b{depth}\r\n\r\n--b{depth}\r\n");
        }
        shallow.Append("Content-Type: text/html\r\n\r\n<body>x</body>\r\n");
        Assert.Contains(Pixel, Inject(shallow.ToString()), StringComparison.Ordinal);
    }

    [Fact]
    public void Very_long_line_gets_a_line_break_before_the_insertion()
    {
        var html = "<body>" + new string('x', 990) + "</body>";
        var body = Inject("Content-Type: text/html\r\n\r\n" + html)!;
        Assert.Equal("<body>" + new string('x', 990) + "\r\n" + Pixel + "</body>", body);
    }
}
