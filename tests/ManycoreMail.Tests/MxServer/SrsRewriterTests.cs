using System.Text.RegularExpressions;
using ManycoreMail.Roles.MxServer;

namespace ManycoreMail.Tests.MxServer;

public sealed class SrsRewriterTests
{
    private const string Secret = "0123456789abcdef-secret";
    private static readonly DateTimeOffset Day = new(2024, 1, 15, 10, 30, 0, TimeSpan.Zero);

    private static SrsRewriter Rewriter(params string[] secrets) =>
        new(secrets.Length == 0 ? [Secret] : secrets, "fwd.example", hashLength: 6, maxAge: TimeSpan.FromDays(21));

    [Fact]
    public void Forward_matches_the_specification_and_an_independent_hmac()
    {
        var srs = Rewriter().Forward("alice@Orig.Example", Day);

        // Day 19737 since the epoch, modulo 1024 = 281 = 8*32+25 -> "IZ". The hash is base64(HMAC-SHA1(secret,
        // "iz" + "orig.example" + "alice")) cut to 6 characters, as computed by Python's hmac module.
        Assert.Equal("SRS0=k3pblx=IZ=Orig.Example=alice@fwd.example", srs);
        Assert.Matches(new Regex("^SRS0=[A-Za-z0-9+/]{6}=[A-Z2-7]{2}=[^=@]+=[^@]+@fwd\\.example$"), srs);
    }

    [Fact]
    public void Reversing_gives_the_original_sender_even_after_case_folding()
    {
        var srs = Rewriter().Forward("Alice.Smith+tag@orig.example", Day);

        Assert.Equal(new SrsReversal(SrsReversalStatus.Valid, "Alice.Smith+tag@orig.example"), Rewriter().Reverse(srs, Day.AddDays(3)));
        var lowered = Rewriter().Reverse(srs.ToLowerInvariant(), Day);
        Assert.True(lowered.IsValid);
        Assert.Equal("alice.smith+tag@orig.example", lowered.Address);
        Assert.True(Rewriter().Reverse(srs.ToUpperInvariant(), Day).IsValid);
    }

    [Fact]
    public void The_null_sender_stays_null() => Assert.Equal("", Rewriter().Forward("", Day));

    [Fact]
    public void A_tampered_address_is_refused()
    {
        var srs = Rewriter().Forward("alice@orig.example", Day);

        Assert.Equal(SrsReversalStatus.BadHash, Rewriter().Reverse(srs.Replace("orig.example", "victim.example"), Day).Status);
        Assert.Equal(SrsReversalStatus.BadHash, Rewriter().Reverse(srs.Replace("=alice@", "=mallory@"), Day).Status);
        Assert.Equal(SrsReversalStatus.BadHash, Rewriter("another-secret-of-16+").Reverse(srs, Day).Status);
        var hash = srs.Split('=')[1];
        var forged = srs.Replace(hash, hash[..5] + (hash[5] == 'A' ? 'B' : 'A'));
        Assert.Equal(SrsReversalStatus.BadHash, Rewriter().Reverse(forged, Day).Status);
        Assert.Equal(SrsReversalStatus.Malformed, Rewriter().Reverse("SRS0=abc@fwd.example", Day).Status);
        Assert.Equal(SrsReversalStatus.NotSrs, Rewriter().Reverse(srs.Replace("@fwd.example", "@other.example"), Day).Status);
        Assert.Equal(SrsReversalStatus.NotSrs, Rewriter().Reverse("alice@fwd.example", Day).Status);
    }

    [Fact]
    public void An_address_is_honoured_for_the_maximum_age_only()
    {
        var srs = Rewriter().Forward("alice@orig.example", Day);

        Assert.True(Rewriter().Reverse(srs, Day.AddDays(21)).IsValid);
        Assert.Equal(SrsReversalStatus.Expired, Rewriter().Reverse(srs, Day.AddDays(22)).Status);
    }

    [Fact]
    public void The_day_number_wraps_every_1024_days()
    {
        // Day 1023 of a cycle, reversed two days later (day 1 of the next cycle).
        var lastDay = DateTimeOffset.FromUnixTimeSeconds(1023L * 86400 + 3600);
        var srs = Rewriter().Forward("alice@orig.example", lastDay);

        Assert.Contains("=77=", srs, StringComparison.Ordinal);
        Assert.True(Rewriter().Reverse(srs, lastDay.AddDays(2)).IsValid);
        Assert.Equal(SrsReversalStatus.Expired, Rewriter().Reverse(srs, lastDay.AddDays(30)).Status);
    }

    [Fact]
    public void A_retired_secret_still_verifies_but_no_longer_signs()
    {
        var old = Rewriter().Forward("alice@orig.example", Day);
        var rotated = Rewriter("the-new-secret-0123456", Secret);

        Assert.True(rotated.Reverse(old, Day).IsValid);
        Assert.NotEqual(old, rotated.Forward("alice@orig.example", Day));
        Assert.True(rotated.Reverse(rotated.Forward("alice@orig.example", Day), Day).IsValid);
    }

    [Fact]
    public void Another_forwarders_srs0_becomes_srs1_pointing_back_at_that_forwarder()
    {
        var theirs = new SrsRewriter(["their-secret-0123456789"], "first.example").Forward("alice@orig.example", Day);
        var ours = Rewriter().Forward(theirs, Day);

        var local = theirs[..theirs.IndexOf('@')];
        Assert.Matches(new Regex("^SRS1=[A-Za-z0-9+/]{6}=first\\.example=="), ours);
        Assert.EndsWith(local[4..] + "@fwd.example", ours, StringComparison.Ordinal);
        Assert.Equal(theirs, Rewriter().Reverse(ours, Day).Address);
        // SRS1 of an SRS1 keeps pointing at the first forwarder, without growing.
        var again = Rewriter().Forward(ours, Day);
        Assert.Equal(ours.Length, again.Length);
        Assert.Equal(theirs, Rewriter().Reverse(again, Day).Address);
    }
}
