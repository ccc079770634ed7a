using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Hosting;
using ManycoreMail.Mime;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.MxServer;

/// <summary>
/// <c>POST /v1/email</c> with <c>Authorization: Bearer &lt;PSK&gt;</c> and the raw message as the body: the hand-off
/// from a local MTA's pipe transport (Postfix routing the alias domains to <c>curl</c>). The alias is the original
/// recipient, which a pipe does not pass by itself: <c>?recipient=</c> (repeatable), else the topmost
/// <c>X-Original-To</c> (pipe flag O), else the topmost <c>Delivered-To</c> (flag D). The envelope sender is
/// <c>?sender=</c>, else the topmost <c>Return-Path</c> (flag R), else the null sender.
/// 200 when forwarded or queued; 401 on a wrong token; 404 when no recipient is an alias; 400 / 413 / 554-like
/// refusals as 4xx; 503 with Retry-After on temporary trouble, so the pipe exits 75 and the MTA retries.
/// </summary>
internal sealed class InboundEmailEndpoint(IPEndPoint bind, Forwarder forwarder, string psk, long maxMessageSize, ILogger<InboundEmailEndpoint> logger)
    : IListenerEndpoint
{
    private readonly byte[] _pskHash = SHA256.HashData(Encoding.UTF8.GetBytes(psk));

    /// <summary>The listener it is served on (mxserver/forwarding/http-bind), and only there.</summary>
    public IPEndPoint Bind => bind;

    public async Task<IResult> HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (!IsAuthorized(request.Headers.Authorization.ToString()))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"manycore-mail\"";
            return Problem(StatusCodes.Status401Unauthorized, "Unauthorized", "A valid bearer token is required.");
        }
        if (await HttpBodies.ReadLimitedAsync(request, maxMessageSize, context.RequestAborted).ConfigureAwait(false) is not { } body)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Payload Too Large", $"the message exceeds {maxMessageSize} bytes");
        }
        if (body.Length == 0)
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad Request", "the body must be an RFC 5322 message, not empty");
        }
        if (!MessageHeaders.TryParse(body, out var headers, out var error))
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad Request", "the body must be an RFC 5322 message: " + error);
        }

        var named = request.Query["recipient"].Where(r => !string.IsNullOrWhiteSpace(r)).Select(r => r!.Trim()).ToList();
        if (named.Count == 0 && (headers.First("X-Original-To") ?? headers.First("Delivered-To")) is { } original)
        {
            named.Add(original);
        }
        if (named.Count == 0)
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad Request",
                "no recipient: pass ?recipient=ALIAS or let the pipe add X-Original-To (flag O) or Delivered-To (flag D)");
        }
        var recipients = new List<LocalRecipient>(named.Count);
        foreach (var name in named)
        {
            var address = name.Trim('<', '>', ' ');
            if (LocalRecipient.TryParse(address, forwarder.Domains, out var local)
                && forwarder.Classify(local) is ForwardingTarget.Alias or ForwardingTarget.SrsReturn)
            {
                recipients.Add(local);
            }
        }
        if (recipients.Count == 0)
        {
            forwarder.CountRefusedRecipient();
            return Problem(StatusCodes.Status404NotFound, "Not Found", $"no alias here for {string.Join(", ", named)}");
        }

        var sender = request.Query["sender"].FirstOrDefault() ?? headers.First("Return-Path") ?? "";
        sender = sender.Trim().Trim('<', '>');
        var client = context.Connection.RemoteIpAddress ?? IPAddress.None;
        var result = await forwarder.ForwardAsync(sender, recipients, body, new ForwardSource($"local-mta ([{client}])", "HTTP", LocalHandoff: true),
            context.RequestAborted).ConfigureAwait(false);
        switch (result)
        {
            case ForwardResult.Forwarded:
                return Results.Ok();
            case ForwardResult.Refused refused:
                return Problem(StatusCodes.Status422UnprocessableEntity, "Unprocessable Entity", refused.Reply.ToString());
            case ForwardResult.Temporary temporary:
                logger.LogInformation("POST /v1/email answered 503: {Reason}", temporary.Reason);
                context.Response.Headers.RetryAfter = "60";
                return Problem(StatusCodes.Status503ServiceUnavailable, "Service Unavailable", "cannot forward now; try again later");
            default:
                throw new InvalidOperationException("unknown forwarding result");
        }
    }

    /// <summary>Compared as SHA-256 digests in constant time: neither the token's length nor its prefix leaks.</summary>
    private bool IsAuthorized(string header)
    {
        if (!AuthenticationHeaderValue.TryParse(header, out var value)
            || !"Bearer".Equals(value.Scheme, StringComparison.OrdinalIgnoreCase)
            || value.Parameter is null)
        {
            return false;
        }
        return CryptographicOperations.FixedTimeEquals(_pskHash, SHA256.HashData(Encoding.UTF8.GetBytes(value.Parameter)));
    }

    private static IResult Problem(int status, string title, string detail) =>
        Results.Problem(detail: detail, statusCode: status, title: title);
}
