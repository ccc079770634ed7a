using System.Text;

namespace ManycoreMail.EventStore.Tests;

public sealed class StoredEventInputTests
{
    [Fact]
    public void Reads_the_indexed_members_of_the_projects_events()
    {
        var input = TempStore.Event("""{"event":"bounce","uuid":"u-1","timestamp":1700000000,"ip":null,"type":"hard","reason":"550","email":"Alice@Example.COM","class":"userunknown"}""");

        Assert.Equal("bounce", input.Event);
        Assert.Equal("u-1", input.Uuid);
        Assert.Equal("alice@example.com", input.Email);
        Assert.Equal(1700000000, input.Timestamp);
    }

    [Fact]
    public void An_error_event_without_email_and_a_null_uuid_is_kept_with_null_columns()
    {
        // MailEvent.Error writes msg and stack-trace first and a null uuid when the message had none.
        var input = TempStore.Event("""{"event":"error","msg":"x","stack-trace":"","service":"transformer","uuid":null,"timestamp":5}""");

        Assert.Equal("error", input.Event);
        Assert.Null(input.Uuid);
        Assert.Null(input.Email);
        Assert.Equal(5, input.Timestamp);
    }

    [Fact]
    public void Members_of_nested_values_are_not_taken_for_the_events_own()
    {
        var input = TempStore.Event("""{"meta":{"event":"open","email":"x@y","timestamp":1},"list":[{"uuid":"no"}],"event":"click","timestamp":7,"uuid":"yes"}""");

        Assert.Equal("click", input.Event);
        Assert.Equal("yes", input.Uuid);
        Assert.Null(input.Email);
        Assert.Equal(7, input.Timestamp);
    }

    [Fact]
    public void Escaped_member_names_and_values_are_read_as_their_text()
    {
        var input = TempStore.Event("""{"\u0065vent":"deferred","uuid":"a\/b","timestamp":3}""");

        Assert.Equal("deferred", input.Event);
        Assert.Equal("a/b", input.Uuid);
    }

    [Fact]
    public void A_fractional_timestamp_is_kept_to_its_second()
    {
        Assert.Equal(1700000000, TempStore.Event("""{"event":"open","timestamp":1700000000.75}""").Timestamp);
        Assert.Equal(-2, TempStore.Event("""{"event":"open","timestamp":-1.5}""").Timestamp);
    }

    [Fact]
    public void The_bytes_are_kept_as_given()
    {
        var bytes = Encoding.UTF8.GetBytes(" {\"timestamp\" : 1 , \"event\":\"open\"}\n");

        Assert.True(StoredEventInput.FromJson(bytes).Json.Span.SequenceEqual(bytes));
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("[]", "not a JSON object")]
    [InlineData("\"event\"", "not a JSON object")]
    [InlineData("{\"event\":\"open\"", "not valid JSON")]
    [InlineData("{\"event\":\"open\",\"timestamp\":1} {}", "not valid JSON")]
    [InlineData("{\"timestamp\":1}", "no \"event\"")]
    [InlineData("{\"event\":\"open\"}", "no \"timestamp\"")]
    [InlineData("{\"event\":null,\"timestamp\":1}", "\"event\" is null")]
    [InlineData("{\"event\":1,\"timestamp\":1}", "\"event\" is a Number")]
    [InlineData("{\"event\":\"open\",\"timestamp\":\"1\"}", "\"timestamp\" is a String")]
    [InlineData("{\"event\":\"open\",\"timestamp\":1e300}", "out of range")]
    [InlineData("{\"event\":\"open\",\"timestamp\":1,\"uuid\":{}}", "\"uuid\" is a StartObject")]
    [InlineData("{\"event\":\"open\",\"timestamp\":1,\"email\":[]}", "\"email\" is a StartArray")]
    [InlineData("{\"event\":\"open\",\"timestamp\":1,\"id\":4}", "\"id\" member")]
    public void What_is_not_an_event_object_is_refused_saying_why(string json, string expected)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => StoredEventInput.FromJson(Encoding.UTF8.GetBytes(json)));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Equal("json", error.ParamName);
    }
}
