using System.Text.Json;
using ManycoreMail.EventStore;

namespace ManycoreMail.Events;

/// <summary>The API's page: <c>{"events":[...],"next":...}</c>, each event's stored bytes written as they are.</summary>
internal static class EventPageJson
{
    public static byte[] Render(EventPage page)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("events");
            foreach (var stored in page.Events)
            {
                // The stored object verbatim (it was checked to be one JSON object when appended).
                writer.WriteRawValue(stored.ToJsonWithId(), skipInputValidation: true);
            }
            writer.WriteEndArray();
            if (page.Next is { } next)
            {
                writer.WriteString("next", next);
            }
            else
            {
                writer.WriteNull("next");
            }
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
