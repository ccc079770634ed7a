using System.Text;

namespace ManycoreMail.EventStore.Tests;

public sealed class EventCursorTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(2_500L)]
    [InlineData(long.MaxValue)]
    public void A_cursor_names_the_id_it_was_made_from(long id) => Assert.Equal(id, EventCursor.Decode(EventCursor.Encode(id)));

    [Fact]
    public void A_cursor_is_url_safe_text() =>
        Assert.Matches("^[A-Za-z0-9_-]+$", EventCursor.Encode(long.MaxValue));

    [Fact]
    public void Every_single_character_change_is_refused()
    {
        var cursor = EventCursor.Encode(123_456);
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (var i = 0; i < cursor.Length; i++)
        {
            foreach (var c in alphabet)
            {
                if (c == cursor[i])
                {
                    continue;
                }

                var tampered = new StringBuilder(cursor) { [i] = c }.ToString();
                var error = Assert.Throws<ArgumentException>(() => EventCursor.Decode(tampered));
                Assert.Equal("after", error.ParamName);
            }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("123")]
    [InlineData("not a cursor")]
    [InlineData("AAAAAAAAAAAAAAAAAA")]
    [InlineData("AQAAAAAAAAB7====")]
    public void Made_up_cursors_are_refused(string cursor)
    {
        var error = Assert.Throws<ArgumentException>(() => EventCursor.Decode(cursor));

        Assert.Contains("\"next\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cut_or_lengthened_cursor_is_refused()
    {
        var cursor = EventCursor.Encode(99);

        Assert.Throws<ArgumentException>(() => EventCursor.Decode(cursor[..^1]));
        Assert.Throws<ArgumentException>(() => EventCursor.Decode(cursor + "A"));
        Assert.Throws<ArgumentException>(() => EventCursor.Decode(cursor + "="));
    }

    [Fact]
    public void A_negative_id_has_no_cursor() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => EventCursor.Encode(-1));
}
