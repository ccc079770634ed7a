namespace ManycoreMail.Dns;

/// <summary>Turns a recipient domain into the ordered list of hosts to try: MX by preference (equal
/// preferences shuffled), the domain's own A/AAAA when it has no MX, Null MX and NXDOMAIN as final answers.</summary>
public sealed class MailRouter(IDnsResolver resolver, Random? random = null)
{
    public ValueTask<MailRoute> ResolveAsync(string domain, CancellationToken cancellationToken) => throw new NotImplementedException();
}
