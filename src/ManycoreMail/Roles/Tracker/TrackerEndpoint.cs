using System.Net;
using ManycoreMail.Config;
using ManycoreMail.Events;
using ManycoreMail.Hosting;
using ManycoreMail.Suppression;
using ManycoreMail.Tracking;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Tracker;

/// <summary>
/// The tracker role: every request on <c>tracking/bind</c>. <c>GET|HEAD {base}/o/{token}.gif</c> answers a
/// transparent pixel and records <c>open</c>; <c>GET|HEAD {base}/c/{token}</c> answers 302 to the token's URL and
/// records <c>click</c>; <c>GET {base}/u/{token}</c> shows a confirmation page and changes nothing (link scanners
/// fetch every URL); <c>POST {base}/u/{token}</c> (RFC 8058 one-click, or the page's form) unsubscribes.
/// Anything else, and any token that does not verify or is under another kind's path, is 404 with nothing
/// recorded: the tracker is never an open redirect. Stateless apart from the machine detector's short memory.
/// </summary>
internal sealed class TrackerEndpoint(
    IPEndPoint bind,
    TrackingUrls urls,
    TrackerEvents events,
    ISuppressionStore suppressions,
    SuppressionOptions suppression,
    MachineDetector detector,
    ForwardedClient clients,
    TrackerMetrics metrics,
    TimeProvider time,
    ILogger<TrackerEndpoint> logger)
{
    /// <summary>Largest unsubscribe POST body: the one-click form is 26 bytes, a multipart one a few hundred.</summary>
    public const int MaxPostBytes = 8 * 1024;

    /// <summary>How long an unsubscribe may wait for the suppression store before the client is asked to retry.</summary>
    private static readonly TimeSpan SuppressionDeadline = TimeSpan.FromSeconds(10);

    /// <summary>A 1×1 transparent GIF (GIF89a, one palette entry, marked transparent).</summary>
    internal static readonly byte[] Pixel = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");

    /// <summary>The listener (<c>tracking/bind</c>); every request on its port is the tracker's.</summary>
    public IPEndPoint Bind => bind;

    public Task HandleAsync(HttpContext context)
    {
        if (!urls.TryParsePath(context.Request.Path.Value ?? "", out var token))
        {
            return RefuseAsync(context);
        }
        var method = context.Request.Method;
        return token.Kind switch
        {
            TrackingKind.Open when HttpMethods.IsGet(method) || HttpMethods.IsHead(method) => OpenAsync(context, token),
            TrackingKind.Click when HttpMethods.IsGet(method) || HttpMethods.IsHead(method) => ClickAsync(context, token),
            TrackingKind.Unsubscribe when HttpMethods.IsGet(method) || HttpMethods.IsHead(method) => ConfirmAsync(context, token),
            TrackingKind.Unsubscribe when HttpMethods.IsPost(method) => UnsubscribeAsync(context, token),
            TrackingKind.Unsubscribe => NotAllowedAsync(context, "GET, HEAD, POST"),
            _ => NotAllowedAsync(context, "GET, HEAD"),
        };
    }

    private async Task OpenAsync(HttpContext context, TrackingToken token)
    {
        var (ip, agent, machine) = Observe(context, token);
        metrics.Opens.Increment();
        await events.EmitAsync(Tenancy(MailEvent.Open(token.MessageUuid, time.GetUtcNow(), token.Recipient, ip, agent, machine), token)).ConfigureAwait(false);
        var response = context.Response;
        response.ContentType = "image/gif";
        response.Headers.CacheControl = "no-store, private";
        response.ContentLength = Pixel.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(Pixel, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private async Task ClickAsync(HttpContext context, TrackingToken token)
    {
        if (!RedirectLocation.TryCreate(token.Url!, out var location))
        {
            // Signed by us, so a message carried it; but a tracker that redirects to javascript: or file: would
            // be a weapon all the same.
            await RefuseAsync(context).ConfigureAwait(false);
            return;
        }
        var (ip, agent, machine) = Observe(context, token);
        metrics.Clicks.Increment();
        await events.EmitAsync(Tenancy(MailEvent.Click(token.MessageUuid, time.GetUtcNow(), token.Recipient, token.Url!, ip, agent, machine), token)).ConfigureAwait(false);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status302Found;
        response.Headers.Location = location;
        response.Headers.CacheControl = "no-store";
        // The target learns nothing of the token (its message and recipient) from the Referer.
        response.Headers["Referrer-Policy"] = "no-referrer";
    }

    private Task ConfirmAsync(HttpContext context, TrackingToken token) =>
        PageAsync(context, StatusCodes.Status200OK, UnsubscribePages.Confirm(token.Recipient));

    private async Task UnsubscribeAsync(HttpContext context, TrackingToken token)
    {
        var request = context.Request;
        if (!request.HasFormContentType)
        {
            await ProblemAsync(context, StatusCodes.Status415UnsupportedMediaType, "Unsupported Media Type",
                "an unsubscribe is a form: application/x-www-form-urlencoded or multipart/form-data with List-Unsubscribe=One-Click (RFC 8058)").ConfigureAwait(false);
            return;
        }
        if (await HttpBodies.ReadLimitedAsync(request, MaxPostBytes, context.RequestAborted).ConfigureAwait(false) is not { } body)
        {
            await ProblemAsync(context, StatusCodes.Status413PayloadTooLarge, "Payload Too Large",
                $"an unsubscribe form is at most {MaxPostBytes} bytes").ConfigureAwait(false);
            return;
        }
        if (await ReadOneClickAsync(request, body, context.RequestAborted).ConfigureAwait(false) is { } problem)
        {
            await ProblemAsync(context, StatusCodes.Status400BadRequest, "Bad Request", problem).ConfigureAwait(false);
            return;
        }

        var now = time.GetUtcNow();
        if (!await SuppressAsync(token, now).ConfigureAwait(false))
        {
            // The recipient asked to leave and we could not write it down: say so, so that the client tries again,
            // rather than show "unsubscribed" and go on mailing.
            context.Response.Headers.RetryAfter = "60";
            await ProblemAsync(context, StatusCodes.Status503ServiceUnavailable, "Service Unavailable",
                "the unsubscribe could not be recorded now; please try again in a minute").ConfigureAwait(false);
            return;
        }
        metrics.Unsubscribes.Increment();
        await events.EmitAsync(Tenancy(MailEvent.Unsubscribe(token.MessageUuid, now, token.Recipient, token.Scope), token)).ConfigureAwait(false);
        await PageAsync(context, StatusCodes.Status200OK, UnsubscribePages.Done(token.Recipient)).ConfigureAwait(false);
    }

    /// <summary>Null when the form says <c>List-Unsubscribe=One-Click</c>, else what is wrong with it.</summary>
    private static async Task<string?> ReadOneClickAsync(HttpRequest request, byte[] body, CancellationToken cancellationToken)
    {
        // The body is read (bounded) already: let the framework's form parser, which knows both encodings, read it again.
        request.Body = new MemoryStream(body, writable: false);
        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException or IOException)
        {
            return "the form cannot be read: " + e.Message;
        }
        return form[UnsubscribePages.OneClickField] == UnsubscribePages.OneClickValue
            ? null
            : $"the form must contain {UnsubscribePages.OneClickField}={UnsubscribePages.OneClickValue} (RFC 8058)";
    }

    /// <summary>Adds the token's suppression entry when <c>suppression/auto</c> has unsubscribe; false only when the
    /// store failed. Adding an entry that exists replaces it, so a repeated POST is harmless.</summary>
    private async Task<bool> SuppressAsync(TrackingToken token, DateTimeOffset now)
    {
        if (!suppression.Adds(SuppressionReason.Unsubscribe))
        {
            return true;
        }
        if (!SuppressionNames.TryNormalizeEmail(token.Recipient, out var email))
        {
            logger.LogWarning("Unsubscribe of {Uuid}: the token's recipient is not an address; no suppression entry", token.MessageUuid);
            return true;
        }
        if (!SuppressionNames.TryParse(token.Scope, out var scope, out var value))
        {
            // Only a token of ours with a bug in it gets here: leaving everything is the reading that never mails
            // someone who asked not to be mailed.
            logger.LogWarning("Unsubscribe of {Uuid}: the token's scope cannot be read; suppressing globally", token.MessageUuid);
            (scope, value) = (SuppressionScope.Global, "");
        }
        var entry = SuppressionEntry.Create(email, scope, value, SuppressionReason.Unsubscribe, now);
        using var timeout = new CancellationTokenSource(SuppressionDeadline);
        try
        {
            await suppressions.AddAsync([entry], timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogError("Unsubscribe of {Uuid}: the suppression store failed: {Error}", token.MessageUuid, e.Message);
            return false;
        }
    }

    private (string? Ip, string? UserAgent, bool Machine) Observe(HttpContext context, TrackingToken token)
    {
        var ip = clients.Resolve(context.Connection.RemoteIpAddress, context.Request.Headers["X-Forwarded-For"]);
        var agent = context.Request.Headers.UserAgent.ToString();
        var userAgent = agent.Length == 0 ? null : agent;
        var machine = detector.IsMachine(new TrackingHit(token, HttpMethods.IsHead(context.Request.Method), ip, userAgent, time.GetUtcNow()));
        return (ip?.ToString(), userAgent, machine);
    }

    private static async Task PageAsync(HttpContext context, int status, string html)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.ContentSecurityPolicy = UnsubscribePages.ContentSecurityPolicy;
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        var bytes = System.Text.Encoding.UTF8.GetBytes(html);
        response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private Task RefuseAsync(HttpContext context)
    {
        metrics.Refused.Increment();
        return ProblemAsync(context, StatusCodes.Status404NotFound, "Not Found", "no such tracking link");
    }

    private static Task NotAllowedAsync(HttpContext context, string allow)
    {
        context.Response.Headers.Allow = allow;
        return ProblemAsync(context, StatusCodes.Status405MethodNotAllowed, "Method Not Allowed", $"this link answers {allow} only");
    }

    private static Task ProblemAsync(HttpContext context, int status, string title, string detail)
    {
        context.Response.Headers.CacheControl = "no-store";
        return Results.Problem(detail: detail, statusCode: status, title: title).ExecuteAsync(context);
    }

    /// <summary>The message's tenant and campaign, as its token carries them (tokens signed before they did carry
    /// neither); an unsubscribe whose token names no tenant still has the one its scope names.</summary>
    private static MailEvent Tenancy(MailEvent mailEvent, TrackingToken token) => mailEvent with
    {
        Tenant = token.Tenant ?? ScopeTenantOf(token),
        Campaign = token.Campaign,
    };

    private static string? ScopeTenantOf(TrackingToken token) =>
        SuppressionNames.TryParse(token.Scope, out var scope, out var value) && scope == SuppressionScope.Tenant ? value : null;
}
