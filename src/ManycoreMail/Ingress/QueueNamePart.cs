namespace ManycoreMail.Ingress;

/// <summary>
/// What a tenant or campaign may be. Both become part of the sender's queue names (<c>campaign:tenant@domain</c>),
/// metric labels and suppression scopes, so ':' and '@' (the name's separators) and anything an operator could not type
/// in a pattern are refused where the value enters.
/// </summary>
internal static class QueueNamePart
{
    public const int MaxLength = 64;

    /// <summary>The rule in words, for refusals and configuration problems.</summary>
    public const string Rule = "1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'";

    public static bool IsValid(string? value)
    {
        if (value is null || value.Length is 0 or > MaxLength)
        {
            return false;
        }
        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }
        return true;
    }
}
