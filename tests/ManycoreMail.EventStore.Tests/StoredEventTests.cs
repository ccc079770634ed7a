using System.Text;
using System.Text.Json;

namespace ManycoreMail.EventStore.Tests;

public sealed class StoredEventTests
{
    [Fact]
    public void The_id_goes_in_as_the_first_member_and_the_rest_is_the_original_bytes()
    {
        const string original = """{"event":"delivered","uuid":"u","timestamp":1,"ip":"192.0.2.1","email":"a\u00e9@b"}""";

        var text = Encoding.UTF8.GetString(new StoredEvent(42, Encoding.UTF8.GetBytes(original)).ToJsonWithId());

        Assert.Equal("""{"id":42,"event":"delivered","uuid":"u","timestamp":1,"ip":"192.0.2.1","email":"a\u00e9@b"}""", text);
        using var parsed = JsonDocument.Parse(text);
        Assert.Equal(42, parsed.RootElement.GetProperty("id").GetInt64());
    }

    [Theory]
    [InlineData("{}", "{\"id\":7}")]
    [InlineData(" { \n } ", " {\"id\":7 \n } ")]
    [InlineData(" {\"event\":\"x\"}\n", " {\"id\":7,\"event\":\"x\"}\n")]
    public void Whitespace_and_an_empty_object_still_give_valid_json(string original, string expected)
    {
        var text = Encoding.UTF8.GetString(new StoredEvent(7, Encoding.UTF8.GetBytes(original)).ToJsonWithId());

        Assert.Equal(expected, text);
        using var parsed = JsonDocument.Parse(text);
    }

    [Fact]
    public void The_cursor_of_an_event_continues_after_it() => Assert.Equal(9, EventCursor.Decode(new StoredEvent(9, "{}"u8.ToArray()).Cursor));
}
