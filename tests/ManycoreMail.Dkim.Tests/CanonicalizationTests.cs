using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace ManycoreMail.Dkim.Tests;

public sealed class CanonicalizationTests
{
    private static string Header(string field)
    {
        var destination = new byte[field.Length + 2];
        var length = RelaxedCanonicalization.CanonicalizeHeader(Encoding.UTF8.GetBytes(field), destination);
        return Encoding.UTF8.GetString(destination, 0, length);
    }

    private static string Body(string body) => Encoding.UTF8.GetString(RelaxedCanonicalization.CanonicalizeBody(Encoding.UTF8.GetBytes(body)));

    [Fact]
    public void Rfc6376_section_3_4_5_headers()
    {
        Assert.Equal("a:X\r\n", Header("A: X\r\n"));
        Assert.Equal("b:Y Z\r\n", Header("B : Y\t\r\n\tZ  \r\n"));
    }

    [Fact]
    public void Rfc6376_section_3_4_5_body()
    {
        Assert.Equal(" C\r\nD E\r\n", Body(" C \r\nD \t E\r\n\r\n\r\n"));
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("\r\n", "")]
    [InlineData("\r\n\r\n\r\n", "")]
    [InlineData(" \t \r\n  \r\n", "")]
    [InlineData("abc", "abc\r\n")]
    [InlineData("abc   ", "abc\r\n")]
    [InlineData("a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n")]
    [InlineData("a\r\n \r\nb", "a\r\n\r\nb\r\n")]
    [InlineData("a\nb\n\n", "a\r\nb\r\n")]
    [InlineData("a\rb\r\n", "a\rb\r\n")]
    [InlineData("\t\tx  y\t\r\n", " x y\r\n")]
    public void Body_edge_cases(string body, string expected)
    {
        Assert.Equal(expected, Body(body));
    }

    [Fact]
    public void Header_value_is_trimmed_and_name_lower_cased()
    {
        Assert.Equal("subject:a b c\r\n", Header("SUBJECT:\t  a \r\n  b\t\tc   \r\n"));
        Assert.Equal("x-empty:\r\n", Header("X-Empty:   \r\n"));
    }

    [Fact]
    public void Streamed_hash_matches_the_canonical_bytes_and_a_reference_implementation()
    {
        var random = new Random(7);
        var alphabet = "ab  \t\r\n\r\n xyz"u8.ToArray();
        for (var round = 0; round < 50; round++)
        {
            var body = new byte[random.Next(0, 20000)];
            for (var i = 0; i < body.Length; i++)
            {
                body[i] = random.Next(20) == 0 ? (byte)'q' : alphabet[random.Next(alphabet.Length)];
            }
            // A long run without whitespace crosses the internal buffer.
            if (round % 5 == 0 && body.Length > 9000)
            {
                body.AsSpan(100, 9000).Fill((byte)'z');
            }

            var canonical = RelaxedCanonicalization.CanonicalizeBody(body);
            Assert.Equal(Reference(body), canonical);

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            RelaxedCanonicalization.HashBody(body, hash);
            Assert.Equal(SHA256.HashData(canonical), hash.GetHashAndReset());
        }
    }

    [Fact]
    public void Mostly_canonical_bodies_match_the_reference_wherever_the_changes_fall()
    {
        // Canonical lines of words with single spaces, then a few bytes overwritten with WSP or line ends: the
        // changes land at every position relative to the 32-byte steps of the vectorised scan, in every line.
        var random = new Random(11);
        for (var round = 0; round < 2000; round++)
        {
            var text = new StringBuilder();
            for (var line = random.Next(0, 30); line > 0; line--)
            {
                for (var word = random.Next(0, 12); word > 0; word--)
                {
                    text.Append((char)random.Next('a', 'z' + 1), random.Next(1, 9)).Append(word > 1 ? " " : "");
                }
                text.Append("\r\n");
            }
            var body = Encoding.ASCII.GetBytes(text.ToString());
            for (var change = random.Next(0, 4); change > 0 && body.Length > 1; change--)
            {
                var at = random.Next(body.Length - 1);
                body[at] = (byte)" \t\n\r"[random.Next(4)];
                if (random.Next(3) == 0)
                {
                    body[at + 1] = (byte)' ';
                }
            }

            var canonical = RelaxedCanonicalization.CanonicalizeBody(body);
            Assert.True(Reference(body).AsSpan().SequenceEqual(canonical), $"round {round}: {Convert.ToBase64String(body)}");
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            RelaxedCanonicalization.HashBody(body, hash);
            Assert.Equal(SHA256.HashData(canonical), hash.GetHashAndReset());
        }
    }

    /// <summary>The RFC's wording as regexes (dkimpy's approach), on CRLF-normalised Latin-1 text.</summary>
    private static byte[] Reference(byte[] body)
    {
        var text = Encoding.Latin1.GetString(body);
        text = Regex.Replace(text, "\r?\n", "\r\n");
        text = Regex.Replace(text, "[\t ]+\r\n", "\r\n");
        text = Regex.Replace(text, "[\t ]+", " ");
        text = Regex.Replace(text, "[\t ]+$", "");
        text = Regex.Replace(text, "(\r\n)*$", "");
        return Encoding.Latin1.GetBytes(text.Length == 0 ? "" : text + "\r\n");
    }
}
