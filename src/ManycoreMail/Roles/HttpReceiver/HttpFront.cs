using System.Net;
using ManycoreMail.Hosting;
using ManycoreMail.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ManycoreMail.Roles.HttpReceiver;

/// <summary>
/// Every HTTP listener of the process in one Kestrel server: the mail API (when the http-receiver role
/// runs) and /metrics on each configured prometheus bind. /metrics answers only on metrics binds (403 on the
/// API port) and the API only on its own port (the original served it on both). The tracker's site (tracking/bind)
/// answers every request on its port.
/// </summary>
internal sealed class HttpFront(
    IPEndPoint? apiBind,
    MailSendEndpoint? mailSend,
    IReadOnlyList<IPEndPoint> metricsBinds,
    MetricsRegistry metrics,
    ILoggerFactory loggers,
    IListenerEndpoint? inboundEmail = null,
    EventsEndpoint? events = null,
    SuppressionsEndpoint? suppressions = null,
    HttpSite? tracker = null,
    TemplatesEndpoint? templates = null,
    MessagesEndpoint? messages = null,
    ScheduledMessagesEndpoint? scheduledMessages = null,
    Readiness? readiness = null,
    IReadOnlyDictionary<int, IReadOnlySet<string>>? metricsRolesByPort = null) : IMailerRole, IAsyncDisposable
{
    private WebApplication? _app;

    public string Name => "http";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (apiBind is null && metricsBinds.Count == 0 && inboundEmail is null && tracker is null)
        {
            // Nothing to serve: without a Listen call Kestrel would fall back to localhost:5000.
            return;
        }
        var builder = WebHostBuilders.CreateSlim();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        builder.Services.AddProblemDetails();
        var metricPorts = new HashSet<int>(metricsBinds.Select(b => b.Port));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // enforced by the endpoint, with a precise answer
            // A client must not hold a connection by trickling: the same floor as the SMTP listeners' default
            // (1 KB/s after a 30 s grace) for request bodies, and bounded waits for headers and between requests.
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 1024, gracePeriod: TimeSpan.FromSeconds(30));
            kestrel.Limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(10));
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(30);
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(2);
            if (apiBind is not null)
            {
                kestrel.Listen(apiBind);
            }
            foreach (var bind in Distinct(metricsBinds))
            {
                kestrel.Listen(bind);
            }
            // The MX server's /v1/email on its own bind, unless it shares one of the above.
            if (inboundEmail is not null && !inboundEmail.Bind.Equals(apiBind) && !Distinct(metricsBinds).Contains(inboundEmail.Bind))
            {
                kestrel.Listen(inboundEmail.Bind);
            }
            if (tracker is not null)
            {
                kestrel.Listen(tracker.Bind);
            }
        });
        var app = builder.Build();
        if (tracker is not null)
        {
            // Every path on the tracker's port is the tracker's (its base-url's path is any), except a health probe.
            app.Use((context, next) => context.Connection.LocalPort == tracker.Bind.Port && context.Request.Path != "/healthz"
                ? tracker.Handle(context)
                : next(context));
        }
        app.MapGet("/metrics", async (HttpContext context) => metricPorts.Contains(context.Connection.LocalPort)
            ? Results.Text(await RenderMetricsAsync(context).ConfigureAwait(false), "text/plain; version=0.0.4; charset=utf-8")
            : Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: "metrics are served on the metrics port only"));
        // The original's probes and scrapers ask for / on the metrics port.
        app.MapGet("/", async (HttpContext context) => metricPorts.Contains(context.Connection.LocalPort)
            ? Results.Text(await RenderMetricsAsync(context).ConfigureAwait(false), "text/plain; version=0.0.4; charset=utf-8")
            : Results.NotFound());
        app.MapGet("/readyz", async (HttpContext context) => readiness is null
            ? Results.Text("ok")
            : await readiness.ProblemAsync(context.RequestAborted).ConfigureAwait(false) is { } problem
                ? Results.Text("not ready: " + problem, statusCode: StatusCodes.Status503ServiceUnavailable)
                : Results.Text("ok"));
        if (mailSend is not null && apiBind is not null)
        {
            Func<HttpContext, Task<IResult>> send = context => context.Connection.LocalPort == apiBind.Port
                ? mailSend.HandleAsync(context)
                : Task.FromResult(Results.NotFound());
            app.MapPost("/v1/mail/send", (Delegate)send);
        }
        if (events is not null && apiBind is not null)
        {
            app.MapGet("/v1/events", (HttpContext context) => context.Connection.LocalPort == apiBind.Port
                ? events.HandleAsync(context)
                : Results.NotFound().ExecuteAsync(context));
        }
        if (suppressions is not null && apiBind is not null)
        {
            app.MapMethods("/v1/suppressions", [HttpMethods.Get, HttpMethods.Post, HttpMethods.Delete], (HttpContext context) => context.Connection.LocalPort == apiBind.Port
                ? suppressions.HandleAsync(context)
                : Results.NotFound().ExecuteAsync(context));
        }
        if (templates is not null && apiBind is not null)
        {
            RequestDelegate handleTemplates = context => context.Connection.LocalPort == apiBind.Port
                ? templates.HandleAsync(context)
                : Results.NotFound().ExecuteAsync(context);
            app.MapMethods("/v1/templates", [HttpMethods.Get], handleTemplates);
            app.MapMethods("/v1/templates/{name}", [HttpMethods.Get, HttpMethods.Put, HttpMethods.Delete], handleTemplates);
        }
        if (messages is not null && apiBind is not null)
        {
            app.MapPost("/v1/messages", (HttpContext context) => context.Connection.LocalPort == apiBind.Port
                ? messages.HandleAsync(context)
                : Results.NotFound().ExecuteAsync(context));
        }
        if (scheduledMessages is not null && apiBind is not null)
        {
            app.MapDelete("/v1/messages/{uuid}", (HttpContext context) => context.Connection.LocalPort == apiBind.Port
                ? scheduledMessages.HandleAsync(context)
                : Results.NotFound().ExecuteAsync(context));
        }
        if (inboundEmail is not null)
        {
            Func<HttpContext, Task<IResult>> email = context => context.Connection.LocalPort == inboundEmail.Bind.Port
                ? inboundEmail.HandleAsync(context)
                : Task.FromResult(Results.NotFound());
            app.MapPost("/v1/email", (Delegate)email);
        }
        app.MapGet("/healthz", () => Results.Text("ok"));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        loggers.CreateLogger("ManycoreMail.Http").LogInformation("HTTP listening on {Urls}", string.Join(", ", app.Urls));
    }

    /// <summary>In <c>mailer run</c> each metrics port serves its own roles' series (and the process-wide ones).</summary>
    private Task<string> RenderMetricsAsync(HttpContext context) =>
        metrics.RenderAsync(metricsRolesByPort?.GetValueOrDefault(context.Connection.LocalPort), context.RequestAborted);

    public Task StopAsync(CancellationToken cancellationToken) => _app?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Several roles may name the same metrics bind (all 9090 in the original's pods): bind each once,
    /// and a wildcard bind covers every specific address on its port.</summary>
    private static IEnumerable<IPEndPoint> Distinct(IReadOnlyList<IPEndPoint> binds)
    {
        var wildcardPorts = binds.Where(b => b.Address.Equals(IPAddress.Any) || b.Address.Equals(IPAddress.IPv6Any)).Select(b => b.Port).ToHashSet();
        return binds
            .Where(b => !wildcardPorts.Contains(b.Port) || b.Address.Equals(IPAddress.Any) || b.Address.Equals(IPAddress.IPv6Any))
            .Distinct();
    }
}
