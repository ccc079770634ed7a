using System.Net.Http.Headers;
using System.Text;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Ingress;
using ManycoreMail.Roles.Receiver;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// <c>POST /v1/mail/send</c>: HTTP Basic auth, exactly <c>application/octet-stream</c>, the raw RFC 5322
/// message as the body. 200 once it is durably queued; problem+json otherwise.
/// </summary>
internal sealed class MailSendEndpoint(HttpReceiverOptions options, IngressQueue queue)
{
    private readonly LoginCheck _logins = new(options.Logins);

    public async Task<IResult> HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (!IsAuthorized(request.Headers.Authorization.ToString()))
        {
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"manycore-mail\", charset=\"UTF-8\"";
            return Problem(StatusCodes.Status401Unauthorized, "Unauthorized", "Valid HTTP Basic credentials are required.");
        }
        if (!IsOctetStream(request.ContentType))
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad Request",
                $"incorrect content type '{request.ContentType}', expected 'application/octet-stream'");
        }
        if (await HttpBodies.ReadLimitedAsync(request, options.MaxMessageSize, context.RequestAborted).ConfigureAwait(false) is not { } body)
        {
            queue.CountDropped();
            return Problem(StatusCodes.Status413PayloadTooLarge, "Payload Too Large", $"the message exceeds {options.MaxMessageSize} bytes");
        }
        if (!IngressRules.TryAccept(body, PriorityRule.Strict, out var accepted, out var refusal))
        {
            queue.CountDropped();
            return Problem(StatusCodes.Status400BadRequest, "Bad Request", refusal.Message);
        }
        if (!HeaderRecipientLimit.Allows(accepted, options.MaxHeaderRecipients, out var tooMany))
        {
            queue.CountDropped();
            return Problem(StatusCodes.Status400BadRequest, "Bad Request", tooMany);
        }
        if (!await queue.TryEnqueueAsync(accepted, body, context.RequestAborted).ConfigureAwait(false))
        {
            return Problem(StatusCodes.Status503ServiceUnavailable, "Service Unavailable", "the queue cannot take the message now; try again later");
        }
        return Results.Ok();
    }

    private bool IsAuthorized(string header)
    {
        if (!AuthenticationHeaderValue.TryParse(header, out var value)
            || !"Basic".Equals(value.Scheme, StringComparison.OrdinalIgnoreCase)
            || value.Parameter is null)
        {
            return false;
        }
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(value.Parameter));
        }
        catch (FormatException)
        {
            return false;
        }
        var colon = decoded.IndexOf(':');
        if (colon < 0)
        {
            return false;
        }
        return _logins.Matches(decoded[..colon], decoded[(colon + 1)..]);
    }

    /// <summary>Exactly application/octet-stream (case-insensitive, no parameters), as the original required.</summary>
    private static bool IsOctetStream(string? contentType) =>
        contentType is not null && contentType.Trim().Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase);

    private static IResult Problem(int status, string title, string detail) =>
        Results.Problem(detail: detail, statusCode: status, title: title);
}
