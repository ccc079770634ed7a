namespace ManycoreMail.Roles.MxServer;

/// <summary>
/// A recipient address of one of our own domains, parsed strictly. Anything that could route mail
/// elsewhere is refused: percent hack, bang path, source route, a quoted local part hiding an @, an IP
/// literal, a trailing dot. The domain comparison ignores case, nothing else.
/// </summary>
internal readonly record struct LocalRecipient(string LocalPart, string Domain)
{
    /// <summary>The uuid of an <c>unsub-&lt;uuid&gt;@</c> address (any [a-z0-9]+, unlike the original's cut at '-').</summary>
    public string? UnsubscribeUuid => UuidAfter("unsub-");

    /// <summary>The uuid of a <c>bounce-&lt;uuid&gt;@</c> (VERP) address.</summary>
    public string? BounceUuid => UuidAfter("bounce-");

    public static bool TryParse(string address, IReadOnlySet<string> domains, out LocalRecipient recipient)
    {
        recipient = default;
        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1)
        {
            return false;
        }
        var local = address[..at];
        var domain = address[(at + 1)..];
        if (local.AsSpan().IndexOfAny("@%!\"\\:[] ,;<>") >= 0 || local.StartsWith('.') || local.EndsWith('.'))
        {
            return false;
        }
        if (domain.EndsWith('.') || domain.StartsWith('[') || !domains.Contains(domain.ToLowerInvariant()))
        {
            return false;
        }
        recipient = new LocalRecipient(local, domain.ToLowerInvariant());
        return true;
    }

    private string? UuidAfter(string prefix)
    {
        if (!LocalPart.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || LocalPart.Length == prefix.Length)
        {
            return null;
        }
        var uuid = LocalPart[prefix.Length..];
        foreach (var c in uuid)
        {
            if (c is not (>= 'a' and <= 'z') and not (>= '0' and <= '9'))
            {
                return null;
            }
        }
        return uuid;
    }
}
