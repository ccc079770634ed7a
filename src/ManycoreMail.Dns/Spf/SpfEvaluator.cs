using System.Net;

namespace ManycoreMail.Dns.Spf;

/// <summary>RFC 7208 evaluation over <see cref="IDnsResolver"/>. (Being written: answers none until then.)</summary>
public sealed class SpfEvaluator(IDnsResolver resolver) : ISpfChecker
{
    private readonly IDnsResolver _resolver = resolver;

    public ValueTask<SpfVerdict> CheckAsync(IPAddress client, string helo, string mailFrom, CancellationToken cancellationToken)
    {
        _ = _resolver;
        var domain = mailFrom.LastIndexOf('@') is var at and >= 0 ? mailFrom[(at + 1)..] : helo;
        return ValueTask.FromResult(new SpfVerdict(SpfResult.None, domain, "not evaluated yet"));
    }
}
