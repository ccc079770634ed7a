using System.Text.Json;
using System.Text.Json.Serialization;

namespace ManycoreMail.Queue.Embedded;

/// <summary>
/// Envelopes are stored as UTF-8 JSON: small, readable with the sqlite3 shell
/// (<c>SELECT CAST(envelope AS TEXT) FROM items</c>), and new optional fields never break old spools.
/// </summary>
internal static class EnvelopeCodec
{
    public static byte[] Encode(MessageEnvelope envelope) =>
        JsonSerializer.SerializeToUtf8Bytes(envelope, EnvelopeJsonContext.Default.MessageEnvelope);

    public static MessageEnvelope Decode(ReadOnlySpan<byte> utf8Json) =>
        JsonSerializer.Deserialize(utf8Json, EnvelopeJsonContext.Default.MessageEnvelope)
        ?? throw new InvalidDataException("The spool holds a null envelope.");
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MessageEnvelope))]
internal sealed partial class EnvelopeJsonContext : JsonSerializerContext;
