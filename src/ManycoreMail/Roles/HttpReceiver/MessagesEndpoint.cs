using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using ManycoreMail.Compose;
using ManycoreMail.Config;
using ManycoreMail.Hosting;
using ManycoreMail.Idempotency;
using ManycoreMail.Ingress;
using ManycoreMail.Sending;
using ManycoreMail.Smtp.Server;
using ManycoreMail.Templates;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// <c>POST /v1/messages</c> behind the API's Basic auth: a JSON send (issue 13) becomes one message per recipient, all
/// queued in one transaction (or all held on the scheduled queue until <c>send_at</c>), answered 202
/// <c>{"messages": [{"email", "uuid"}]}</c>. Refusals are problem+json naming the field (or template part and line):
/// 400 malformed, 403 another tenant than the login's, 409 an Idempotency-Key reused, 413 too large, 415 not JSON,
/// 422 unusable (template, render, send_at, ingress rules), 503 with Retry-After when the queue cannot take it.
/// </summary>
internal sealed class MessagesEndpoint(
    ApiAuthentication authentication,
    SendComposer sends,
    SendRequestParser parser,
    SendRequestLimits limits,
    IngressQueue queue,
    IIdempotencyStore idempotency,
    MemoryBudget composing,
    IInFlowControl inFlow,
    TimeProvider time,
    ILogger<MessagesEndpoint> logger)
{
    /// <summary>What one recipient's message (or held request) may take beyond the request's own size: headers, MIME
    /// structure, quoted-printable growth of the text.</summary>
    private const int PerMessageOverhead = 8 * 1024;

    /// <summary>How far ahead a send may be scheduled: a sane bound on what the scheduled queue holds.</summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromDays(30);

    /// <summary>A send_at this close is sent now: holding it would only add the scheduler's delay.</summary>
    private static readonly TimeSpan SendNowWithin = TimeSpan.FromSeconds(1);

    /// <summary>What a client told to come back (the queue unavailable, memory busy) should wait.</summary>
    private const int QueueRetrySeconds = 5;

    public const string IdempotencyKeyHeader = "Idempotency-Key";

    public async Task HandleAsync(HttpContext context)
    {
        var answer = await AnswerAsync(context).ConfigureAwait(false);
        await answer.ExecuteAsync(context).ConfigureAwait(false);
    }

    private async Task<IResult> AnswerAsync(HttpContext context)
    {
        if (authentication.Refuse(context, out var login) is { } refusal)
        {
            return refusal;
        }
        string? key = null;
        if (context.Request.Headers.TryGetValue(IdempotencyKeyHeader, out var keys))
        {
            if (keys.Count != 1 || !IsKey(keys[0]))
            {
                return ApiProblem.Of(StatusCodes.Status400BadRequest, IdempotencyKeyHeader, "must be one value of 1 to 255 printable ASCII characters");
            }
            key = keys[0];
        }
        if (!IsJson(context.Request.ContentType))
        {
            return ApiProblem.Of(StatusCodes.Status415UnsupportedMediaType, "Content-Type", $"'{context.Request.ContentType}' is not application/json");
        }
        // Before any memory is taken: a held request costs nothing but its connection.
        await inFlow.WaitAsync(context.RequestAborted).ConfigureAwait(false);
        var (body, unread) = await ReadBodyAsync(context).ConfigureAwait(false);
        if (body is null)
        {
            return unread!;
        }
        return key is null
            ? await SendAsync(context, login!, body).ConfigureAwait(false)
            : await SendOnceAsync(context, login!, key, body).ConfigureAwait(false);
    }

    /// <summary>The body, read within the memory budget (its declared length, else the largest request, is taken before
    /// a byte is read), or the answer when it is too large or the budget is spent.</summary>
    private async Task<(byte[]? Body, IResult? Refusal)> ReadBodyAsync(HttpContext context)
    {
        var reserved = Math.Min(context.Request.ContentLength ?? limits.MaxRequestBytes, limits.MaxRequestBytes);
        if (!composing.TryTake(reserved))
        {
            return (null, Unavailable(context, "too many requests are being received at once; try again later"));
        }
        try
        {
            return await HttpBodies.ReadLimitedAsync(context.Request, limits.MaxRequestBytes, context.RequestAborted).ConfigureAwait(false) is { } body
                ? (body, null)
                : (null, ApiProblem.Of(StatusCodes.Status413PayloadTooLarge, "", $"the request exceeds {limits.MaxRequestBytes} bytes"));
        }
        finally
        {
            composing.Return(reserved);
        }
    }

    /// <summary>The send under an idempotency key: the first request with it sends; the same body again gets the first
    /// answer (only 202s are kept, so a refused request may be fixed and sent again with its key).</summary>
    private async Task<IResult> SendOnceAsync(HttpContext context, Credential login, string key, byte[] body)
    {
        var scope = login.Username;
        var cancellationToken = context.RequestAborted;
        IdempotencyClaim claim;
        try
        {
            claim = await idempotency.TryClaimAsync(scope, key, SHA256.HashData(body), cancellationToken).ConfigureAwait(false);
        }
        catch (DbException e)
        {
            logger.LogWarning("Idempotency store unavailable ({Error}); refusing a send with a key", e.Message);
            return Unavailable(context, "the idempotency store cannot be read now; try again later");
        }
        switch (claim)
        {
            case IdempotencyClaim.Replay replay:
                return new JsonAnswer(replay.Status, replay.Answer);
            case IdempotencyClaim.Conflict:
                return ApiProblem.Of(StatusCodes.Status409Conflict, IdempotencyKeyHeader, "this key was used with another request body in the last 24 hours");
            case IdempotencyClaim.InProgress busy:
                context.Response.Headers.RetryAfter = ((long)Math.Ceiling(busy.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return ApiProblem.Of(StatusCodes.Status409Conflict, IdempotencyKeyHeader, "a request with this key is still being handled");
        }

        IResult answer;
        try
        {
            answer = await SendAsync(context, login, body).ConfigureAwait(false);
        }
        catch
        {
            // Nothing was queued (the queue answers false rather than throwing): the key may be used again.
            await ReleaseAsync(scope, key).ConfigureAwait(false);
            throw;
        }
        try
        {
            if (answer is JsonAnswer { Status: StatusCodes.Status202Accepted } accepted)
            {
                await idempotency.CompleteAsync(scope, key, accepted.Status, accepted.Body, CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                await ReleaseAsync(scope, key).ConfigureAwait(false);
            }
        }
        catch (DbException e)
        {
            // The messages are queued: the answer stands. The unfinished claim lapses after 15 minutes.
            logger.LogWarning("Could not record idempotency key {Key} ({Error})", key, e.Message);
        }
        return answer;
    }

    /// <summary>Gives up a claim; when the store cannot, the claim lapses after 15 minutes instead.</summary>
    private async Task ReleaseAsync(string scope, string key)
    {
        try
        {
            await idempotency.ReleaseAsync(scope, key, CancellationToken.None).ConfigureAwait(false);
        }
        catch (DbException e)
        {
            logger.LogWarning("Could not release idempotency key {Key} ({Error}); it lapses in 15 minutes", key, e.Message);
        }
    }

    private async Task<IResult> SendAsync(HttpContext context, Credential login, byte[] body)
    {
        var parsed = parser.Parse(body);
        if (parsed.Request is not { } request)
        {
            return ApiProblem.Of(StatusCodes.Status400BadRequest, parsed.Errors);
        }
        if (!TenantClaim.TryResolve(login.Tenant, request.Tenant, out var tenant, out var notYours))
        {
            return ApiProblem.Of(StatusCodes.Status403Forbidden, "tenant", notYours.Message);
        }
        // Every uuid is fixed now, so that the 202 names the uuid each message carries, also one sent later.
        request = request with
        {
            Tenant = tenant,
            Recipients = request.Recipients.Select(r => r.Uuid is null ? r with { Uuid = MessageComposer.NewUuid() } : r).ToArray(),
        };
        // Every recipient's message is built before any is queued (all or none), so a request holds about its own size
        // once per recipient: bounded for the process, and refused outright when it could never fit.
        var footprint = (request.Recipients.Count + 1L) * (body.Length + PerMessageOverhead);
        if (footprint > composing.Capacity)
        {
            return ApiProblem.Of(StatusCodes.Status413PayloadTooLarge, "recipients",
                $"{request.Recipients.Count} messages of this size exceed {composing.Capacity} bytes; send them in smaller requests");
        }
        if (!composing.TryTake(footprint))
        {
            return Unavailable(context, "too many messages are being composed at once; try again later");
        }
        try
        {
            return await ComposeAndQueueAsync(context, request).ConfigureAwait(false);
        }
        finally
        {
            composing.Return(footprint);
        }
    }

    private async Task<IResult> ComposeAndQueueAsync(HttpContext context, SendRequest request)
    {
        var cancellationToken = context.RequestAborted;
        var now = time.GetUtcNow();
        if (request.SendAt > now + MaxHold)
        {
            return ApiProblem.Of(StatusCodes.Status422UnprocessableEntity, "send_at", $"may be at most {MaxHold.TotalDays:0} days ahead");
        }
        var content = await sends.ResolveAsync(request, cancellationToken).ConfigureAwait(false);
        if (content.Error is { } templateError)
        {
            return ApiProblem.Of(StatusCodes.Status422UnprocessableEntity, [templateError]);
        }

        // A held send is composed now too, and the result thrown away: what can be refused is refused now, so a 202
        // is honest; at its time it is composed again with the template as it is then.
        var messages = new List<RecipientMessage>(request.Recipients.Count);
        for (var i = 0; i < request.Recipients.Count; i++)
        {
            try
            {
                if (sends.Compose(request, content.Parts!, request.Recipients[i], out var refused) is not { } message)
                {
                    queue.CountDropped();
                    return ApiProblem.Of(StatusCodes.Status422UnprocessableEntity, $"recipients[{i}]", refused!.Message);
                }
                messages.Add(message);
            }
            catch (TemplateException e)
            {
                return ApiProblem.Of(StatusCodes.Status422UnprocessableEntity, e.Part, $"line {e.Line}: {TemplateProblem(e)} (for recipients[{i}])",
                    new Dictionary<string, object?> { ["line"] = e.Line, ["recipient"] = i });
            }
        }

        var queued = request.SendAt is { } sendAt && sendAt > now + SendNowWithin
            ? await queue.TryHoldBatchAsync(messages.Select((m, i) => new HeldSubmission(m.Accepted,
                SendRequestWriter.Write(SendRequestWriter.ForRecipient(request, request.Recipients[i])), sendAt, request.Tenant, HeldSend.BodyFormat)).ToArray(), cancellationToken).ConfigureAwait(false)
            : await queue.TryEnqueueBatchAsync(messages.Select(m => new IngressSubmission(m.Accepted, m.Message.Bytes)).ToArray(), cancellationToken).ConfigureAwait(false);
        if (!queued)
        {
            return Unavailable(context, "the queue cannot take the messages now; try again later");
        }
        return new JsonAnswer(StatusCodes.Status202Accepted, Accepted(request.Recipients));
    }

    private static string TemplateProblem(TemplateException e) => e switch
    {
        TemplateRenderException missing => $"the variable '{missing.Variable}' has no value (strict)",
        TemplateParseException parse => parse.Detail,
        _ => e.Message,
    };

    private static IResult Unavailable(HttpContext context, string message)
    {
        context.Response.Headers.RetryAfter = QueueRetrySeconds.ToString(CultureInfo.InvariantCulture);
        return ApiProblem.Of(StatusCodes.Status503ServiceUnavailable, "", message);
    }

    private static byte[] Accepted(IReadOnlyList<SendRecipient> recipients)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("messages");
            foreach (var recipient in recipients)
            {
                json.WriteStartObject();
                json.WriteString("email", recipient.Address.Address);
                json.WriteString("uuid", recipient.Uuid);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>1 to 255 printable ASCII characters (space included), as the Idempotency-Key draft expects of a key.</summary>
    private static bool IsKey(string? key) => key is { Length: >= 1 and <= 255 } && key.All(c => c is >= ' ' and <= '~');

    private static bool IsJson(string? contentType) =>
        contentType is not null && Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
        && media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);
}
