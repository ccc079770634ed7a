using System.Security.Cryptography;
using System.Text;

namespace ManycoreMail.Dkim.Tests;

public sealed class DkimSignerTests(TestKeys keys) : IClassFixture<TestKeys>
{
    private const string Domain = "example.org";
    private const string Selector = "mailer";
    private static readonly DateTimeOffset Timestamp = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private const string SimpleMessage =
        "From: Sender <sender@example.org>\r\n" +
        "To: rcpt@example.net\r\n" +
        "Subject: Hello\r\n" +
        "Date: Fri, 02 Jan 2026 03:04:05 +0000\r\n" +
        "Message-ID: <1@example.org>\r\n" +
        "\r\n" +
        "Hello world.\r\n";

    private (DkimSigner Signer, RSA Key) CreateSigner(int bits = 2048, bool pkcs8 = true, IReadOnlyList<string>? headers = null)
    {
        var rsa = DkimSigningKey.LoadRsaPrivateKey(keys.Pem(bits, pkcs8));
        var signer = new DkimSigner(new DkimSigningKey(Domain, Selector, rsa), headers ?? DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);
        return (signer, rsa);
    }

    private static byte[] Concat(byte[] field, byte[] message) => [.. field, .. message];

    private async Task<byte[]> SignAndVerifyAsync(string message, int bits = 2048, bool pkcs8 = true) =>
        await SignAndVerifyAsync(Encoding.UTF8.GetBytes(message), bits, pkcs8);

    private async Task<byte[]> SignAndVerifyAsync(byte[] message, int bits = 2048, bool pkcs8 = true)
    {
        var (signer, rsa) = CreateSigner(bits, pkcs8);
        using (rsa)
        {
            var field = signer.Sign(message, Timestamp);
            var (valid, output) = await Dkimpy.VerifyAsync(Concat(field, message), rsa, Domain, Selector);
            Assert.True(valid, $"dkimpy rejected:\n{Encoding.ASCII.GetString(field)}\n{output}");
            return field;
        }
    }

    private static string HeaderList(byte[] field)
    {
        var text = Encoding.ASCII.GetString(field).Replace("\r\n", "", StringComparison.Ordinal);
        var match = System.Text.RegularExpressions.Regex.Match(text, "[; ]h=([^;]*);");
        Assert.True(match.Success, text);
        return match.Groups[1].Value.Replace(" ", "", StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1024, false)]
    [InlineData(1024, true)]
    [InlineData(2048, false)]
    [InlineData(2048, true)]
    public async Task Simple_message_verifies_with_every_key_size_and_form(int bits, bool pkcs8)
    {
        await SignAndVerifyAsync(SimpleMessage, bits, pkcs8);
    }

    [Fact]
    public async Task Folded_headers_and_trailing_whitespace_verify()
    {
        const string message =
            "From: Sender <sender@example.org>   \r\n" +
            "To: a@example.net,\r\n" +
            "\tb@example.net,  \r\n" +
            "    c@example.net\r\n" +
            "Subject:   A   long\t subject\r\n" +
            " that is folded   \r\n" +
            "Content-Type: text/plain;\r\n  charset=utf-8\r\n" +
            "\r\n" +
            "Line with trailing spaces   \r\n" +
            "  Leading and   inner\t\twhitespace \t\r\n" +
            "\t\r\n" +
            "end\r\n";
        await SignAndVerifyAsync(message);
    }

    [Fact]
    public async Task Empty_body_verifies_and_hashes_as_nothing()
    {
        const string message = "From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: empty\r\n\r\n";
        var field = await SignAndVerifyAsync(message);
        // RFC 6376 errata 3192: the relaxed canonical form of an empty body is empty; SHA-256("") is this.
        Assert.Contains("bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;", Encoding.ASCII.GetString(field).Replace("\r\n ", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Message_without_separator_line_verifies()
    {
        await SignAndVerifyAsync("From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: no body\r\n");
    }

    [Fact]
    public async Task Body_with_trailing_empty_lines_has_the_same_hash_as_without_them()
    {
        const string head = "From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: t\r\n\r\n";
        var withLines = await SignAndVerifyAsync(head + "text\r\n\r\n\r\n  \r\n\r\n");
        var without = await SignAndVerifyAsync(head + "text\r\n");
        Assert.Equal(withLines, without);
    }

    [Fact]
    public void A_message_signed_in_two_pieces_gets_the_signature_of_the_whole()
    {
        var (signer, _) = CreateSigner();
        var header = Encoding.UTF8.GetBytes("From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: two\r\n\r\n");
        var body = Encoding.UTF8.GetBytes("line one  \r\n\tline two\r\n\r\n");

        var whole = signer.Sign([.. header, .. body], Timestamp);
        var apart = signer.Sign(header, body, Timestamp);

        Assert.Equal(Encoding.ASCII.GetString(whole), Encoding.ASCII.GetString(apart));
    }

    [Fact]
    public async Task Eight_bit_utf8_body_and_header_verify()
    {
        const string message =
            "From: =?utf-8?Q?J=C3=BCrgen?= <j@example.org>\r\n" +
            "To: rcpt@example.net\r\n" +
            "Subject: Grüße aus Köln ✓\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\n" +
            "Content-Transfer-Encoding: 8bit\r\n" +
            "\r\n" +
            "Grüße, 你好, привет  \r\n" +
            "emoji 😀\r\n";
        await SignAndVerifyAsync(message);
    }

    [Fact]
    public async Task From_is_oversigned_so_an_added_From_breaks_the_signature()
    {
        var (signer, rsa) = CreateSigner();
        using (rsa)
        {
            var message = Encoding.ASCII.GetBytes(SimpleMessage);
            var field = signer.Sign(message, Timestamp);
            Assert.Equal("From:To:Subject:Date:Message-ID:From", HeaderList(field));

            var (valid, output) = await Dkimpy.VerifyAsync(Concat(field, message), rsa, Domain, Selector);
            Assert.True(valid, output);

            var forged = Concat(field, [.. "From: attacker@evil.example\r\n"u8, .. message]);
            var (forgedValid, _) = await Dkimpy.VerifyAsync(forged, rsa, Domain, Selector);
            Assert.False(forgedValid);
        }
    }

    [Fact]
    public async Task Every_instance_of_a_repeated_header_is_signed()
    {
        const string message =
            "From: sender@example.org\r\n" +
            "To: first@example.net\r\n" +
            "Subject: two To\r\n" +
            "To: second@example.net\r\n" +
            "\r\n" +
            "body\r\n";
        var field = await SignAndVerifyAsync(message);
        Assert.Equal("From:To:To:Subject:From", HeaderList(field));
    }

    [Fact]
    public async Task Changing_one_body_byte_makes_verification_fail()
    {
        var (signer, rsa) = CreateSigner();
        using (rsa)
        {
            var message = Encoding.ASCII.GetBytes(SimpleMessage);
            var signed = Concat(signer.Sign(message, Timestamp), message);
            var (valid, output) = await Dkimpy.VerifyAsync(signed, rsa, Domain, Selector);
            Assert.True(valid, output);

            var index = Array.LastIndexOf(signed, (byte)'w'); // "world"
            signed[index] = (byte)'W';
            var (tamperedValid, _) = await Dkimpy.VerifyAsync(signed, rsa, Domain, Selector);
            Assert.False(tamperedValid);
        }
    }

    [Fact]
    public async Task Changing_a_signed_header_makes_verification_fail()
    {
        var (signer, rsa) = CreateSigner();
        using (rsa)
        {
            var message = Encoding.ASCII.GetBytes(SimpleMessage);
            var signed = Concat(signer.Sign(message, Timestamp), Encoding.ASCII.GetBytes(SimpleMessage.Replace("Hello\r\n", "Hellp\r\n", StringComparison.Ordinal)));
            var (valid, _) = await Dkimpy.VerifyAsync(signed, rsa, Domain, Selector);
            Assert.False(valid);
        }
    }

    [Fact]
    public async Task All_default_headers_present_fold_the_header_list_and_verify()
    {
        var builder = new StringBuilder();
        foreach (var name in DkimSigner.DefaultHeaders)
        {
            builder.Append(name).Append(": value of ").Append(name).Append("\r\n");
        }
        builder.Append("\r\nbody\r\n");
        var field = await SignAndVerifyAsync(builder.ToString());
        Assert.Equal(string.Join(':', DkimSigner.DefaultHeaders) + ":From", HeaderList(field));
    }

    [Fact]
    public async Task More_header_fields_than_the_stack_holds_verify()
    {
        var builder = new StringBuilder();
        for (var i = 0; i < 300; i++)
        {
            builder.Append("Received: from relay").Append(i).Append(".example by mx.example\r\n");
        }
        builder.Append("From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: many\r\n\r\nbody\r\n");
        await SignAndVerifyAsync(builder.ToString());
    }

    [Fact]
    public async Task Large_body_verifies()
    {
        var builder = new StringBuilder("From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: big\r\n\r\n");
        var random = new Random(42);
        for (var i = 0; i < 2000; i++)
        {
            builder.Append(new string('x', random.Next(0, 120))).Append(random.Next(3) == 0 ? "  \t " : " ").Append(i).Append("\r\n");
        }
        builder.Append(new string('y', 10000)).Append("\r\n\r\n");
        await SignAndVerifyAsync(builder.ToString());
    }

    [Fact]
    public void Field_has_the_tags_in_order_and_is_folded()
    {
        var (signer, rsa) = CreateSigner();
        using (rsa)
        {
            var field = Encoding.ASCII.GetString(signer.Sign(Encoding.ASCII.GetBytes(SimpleMessage), Timestamp));
            Assert.EndsWith("\r\n", field, StringComparison.Ordinal);
            var unfolded = field.Replace("\r\n", "", StringComparison.Ordinal).TrimEnd();
            Assert.StartsWith("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=mailer; t=", unfolded, StringComparison.Ordinal);
            var tags = unfolded["DKIM-Signature:".Length..].Split(';').Select(t => t.Trim().Split('=')[0]).ToArray();
            Assert.Equal(["v", "a", "c", "d", "s", "t", "h", "bh", "b"], tags);
            Assert.Contains($"t={Timestamp.ToUnixTimeSeconds()};", unfolded, StringComparison.Ordinal);
            var lines = field.Split("\r\n")[..^1];
            Assert.True(lines.Length > 3);
            Assert.All(lines, line => Assert.True(line.Length <= 78, line));
            Assert.All(lines.Skip(1), line => Assert.StartsWith(" ", line, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Signing_concurrently_with_one_key_gives_the_sequential_result()
    {
        var (signer, rsa) = CreateSigner();
        using (rsa)
        {
            var message = Encoding.ASCII.GetBytes(SimpleMessage);
            var expected = signer.Sign(message, Timestamp); // PKCS#1 v1.5 signatures are deterministic
            var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(() => signer.Sign(message, Timestamp))));
            Assert.All(results, result => Assert.Equal(expected, result));
        }
    }

    [Fact]
    public void A_malformed_header_block_is_a_format_error()
    {
        var (signer, rsa) = CreateSigner();
        using (rsa)
        {
            var error = Assert.Throws<FormatException>(() => signer.Sign("From: a@example.org\r\nnot a header\r\n\r\nbody\r\n"u8, Timestamp));
            Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_message_without_From_is_a_format_error()
    {
        var (signer, rsa) = CreateSigner();
        using (rsa)
        {
            var error = Assert.Throws<FormatException>(() => signer.Sign("To: a@example.org\r\n\r\nbody\r\n"u8, Timestamp));
            Assert.Contains("no From", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Lf_message_signature_is_valid_for_its_crlf_form()
    {
        var (signer, rsa) = CreateSigner();
        using (rsa)
        {
            var crlf = Encoding.ASCII.GetBytes(SimpleMessage);
            var lf = Encoding.ASCII.GetBytes(SimpleMessage.Replace("\r\n", "\n", StringComparison.Ordinal));
            Assert.Equal(signer.Sign(crlf, Timestamp), signer.Sign(lf, Timestamp));
            var (valid, output) = await Dkimpy.VerifyAsync(Concat(signer.Sign(lf, Timestamp), crlf), rsa, Domain, Selector);
            Assert.True(valid, output);
        }
    }

    [Fact]
    public void Signer_refuses_a_header_list_without_From()
    {
        using var rsa = DkimSigningKey.LoadRsaPrivateKey(keys.Pem(1024, false));
        Assert.Throws<ArgumentException>(() => new DkimSigner(new DkimSigningKey(Domain, Selector, rsa), ["To", "Subject"], []));
    }

    [Fact]
    public void Signer_refuses_an_invalid_selector()
    {
        using var rsa = DkimSigningKey.LoadRsaPrivateKey(keys.Pem(1024, false));
        Assert.Throws<ArgumentException>(() => new DkimSigner(new DkimSigningKey(Domain, "bad; selector", rsa), DkimSigner.DefaultHeaders, []));
    }
}
