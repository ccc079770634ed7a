using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace ManycoreMail.Dkim.Tests;

public sealed class DkimVerifierTests(TestKeys keys) : IClassFixture<TestKeys>
{
    internal const string Domain = "example.test";
    internal const string Selector = "sel";

    /// <summary>Folded and WSP-laden on purpose, so that canonicalisation matters; every field is one the signers
    /// here sign.</summary>
    internal static readonly byte[] Message = Encoding.ASCII.GetBytes(
        "From: Joe SixPack <joe@example.test>\r\n" +
        "To: Suzie Q <suzie@example.net>\r\n" +
        "Subject: Is dinner\r\n\tready?  \r\n" +
        "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n" +
        "Message-ID: <20030712040037.46341.5F8J@example.test>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain\r\n" +
        "\r\n" +
        "Hi.\t there  \r\n" +
        "\r\n" +
        "We lost the game.  Are you hungry yet?\r\n" +
        "Joe.\r\n\r\n\r\n");

    internal static readonly string[] MessageHeaders = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"];

    private static readonly FakeTimeProvider Now = new(DateTimeOffset.Parse("2026-12-06T00:00:00Z"));

    internal RSA Rsa => keys.Rsa2048;

    internal string RsaRecord => $"v=DKIM1; k=rsa; p={Convert.ToBase64String(Rsa.ExportSubjectPublicKeyInfo())}";

    internal byte[] SignWithOurSigner(byte[] message)
    {
        var signer = new DkimSigner(new DkimSigningKey(Domain, Selector, Rsa), DkimSigner.DefaultHeaders, DkimSigner.DefaultOversign);
        return [.. signer.Sign(message, Now.GetUtcNow()), .. message];
    }

    internal static async Task<IReadOnlyList<DkimVerificationResult>> VerifyAsync(byte[] message, IDkimKeyResolver resolver, TimeProvider? time = null) =>
        await new DkimVerifier(resolver, time ?? Now).VerifyAsync(message, CancellationToken.None);

    private StaticKeyResolver Keys() => new StaticKeyResolver().Add(Selector, Domain, RsaRecord);

    [Fact]
    public async Task A_message_signed_by_our_signer_passes()
    {
        var results = await VerifyAsync(SignWithOurSigner(Message), Keys());

        var result = Assert.Single(results);
        Assert.Equal(DkimResult.Pass, result.Result);
        Assert.Equal(Domain, result.Domain);
        Assert.Equal(Selector, result.Selector);
        Assert.Equal("rsa-sha256", result.Algorithm);
        Assert.False(result.IsWeak);
    }

    [Fact]
    public async Task An_unsigned_message_has_no_results()
    {
        Assert.Empty(await VerifyAsync(Message, Keys()));
    }

    [Fact]
    public async Task Every_single_byte_change_of_a_signed_header_or_the_body_fails_our_signature()
    {
        var signed = SignWithOurSigner(Message);
        var offset = signed.Length - Message.Length;
        var resolver = Keys();
        for (var i = offset; i < signed.Length; i++)
        {
            var tampered = (byte[])signed.Clone();
            // '#' and '%' are no case variant or whitespace of anything, so relaxed canonicalisation keeps the change.
            tampered[i] = tampered[i] == (byte)'#' ? (byte)'%' : (byte)'#';
            var results = await VerifyAsync(tampered, resolver);
            Assert.True(results.All(r => r.Result != DkimResult.Pass), $"changing byte {i - offset} still passed");
        }
    }

    [Fact]
    public async Task Relaxed_canonicalisation_tolerates_refolding_case_and_whitespace()
    {
        var signed = Encoding.ASCII.GetString(SignWithOurSigner(Message))
            .Replace("Subject: Is dinner\r\n\tready?  ", "SUBJECT :  Is   dinner ready?")
            .Replace("game.  Are", "game.\t Are ")
            .Replace("Joe.\r\n\r\n\r\n", "Joe.   \r\n");

        var result = Assert.Single(await VerifyAsync(Encoding.ASCII.GetBytes(signed), Keys()));
        Assert.Equal(DkimResult.Pass, result.Result);
    }

    [Fact]
    public async Task A_changed_body_fails_with_the_body_hash_reason_and_a_changed_header_with_the_signature_reason()
    {
        var signed = Encoding.ASCII.GetString(SignWithOurSigner(Message));

        var body = Assert.Single(await VerifyAsync(Encoding.ASCII.GetBytes(signed.Replace("hungry", "angry!")), Keys()));
        var header = Assert.Single(await VerifyAsync(Encoding.ASCII.GetBytes(signed.Replace("Suzie Q", "Mallory")), Keys()));

        Assert.Equal((DkimResult.Fail, "body hash did not verify"), (body.Result, body.Reason));
        Assert.Equal((DkimResult.Fail, "signature did not verify"), (header.Result, header.Reason));
    }

    [Fact]
    public async Task An_added_From_above_the_oversigned_one_fails()
    {
        var signed = SignWithOurSigner(Message);
        var field = signed.Length - Message.Length;
        byte[] tampered = [.. signed[..field], .. "From: ceo@example.test\r\n"u8, .. signed[field..]];

        Assert.Equal(DkimResult.Fail, Assert.Single(await VerifyAsync(tampered, Keys())).Result);
    }

    [Fact]
    public async Task A_field_named_in_h_more_often_than_present_may_not_be_added_later()
    {
        // The RFC 8463 signatures name subject twice in h= for one Subject field: the second names an absent one.
        var text = Encoding.ASCII.GetString(Rfc8463.Message);
        var at = text.IndexOf("From: Joe", StringComparison.Ordinal);
        var added = Encoding.ASCII.GetBytes(text.Insert(at, "Subject: Free money\r\n"));
        var unrelated = Encoding.ASCII.GetBytes(text.Insert(at, "Received: from relay.test\r\n"));

        Assert.Equal([DkimResult.Fail, DkimResult.Fail], (await VerifyAsync(added, Rfc8463.Keys())).Select(r => r.Result));
        Assert.Equal([DkimResult.Pass, DkimResult.Pass], (await VerifyAsync(unrelated, Rfc8463.Keys())).Select(r => r.Result));
    }

    [Fact]
    public async Task Repeated_fields_are_taken_bottom_up()
    {
        var signer = new DkimSigner(new DkimSigningKey(Domain, Selector, Rsa), ["From", "X-Tag"], []);
        byte[] message = [.. "X-Tag: one\r\nX-Tag: two\r\n"u8, .. Message];
        var signed = Encoding.ASCII.GetString([.. signer.Sign(message, Now.GetUtcNow()), .. message]);

        var swapped = signed.Replace("X-Tag: one\r\nX-Tag: two", "X-Tag: two\r\nX-Tag: one");
        var addedOnTop = signed.Replace("X-Tag: one", "X-Tag: zero\r\nX-Tag: one");
        var addedBelow = signed.Replace("X-Tag: two", "X-Tag: two\r\nX-Tag: three");

        Assert.Equal(DkimResult.Pass, Assert.Single(await VerifyAsync(Encoding.ASCII.GetBytes(signed), Keys())).Result);
        Assert.Equal(DkimResult.Fail, Assert.Single(await VerifyAsync(Encoding.ASCII.GetBytes(swapped), Keys())).Result);
        Assert.Equal(DkimResult.Pass, Assert.Single(await VerifyAsync(Encoding.ASCII.GetBytes(addedOnTop), Keys())).Result);
        Assert.Equal(DkimResult.Fail, Assert.Single(await VerifyAsync(Encoding.ASCII.GetBytes(addedBelow), Keys())).Result);
    }

    [Fact]
    public async Task Rfc8463_example_verifies_both_signatures()
    {
        var results = await VerifyAsync(Rfc8463.Message, Rfc8463.Keys());

        Assert.Equal(2, results.Count);
        Assert.Equal((DkimResult.Pass, "brisbane", "ed25519-sha256"), (results[0].Result, results[0].Selector, results[0].Algorithm));
        Assert.Equal((DkimResult.Pass, "test", "rsa-sha256"), (results[1].Result, results[1].Selector, results[1].Algorithm));
        Assert.All(results, r => Assert.Equal("football.example.com", r.Domain));
    }

    [Fact]
    public async Task Rfc8463_example_with_a_changed_subject_fails_both()
    {
        var tampered = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(Rfc8463.Message).Replace("Is dinner ready?", "Is lunch ready?"));

        var results = await VerifyAsync(tampered, Rfc8463.Keys());

        Assert.Equal([DkimResult.Fail, DkimResult.Fail], results.Select(r => r.Result));
    }

    [Fact]
    public async Task Rfc8463_ed25519_signature_fails_under_another_ed25519_key()
    {
        var otherKey = Convert.ToBase64String(new byte[32].Select((_, i) => (byte)(i + 1)).ToArray());
        var resolver = Rfc8463.Keys().Add("brisbane", "football.example.com", $"v=DKIM1; k=ed25519; p={otherKey}");

        var results = await VerifyAsync(Rfc8463.Message, resolver);

        Assert.NotEqual(DkimResult.Pass, results[0].Result);
        Assert.Equal(DkimResult.Pass, results[1].Result);
    }

    [Fact]
    public async Task An_expired_signature_is_a_permerror_and_one_not_yet_expired_is_verified()
    {
        // x= is checked before the key is fetched; the added tag breaks the RFC's signature, so a signature that is
        // not expired goes on to verification and fails there.
        var text = Encoding.ASCII.GetString(Rfc8463.Message).Replace("t=1528637909; h=from : to :\r\n subject", "t=1528637909; x=1528641509; h=from : to :\r\n subject");
        var message = Encoding.ASCII.GetBytes(text);
        var before = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1528641509));
        var after = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1528641510));

        var expired = (await VerifyAsync(message, Rfc8463.Keys(), after))[0];
        var current = (await VerifyAsync(message, Rfc8463.Keys(), before))[0];

        Assert.Equal(DkimResult.PermError, expired.Result);
        Assert.StartsWith("signature expired", expired.Reason, StringComparison.Ordinal);
        Assert.Equal((DkimResult.Fail, "signature did not verify"), (current.Result, current.Reason));
    }

    [Theory]
    [InlineData("v=DKIM1; k=rsa; p=", "key revoked (empty p=)")]
    [InlineData("v=DKIM1; k=ed25519; p={key}", "key type k=ed25519 does not fit a=rsa-sha256")]
    [InlineData("v=DKIM1; k=rsa; h=sha1; p={key}", "key record does not allow sha256 (h=sha1)")]
    [InlineData("v=DKIM1; k=rsa; s=other; p={key}", "key record is not for email")]
    [InlineData("v=DKIM2; k=rsa; p={key}", "key record version")]
    [InlineData("k=rsa; v=DKIM1; p={key}", "key record version")]
    [InlineData("v=DKIM1; k=rsa; p=AAAA", "the key record's p= is not an RSA public key")]
    [InlineData("v=DKIM1; k=rsa; p=!!!", "key record p= is not valid base64")]
    [InlineData("v=DKIM1; k=rsa", "key record has no p= tag")]
    [InlineData("v=DKIM1; k=rsa; k=rsa; p={key}", "appears more than once")]
    [InlineData("v=DKIM1; k=rsa; t=s; p={key}", "t=s")]
    public async Task An_unusable_key_record_is_a_permerror(string record, string reason)
    {
        // For t=s the identity must lie in a subdomain of d=. The key is judged before the signature, so the added
        // i= (which breaks the signature) does not hide the reason.
        var signed = record.Contains("t=s", StringComparison.Ordinal)
            ? Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(SignWithOurSigner(Message)).Replace($"d={Domain};", $"d={Domain}; i=joe@mail.{Domain};"))
            : SignWithOurSigner(Message);
        var key = Convert.ToBase64String(Rsa.ExportSubjectPublicKeyInfo());
        var resolver = new StaticKeyResolver().Add(Selector, Domain, record.Replace("{key}", key));

        var result = Assert.Single(await VerifyAsync(signed, resolver));

        Assert.Equal(DkimResult.PermError, result.Result);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_short_rsa_key_is_a_permerror()
    {
        using var weak = RSA.Create(512);
        // The signature is by the 2048-bit key; the key size is judged before the signature is.
        var signed = SignWithOurSigner(Message);
        var resolver = new StaticKeyResolver().Add(Selector, Domain, $"v=DKIM1; p={Convert.ToBase64String(weak.ExportSubjectPublicKeyInfo())}");

        var result = Assert.Single(await VerifyAsync(signed, resolver));

        Assert.Equal(DkimResult.PermError, result.Result);
        Assert.Contains("512 bits", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bare_pkcs1_public_key_is_accepted_and_t_y_is_reported()
    {
        var record = $"v=DKIM1; k=rsa; t=y; p={Convert.ToBase64String(Rsa.ExportRSAPublicKey())}";
        var resolver = new StaticKeyResolver().Add(Selector, Domain, record);

        var result = Assert.Single(await VerifyAsync(SignWithOurSigner(Message), resolver));

        Assert.Equal(DkimResult.Pass, result.Result);
        Assert.True(result.IsTesting);
    }

    [Fact]
    public async Task The_first_usable_key_record_of_several_is_taken()
    {
        var resolver = new StaticKeyResolver().Add(Selector, Domain, "google-site-verification=abc", RsaRecord);

        Assert.Equal(DkimResult.Pass, Assert.Single(await VerifyAsync(SignWithOurSigner(Message), resolver)).Result);
    }

    [Fact]
    public async Task A_missing_key_is_a_permerror_and_a_dns_failure_a_temperror()
    {
        var signed = SignWithOurSigner(Message);
        var tempfail = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(signed).Replace($"s={Selector};", "s=tempfail;"));

        var missing = Assert.Single(await VerifyAsync(signed, new StaticKeyResolver()));
        var temporary = Assert.Single(await VerifyAsync(tempfail, Keys()));

        Assert.Equal((DkimResult.PermError, $"no key record at {Selector}._domainkey.{Domain}"), (missing.Result, missing.Reason));
        Assert.Equal(DkimResult.TempError, temporary.Result);
        Assert.Equal("tempfail", temporary.Selector);
    }

    [Theory]
    [InlineData("", "empty tag")]
    [InlineData("garbage", "has no '='")]
    [InlineData("v=1; a=rsa-sha256; d=example.test; s=sel; h=From; bh=AAAA", "required tag b= is missing")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; d=example.test; s=sel; h=From", "required tag bh= is missing")]
    [InlineData("v=2; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From", "unsupported version")]
    [InlineData("v=1; a=rsa-md5; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From", "unsupported algorithm")]
    [InlineData("v=1; a=rsa-sha256; b=A!AA; bh=AAAA; d=example.test; s=sel; h=From", "b= is not valid base64")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAA; d=example.test; s=sel; h=From", "bh= is not valid base64")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=To", "does not include From")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From::To", "empty or invalid header name")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From; c=fancy", "unsupported canonicalization")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From; c=simple/relaxed/x", "unsupported canonicalization")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From; i=joe@evil.test", "is not in d=")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From; i=nobody", "is not in d=")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From; l=-1", "l=-1 is not a decimal number")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From; l=99999999999999999999", "is not a decimal number")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From; t=20; x=10", "x= is before t=")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From; q=dns/other", "unsupported query method")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=exa mple.test; s=sel; h=From", "is not a domain name")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example..test; s=sel; h=From", "is not a domain name")]
    [InlineData("v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=../x; h=From", "is not a valid selector")]
    [InlineData("v=1; v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From", "appears more than once")]
    [InlineData("v=1;; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From", "empty tag")]
    [InlineData("1v=1; a=rsa-sha256; b=AAAA; bh=AAAA; d=example.test; s=sel; h=From", "not a valid tag name")]
    [InlineData("v=1; a=rsa-sha256; b=AA\u0001AA; bh=AAAA; d=example.test; s=sel; h=From", "control character")]
    public async Task A_malformed_signature_is_a_permerror(string value, string reason)
    {
        byte[] message = [.. Encoding.Latin1.GetBytes($"DKIM-Signature: {value}\r\n"), .. Message];
        var resolver = Keys();

        var result = Assert.Single(await VerifyAsync(message, resolver));

        Assert.Equal(DkimResult.PermError, result.Result);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
        Assert.Equal(0, resolver.Lookups);
    }

    [Fact]
    public async Task A_malformed_signature_keeps_its_d_and_s_in_the_result()
    {
        byte[] message = [.. "DKIM-Signature: v=1; d=example.test; s=sel\r\n"u8, .. Message];

        var result = Assert.Single(await VerifyAsync(message, Keys()));

        Assert.Equal((DkimResult.PermError, Domain, Selector), (result.Result, result.Domain, result.Selector));
    }

    [Fact]
    public async Task Random_damage_to_the_signature_field_never_throws()
    {
        var signed = SignWithOurSigner(Message);
        var fieldLength = signed.Length - Message.Length;
        var random = new Random(13);
        var resolver = Keys();
        for (var round = 0; round < 300; round++)
        {
            var tampered = (byte[])signed.Clone();
            var changes = random.Next(1, 4);
            for (var c = 0; c < changes; c++)
            {
                // Skip the field name, so that the field stays a DKIM-Signature and is looked at.
                var at = random.Next("DKIM-Signature:".Length, fieldLength - 2);
                tampered[at] = (byte)random.Next(256);
            }
            if (tampered.AsSpan().SequenceEqual(signed))
            {
                continue;
            }
            var results = await VerifyAsync(tampered, resolver);
            Assert.All(results, r => Assert.False(string.IsNullOrEmpty(r.Reason)));
        }
    }

    [Fact]
    public async Task A_malformed_header_block_is_a_permerror_not_an_exception()
    {
        byte[] message = [.. "DKIM-Signature: v=1\r\nthis line is no header field\r\n"u8, .. Message];

        var result = Assert.Single(await VerifyAsync(message, Keys()));

        Assert.Equal(DkimResult.PermError, result.Result);
        Assert.StartsWith("malformed header block", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Signatures_beyond_the_cap_are_not_looked_up()
    {
        var message = Message;
        for (var i = 0; i < DkimVerifier.MaxSignatures + 2; i++)
        {
            message = SignWithOurSigner(message);
        }
        var resolver = Keys();

        var results = await VerifyAsync(message, resolver);

        Assert.Equal(DkimVerifier.MaxSignatures + 2, results.Count);
        Assert.Equal(DkimVerifier.MaxSignatures, resolver.Lookups);
        Assert.All(results.Take(DkimVerifier.MaxSignatures), r => Assert.Equal(DkimResult.Pass, r.Result));
        Assert.All(results.Skip(DkimVerifier.MaxSignatures), r => Assert.Equal(DkimResult.PermError, r.Result));
    }
}
