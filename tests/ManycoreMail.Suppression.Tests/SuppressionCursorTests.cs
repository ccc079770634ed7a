namespace ManycoreMail.Suppression.Tests;

/// <summary>The opaque list cursor every store shares.</summary>
public sealed class SuppressionCursorTests
{
    [Theory]
    [InlineData("a@example.com", SuppressionScope.Global, "")]
    [InlineData("jörg@bücher.example", SuppressionScope.Tenant, "Kunde Ä/1")]
    [InlineData("x@example.com", SuppressionScope.Sender, "news@shop.example")]
    public void A_key_round_trips(string email, SuppressionScope scope, string value)
    {
        var key = new SuppressionKey(email, scope, value);

        var cursor = SuppressionCursor.Encode(key);

        Assert.Equal(key, SuppressionCursor.Decode(cursor));
        Assert.DoesNotContain(email, cursor, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_single_character_edit_is_refused()
    {
        var cursor = SuppressionCursor.Encode(new SuppressionKey("a@example.com", SuppressionScope.Domain, "shop.example"));

        for (var i = 0; i < cursor.Length; i++)
        {
            var edited = cursor[..i] + (cursor[i] == 'x' ? 'y' : 'x') + cursor[(i + 1)..];
            Assert.Throws<ArgumentException>(() => SuppressionCursor.Decode(edited));
        }

        Assert.Throws<ArgumentException>(() => SuppressionCursor.Decode(cursor[..^1]));
        Assert.Throws<ArgumentException>(() => SuppressionCursor.Decode(cursor + "A"));
        Assert.Throws<ArgumentException>(() => SuppressionCursor.Decode(cursor + "=="));
    }
}
