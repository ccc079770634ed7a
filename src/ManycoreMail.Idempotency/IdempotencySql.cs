namespace ManycoreMail.Idempotency;

/// <summary>The statements both stores share (the same table in SQLite and PostgreSQL; parameters @name in both).</summary>
internal static class IdempotencySql
{
    public const string Select = "SELECT body_hash, created, status, answer FROM idempotency_keys WHERE scope = @scope AND key = @key";

    /// <summary>Takes a key never seen (a racing first claim fails on the primary key rather than overwriting).</summary>
    public const string Insert = "INSERT INTO idempotency_keys (scope, key, body_hash, created, status, answer) VALUES (@scope, @key, @hash, @created, NULL, NULL)";

    /// <summary>Takes the key for a new request, replacing a lapsed row.</summary>
    public const string Claim = """
        INSERT INTO idempotency_keys (scope, key, body_hash, created, status, answer) VALUES (@scope, @key, @hash, @created, NULL, NULL)
        ON CONFLICT (scope, key) DO UPDATE SET body_hash = excluded.body_hash, created = excluded.created, status = NULL, answer = NULL
        """;

    public const string Complete = "UPDATE idempotency_keys SET status = @status, answer = @answer WHERE scope = @scope AND key = @key";

    public const string Release = "DELETE FROM idempotency_keys WHERE scope = @scope AND key = @key AND status IS NULL";

    public const string Purge = "DELETE FROM idempotency_keys WHERE created <= @before";

    public static StoredKey Read(System.Data.Common.DbDataReader reader) => new(
        (byte[])reader.GetValue(0),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
        reader.IsDBNull(2) ? null : reader.GetInt32(2),
        reader.IsDBNull(3) ? null : (byte[])reader.GetValue(3));
}
