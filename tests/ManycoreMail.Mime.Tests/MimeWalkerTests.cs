using System.Text;

namespace ManycoreMail.Mime.Tests;

public sealed class MimeWalkerTests
{
    /// <summary>Each leaf as "type/subtype@depth:body" (body decoded as Latin-1, "none" for no Content-Type).</summary>
    private static List<string> Leaves(string message, bool descendMessages = false)
    {
        var bytes = Encoding.Latin1.GetBytes(message);
        Assert.True(MessageHeaders.TryParse(bytes, out var headers, out var error), error);
        var leaves = new List<string>();
        MimeWalker.Walk(bytes, headers, part =>
        {
            var type = part.ContentType is { } t ? $"{t.MediaType}/{t.MediaSubtype}" : "none";
            leaves.Add($"{type}@{part.Depth}:{Encoding.Latin1.GetString(bytes.AsSpan(part.BodyStart, part.BodyEnd - part.BodyStart))}");
        }, descendMessages);
        return leaves;
    }

    private static List<string> Split(string body, string boundary, int maxParts = MimeWalker.MaxParts)
    {
        var bytes = Encoding.Latin1.GetBytes(body);
        var ranges = new List<Range>();
        MimeWalker.Split(bytes, Encoding.ASCII.GetBytes("--" + boundary), ranges, maxParts);
        return ranges.Select(r => Encoding.Latin1.GetString(bytes[r])).ToList();
    }

    [Fact]
    public void Single_part_message_is_one_leaf_at_depth_zero()
    {
        Assert.Equal(["text/plain@0:hello\r\n"], Leaves("Content-Type: text/plain\r\n\r\nhello\r\n"));
    }

    [Fact]
    public void Message_without_content_type_is_a_leaf_without_one()
    {
        Assert.Equal(["none@0:hi\n"], Leaves("Subject: x\n\nhi\n"));
    }

    [Fact]
    public void Preamble_and_epilogue_are_skipped_and_the_delimiter_owns_the_line_break_before_it()
    {
        Assert.Equal(["a", "b\r\n"], Split("preamble\r\n--b\r\na\r\n--b\r\nb\r\n\r\n--b--\r\nepilogue\r\n", "b"));
    }

    [Fact]
    public void Bare_lf_line_ends_split_like_crlf()
    {
        Assert.Equal(["a", "b"], Split("--b\na\n--b\nb\n--b--\n", "b"));
    }

    [Fact]
    public void Boundary_like_lines_in_a_body_are_text()
    {
        // A longer boundary, a boundary not at the start of a line, and a close followed by text are all body text.
        Assert.Equal(["x\r\n--bx\r\ny --b\r\n--b--tail"], Split("--b\r\nx\r\n--bx\r\ny --b\r\n--b--tail\r\n--b--\r\n", "b"));
    }

    [Fact]
    public void Transport_padding_after_a_delimiter_is_allowed()
    {
        Assert.Equal(["a", "b"], Split("--b \t\r\na\r\n--b\r\nb\r\n--b-- \r\n", "b"));
    }

    [Fact]
    public void Missing_close_delimiter_keeps_the_last_part_to_the_end()
    {
        Assert.Equal(["a", "truncated"], Split("--b\r\na\r\n--b\r\ntruncated", "b"));
    }

    [Fact]
    public void Adjacent_delimiters_enclose_an_empty_part()
    {
        Assert.Equal(["", "a"], Split("--b\r\n--b\r\na\r\n--b--", "b"));
    }

    [Fact]
    public void Body_without_any_delimiter_has_no_parts()
    {
        Assert.Empty(Split("no parts here\r\n", "b"));
    }

    [Fact]
    public void Split_stops_at_the_part_bound()
    {
        var body = new StringBuilder();
        for (var i = 0; i < 100; i++)
        {
            body.Append("--b\r\np").Append(i).Append("\r\n");
        }
        Assert.Equal(["p0", "p1", "p2"], Split(body.ToString(), "b", maxParts: 3));
    }

    [Fact]
    public void Nested_multiparts_report_leaves_in_document_order_with_depths()
    {
        const string message =
            "Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
            "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
            "--inner\r\nContent-Type: text/plain\r\n\r\nplain\r\n" +
            "--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n" +
            "--inner--\r\n" +
            "--outer\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\nPDF\r\n" +
            "--outer--\r\n";
        Assert.Equal(["text/plain@2:plain", "text/html@2:<p>html</p>", "application/pdf@1:PDF"], Leaves(message));
    }

    [Fact]
    public void Part_properties_come_from_its_own_headers()
    {
        var bytes = Encoding.ASCII.GetBytes(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html; charset=ISO-8859-1\r\n" +
            "Content-Transfer-Encoding:  Base64 \r\nContent-Disposition: attachment; filename=x.html\r\n\r\nPGI+\r\n--b--\r\n");
        Assert.True(MessageHeaders.TryParse(bytes, out var headers, out _));
        var parts = new List<MimeWalkPart>();
        MimeWalker.Walk(bytes, headers, parts.Add);
        var part = Assert.Single(parts);
        Assert.Equal("ISO-8859-1", part.Charset);
        Assert.Equal("base64", part.TransferEncoding);
        Assert.True(part.IsAttachment);
        Assert.False(part.InDigest);
    }

    [Fact]
    public void Digest_parts_are_marked_and_enclosed_messages_are_descended_only_when_asked()
    {
        const string message =
            "Content-Type: multipart/digest; boundary=d\r\n\r\n" +
            "--d\r\n\r\nSubject: one\r\nContent-Type: text/plain\r\n\r\nfirst\r\n" +
            "--d--\r\n";
        var bytes = Encoding.ASCII.GetBytes(message);
        Assert.True(MessageHeaders.TryParse(bytes, out var headers, out _));
        var parts = new List<MimeWalkPart>();
        MimeWalker.Walk(bytes, headers, parts.Add);
        Assert.True(Assert.Single(parts).InDigest);

        Assert.Equal(["text/plain@2:first"], Leaves(message, descendMessages: true));
    }

    [Fact]
    public void Base64_enclosed_message_stays_a_leaf()
    {
        const string message =
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
            "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n--b--\r\n";
        Assert.Equal(["message/rfc822@1:U3ViamVjdDogeA0KDQp5"], Leaves(message, descendMessages: true));
    }

    [Fact]
    public void Nesting_past_the_depth_bound_is_reported_as_a_leaf()
    {
        var message = new StringBuilder("Content-Type: multipart/mixed; boundary=b0\r\n\r\n");
        const int levels = MimeWalker.MaxDepth + 5;
        for (var i = 1; i <= levels; i++)
        {
            message.Append("--b").Append(i - 1).Append("\r\nContent-Type: multipart/mixed; boundary=b").Append(i).Append("\r\n\r\n");
        }
        message.Append("--b").Append(levels).Append("\r\nContent-Type: text/plain\r\n\r\ndeep\r\n");
        var leaves = Leaves(message.ToString());
        var leaf = Assert.Single(leaves);
        Assert.StartsWith($"multipart/mixed@{MimeWalker.MaxDepth}:", leaf, StringComparison.Ordinal);
    }

    [Fact]
    public void Huge_part_counts_are_bounded()
    {
        var message = new StringBuilder("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
        for (var i = 0; i < MimeWalker.MaxParts + 500; i++)
        {
            message.Append("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        Assert.Equal(MimeWalker.MaxParts, Leaves(message.ToString()).Count);
    }

    [Fact]
    public void Multipart_without_boundary_is_a_leaf_and_unparsable_parts_are_skipped()
    {
        Assert.Equal(["multipart/mixed@0:body\r\n"], Leaves("Content-Type: multipart/mixed\r\n\r\nbody\r\n"));
        const string message =
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
            "--b\r\nnot a header line\r\n\r\nx\r\n--b\r\nContent-Type: text/plain\r\n\r\nok\r\n--b--\r\n";
        Assert.Equal(["text/plain@1:ok"], Leaves(message));
    }
}
