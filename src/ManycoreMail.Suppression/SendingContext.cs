namespace ManycoreMail.Suppression;

/// <summary>Who sends a message, as far as suppression cares: the From address (which gives the domain) and the
/// tenant, when there is one.</summary>
public sealed record SendingContext
{
    public SendingContext(string senderAddress, string? tenant)
    {
        Sender = SuppressionNames.NormalizeEmail(senderAddress);
        Domain = Sender[(Sender.LastIndexOf('@') + 1)..].TrimEnd('.');
        Tenant = string.IsNullOrWhiteSpace(tenant) ? null : tenant.Trim();
    }

    /// <summary>The From address, lower case.</summary>
    public string Sender { get; }

    /// <summary>The From address's domain, lower case.</summary>
    public string Domain { get; }

    public string? Tenant { get; }

    /// <summary>True when <paramref name="entry"/> stops this sender (whatever its address: the caller looked
    /// entries up by the recipient).</summary>
    public bool IsStoppedBy(SuppressionEntry entry) => entry.Scope switch
    {
        SuppressionScope.Global => true,
        SuppressionScope.Tenant => Tenant is not null && string.Equals(entry.Value, Tenant, StringComparison.Ordinal),
        SuppressionScope.Domain => string.Equals(entry.Value, Domain, StringComparison.Ordinal),
        SuppressionScope.Sender => string.Equals(entry.Value, Sender, StringComparison.Ordinal),
        _ => false,
    };

    /// <summary>The value an entry in <paramref name="scope"/> gets when this sender's recipient leaves it; null for
    /// the tenant scope without a tenant (the caller falls back to the domain).</summary>
    public string? ValueFor(SuppressionScope scope) => scope switch
    {
        SuppressionScope.Global => "",
        SuppressionScope.Tenant => Tenant,
        SuppressionScope.Domain => Domain,
        SuppressionScope.Sender => Sender,
        _ => null,
    };
}
