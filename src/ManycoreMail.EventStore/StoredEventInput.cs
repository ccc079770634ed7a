using System.Text.Json;

namespace ManycoreMail.EventStore;

/// <summary>
/// An event to append: the webhook's JSON object as bytes, and the columns a query filters on, read from its top-level
/// <c>event</c>, <c>uuid</c>, <c>email</c> and <c>timestamp</c> members.
/// </summary>
public sealed class StoredEventInput
{
    private StoredEventInput(ReadOnlyMemory<byte> json, string kind, string? uuid, string? email, long timestamp)
    {
        Json = json;
        Event = kind;
        Uuid = uuid;
        Email = email;
        Timestamp = timestamp;
    }

    /// <summary>The object exactly as given; the store returns these bytes unchanged.</summary>
    public ReadOnlyMemory<byte> Json { get; }

    public string Event { get; }

    public string? Uuid { get; }

    /// <summary>Lower-cased, so that a query finds an address whatever case the caller or the event used.</summary>
    public string? Email { get; }

    /// <summary>Unix seconds, as the webhook's <c>timestamp</c>.</summary>
    public long Timestamp { get; }

    /// <summary>Checks a batch an <see cref="IEventStore"/> is given to append: true when there is nothing to write.
    /// A null event is refused here, on the caller, not on the store's writer, where it would fail the other callers
    /// sharing the transaction.</summary>
    /// <exception cref="ArgumentNullException">The batch is null.</exception>
    /// <exception cref="ArgumentException">An event of the batch is null.</exception>
    public static bool IsEmptyBatch(IReadOnlyList<StoredEventInput> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        for (var i = 0; i < events.Count; i++)
        {
            if (events[i] is null)
            {
                throw new ArgumentException($"Event {i} is null.", nameof(events));
            }
        }
        return events.Count == 0;
    }

    /// <summary>
    /// Reads the indexed members of an event object. The bytes are kept, not copied: the caller must not change them
    /// until the append has completed.
    /// </summary>
    /// <exception cref="ArgumentException">Not one JSON object, no string <c>event</c> or numeric <c>timestamp</c>,
    /// a <c>uuid</c> or <c>email</c> that is neither a string nor null, or an <c>id</c> member of its own (the store
    /// adds the id; two would make the answer ambiguous).</exception>
    public static StoredEventInput FromJson(ReadOnlyMemory<byte> json)
    {
        string? kind = null;
        string? uuid = null;
        string? email = null;
        long? timestamp = null;
        try
        {
            var reader = new Utf8JsonReader(json.Span, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw Invalid("it is not a JSON object");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("event"u8))
                {
                    kind = ReadString(ref reader, "event") ?? throw Invalid("\"event\" is null");
                }
                else if (reader.ValueTextEquals("uuid"u8))
                {
                    uuid = ReadString(ref reader, "uuid");
                }
                else if (reader.ValueTextEquals("email"u8))
                {
                    email = ReadString(ref reader, "email")?.ToLowerInvariant();
                }
                else if (reader.ValueTextEquals("timestamp"u8))
                {
                    timestamp = ReadTimestamp(ref reader);
                }
                else if (reader.ValueTextEquals("id"u8))
                {
                    throw Invalid("it has an \"id\" member of its own");
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // The loop ends on the object's end; anything after it (a second value) makes the reader throw.
            if (reader.Read())
            {
                throw Invalid("there is more after the object");
            }
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"The event is not valid JSON: {e.Message}", nameof(json), e);
        }

        return new StoredEventInput(
            json,
            kind ?? throw Invalid("it has no \"event\""),
            uuid,
            email,
            timestamp ?? throw Invalid("it has no \"timestamp\""));
    }

    private static string? ReadString(ref Utf8JsonReader reader, string name)
    {
        reader.Read();
        return reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.Null => null,
            _ => throw Invalid($"\"{name}\" is a {reader.TokenType}, not a string"),
        };
    }

    private static long ReadTimestamp(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.Number)
        {
            throw Invalid($"\"timestamp\" is a {reader.TokenType}, not a number");
        }

        if (reader.TryGetInt64(out var seconds))
        {
            return seconds;
        }

        // A fractional timestamp (some producers write milliseconds after the point) is kept to its second.
        var value = reader.GetDouble();
        return value is >= long.MinValue and < long.MaxValue
            ? (long)Math.Floor(value)
            : throw Invalid("\"timestamp\" is out of range");
    }

    private static ArgumentException Invalid(string problem) => new($"The event is not one the store can keep: {problem}.", "json");
}
