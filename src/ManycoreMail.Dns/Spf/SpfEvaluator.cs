using System.Net;

namespace ManycoreMail.Dns.Spf;

/// <summary>RFC 7208 check_host() over <see cref="IDnsResolver"/>, bounded in time as a whole.</summary>
/// <remarks>The verdict's domain is the identity's domain (of MAIL FROM, or HELO for the null reverse-path), even
/// when an included or redirected policy decided; the reason names the record and term that did.</remarks>
public sealed class SpfEvaluator : ISpfChecker
{
    /// <summary>RFC 7208 §4.6.4 asks for at least 20 seconds before giving up on a check.</summary>
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(20);

    private readonly IDnsResolver _resolver;
    private readonly TimeSpan _deadline;

    public SpfEvaluator(IDnsResolver resolver, TimeSpan? deadline = null)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        _resolver = resolver;
        _deadline = deadline ?? DefaultDeadline;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_deadline, TimeSpan.Zero, nameof(deadline));
    }

    public async ValueTask<SpfVerdict> CheckAsync(IPAddress client, string helo, string mailFrom, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(helo);
        ArgumentNullException.ThrowIfNull(mailFrom);
        if (client.IsIPv4MappedToIPv6)
        {
            client = client.MapToIPv4(); // §5: an IPv4 client reached over a v6 socket is still an IPv4 client
        }

        var sender = SenderOf(mailFrom, helo);
        var domain = sender[(sender.LastIndexOf('@') + 1)..];
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(_deadline);
        var evaluation = new SpfEvaluation(_resolver, client, sender, helo, bounded.Token);
        try
        {
            var outcome = await evaluation.CheckHostAsync(domain).ConfigureAwait(false);
            return new SpfVerdict(outcome.Result, domain, outcome.Reason);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SpfVerdict(SpfResult.TempError, domain, $"the check took longer than {_deadline.TotalSeconds:0.#} s");
        }
    }

    /// <summary>§4.3 and §2.4: the null reverse-path is checked as postmaster@HELO; an empty local-part is postmaster.</summary>
    internal static string SenderOf(string mailFrom, string helo)
    {
        if (mailFrom.Length == 0)
        {
            return "postmaster@" + helo;
        }

        var at = mailFrom.LastIndexOf('@');
        return at switch
        {
            < 0 => "postmaster@" + mailFrom,
            0 => "postmaster" + mailFrom,
            _ => mailFrom,
        };
    }
}
