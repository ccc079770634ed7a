using System.Text.Json.Serialization;

namespace ManycoreMail.Suppression.Sqlite;

/// <summary>The one shape the store serialises: the address list a lookup hands SQLite's json_each.</summary>
[JsonSerializable(typeof(IReadOnlyCollection<string>))]
internal sealed partial class SuppressionJson : JsonSerializerContext;
