using System.Text;

namespace ManycoreMail.Mime.Tests;

public sealed class MessageRewriterTests
{
    private static MessageRewriter Rewriter(string message, out byte[] bytes)
    {
        bytes = Encoding.UTF8.GetBytes(message);
        return new MessageRewriter(bytes, Fixture.Parse(bytes));
    }

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    [Fact]
    public void Unchanged_crlf_message_is_byte_identical()
    {
        const string message = "From: a@b.example\r\nSubject: x\r\n y\r\n\r\nbody\r\n";
        Assert.Equal(message, Text(Rewriter(message, out _).ToArray()));
    }

    [Fact]
    public void Remove_drops_every_instance_case_insensitively_and_keeps_the_order()
    {
        const string message = "A: 1\r\nX-Mailer: one\r\nB: 2\r\nx-mailer: two\r\n folded\r\nC: 3\r\n\r\nbody\r\n";
        var output = Rewriter(message, out _).Remove("X-MAILER").ToArray();
        Assert.Equal("A: 1\r\nB: 2\r\nC: 3\r\n\r\nbody\r\n", Text(output));
    }

    [Fact]
    public void Append_goes_after_the_last_field_in_call_order()
    {
        var output = Rewriter("A: 1\r\n\r\nbody", out _).Append("X-One", "1").Append("X-Two", "2").ToArray();
        Assert.Equal("A: 1\r\nX-One: 1\r\nX-Two: 2\r\n\r\nbody", Text(output));
    }

    [Fact]
    public void Remove_then_append_replaces_a_field_and_remove_also_drops_earlier_appends()
    {
        var output = Rewriter("Message-ID: <old@x>\r\nA: 1\r\n\r\n", out _)
            .Append("X-Temp", "t").Remove("Message-ID").Append("Message-ID", "<new@y>").Remove("x-temp").ToArray();
        Assert.Equal("A: 1\r\nMessage-ID: <new@y>\r\n\r\n", Text(output));
    }

    [Fact]
    public void Lf_and_bare_cr_line_ends_are_normalised_everywhere()
    {
        var output = Rewriter("A: 1\nB: 2\n folded\r\n\nline1\nline2\rline3\r\n", out _).ToArray();
        Assert.Equal("A: 1\r\nB: 2\r\n folded\r\n\r\nline1\r\nline2\r\nline3\r\n", Text(output));
    }

    [Fact]
    public void Headers_only_message_gets_its_missing_line_end_and_separator()
    {
        var output = Rewriter("A: 1\r\nB: 2", out _).Append("C", "3").ToArray();
        Assert.Equal("A: 1\r\nB: 2\r\nC: 3\r\n\r\n", Text(output));
    }

    [Fact]
    public void Replace_body_normalises_the_new_body()
    {
        var output = Rewriter("A: 1\r\n\r\nold body\r\n", out _).ReplaceBody("new\nbody\n"u8.ToArray()).ToArray();
        Assert.Equal("A: 1\r\n\r\nnew\r\nbody\r\n", Text(output));
    }

    [Fact]
    public void Long_values_fold_at_whitespace_within_78_columns()
    {
        var value = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"word{i}"));
        var output = Text(Rewriter("A: 1\r\n\r\n", out _).Append("List-Unsubscribe", value).ToArray());
        var field = output["A: 1\r\n".Length..output.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        var lines = field.Split("\r\n");
        Assert.True(lines.Length > 2);
        Assert.All(lines, line => Assert.True(line.Length <= 78, line));
        Assert.All(lines.Skip(1), line => Assert.StartsWith(" ", line, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.EndsWith(' '));
        // Unfolding gives the value back exactly.
        Assert.Equal("List-Unsubscribe: " + value, field.Replace("\r\n", "", StringComparison.Ordinal));
        var parsed = Fixture.Parse(Encoding.UTF8.GetBytes(output));
        Assert.Equal(value, parsed.First("List-Unsubscribe"));
    }

    [Fact]
    public void A_token_longer_than_a_line_stays_whole()
    {
        var longToken = "<https://example.org/" + new string('u', 120) + ">";
        var output = Text(Rewriter("\r\n", out _).Append("List-Unsubscribe", "<mailto:u@example.org>, " + longToken).ToArray());
        Assert.Equal($"List-Unsubscribe: <mailto:u@example.org>,\r\n {longToken}\r\n\r\n", output);
    }

    [Fact]
    public void Line_breaks_in_a_value_cannot_inject_a_field()
    {
        var output = Text(Rewriter("A: 1\r\n\r\n", out _).Append("X-Note", "evil\r\nBcc: victim@example.org").ToArray());
        var parsed = Fixture.Parse(Encoding.UTF8.GetBytes(output));
        Assert.Null(parsed.First("Bcc"));
        Assert.Equal("evil Bcc: victim@example.org", parsed.First("X-Note"));
    }

    [Fact]
    public void Invalid_field_name_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => Rewriter("A: 1\r\n\r\n", out _).Append("Bad Name", "x"));
        Assert.Throws<ArgumentException>(() => Rewriter("A: 1\r\n\r\n", out _).Append("Bad:Name", "x"));
    }

    [Fact]
    public void Empty_and_utf8_values()
    {
        var output = Text(Rewriter("\r\n", out _).Append("X-Empty", "").Append("Subject", "Grüße").ToArray());
        Assert.Equal("X-Empty:\r\nSubject: Grüße\r\n\r\n", output);
    }

    [Fact]
    public void Folding_counts_utf8_bytes_and_keeps_the_whitespace_it_folds_before()
    {
        // " Grüße" is 8 bytes but 6 chars: counted in chars, the first line would take 11 words, 96 bytes; in bytes it
        // takes 8 (72 bytes; a ninth would make 80).
        var value = string.Join(' ', Enumerable.Repeat("Grüße", 29)) + "\tEnde";
        var folded = HeaderFolding.Fold("Subject", value);
        var lines = Encoding.UTF8.GetString(folded).Split("\r\n");
        Assert.Equal("", lines[^1]);
        Assert.All(lines, line => Assert.True(Encoding.UTF8.GetByteCount(line) <= 78, line));
        Assert.True(lines.Length > 3);
        Assert.Equal("Subject:" + string.Concat(Enumerable.Repeat(" Grüße", 8)), lines[0]);
        // Unfolding gives the value back exactly, the tab before the last word included.
        Assert.Equal("Subject: " + value, string.Concat(lines));
    }
}
