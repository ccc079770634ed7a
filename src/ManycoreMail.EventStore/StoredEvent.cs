using System.Globalization;
using System.Text;

namespace ManycoreMail.EventStore;

/// <summary>An event as stored: its id and the exact bytes of the JSON object the webhook was (or will be) given.</summary>
public sealed class StoredEvent(long id, ReadOnlyMemory<byte> json)
{
    public long Id { get; } = id;

    /// <summary>The JSON object exactly as appended, byte for byte.</summary>
    public ReadOnlyMemory<byte> Json { get; } = json;

    /// <summary>The cursor that continues a query after this event.</summary>
    public string Cursor => EventCursor.Encode(Id);

    /// <summary>
    /// The event as the API shows it: the original object with <c>"id":N</c> as its first member. The original bytes
    /// are copied around the insertion, never re-serialised, so field order, escapes and numbers stay as they were.
    /// </summary>
    public byte[] ToJsonWithId()
    {
        var span = Json.Span;
        var open = span.IndexOf((byte)'{');
        if (open < 0)
        {
            // StoredEventInput admits only objects; a row without one was not written by this library.
            throw new InvalidOperationException($"Event {Id} is not a JSON object.");
        }

        var rest = span[(open + 1)..];
        var empty = rest.TrimStart(" \t\r\n"u8).StartsWith("}"u8);
        var member = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"\"id\":{Id}{(empty ? "" : ",")}"));
        var result = new byte[open + 1 + member.Length + rest.Length];
        span[..(open + 1)].CopyTo(result);
        member.CopyTo(result.AsSpan(open + 1));
        rest.CopyTo(result.AsSpan(open + 1 + member.Length));
        return result;
    }
}

/// <summary>One page of a query's answer, oldest first.</summary>
public sealed class EventPage(IReadOnlyList<StoredEvent> events, string? next)
{
    public IReadOnlyList<StoredEvent> Events { get; } = events;

    /// <summary>The cursor for the next page (<see cref="EventQuery.After"/>), or null when this page is the last.</summary>
    public string? Next { get; } = next;
}
