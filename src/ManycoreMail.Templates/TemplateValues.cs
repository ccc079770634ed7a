using System.Text.Json;

namespace ManycoreMail.Templates;

/// <summary>Turns JSON substitutions into the dictionaries and lists Stubble walks (it does not know JsonElement).</summary>
public static class TemplateValues
{
    /// <exception cref="ArgumentException"><paramref name="json"/> is not an object.</exception>
    public static IReadOnlyDictionary<string, object?> FromJsonObject(JsonElement json)
    {
        if (json.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return new Dictionary<string, object?>();
        }

        if (json.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("Substitutions must be a JSON object.", nameof(json));
        }

        return Object(json);
    }

    private static Dictionary<string, object?> Object(JsonElement json)
    {
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in json.EnumerateObject())
        {
            values[property.Name] = Value(property.Value);
        }

        return values;
    }

    private static object? Value(JsonElement json) => json.ValueKind switch
    {
        JsonValueKind.Object => Object(json),
        JsonValueKind.Array => json.EnumerateArray().Select(Value).ToList(),
        JsonValueKind.String => json.GetString(),
        // Kept as written ("1.50" stays "1.50"), and culture-free.
        JsonValueKind.Number => json.GetRawText(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

}
