using System.Buffers.Text;
using System.Text;
using System.Text.RegularExpressions;

namespace ManycoreMail.Tracking.Tests;

public sealed partial class TrackingTokenCodecTests
{
    private const string Uuid = "0f3a9c2b7d4e4c1e8a6b5d2c1f0e9a8b";
    private readonly TrackingTokenCodec _codec = TestKeys.Codec(TestKeys.Current, TestKeys.Previous);

    public static TheoryData<string> Recipients => new()
    {
        "user@example.com",
        "Jürgen.Müller@bücher.example",
        "用户@例子.广告",
        "пользователь@пример.рф",
        "\"quoted local\"@example.com",
        "😀+tag@example.com",
    };

    public static TheoryData<string> Urls => new()
    {
        "https://example.com/",
        "https://example.com/path?a=1&b=2&c=%20x%2F%3f#frag",
        "http://example.com/a%2Fb?q=caf%C3%A9&q=café&empty=&=&&#",
        "https://example.com/?next=https%3A%2F%2Fother.example%2F%3Fx%3D1%26y%3D2",
        "https://EXAMPLE.com:8443/Caps/../dots/./%7Euser?Q=%7e#%23hash",
        "https://例子.广告/路径?查询=值#片段",
        "https://example.com/with space and \"quotes\" and <angles>",
        "https://example.com/?a=1&amp;b=2",
        "https://example.com/trailing%",
        "mailto-looking:but not a mailto@example.com",
        "x",
    };

    [Theory]
    [MemberData(nameof(Recipients))]
    public void Every_kind_round_trips(string recipient)
    {
        foreach (var token in new[]
                 {
                     TrackingToken.Open(Uuid, recipient),
                     TrackingToken.Click(Uuid, recipient, "https://example.com/?x=1#y"),
                     TrackingToken.Unsubscribe(Uuid, recipient),
                 })
        {
            var signed = _codec.Sign(token);
            Assert.True(_codec.TryVerify(signed, out var back));
            Assert.Equal(token, back);
            // Deterministic, so a retried message carries the same URLs.
            Assert.Equal(signed, _codec.Sign(back));
            Assert.Equal(token.Kind, back.Kind);
            Assert.Equal(recipient, back.Recipient);
        }
    }

    [Theory]
    [MemberData(nameof(Urls))]
    public void A_click_url_comes_back_exactly(string url)
    {
        var signed = _codec.Sign(TrackingToken.Click(Uuid, "user@example.com", url));
        Assert.True(_codec.TryVerify(signed, out var back));
        Assert.Equal(TrackingKind.Click, back.Kind);
        Assert.Equal(Encoding.UTF8.GetBytes(url), Encoding.UTF8.GetBytes(back.Url!));
    }

    [Fact]
    public void Tokens_are_url_safe_without_padding()
    {
        foreach (var recipient in Recipients)
        {
            foreach (var url in Urls)
            {
                Assert.Matches(UrlSafe(), _codec.Sign(TrackingToken.Click(Uuid, recipient, url)));
            }
            Assert.Matches(UrlSafe(), _codec.Sign(TrackingToken.Open(Uuid, recipient)));
        }
    }

    [Fact]
    public void A_long_url_round_trips_up_to_the_length_cap_and_no_further()
    {
        var longest = 0;
        for (var length = 2500; length <= 3200; length++)
        {
            var url = "https://example.com/?q=" + new string('x', length - 23);
            var token = TrackingToken.Click(Uuid, "user@example.com", url);
            if (!_codec.TrySign(token, out var signed))
            {
                Assert.Throws<ArgumentException>(() => _codec.Sign(token));
                break;
            }
            Assert.True(signed.Length <= TrackingTokenCodec.MaxTokenLength);
            Assert.True(_codec.TryVerify(signed, out var back));
            Assert.Equal(url, back.Url);
            longest = length;
        }
        // The cap is 4096 characters, 3072 bytes: the longest URL is what is left after the other fields.
        var overhead = 10 + 1 + Uuid.Length + 2 + "user@example.com".Length + 2 + 1 + 1 + 16;
        Assert.Equal(3072 - overhead, longest);
    }

    [Fact]
    public void A_recipient_too_long_for_a_token_is_refused_when_signing()
    {
        var token = TrackingToken.Open(Uuid, new string('ü', 2000) + "@example.com");
        Assert.False(_codec.TrySign(token, out var signed));
        Assert.Null(signed);
        Assert.Throws<ArgumentException>(() => _codec.Sign(token));
    }

    [Fact]
    public void A_token_signed_with_the_previous_key_verifies_after_rotation()
    {
        var before = TestKeys.Codec(TestKeys.Previous);
        var token = TrackingToken.Click(Uuid, "user@example.com", "https://example.com/");
        var old = before.Sign(token);

        var after = TestKeys.Codec(TestKeys.Current, TestKeys.Previous);
        Assert.True(after.TryVerify(old, out var back));
        Assert.Equal(token, back);

        // The new first key signs: a codec without it cannot read what is signed now.
        var fresh = after.Sign(token);
        Assert.NotEqual(old, fresh);
        Assert.False(before.TryVerify(fresh, out _));
        Assert.True(TestKeys.Codec(TestKeys.Current).TryVerify(fresh, out _));
    }

    [Fact]
    public void A_token_signed_with_a_removed_key_does_not_verify()
    {
        var token = TrackingToken.Open(Uuid, "user@example.com");
        var signed = TestKeys.Codec(TestKeys.Removed, TestKeys.Current).Sign(token);
        Assert.True(TestKeys.Codec(TestKeys.Current, TestKeys.Removed).TryVerify(signed, out _));
        Assert.False(TestKeys.Codec(TestKeys.Current, TestKeys.Previous).TryVerify(signed, out var back));
        Assert.Null(back);
    }

    [Fact]
    public void The_documented_layout_is_the_real_one()
    {
        // Built by hand from the comment on TrackingTokenCodec: if the code and the comment part, this fails.
        var byHand = TestKeys.Sign(TestKeys.Current, 2, 2,
            [.. TestKeys.Body(Uuid, TestKeys.Utf8("Jürgen@example.com"), TestKeys.Utf8("https://example.com/?a=b")), .. TestKeys.Tenancy(null, null)]);
        Assert.Equal(byHand, _codec.Sign(TrackingToken.Click(Uuid, "Jürgen@example.com", "https://example.com/?a=b")));

        var open = TestKeys.Sign(TestKeys.Previous, 2, 1,
            [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), .. TestKeys.Tenancy("acme", "Frühling")], issuedAt: 1_800_000_000);
        Assert.True(_codec.TryVerify(open, out var back));
        Assert.Equal(TrackingToken.Open("abc", "a@example.com")
            with { IssuedAt = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000), Tenant = "acme", Campaign = "Frühling" }, back);

        var unsubscribe = TestKeys.Sign(TestKeys.Current, 2, 3,
            [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com"), TestKeys.Utf8("sender:news@example.com")), .. TestKeys.Tenancy(null, "s1")]);
        Assert.Equal(unsubscribe,
            _codec.Sign(TrackingToken.Unsubscribe("abc", "a@example.com", "sender:news@example.com") with { Campaign = "s1" }));
    }

    // Signed by the codec before tokens carried a tenant and a campaign (version 1, key TestKeys.Current, issued
    // 2026-12-06T20:00:00Z): mail already sent carries tokens like these, and they must keep working.
    public static TheoryData<string, TrackingKind, string?, string?> VersionOneTokens => new()
    {
        { VersionOneOpen, TrackingKind.Open, null, null },
        { VersionOneClick, TrackingKind.Click, "https://example.com/?a=1", null },
        { VersionOneUnsubscribe, TrackingKind.Unsubscribe, null, "tenant:acme" },
    };

    [Theory]
    [MemberData(nameof(VersionOneTokens))]
    public void A_version_one_token_still_verifies_without_tenant_or_campaign(string signed, TrackingKind kind, string? url, string? scope)
    {
        Assert.True(_codec.TryVerify(signed, out var back));
        Assert.Equal(kind, back.Kind);
        Assert.Equal(Uuid, back.MessageUuid);
        Assert.Equal("Jürgen@example.com", back.Recipient);
        Assert.Equal(url, back.Url);
        Assert.Equal(scope, back.Scope);
        Assert.Equal(new DateTimeOffset(2026, 12, 6, 20, 0, 0, TimeSpan.Zero), back.IssuedAt);
        Assert.Null(back.Tenant);
        Assert.Null(back.Campaign);
        // Signed again, it becomes a version 2 token of the same meaning.
        Assert.NotEqual(signed, _codec.Sign(back));
        Assert.True(_codec.TryVerify(_codec.Sign(back), out var again));
        Assert.Equal(back, again);
    }

    [Fact]
    public void A_version_one_token_built_from_the_old_layout_verifies()
    {
        var byHand = TestKeys.Sign(TestKeys.Current, 1, 2,
            TestKeys.Body(Uuid, TestKeys.Utf8("Jürgen@example.com"), TestKeys.Utf8("https://example.com/?a=1")), issuedAt: 1_796_587_200);
        Assert.Equal(VersionOneClick, byHand);
    }

    public static TheoryData<string?, string?> Tenancies => new()
    {
        { null, null },
        { "acme", null },
        { null, "spring-sale" },
        { "Acme.Corp_2-eu", "Frühling 😀 用户" },
        { new string('t', 64), new string('é', 127) + "c" },
    };

    [Theory]
    [MemberData(nameof(Tenancies))]
    public void Tenant_and_campaign_round_trip_for_every_kind(string? tenant, string? campaign)
    {
        foreach (var token in new[]
                 {
                     TrackingToken.Open(Uuid, "Jürgen@example.com"),
                     TrackingToken.Click(Uuid, "Jürgen@example.com", "https://example.com/?x=1#y"),
                     TrackingToken.Unsubscribe(Uuid, "Jürgen@example.com", "domain:example.com"),
                 })
        {
            var carrying = token with { Tenant = tenant, Campaign = campaign };
            var signed = _codec.Sign(carrying);
            Assert.True(_codec.TryVerify(signed, out var back));
            Assert.Equal(carrying, back);
            Assert.Equal(tenant, back.Tenant);
            Assert.Equal(campaign, back.Campaign);
            Assert.Equal(token.Url, back.Url);
            Assert.Equal(token.Scope, back.Scope);
            Assert.Equal(signed, _codec.Sign(back));
            Assert.True(signed.Length <= TrackingTokenCodec.MaxTokenLength);
        }
    }

    [Fact]
    public void The_tenant_and_the_campaign_are_signed()
    {
        var token = TrackingToken.Open(Uuid, "a@example.com") with { Tenant = "acme", Campaign = "c1" };
        var bytes = Base64Url.DecodeFromChars(_codec.Sign(token));
        // Move the tenant's first character: a token cannot be moved to another tenant.
        var tenantAt = bytes.Length - 16 - 2 - 1 - 4;
        Assert.Equal((byte)'a', bytes[tenantAt]);
        bytes[tenantAt] = (byte)'b';
        Assert.False(_codec.TryVerify(Base64Url.EncodeToString(bytes), out _));
        // Nor can a version 2 token pass as version 1 with its tenancy bytes dropped.
        var asVersionOne = Base64Url.DecodeFromChars(_codec.Sign(token));
        asVersionOne[0] = 1;
        Assert.False(_codec.TryVerify(Base64Url.EncodeToString([.. asVersionOne[..^(16 + 1 + 4 + 1 + 2)], .. asVersionOne[^16..]]), out _));
    }

    [Fact]
    public void The_time_and_the_scope_are_signed_and_come_back()
    {
        var issued = new DateTimeOffset(2026, 12, 6, 4, 30, 15, 600, TimeSpan.Zero);
        var token = TrackingToken.Unsubscribe(Uuid, "a@example.com", "tenant:acme") with { IssuedAt = issued };
        Assert.True(_codec.TryVerify(_codec.Sign(token), out var back));
        Assert.Equal("tenant:acme", back.Scope);
        // Whole seconds: the fraction is dropped when the token is made, so what is signed is what comes back.
        Assert.Equal(issued.AddMilliseconds(-600), back.IssuedAt);
        Assert.Equal(token, back);
        Assert.Null(TrackingToken.Click(Uuid, "a@example.com", "https://x.example/").Scope);
        Assert.Equal("global", TrackingToken.Unsubscribe(Uuid, "a@example.com").Scope);
    }

    [Fact]
    public void A_time_outside_four_bytes_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            TrackingToken.Open(Uuid, "a@example.com") with { IssuedAt = DateTimeOffset.FromUnixTimeSeconds(-1) });
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            TrackingToken.Open(Uuid, "a@example.com") with { IssuedAt = DateTimeOffset.FromUnixTimeSeconds((long)uint.MaxValue + 1) });
    }

    public static TheoryData<string, byte, byte, byte[]> AuthenticButMalformed => new()
    {
        { "version 0", 0, 1, TestKeys.Body("abc", TestKeys.Utf8("a@example.com")) },
        { "version 2 without tenant and campaign", 2, 1, TestKeys.Body("abc", TestKeys.Utf8("a@example.com")) },
        { "version 2 without campaign", 2, 1, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), 0] },
        { "version 3", 3, 1, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), .. TestKeys.Tenancy(null, null)] },
        { "version 1 with tenant and campaign", 1, 1, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), .. TestKeys.Tenancy("acme", "c")] },
        { "tenant with a space", 2, 1, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), .. TestKeys.Tenancy("ac me", null)] },
        { "tenant with a colon", 2, 3, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com"), TestKeys.Utf8("global")), .. TestKeys.Tenancy("a:b", null)] },
        { "tenant of 65 characters", 2, 1, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), .. TestKeys.Tenancy(new string('t', 65), null)] },
        { "tenant longer than the rest", 2, 1, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), 9, (byte)'a', 0] },
        { "malformed UTF-8 campaign", 2, 1, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), 0, 2, 0xC3, 0x28] },
        { "UTF-8 surrogate in campaign", 2, 1, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), 0, 3, 0xED, 0xA0, 0x80] },
        { "campaign longer than the rest", 2, 2, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com"), TestKeys.Utf8("https://x/")), 0, 5, (byte)'c'] },
        { "a byte after the campaign", 2, 1, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), .. TestKeys.Tenancy("acme", "c"), 0] },
        { "kind 0", 1, 0, TestKeys.Body("abc", TestKeys.Utf8("a@example.com")) },
        { "kind 4", 1, 4, TestKeys.Body("abc", TestKeys.Utf8("a@example.com")) },
        { "upper-case uuid", 1, 1, TestKeys.Body("ABC", TestKeys.Utf8("a@example.com")) },
        { "empty uuid", 1, 1, TestKeys.Body("", TestKeys.Utf8("a@example.com"), TestKeys.Utf8("padding")) },
        { "uuid longer than the rest", 1, 1, [200, (byte)'a', (byte)'b', 0, 1, (byte)'x'] },
        { "empty recipient", 1, 3, TestKeys.Body("abc", [], TestKeys.Utf8("padding")) },
        { "recipient longer than the rest", 1, 3, [3, (byte)'a', (byte)'b', (byte)'c', 0, 9, (byte)'x'] },
        { "malformed UTF-8 recipient", 1, 1, TestKeys.Body("abc", [(byte)'a', 0xC3, 0x28, (byte)'@', (byte)'x']) },
        { "overlong UTF-8 recipient", 1, 1, TestKeys.Body("abc", [0xC0, 0xAF, (byte)'@', (byte)'x']) },
        { "UTF-8 surrogate in recipient", 1, 1, TestKeys.Body("abc", [0xED, 0xA0, 0x80, (byte)'@', (byte)'x']) },
        { "malformed UTF-8 url", 1, 2, TestKeys.Body("abc", TestKeys.Utf8("a@example.com"), [(byte)'h', 0xFF]) },
        { "click without url", 1, 2, TestKeys.Body("abc", TestKeys.Utf8("a@example.com")) },
        { "click with empty url", 1, 2, TestKeys.Body("abc", TestKeys.Utf8("a@example.com"), []) },
        { "open with a url", 1, 1, TestKeys.Body("abc", TestKeys.Utf8("a@example.com"), TestKeys.Utf8("https://x/")) },
        { "unsubscribe without a scope", 1, 3, TestKeys.Body("abc", TestKeys.Utf8("a@example.com")) },
        { "unsubscribe with an empty scope", 1, 3, TestKeys.Body("abc", TestKeys.Utf8("a@example.com"), []) },
        { "a byte after the scope", 1, 3, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com"), TestKeys.Utf8("global")), 0] },
        { "a byte after the url", 1, 2, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com"), TestKeys.Utf8("https://x/")), 0] },
        { "half a length field", 1, 2, [.. TestKeys.Body("abc", TestKeys.Utf8("a@example.com")), 0] },
    };

    [Theory]
    [MemberData(nameof(AuthenticButMalformed))]
    public void An_authentic_but_malformed_token_does_not_verify(string what, byte version, byte kind, byte[] body)
    {
        var signed = TestKeys.Sign(TestKeys.Current, version, kind, body);
        Assert.False(_codec.TryVerify(signed, out var back), what);
        Assert.Null(back);
    }

    [Fact]
    public void An_unknown_key_id_does_not_verify_even_with_a_good_tag()
    {
        // Tagged with a configured secret but naming another id: the id picks the key, so this must fail.
        var signed = TestKeys.Sign(TestKeys.Current, 1, 1, TestKeys.Body("abc", TestKeys.Utf8("a@example.com")),
            keyId: TestKeys.KeyId(TestKeys.Removed));
        Assert.False(_codec.TryVerify(signed, out _));
        // Naming the other configured key while tagged with this one fails too.
        var crossed = TestKeys.Sign(TestKeys.Current, 1, 1, TestKeys.Body("abc", TestKeys.Utf8("a@example.com")),
            keyId: TestKeys.KeyId(TestKeys.Previous));
        Assert.False(_codec.TryVerify(crossed, out _));
    }

    [Fact]
    public void Every_single_byte_change_fails()
    {
        foreach (var token in SampleTokens())
        {
            var bytes = Base64Url.DecodeFromChars(_codec.Sign(token));
            for (var i = 0; i < bytes.Length; i++)
            {
                var original = bytes[i];
                for (var delta = 1; delta < 256; delta++)
                {
                    bytes[i] = (byte)(original ^ delta);
                    Assert.False(_codec.TryVerify(Base64Url.EncodeToString(bytes), out _), $"byte {i} xor {delta}");
                }
                bytes[i] = original;
            }
            Assert.True(_codec.TryVerify(Base64Url.EncodeToString(bytes), out _));
        }
    }

    [Fact]
    public void Every_single_character_change_fails()
    {
        // Characters too, since several strings can decode to the same bytes (unused low bits, white space).
        const string Replacements = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \t\r\n.%é\0";
        foreach (var token in SampleTokens())
        {
            var signed = _codec.Sign(token);
            var chars = signed.ToCharArray();
            for (var i = 0; i < chars.Length; i++)
            {
                foreach (var replacement in Replacements)
                {
                    if (replacement == signed[i])
                    {
                        continue;
                    }
                    chars[i] = replacement;
                    Assert.False(_codec.TryVerify(new string(chars), out _), $"character {i} as U+{(int)replacement:X4}");
                }
                chars[i] = signed[i];
            }
        }
    }

    [Fact]
    public void Every_truncation_and_every_insertion_fails()
    {
        foreach (var token in SampleTokens())
        {
            var signed = _codec.Sign(token);
            for (var length = 0; length < signed.Length; length++)
            {
                Assert.False(_codec.TryVerify(signed[..length], out _), $"first {length}");
                Assert.False(_codec.TryVerify(signed[(signed.Length - length)..], out _), $"last {length}");
            }
            for (var at = 0; at <= signed.Length; at++)
            {
                foreach (var inserted in new[] { " ", "\n", "=", "A", "==" })
                {
                    Assert.False(_codec.TryVerify(signed.Insert(at, inserted), out _), $"'{inserted}' at {at}");
                }
            }
            Assert.False(_codec.TryVerify(signed + "=", out _));
            Assert.False(_codec.TryVerify(signed + signed, out _));
        }
    }

    [Fact]
    public void Random_garbage_never_throws_and_never_verifies()
    {
        var random = new Random(12);
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        var keyId = TestKeys.KeyId(TestKeys.Current);
        for (var round = 0; round < 10_000; round++)
        {
            var length = random.Next(0, round % 100 == 0 ? 6000 : 200);
            string candidate;
            switch (round % 4)
            {
                case 0:
                    // Any UTF-16, lone surrogates included.
                    candidate = new string(Enumerable.Range(0, length).Select(_ => (char)random.Next(0, 0x10000)).ToArray());
                    break;
                case 1:
                    candidate = new string(Enumerable.Range(0, length).Select(_ => Alphabet[random.Next(Alphabet.Length)]).ToArray());
                    break;
                default:
                    // Well-formed base64url of random bytes that pass the version and key id checks, so the tag is checked.
                    var bytes = new byte[length];
                    random.NextBytes(bytes);
                    if (bytes.Length >= 6)
                    {
                        bytes[0] = TrackingTokenCodec.Version;
                        keyId.CopyTo(bytes, 2);
                    }
                    candidate = Base64Url.EncodeToString(bytes);
                    break;
            }
            Assert.False(_codec.TryVerify(candidate, out var back), $"round {round}");
            Assert.Null(back);
        }
    }

    [Fact]
    public void An_over_long_or_missing_token_is_refused()
    {
        Assert.False(_codec.TryVerify(new string('A', TrackingTokenCodec.MaxTokenLength + 1), out _));
        Assert.False(_codec.TryVerify(new string('A', 1_000_000), out _));
        Assert.False(_codec.TryVerify((string?)null, out _));
        Assert.False(_codec.TryVerify(string.Empty, out _));
    }

    [Fact]
    public void A_token_of_one_kind_does_not_verify_as_another()
    {
        var open = Base64Url.DecodeFromChars(_codec.Sign(TrackingToken.Open(Uuid, "user@example.com")));
        open[1] = (byte)TrackingKind.Unsubscribe;
        Assert.False(_codec.TryVerify(Base64Url.EncodeToString(open), out _));

        // An open token whose kind byte says click, with a URL field appended: the tag still covers the kind.
        var asClick = Base64Url.DecodeFromChars(_codec.Sign(TrackingToken.Open(Uuid, "user@example.com")));
        asClick[1] = (byte)TrackingKind.Click;
        var withUrl = asClick[..^16].Concat(new byte[] { 0, 1, (byte)'x' }).Concat(asClick[^16..]).ToArray();
        Assert.False(_codec.TryVerify(Base64Url.EncodeToString(withUrl), out _));
    }

    [Fact]
    public void Verifying_a_span_is_the_same_as_a_string()
    {
        var signed = _codec.Sign(TrackingToken.Unsubscribe(Uuid, "user@example.com"));
        var path = "/u/" + signed + "?x";
        Assert.True(_codec.TryVerify(path.AsSpan(3, signed.Length), out var back));
        Assert.Equal(TrackingKind.Unsubscribe, back.Kind);
        Assert.False(_codec.TryVerify(path.AsSpan(3), out _));
    }

    [Fact]
    public void Signing_allocates_nothing_but_the_token_string()
    {
        // One payload built on the stack, one (a long click URL) in a pooled array.
        foreach (var token in new[]
                 {
                     TrackingToken.Open(Uuid, "Jürgen@example.com"),
                     TrackingToken.Click(Uuid, "Jürgen@example.com", "https://example.com/?q=" + new string('x', 1500)),
                 })
        {
            var length = _codec.Sign(token).Length; // warms the pool and the JIT
            var before = GC.GetAllocatedBytesForCurrentThread();
            _codec.Sign(token);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            // A string is a 20-byte header plus two bytes a character and a terminator, rounded up to 8.
            Assert.InRange(allocated, 1, 22 + (2 * length) + 8);
        }
    }

    private static IEnumerable<TrackingToken> SampleTokens() =>
    [
        TrackingToken.Open("abc123", "Jürgen@example.com"),
        TrackingToken.Click("abc123", "用户@例子.广告", "https://example.com/?a=1&b=%20#x"),
        TrackingToken.Unsubscribe("z", "a@b"),
        TrackingToken.Click("abc123", "a@b", "https://x/") with { Tenant = "acme", Campaign = "Frühling" },
    ];

    private const string VersionOneOpen = "AQEDc7VVaxW-wCAwZjNhOWMyYjdkNGU0YzFlOGE2YjVkMmMxZjBlOWE4YgATSsO8cmdlbkBleGFtcGxlLmNvbbcEJnhCD02rkWf708lOGvs";
    private const string VersionOneClick = "AQIDc7VVaxW-wCAwZjNhOWMyYjdkNGU0YzFlOGE2YjVkMmMxZjBlOWE4YgATSsO8cmdlbkBleGFtcGxlLmNvbQAYaHR0cHM6Ly9leGFtcGxlLmNvbS8_YT0xg7RdrtA1pQrnFFgjX6e1QA";
    private const string VersionOneUnsubscribe = "AQMDc7VVaxW-wCAwZjNhOWMyYjdkNGU0YzFlOGE2YjVkMmMxZjBlOWE4YgATSsO8cmdlbkBleGFtcGxlLmNvbQALdGVuYW50OmFjbWU1wZ7uOdSZ-GdwPtJzlur0";

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex UrlSafe();
}
