namespace ManycoreMail.Suppression;

/// <summary>Whom an entry stops sending from. The lower-case names are the ones the API, the CLI, CSV files and
/// tracking tokens use (<see cref="SuppressionNames"/>).</summary>
public enum SuppressionScope
{
    /// <summary>Nobody sends to the address.</summary>
    Global,

    /// <summary>One tenant's mail does not go to the address; <see cref="SuppressionEntry.Value"/> is the tenant.</summary>
    Tenant,

    /// <summary>Mail From one domain does not go to it; the value is that domain.</summary>
    Domain,

    /// <summary>Mail From one address does not go to it; the value is that address.</summary>
    Sender,
}

/// <summary>Why an address is suppressed.</summary>
public enum SuppressionReason
{
    /// <summary>The recipient unsubscribed (one-click, the confirm page, or a mail to <c>unsub-&lt;uuid&gt;@</c>).</summary>
    Unsubscribe,

    /// <summary>The recipient reported the mail as spam (an ARF report).</summary>
    Complaint,

    /// <summary>The address does not exist (a hard bounce of class userunknown or hostunknown).</summary>
    Bounce,

    /// <summary>Added by an operator (API, CLI, import).</summary>
    Manual,
}

/// <summary>
/// One suppression: <see cref="Email"/> gets no mail within <see cref="Scope"/> (and its <see cref="Value"/>) until
/// <see cref="Expires"/>. An entry is identified by (email, scope, value): adding one that exists replaces its
/// reason and times. Make entries with <see cref="Create"/>, which normalises what identifies them.
/// </summary>
public sealed record SuppressionEntry
{
    private SuppressionEntry(string email, SuppressionScope scope, string value)
    {
        Email = email;
        Scope = scope;
        Value = value;
    }

    /// <summary>The suppressed address, lower case (<see cref="SuppressionNames.NormalizeEmail"/>).</summary>
    public string Email { get; }

    public SuppressionScope Scope { get; }

    /// <summary>Empty for <see cref="SuppressionScope.Global"/>; the tenant, the domain (lower case) or the sender
    /// address (lower case) otherwise.</summary>
    public string Value { get; }

    public required SuppressionReason Reason { get; init; }

    public required DateTimeOffset Created { get; init; }

    /// <summary>Null: for ever.</summary>
    public DateTimeOffset? Expires { get; init; }

    /// <summary>An entry for <paramref name="email"/> in <paramref name="scope"/>; the email and value normalised.</summary>
    /// <exception cref="ArgumentException">The email is not an address (no @, or empty on either side), a global
    /// entry has a value, or another scope has none.</exception>
    public static SuppressionEntry Create(string email, SuppressionScope scope, string? value, SuppressionReason reason,
        DateTimeOffset created, DateTimeOffset? expires = null) =>
        new(SuppressionNames.NormalizeEmail(email), scope, SuppressionNames.NormalizeValue(scope, value))
        {
            Reason = reason,
            Created = created,
            Expires = expires,
        };

    /// <summary>True until it expires.</summary>
    public bool IsActiveAt(DateTimeOffset now) => Expires is not { } expires || expires > now;
}
