using System.Security.Cryptography;
using System.Text;
using ManycoreMail.Delivery;
using ManycoreMail.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.Sender;

/// <summary>
/// The sender's operations over HTTP, on a Kestrel server of its own bound only to sender/admin (loopback by
/// default), so that it can never be reached through the public API port. Every request carries
/// <c>Authorization: Bearer TOKEN</c>.
/// <list type="bullet">
/// <item>GET /admin/queues[?tenant=T&amp;campaign=C] (the scheduled queues of that tenant and/or campaign only)</item>
/// <item>GET /admin/messages/{id or uuid}</item>
/// <item>POST /admin/sites/{site}/suspend | resume | retry</item>
/// <item>POST /admin/queues/{queue}/suspend | resume | bounce (queue: a name, a prefix ending in '*', or a pattern
/// matched part by part such as "*:acme@*": <see cref="ScheduledQueueName.Matches"/>)</item>
/// <item>POST /admin/retry (every site)</item>
/// </list>
/// </summary>
internal sealed class AdminEndpoint(AdminOptions options, DeliveryAdmin admin, ILoggerFactory loggers) : IMailerRole, IAsyncDisposable
{
    private readonly byte[] _token = Encoding.UTF8.GetBytes(options.Token);
    private WebApplication? _app;

    public string Name => "sender-admin";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebHostBuilders.CreateSlim();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        builder.Services.AddProblemDetails();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
            kestrel.Listen(options.Bind);
        });
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            if (!IsAuthorized(context.Request))
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
                    detail: "a valid bearer token is required").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
        });
        var group = app.MapGroup("/admin");
        group.MapGet("/queues", async (string? tenant, string? campaign, CancellationToken ct) =>
            Results.Json(await admin.QueuesAsync(ct, tenant, campaign).ConfigureAwait(false), AdminJson.Default.QueuesView));
        group.MapGet("/messages/{key}", (string key) => admin.Inspect(key) is { } message
            ? Results.Json(message, AdminJson.Default.MessageView)
            : NotFound($"no message {key} is in delivery or deferred by this sender"));
        group.MapPost("/sites/{site}/{action}", (string site, string action) => action switch
        {
            "suspend" or "resume" => Answer(admin.SuspendSite(site, action == "suspend"), $"no site {site} (see /admin/queues)"),
            "retry" => Answer(admin.RetryNow(site) is { Count: > 0 } r ? r : null, $"no site {site} (see /admin/queues)"),
            _ => NotFound($"unknown action {action}: suspend, resume or retry"),
        });
        group.MapPost("/queues/{queue}/{action}", (string queue, string action) => action switch
        {
            "suspend" => Answer(admin.SuspendQueue(queue), ""),
            "resume" => Answer(admin.ResumeQueue(queue), ""),
            "bounce" => Answer(admin.BounceQueue(queue), ""),
            _ => NotFound($"unknown action {action}: suspend, resume or bounce"),
        });
        group.MapPost("/retry", () => Answer(admin.RetryNow(null), ""));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        loggers.CreateLogger("ManycoreMail.Admin").LogInformation("Sender operations listening on {Urls}", string.Join(", ", app.Urls));
    }

    private bool IsAuthorized(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        // Constant time: the token guards operations that can bounce whole queues.
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()), _token);
    }

    private static IResult Answer(AdminResult? result, string notFound) =>
        result is null ? NotFound(notFound) : Results.Json(result, AdminJson.Default.AdminResult);

    private static IResult NotFound(string detail) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not Found", detail: detail);

    public Task StopAsync(CancellationToken cancellationToken) => _app?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
