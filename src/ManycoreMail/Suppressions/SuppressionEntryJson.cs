using System.Globalization;
using System.Text.Json;
using ManycoreMail.Suppression;

namespace ManycoreMail.Suppressions;

/// <summary>
/// An entry as the API answers it and <c>mailer suppressions list --json</c> prints it:
/// <c>{"email", "scope", "value" (null for global), "reason", "created", "expires" (null: for ever)}</c>, times in
/// RFC 3339 UTC.
/// </summary>
internal static class SuppressionEntryJson
{
    public static void Write(Utf8JsonWriter writer, SuppressionEntry entry)
    {
        writer.WriteStartObject();
        writer.WriteString("email", entry.Email);
        writer.WriteString("scope", SuppressionNames.Name(entry.Scope));
        if (entry.Scope == SuppressionScope.Global)
        {
            writer.WriteNull("value");
        }
        else
        {
            writer.WriteString("value", entry.Value);
        }

        writer.WriteString("reason", SuppressionNames.Name(entry.Reason));
        writer.WriteString("created", Time(entry.Created));
        if (entry.Expires is { } expires)
        {
            writer.WriteString("expires", Time(expires));
        }
        else
        {
            writer.WriteNull("expires");
        }

        writer.WriteEndObject();
    }

    public static byte[] Render(SuppressionEntry entry)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, entry);
        }

        return buffer.ToArray();
    }

    /// <summary><c>{"suppressions": [...], "next": cursor or null}</c>.</summary>
    public static byte[] Render(SuppressionPage page)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("suppressions");
            foreach (var entry in page.Entries)
            {
                Write(writer, entry);
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

    /// <summary>RFC 3339 in UTC with a Z, milliseconds only when there are any.</summary>
    public static string Time(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFF'Z'", CultureInfo.InvariantCulture);
}
