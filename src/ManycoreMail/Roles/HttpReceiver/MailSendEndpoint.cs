using System.Globalization;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Ingress;
using ManycoreMail.Mime;
using ManycoreMail.Smtp.Server;
using Microsoft.AspNetCore.Http;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// <c>POST /v1/mail/send</c>: HTTP Basic auth, exactly <c>application/octet-stream</c>, the raw RFC 5322
/// message as the body. 200 once it is durably queued; problem+json otherwise.
/// </summary>
/// <param name="receiving">The memory of bodies being received, shared with the API's other sending endpoint so that
/// together they stay within <c>httpreceiver</c>'s receiving memory.</param>
/// <param name="inFlow">Holds a request before its body is read while the queues behind the receiver are long.</param>
internal sealed class MailSendEndpoint(HttpReceiverOptions options, IngressQueue queue, IAuthenticationThrottle throttle, MemoryBudget receiving,
    IInFlowControl inFlow, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    /// <summary>What a client told to come back for want of memory should wait: bodies in progress finish in seconds.</summary>
    private const int BusyRetrySeconds = 5;

    private readonly ApiAuthentication _authentication = new(options.Logins, throttle);
    private readonly MemoryBudget _receiving = receiving;

    public async Task<IResult> HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (_authentication.Refuse(context, out var login) is { } refusal)
        {
            return refusal;
        }
        if (!IsOctetStream(request.ContentType))
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad Request",
                $"incorrect content type '{request.ContentType}', expected 'application/octet-stream'");
        }
        // Before any memory is taken: a held request costs nothing but its connection.
        await inFlow.WaitAsync(context.RequestAborted).ConfigureAwait(false);
        // The body's memory is taken before a byte of it is read and held until it is queued or dropped. Without
        // a Content-Length the body may be as large as any message.
        var reserved = Math.Min(request.ContentLength ?? options.MaxMessageSize, options.MaxMessageSize);
        if (!_receiving.TryTake(reserved))
        {
            context.Response.Headers.RetryAfter = BusyRetrySeconds.ToString(CultureInfo.InvariantCulture);
            return Problem(StatusCodes.Status503ServiceUnavailable, "Service Unavailable",
                "too many messages are being received at once; try again later");
        }
        try
        {
            return await ReceiveAsync(context, login?.Tenant).ConfigureAwait(false);
        }
        finally
        {
            _receiving.Return(reserved);
        }
    }

    private async Task<IResult> ReceiveAsync(HttpContext context, string? loginTenant)
    {
        // The body is read once, into a pooled buffer returned when the message is queued or refused: the queue store
        // keeps none of a caller's memory after its commit returns (IQueueStore's contract), as for SMTP.
        using var pooled = await HttpBodies.ReadPooledAsync(context.Request, options.MaxMessageSize, context.RequestAborted).ConfigureAwait(false);
        if (pooled is null)
        {
            queue.CountDropped();
            return Problem(StatusCodes.Status413PayloadTooLarge, "Payload Too Large", $"the message exceeds {options.MaxMessageSize} bytes");
        }
        var body = pooled.Memory;
        if (!IngressRules.TryAccept(body, PriorityRule.Strict, out var accepted, out var headers, out var refusal))
        {
            queue.CountDropped();
            return Problem(StatusCodes.Status400BadRequest, "Bad Request", refusal.Message);
        }
        if (!HeaderRecipientLimit.Allows(accepted, options.MaxHeaderRecipients, out var tooMany))
        {
            queue.CountDropped();
            return Problem(StatusCodes.Status400BadRequest, "Bad Request", tooMany);
        }
        if (TenantRefusal(body, headers, loginTenant, out var queued, out var tenant) is { } refusedTenant)
        {
            queue.CountDropped();
            return refusedTenant;
        }
        // An X-Tenant put in front is the only change to the bytes: X-Send-At reads the same from the headers parsed above.
        if (!SendAtHeader.TryRead(headers, _time.GetUtcNow(), out var holdUntil, out var badSendAt))
        {
            queue.CountDropped();
            return Results.Problem(detail: badSendAt.Message, statusCode: StatusCodes.Status400BadRequest, title: "Bad Request",
                extensions: new Dictionary<string, object?> { ["field"] = SendAtHeader.Name });
        }
        if (!await queue.TryEnqueueOrHoldAsync(accepted, queued, holdUntil, tenant, context.RequestAborted).ConfigureAwait(false))
        {
            return Problem(StatusCodes.Status503ServiceUnavailable, "Service Unavailable", "the queue cannot take the message now; try again later");
        }
        return Results.Ok();
    }

    /// <summary>The tenant rules (<see cref="SubmissionTenant"/>) for the request's login: null and the message to queue,
    /// or 403 for a tenant the login may not send for and 400 for a malformed X-Tenant, X-Stream-Id or X-Campaign.</summary>
    private static IResult? TenantRefusal(ReadOnlyMemory<byte> body, MessageHeaders headers, string? loginTenant, out ReadOnlyMemory<byte> queued, out string? tenant)
    {
        if (SubmissionTenant.TryApply(body, headers, loginTenant, out queued, out tenant, out var refusal))
        {
            return null;
        }
        return refusal.EnhancedStatus.StartsWith("5.7.", StringComparison.Ordinal)
            ? Problem(StatusCodes.Status403Forbidden, "Forbidden", refusal.Message)
            : Problem(StatusCodes.Status400BadRequest, "Bad Request", refusal.Message);
    }

    /// <summary>Exactly application/octet-stream (case-insensitive, no parameters), as the original required.</summary>
    private static bool IsOctetStream(string? contentType) =>
        contentType is not null && contentType.Trim().Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase);

    private static IResult Problem(int status, string title, string detail) =>
        Results.Problem(detail: detail, statusCode: status, title: title);
}
