namespace ManycoreMail.Mime;

public sealed record MailboxAddress(string? DisplayName, string Address)
{
    public string LocalPart => Address[..Address.LastIndexOf('@')];
    public string Domain => Address[(Address.LastIndexOf('@') + 1)..];
}

/// <summary>RFC 5322 §3.4 address lists: mailboxes, name-addr, groups, quoted strings, comments, obsolete forms.</summary>
public static class AddressParser
{
    /// <summary>Every mailbox in an address-list value (group members included); unparsable items are skipped.</summary>
    public static IReadOnlyList<MailboxAddress> ParseList(string value) => throw new NotImplementedException();
}
