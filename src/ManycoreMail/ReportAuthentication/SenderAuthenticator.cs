using System.Net;
using ManycoreMail.Dkim;
using ManycoreMail.Dns.Spf;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.ReportAuthentication;

/// <summary>
/// Checks SPF (RFC 7208) and DKIM (RFC 6376) of one received mail, the two at once and within one deadline: the
/// reporting server is waiting for our answer to DATA, so past the deadline whatever has not finished is a temperror
/// (not authenticated) and the mail is accepted all the same.
/// </summary>
internal sealed class SenderAuthenticator(ISpfChecker spf, DkimVerifier dkim, TimeSpan deadline, ILogger<SenderAuthenticator> logger)
{
    public async Task<SenderAuthentication> CheckAsync(IPAddress client, string helo, string mailFrom, ReadOnlyMemory<byte> message,
        CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(deadline);
        var spfTask = CheckSpfAsync(client, helo, mailFrom, bounded.Token);
        var dkimTask = VerifyDkimAsync(message, bounded.Token);
        await Task.WhenAll(spfTask, dkimTask).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return new SenderAuthentication(await spfTask.ConfigureAwait(false), await dkimTask.ConfigureAwait(false));
    }

    private async Task<SpfVerdict> CheckSpfAsync(IPAddress client, string helo, string mailFrom, CancellationToken cancellationToken)
    {
        // The identity's domain, as the evaluator names it: MAIL FROM's, HELO for the null reverse-path.
        var domain = mailFrom.LastIndexOf('@') is var at and >= 0 ? mailFrom[(at + 1)..] : mailFrom.Length > 0 ? mailFrom : helo;
        try
        {
            return await spf.CheckAsync(client, helo, mailFrom, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return new SpfVerdict(SpfResult.TempError, domain, $"no answer within {deadline.TotalSeconds:0.#} s");
        }
        catch (Exception e)
        {
            // The contract says it never throws for DNS data; anything else must not cost the mail.
            logger.LogWarning("SPF check of <{Sender}> from {Client} failed: {Error}", mailFrom, client, e.Message);
            return new SpfVerdict(SpfResult.TempError, domain, "check failed");
        }
    }

    private async Task<IReadOnlyList<DkimVerificationResult>> VerifyDkimAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        try
        {
            return await dkim.VerifyAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return [new DkimVerificationResult(DkimResult.TempError, null, null, $"no answer within {deadline.TotalSeconds:0.#} s")];
        }
        catch (Exception e)
        {
            logger.LogWarning("DKIM verification failed: {Error}", e.Message);
            return [new DkimVerificationResult(DkimResult.TempError, null, null, "verification failed")];
        }
    }
}
